"""End to end: readings/s that HTTP clients stream through the workers' gateway into Kafka, the run
agent's tables and the Cassandra archive, all at once on the same cores, and whether the lag stays
bounded. Beside it, the same run's baselines: a raw aiokafka producer, a plain aiokafka consumer and
a plain cassandra-driver insert.

Clients post open-loop, each run on its own clock (a batch every batch/rate s), for --step s at each
rate of --rates, highest first, until one keeps up: every acked reading processed and
archived within the step, and the lag at its end under 5 s worth. The highest rate that kept up is
then held for --sustain s (the issue's 5 minutes) while py-spy samples the first worker, with the lag
(acked - applied in the tables, acked - committed by the archive sink) printed every 5 s.

Run it with `scripts/bench end_to_end` (a freshly formatted stack of its own).
Usage: .venv/bin/python bench/end_to_end.py [--rates 40000,30000,20000,15000,10000] [--runs 22]
       [--batch 200] [--step 45] [--sustain 300] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from cpu import CpuSnapshot
from ingest import raw_producer, reading                 # bench/ingest.py: the same producer baseline
from process import SCHEMA, T0, plain_consumer                # bench/process.py
from sampling import Profile, sampled
from sink import baseline, check_alive, committed_records, create_baseline_table, run_records, run_topic_ends
from sports_prophet.config import settings
from sports_prophet.ops.worker_process import WorkerProcess

KEPT_UP_SHARE = 0.95        # of the offered rate acked, and of the acked rate processed and archived
LAG_LIMIT_S = 5.0           # a step's final lag may hold this many seconds of its rate
DRAIN_S = 300
STACKS = Path("/tmp/sports-prophet-end-to-end-stacks.txt")


@dataclass
class Load:
    """What the clients have sent and had acknowledged (Kafka has those readings)."""

    acked: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def batch_body(run_index: int, first: int, count: int) -> bytes:
    """A batch of a run's 10 Hz track: readings first..first+count."""
    return orjson.dumps([{"latitude": 40.0 + run_index * 1e-3 + i * 4e-6, "longitude": -3.7, "hr": 120 + i % 40,
                          "timestamp": T0 + i * 0.1} for i in range(first, first + count)])


async def stream_run(http: aiohttp.ClientSession, url: str, device: str, run: str, run_index: int,
                     rate: float, batch: int, seconds: float, sent: dict[str, int], load: Load) -> None:
    """Post a run's batches open-loop at `rate` readings/s for `seconds`; a slow answer makes the
    run fall behind its clock (it then posts back to back), which the acked rate shows."""
    started = time.perf_counter()
    due = started
    while due < started + seconds and time.perf_counter() < started + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        body = batch_body(run_index, sent[run], batch)
        async with http.post(f"{url}/ingest/{device}/{run}", data=body,
                             headers={"Content-Type": "application/json"}) as r:
            if r.status == 200:
                load.acked += batch
                sent[run] += batch
            else:
                load.refused += batch
                load.errors.append(f"{r.status} {(await r.text())[:200]}")
        due += batch / rate




@dataclass
class Step:
    rate: float
    seconds: float
    acked: float = 0.0            # readings/s acknowledged
    processed: float = 0.0        # readings/s the run agents applied
    archived: float = 0.0         # readings/s the sinks committed
    lag_end: int = 0              # acked - processed at the step's end
    archive_lag_end: int = 0
    lags: list[tuple[float, int, int]] = field(default_factory=list)
    cpu_us: dict[str, float] = field(default_factory=dict)   # CPU µs per processed reading, by process
    cores_busy: float = 0.0

    @property
    def kept_up(self) -> bool:
        return (self.acked >= KEPT_UP_SHARE * self.rate and self.processed >= KEPT_UP_SHARE * self.acked
                and self.archived >= KEPT_UP_SHARE * self.acked
                and max(self.lag_end, self.archive_lag_end) <= LAG_LIMIT_S * self.rate)


