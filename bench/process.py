"""Processing benchmark: readings/s processed by one worker and by two, against a plain aiokafka
consumer of the same topics in the same run (the ceiling); freshness (ingest ack -> visible in
/get-speed) at a background load of 1k readings/s; live query latency under 50 concurrent clients,
on a quiet worker and again while a simulated 22-player match (10 Hz, events, weather) streams into it.

Run it with `scripts/bench process` (a freshly formatted stack of its own: a fresh app id replays
every run topic in the cluster, so older topics would skew the figures). Starts its own workers.
Usage: .venv/bin/python bench/process.py [--runs 8] [--readings-per-run 25000] [--latency-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import aiohttp
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from memory import simulate                       # bench/memory.py: a simulated match in its own process
from sampling import Profile, sampled             # bench/sampling.py: py-spy, attached from outside
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaGateway
from sports_prophet.ops.worker_process import WorkerProcess

SCHEMA = {"latitude": "float", "longitude": "float", "hr": "int", "timestamp": "timestamp"}
T0 = 1_767_225_600.0
RECORD_READINGS = 500


def fix(i: int) -> dict:
    return {"t": T0 + i * 0.1, "data": {"latitude": 40.0 + i * 4e-6, "longitude": -3.7, "hr": 120 + i % 40,
                                        "timestamp": T0 + i * 0.1}}


async def load_topics(device: str, runs: list[str], per_run: int) -> None:
    """Write the readings straight into the run topics in the gateway's record shape."""
    gateway = KafkaGateway()
    await gateway.started()
    readings = [fix(i) for i in range(per_run)]
    for run in runs:
        for i in range(0, per_run, RECORD_READINGS):
            await gateway.write_batch(device, run, readings[i:i + RECORD_READINGS], "timestamp")
    await gateway.stop()


async def plain_consumer(topics: list[str], total: int) -> float:
    """The ceiling: decode every record and count its readings, nothing else."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < total:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                seen += sum(len(json.loads(m.value)["readings"]) for m in messages)
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def in_tables(http: aiohttp.ClientSession, url: str, device: str, runs: list[str]) -> int:
    """Readings the worker's tables hold for these runs (a run not visible yet counts 0)."""
    total = 0
    for run in runs:
        async with http.get(f"{url}/runs/{device}/{run}") as r:
            total += (await r.json())["readings"] if r.status == 200 else 0
    return total


async def tables_of(worker: WorkerProcess, http: aiohttp.ClientSession, device: str, runs: list[str]) -> int:
    """`in_tables`, naming the worker's last log lines when it stopped answering."""
    try:
        return await in_tables(http, worker.url, device, runs)
    except aiohttp.ClientConnectionError:
        raise RuntimeError(f"the worker stopped answering; its log ends:\n{worker.log_tail(60)}") from None


async def archived(http: aiohttp.ClientSession, url: str) -> bool:
    """Whether the worker's archive sink has written everything to Cassandra (/health is 200)."""
    async with http.get(f"{url}/health") as r:
        return r.status == 200


async def workers_rate(folder: Path, count: int, device: str, runs: list[str], per_run: int,
                       profile: Profile | None = None) -> tuple[float, float]:
    """Start `count` workers with a fresh app id (empty state) and time until every reading is in
    the tables: readings/s from the workers' start (start-up, group join and run discovery included)
    and in steady state (from the first readings in the tables to the last). With `profile`, the first
    worker is sampled by py-spy over the steady state."""
    app_id = f"bench-{uuid.uuid4().hex[:6]}"     # and its own data folders: nothing left from an earlier pass
    workers = [WorkerProcess(folder, f"{app_id}-{i}", {"SP_APP_ID": app_id}) for i in range(count)]
    total = len(runs) * per_run
    started = time.perf_counter()
    for w in workers:
        w.start()
    try:
        first: tuple[float, int] | None = None            # (when, how many) readings first appeared
        with contextlib.ExitStack() as sampling:
            async with aiohttp.ClientSession() as http:
                while (done := await tables_of(workers[0], http, device, runs)) < total:
                    if done and first is None:
                        first = (time.perf_counter(), done)
                        if profile is not None:
                            sampling.enter_context(sampled_into(profile, workers[0].proc.pid))
                    await asyncio.sleep(0.25)
        finished = time.perf_counter()
        first = first or (started, 0)
        return total / (finished - started), (total - first[1]) / (finished - first[0])
    finally:
        for w in workers:
            w.stop()


@contextlib.contextmanager
def sampled_into(profile: Profile, pid: int) -> Iterator[None]:
    with sampled(pid, keep=STACKS) as filled:
        yield
    profile.samples, profile.own, profile.total = filled.samples, filled.own, filled.total


async def stable_rate(folder: Path, device: str, runs: list[str], per_run: int, profile: Profile | None,
                      tolerance: float = 0.10, most: int = 5) -> tuple[list[tuple[float, float]], bool]:
    """One worker's rate, measured again until two passes in a row agree within `tolerance` (steady
    state), at most `most` times: the first pass on a fresh stack runs while Cassandra compacts its
    new tables and the page cache fills, and reads low. Returns every pass and whether it settled.
    The last pass is the one profiled."""
    passes: list[tuple[float, float]] = []
    while len(passes) < most:
        last_chance = len(passes) >= 1
        passes.append(await workers_rate(folder, 1, device, runs, per_run, profile if last_chance else None))
        print(f"  pass {len(passes)}: {passes[-1][1]:,.0f} r/s steady", flush=True)
        if len(passes) >= 2 and abs(passes[-1][1] - passes[-2][1]) <= tolerance * passes[-2][1]:
            return passes, True
    return passes, False


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99; NaN when there are too few samples to say (a probe that never came back)."""
    if len(samples) < 2:
        return float("nan"), float("nan")
    q = statistics.quantiles(samples, n=100)
    return q[49], q[98]


STACKS = Path(tempfile.gettempdir()) / "sports-prophet-process-stacks.txt"   # the last profile, collapsed
PROBE_SLOW_MS = 1000.0           # a probe slower than this is an outlier the report names
PROBE_GIVE_UP_S = 60.0
RECOVERY_LOG = "were not delivered"      # agents/watchdog.py: records Faust skipped, read back


@dataclass
class Freshness:
    p50: float
    p99: float
    latencies: list[float]
    new_run_ms: float

    @property
    def slow(self) -> list[float]:
        return [ms for ms in self.latencies if ms > PROBE_SLOW_MS]


async def freshness(url: str, device: str, seconds: float) -> Freshness:
    """At 1k readings/s of background load on one run, how long from a probe's ingest ack until
    /get-speed on another run shows it (steady state: both runs are already subscribed). Also
    returns how long a new run took to become visible, which includes the rebalance it causes."""
    load_run, probe_run = f"load_{uuid.uuid4().hex[:6]}", f"probe_{uuid.uuid4().hex[:6]}"
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        created = time.perf_counter()
        for run in (load_run, probe_run):
            async with http.post(f"{url}/ingest/{device}/{run}", json=[fix(0)["data"], fix(1)["data"]]) as r:
                assert r.status == 200
        while time.perf_counter() - created < 60:
            async with http.get(f"{url}/get-speed/{device}/{probe_run}") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the probe run was not visible after 60 s")
        new_run_ms = (time.perf_counter() - created) * 1000
        await asyncio.sleep(2)                          # let the second run's rebalance settle
        stop = time.monotonic() + seconds
        async def background() -> None:
            i = 0
            while time.monotonic() < stop:
                batch = [fix(i + k)["data"] for k in range(20)]
                i += 20
                async with http.post(f"{url}/ingest/{device}/{load_run}", json=batch) as r:
                    assert r.status == 200
                await asyncio.sleep(0.02)

        async def probes() -> None:
            i = 2
            while time.monotonic() < stop:
                reading = fix(i)["data"]
                async with http.post(f"{url}/ingest/{device}/{probe_run}", json=[reading]) as r:
                    assert r.status == 200
                acked = time.perf_counter()
                while time.perf_counter() - acked < PROBE_GIVE_UP_S:
                    async with http.get(f"{url}/get-speed/{device}/{probe_run}") as r:
                        if r.status == 200 and (await r.json())["timestamp"] >= reading["timestamp"]:
                            break
                    await asyncio.sleep(0.001)
                latencies.append((time.perf_counter() - acked) * 1000)
                i += 1
                await asyncio.sleep(0.1)

        await asyncio.gather(background(), probes())
    p50, p99 = percentiles(latencies)
    return Freshness(p50, p99, latencies, new_run_ms)


async def query_latency(url: str, device: str, run: str, clients: int, seconds: float,
                        rate_per_client: float | None) -> tuple[float, float, int]:
    """`clients` concurrent clients, each back-to-back (rate None: saturation) or paced at a fixed rate
    (a dashboard polling), over the live routes; returns p50, p99 in ms and the request count."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    paths = [f"/get-speed/{device}/{run}", f"/get-stats/{device}/{run}?agg_type=average", f"/runs/{device}/{run}"]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def client(n: int) -> None:
            i = n
            while time.monotonic() < stop:
                started = time.perf_counter()
                async with http.get(url + paths[i % len(paths)]) as r:
                    assert r.status == 200, await r.text()
                    await r.read()
                latencies.append((time.perf_counter() - started) * 1000)
                i += 1
                if rate_per_client:
                    await asyncio.sleep(max(0.0, 1 / rate_per_client - (time.perf_counter() - started)))

        await asyncio.gather(*(client(n) for n in range(clients)))
    p50, p99 = percentiles(latencies)
    return p50, p99, len(latencies)