class Bench:
    def __init__(self, workers: list[WorkerProcess], app_id: str, device: str, runs: list[str], batch: int) -> None:
        self.workers, self.app_id, self.device, self.runs, self.batch = workers, app_id, device, runs, batch
        self.topics = {f"readings.{device}.{run}" for run in runs}
        self.names = set(runs)
        self.sent = {run: 0 for run in runs}
        self.load = Load()

    async def counts(self, http: aiohttp.ClientSession, admin: AIOKafkaAdminClient,
                     consumer: AIOKafkaConsumer) -> tuple[int, int]:
        """Readings the run agents have applied (GET /runs, gathered from every worker) and the sinks
        archived (the records the sink's consumer group committed, each HTTP batch one record: the
        sink commits once Cassandra has a record's rows)."""
        for worker in self.workers:
            check_alive(worker)
        try:
            async with http.get(f"{self.workers[0].url}/runs") as r:
                runs = (await r.json())["runs"]
        except aiohttp.ClientConnectionError:
            raise RuntimeError(f"the worker stopped answering; its log ends:\n{self.workers[0].log_tail(60)}") from None
        processed = sum(run["readings"] for run in runs if run["device_id"] == self.device and run["run_id"] in self.names)
        ends = await run_topic_ends(consumer, self.topics)
        return processed, await committed_records(admin, f"{self.app_id}-sink", ends) * self.batch

    async def step(self, http: aiohttp.ClientSession, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer,
                   rate: float, seconds: float) -> Step:
        result = Step(rate, seconds)
        processed0, archived0 = await self.counts(http, admin, consumer)
        acked0 = self.load.acked
        cpu0 = self.cpu()
        started = time.perf_counter()
        clients = [asyncio.create_task(stream_run(http, self.workers[i % len(self.workers)].url, self.device, run, i,
                                                  rate / len(self.runs), self.batch, seconds, self.sent, self.load))
                   for i, run in enumerate(self.runs)]
        while not all(c.done() for c in clients):
            await asyncio.wait(clients, timeout=5)
            processed, stored = await self.counts(http, admin, consumer)
            elapsed = time.perf_counter() - started
            result.lags.append((elapsed, self.load.acked - processed, self.load.acked - stored))
            print(f"    {elapsed:5.0f} s  acked {self.load.acked - acked0:>10,}  lag: agent {self.load.acked - processed:>8,}"
                  f"  archive {self.load.acked - stored:>8,}", flush=True)
        for client in clients:
            client.result()
        elapsed = time.perf_counter() - started
        processed, stored = await self.counts(http, admin, consumer)
        result.acked = (self.load.acked - acked0) / elapsed
        result.processed = (processed - processed0) / elapsed
        result.archived = (stored - archived0) / elapsed
        result.lag_end, result.archive_lag_end = self.load.acked - processed, self.load.acked - stored
        cpu1 = self.cpu()
        result.cpu_us, result.cores_busy = cpu0.per_unit_us(cpu1, processed - processed0), cpu0.cores_busy(cpu1)
        return result

    def cpu(self) -> CpuSnapshot:
        return CpuSnapshot.take({"workers": [w.proc.pid for w in self.workers if w.proc is not None],
                                 "clients (this bench)": [os.getpid()]})

    async def drain(self, http: aiohttp.ClientSession, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
        """Wait until every acked reading is processed and archived, so the next step starts level."""
        deadline = time.perf_counter() + DRAIN_S
        while time.perf_counter() < deadline:
            processed, stored = await self.counts(http, admin, consumer)
            if processed >= self.load.acked and stored >= self.load.acked:
                return
            await asyncio.sleep(1)
        raise RuntimeError(f"the backlog did not drain in {DRAIN_S} s; worker log:\n{self.workers[0].log_tail()}")


def baselines(readings: int) -> tuple[float, float]:
    """readings/s of a raw aiokafka producer (1 reading/record) and rows/s of plain Cassandra inserts."""
    print("  raw aiokafka producer ...", flush=True)
    produce, _ = asyncio.run(raw_producer([reading(i) for i in range(readings)], 1000))
    print("  plain cassandra-driver inserts ...", flush=True)
    create_baseline_table()
    records = run_records(f"base_{uuid.uuid4().hex[:6]}", "r", readings // 2)
    insert = (readings // 2) / baseline(records, 100)
    return produce, insert


async def measure(args: argparse.Namespace, folder: Path) -> tuple[list[Step], Step | None, Profile, float, int]:
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    workers = [WorkerProcess(folder, f"e2e-{i}", {"SP_APP_ID": app_id}) for i in range(args.workers)]
    device = f"e2e_{uuid.uuid4().hex[:8]}"
    runs = [f"run_{i:04d}" for i in range(args.runs)]
    bench = Bench(workers, app_id, device, runs, args.batch)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    steps: list[Step] = []
    held: Step | None = None
    profile = Profile()
    try:
        for worker in workers:
            print(f"  starting a worker (log {worker.log_path}) ...", flush=True)
            worker.start()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async with http.post(f"{workers[0].url}/register-device", json={"device_name": device, "schema": SCHEMA}) as r:
                assert r.status == 201, await r.text()
            print(f"  warm-up: {args.runs} runs at {min(args.rates):,.0f} readings/s for 20 s (run discovery, "
                  "first rebalance) ...", flush=True)
            await bench.step(http, admin, consumer, min(args.rates), 20)
            await bench.drain(http, admin, consumer)
            for rate in sorted(args.rates, reverse=True):
                print(f"  {rate:,.0f} readings/s for {args.step:.0f} s ...", flush=True)
                steps.append(await bench.step(http, admin, consumer, rate, args.step))
                await bench.drain(http, admin, consumer)
                if steps[-1].kept_up:
                    break
            best = max((s.rate for s in steps if s.kept_up), default=min(args.rates))
            print(f"  holding {best:,.0f} readings/s for {args.sustain:.0f} s, sampled with py-spy ...", flush=True)
            assert workers[0].proc is not None
            with sampled(workers[0].proc.pid, keep=STACKS) as profile:
                held = await bench.step(http, admin, consumer, best, args.sustain)
            await bench.drain(http, admin, consumer)
        topics = [f"readings.{device}.{run}" for run in runs]
        print("  plain aiokafka consumer over the same topics ...", flush=True)
        consume = await plain_consumer(topics, bench.load.acked)
        return steps, held, profile, consume, bench.load.refused
    finally:
        for worker in workers:
            worker.stop()
        await consumer.stop()
        await admin.close()


def report(steps: list[Step], held: Step | None, profile: Profile, produce: float, consume: float, insert: float,
           refused: int, args: argparse.Namespace) -> None:
    print(f"\nbaselines in this run: raw aiokafka producer {produce:,.0f} readings/s (1 reading/record); plain "
          f"aiokafka consumer {consume:,.0f} readings/s; plain cassandra-driver inserts {insert:,.0f} rows/s")
    print(f"{args.workers} worker(s), {args.runs} runs, {args.batch} readings per HTTP request; refused: {refused:,}\n")
    print(f"{'offered/s':>10} {'seconds':>8} {'acked/s':>9} {'processed/s':>12} {'archived/s':>11} {'lag end':>9} "
          f"{'kept up':>8} {'vs produce':>11} {'vs consume':>11} {'vs insert':>10}")
    for s in steps + ([held] if held else []):
        print(f"{s.rate:10,.0f} {s.seconds:8.0f} {s.acked:9,.0f} {s.processed:12,.0f} {s.archived:11,.0f} "
              f"{max(s.lag_end, s.archive_lag_end):9,} {'yes' if s.kept_up else 'no':>8} {s.processed / produce:10.2f}x "
              f"{s.processed / consume:10.3f}x {s.archived / insert:9.2f}x")
    if held and held.lags:
        third = max(1, len(held.lags) // 3)
        first, last = held.lags[:third], held.lags[-third:]
        print(f"\nheld {held.rate:,.0f}/s for {held.seconds:.0f} s: mean lag (tables, archive) "
              f"{sum(l[1] for l in first) / len(first):,.0f} / {sum(l[2] for l in first) / len(first):,.0f} in its first "
              f"third, {sum(l[1] for l in last) / len(last):,.0f} / {sum(l[2] for l in last) / len(last):,.0f} in its last")
    measured = held if held is not None else (steps[-1] if steps else None)
    if measured is not None and measured.cpu_us:
        print(f"\nCPU per processed reading at {measured.rate:,.0f}/s offered ({measured.cores_busy:.2f} of "
              f"{os.cpu_count()} cores busy), by process:")
        for name, us in measured.cpu_us.items():
            print(f"  {name:28} {us:7.1f} µs")
        ceiling = (os.cpu_count() or 1) * 1e6 / measured.cpu_us["machine"]
        print(f"  -> every core of the machine at this cost: {ceiling:,.0f} readings/s")
    if profile.samples:
        print(f"\nthe first worker, py-spy while held (stacks in {STACKS}):\n{profile.table()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [float(r) for r in s.split(",")],
                        default=[40_000, 30_000, 20_000, 15_000, 10_000], help="offered readings/s, tried highest first")
    parser.add_argument("--runs", type=int, default=22)
    parser.add_argument("--batch", type=int, default=200, help="readings per HTTP request")
    parser.add_argument("--step", type=float, default=45, help="seconds at each rate")
    parser.add_argument("--sustain", type=float, default=300, help="seconds the best rate is held")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print("baselines ...", flush=True)
    produce, insert = baselines(100_000)
    with tempfile.TemporaryDirectory() as folder:
        steps, held, profile, consume, refused = asyncio.run(measure(args, Path(folder)))
    report(steps, held, profile, produce, consume, insert, refused, args)


if __name__ == "__main__":
    main()