async def loop_lag_counts(url: str) -> dict[float, float]:
    """The worker's event-loop lag histogram (sp_event_loop_lag_seconds): cumulative count per bound."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()
    return {float(sample.labels["le"]): sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "sp_event_loop_lag_seconds_bucket"}


def lag_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The bucket bound under which 99 % of the loop-lag samples between two scrapes fell, in ms."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    return next((le * 1000 for le, count in counts.items() if total and count >= 0.99 * total), float("nan"))


async def query_loads(url: str, device: str, run: str, seconds: float
                      ) -> tuple[list[tuple[str, tuple[float, float, int]]], float]:
    """The query latency figures: 50 paced clients, 50 back-to-back, and wrk's 50 connections; and the
    worker's event-loop lag p99 over them (what any query may wait behind other work)."""
    lag_before = await loop_lag_counts(url)
    loads = [("50 clients x 20 req/s", await query_latency(url, device, run, 50, seconds / 2, 20)),
             ("50 clients back-to-back", await query_latency(url, device, run, 50, seconds / 2, None))]
    from_c = wrk_latency(url, f"/get-speed/{device}/{run}", 50, seconds / 2)
    lag = lag_p99_ms(lag_before, await loop_lag_counts(url))
    return loads + ([("wrk, 50 connections", from_c)] if from_c else []), lag


MATCH_RUNS = 24           # 22 players, the event feed and the pitch-side weather: each a run topic of its own


async def match_streaming(url: str, match_id: str, simulator: subprocess.Popen, timeout: float = 120) -> float:
    """Wait until the simulated match is being played in the worker (its clock has moved) and every
    one of its runs has readings applied: each new run topic is a rebalance, and the figures are of
    the match streaming, not of its start. Returns how long that took, in seconds."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < started + timeout:
            if simulator.poll() is not None:
                raise RuntimeError(f"the match simulator exited ({simulator.returncode}) before the match started")
            async with http.get(f"{url}/matches/{match_id}") as r:
                playing = r.status == 200 and ((await r.json()).get("minute") or 0) > 0
            async with http.get(f"{url}/runs") as r:
                runs = [run for run in (await r.json())["runs"]
                        if (run["run_id"] == match_id or run["run_id"].startswith(f"{match_id}_t")) and run["readings"]]
            if playing and len(runs) >= MATCH_RUNS:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    raise RuntimeError(f"match {match_id} was not streaming into the worker with all its {MATCH_RUNS} runs "
                       f"after {timeout:.0f} s")


def wrk_latency(url: str, path: str, connections: int, seconds: float) -> tuple[float, float, int] | None:
    """The same back-to-back query load from wrk, a C client, so the load generator's own Python
    does not compete with the worker for the 2 cores; p50, p99 in ms and the request count
    (None when wrk is not installed: scripts/bench installs it)."""
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", f"-c{connections}", "-t2", f"-d{max(1, round(seconds))}s", "--latency", url + path],
                         capture_output=True, text=True, check=True).stdout
    quantiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return _ms(quantiles["50"]), _ms(quantiles["99"]), requests


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--readings-per-run", type=int, default=25_000)
    parser.add_argument("--seconds", type=float, default=20, help="duration of the freshness and query phases")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip sampling the worker with py-spy")
    parser.add_argument("--latency-only", action="store_true",
                        help="skip the throughput passes: freshness and query latency only")
    args = parser.parse_args()
    device = f"bench_{uuid.uuid4().hex[:8]}"
    runs = [f"run_{i}" for i in range(args.runs)]
    total = args.runs * args.readings_per_run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        setup = WorkerProcess(folder, "bench-setup", {"SP_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"}).start()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{setup.url}/register-device", json={"device_name": device, "schema": SCHEMA}) as r:
                assert r.status == 201
        setup.stop()
        print(f"loading {total:,} readings into {args.runs} run topics ...", flush=True)
        await load_topics(device, runs, args.readings_per_run)
        topics = [f"readings.{device}.{run}" for run in runs]
        profile = Profile() if args.profile and not args.latency_only else None
        if not args.latency_only:
            print("plain aiokafka consumer ...", flush=True)
            ceiling = await plain_consumer(topics, total)
            print("one worker, until two passes in a row agree within 10% ...", flush=True)
            passes, settled = await stable_rate(folder, device, runs, args.readings_per_run, profile)
            print("two workers ...", flush=True)
            two = await workers_rate(folder, 2, device, runs, args.readings_per_run)

        print("freshness and query latency (one worker) ...", flush=True)
        live = WorkerProcess(folder, "bench-live", {"SP_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"}).start()
        try:
            async with aiohttp.ClientSession() as http:    # a fresh app id replays the loaded runs first,
                while not (await in_tables(http, live.url, device, runs) >= total   # and archives them:
                           and await archived(http, live.url)):                    # measure in steady state
                    await asyncio.sleep(0.5)
            log_before = live.log_path.read_text(errors="replace")
            fresh = await freshness(live.url, device, args.seconds)
            recovered = [line for line in live.log_path.read_text(errors="replace")[len(log_before):].splitlines()
                         if RECOVERY_LOG in line]
            quiet = await query_loads(live.url, device, runs[0], args.seconds)
            print("query latency with a 22-player match streaming into the same worker ...", flush=True)
            match_id = f"m{uuid.uuid4().hex[:6]}"
            match = simulate(live.url, folder, match_id, 1.0, 4 * args.seconds, extras=True)
            try:
                match_start_s = await match_streaming(live.url, match_id, match)
                streaming = await query_loads(live.url, device, runs[0], args.seconds)
            finally:
                match.terminate()
                match.wait()
        finally:
            live.stop()

    print(f"\n{'what':58} {'figure':>14} {'vs ceiling':>11}")
    if not args.latency_only:
        print(f"{'plain aiokafka consumer, decode + count (ceiling)':58} {ceiling:11,.0f} r/s {1:10.2f}x")
        for label, (from_start, steady) in (("one worker", passes[-1]), ("two workers", two)):
            print(f"{label + ', readings processed into tables, steady state':58} {steady:11,.0f} r/s "
                  f"{steady / ceiling:10.2f}x")
            print(f"{label + ', the same from its start':58} {from_start:11,.0f} r/s {from_start / ceiling:10.2f}x")
        print(f"{'one worker, every pass (steady r/s)':58} {' '.join(f'{p[1]:,.0f}' for p in passes)}"
              f"{'' if settled else '  (did not settle within 10%)'}")
    print(f"{'freshness p50 / p99, ack -> /get-speed (' + str(len(fresh.latencies)) + ' probes)':58} "
          f"{fresh.p50:6.1f} / {fresh.p99:5.1f} ms")
    print(f"{'probes slower than 1 s: count, worst':58} {len(fresh.slow):6d} / "
          f"{max(fresh.latencies, default=0) / 1000:5.1f} s")
    for line in recovered[:5]:
        print(f"  worker log: {line.strip()[:150]}")
    for during, loads in (("", quiet), (", match streaming", streaming)):
        figures, lag = loads
        for label, (p50, p99, n) in figures:
            print(f"{'query p50 / p99, ' + label + during + ' (' + str(n) + ')':58} {p50:6.1f} / {p99:5.1f} ms")
        print(f"{'event-loop lag p99 (bucket bound) over those' + during:58} {'<= ' + format(lag, 'g'):>14} ms")
    print(f"{'a new run: first ingest -> visible in /get-speed (rebalance)':58} {fresh.new_run_ms:11,.0f} ms")
    print(f"{'a match started -> all its ' + str(MATCH_RUNS) + ' runs streaming in the worker':58} "
          f"{match_start_s * 1000:11,.0f} ms")
    print(f"(records of {RECORD_READINGS} readings; 'from its start' includes start-up and run discovery)")
    if profile is not None:
        print("\nwhere one worker's time goes in steady state (py-spy, the last pass):")
        print(profile.table(10))
        print(f"(collapsed stacks, for a flame graph: {STACKS})")


if __name__ == "__main__":
    asyncio.run(main())
