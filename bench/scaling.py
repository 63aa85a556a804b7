"""Cost curve: how the whole path holds up as runs (so topics) and workers grow. For each case of
--cases (runs x workers), on fresh workers:
- discovery: the cases's runs each post a first batch (each creates its run topic), timed until the
  run agents have processed every one (topics made, subscribed, rebalanced);
- load: every run posts one batch a second, --rate readings/s in all, for --seconds, while
  bench/process.py's freshness probe runs beside it (ack -> visible in /get-speed on a further run,
  and how long that new run took to become visible at this scale);
- each worker's RSS at the end.
Then the case's topics are deleted. Each row sits beside the same run's baseline: a plain aiokafka
consumer reading the same number of records from as many topics.

Run it with `scripts/bench scaling` (a freshly formatted stack of its own).
Usage: .venv/bin/python bench/scaling.py [--cases 22x1,220x1,2200x1,220x2,220x4] [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from end_to_end import Bench, Step, batch_body
from memory import rss_mb
from process import SCHEMA, Freshness, freshness, plain_consumer
from sports_prophet.config import settings
from sports_prophet.ops.worker_process import WorkerProcess

DISCOVERY_TIMEOUT_S = 900
POSTS_IN_FLIGHT = 50


@dataclass
class Case:
    runs: int
    workers: int
    discovery_s: float = float("nan")
    step: Step | None = None
    fresh: Freshness | None = None
    rss_mb: tuple[float, ...] = ()
    ceiling: float = float("nan")
    error: str = ""


async def first_batches(bench: Bench, http: aiohttp.ClientSession) -> None:
    """One batch per run, POSTS_IN_FLIGHT at a time: each creates its run's topic."""
    gate = asyncio.Semaphore(POSTS_IN_FLIGHT)

    async def post(index: int, run: str) -> None:
        async with gate:
            url = bench.workers[index % len(bench.workers)].url
            async with http.post(f"{url}/ingest/{bench.device}/{run}", data=batch_body(index, 0, bench.batch),
                                 headers={"Content-Type": "application/json"}) as r:
                if r.status != 200:
                    raise RuntimeError(f"first batch of {run}: {r.status} {await r.text()}")
            bench.sent[run] += bench.batch
            bench.load.acked += bench.batch

    await asyncio.gather(*(post(i, run) for i, run in enumerate(bench.runs)))


async def measure(case: Case, rate: float, seconds: float, folder: Path) -> None:
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    workers = [WorkerProcess(folder, f"scale-{case.runs}-{i}", {"SP_APP_ID": app_id}) for i in range(case.workers)]
    device = f"scale_{uuid.uuid4().hex[:8]}"
    runs = [f"run_{i:05d}" for i in range(case.runs)]
    bench = Bench(workers, app_id, device, runs, max(1, round(rate / case.runs)))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        for worker in workers:
            worker.start(timeout=300)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async with http.post(f"{workers[0].url}/register-device", json={"device_name": device, "schema": SCHEMA}) as r:
                assert r.status == 201, await r.text()
            print(f"  {case.runs} runs x {case.workers} worker(s): first batches ...", flush=True)
            started = time.perf_counter()
            await first_batches(bench, http)
            deadline = started + DISCOVERY_TIMEOUT_S
            while (await bench.counts(http, admin, consumer))[0] < bench.load.acked:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the runs were not all processed {DISCOVERY_TIMEOUT_S} s after their first batch")
                await asyncio.sleep(1)
            case.discovery_s = time.perf_counter() - started
            print(f"  every run processed {case.discovery_s:.1f} s after the first batches; "
                  f"{bench.batch} readings a second per run, {case.runs * bench.batch:,}/s in all, for {seconds:.0f} s ...",
                  flush=True)
            step, case.fresh = await asyncio.gather(bench.step(http, admin, consumer, case.runs * bench.batch, seconds),
                                                    freshness(workers[0].url, device, seconds))
            case.step = step
            case.rss_mb = tuple(rss_mb(w.proc.pid) for w in workers if w.proc is not None)
        print("  plain aiokafka consumer over the same topics ...", flush=True)
        case.ceiling = await plain_consumer(sorted(bench.topics), bench.load.acked)
    except (RuntimeError, aiohttp.ClientError) as exc:      # a case that breaks is a finding: report it, go on
        case.error = str(exc).splitlines()[0][:160]
        print(f"  FAILED: {case.error}", flush=True)
        for worker in workers:
            exited = worker.proc is not None and worker.proc.poll() is not None
            print(f"  {worker.log_path.stem}{' EXITED with ' + str(worker.proc.returncode) if exited else ''}, its log's end:\n"
                  f"{worker.log_tail(20)}", flush=True)
    finally:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{workers[0].url}/delete-all-topics", method="DELETE"),
                                   timeout=300)
        except OSError as exc:
            print(f"  (topics not deleted: {exc})", flush=True)
        for worker in workers:
            worker.stop()
        await consumer.stop()
        await admin.close()


def report(cases: list[Case]) -> None:
    print(f"\n{'runs':>6} {'workers':>7} {'discovery s':>11} {'offered/s':>9} {'processed/s':>11} {'archived/s':>10} "
          f"{'lag end':>8} {'fresh p50/p99 ms':>17} {'new run ms':>10} {'RSS MB each':>14} {'vs ceiling':>10}")
    for c in cases:
        if c.step is None or c.fresh is None:
            print(f"{c.runs:6} {c.workers:7} {c.discovery_s:11.1f}  failed: {c.error}")
            continue
        s = c.step
        print(f"{c.runs:6} {c.workers:7} {c.discovery_s:11.1f} {s.rate:9,.0f} {s.processed:11,.0f} {s.archived:10,.0f} "
              f"{max(s.lag_end, s.archive_lag_end):8,} {c.fresh.p50:8.0f}/{c.fresh.p99:<8.0f} {c.fresh.new_run_ms:10,.0f} "
              f"{'/'.join(f'{r:.0f}' for r in c.rss_mb):>14} {s.processed / c.ceiling:9.3f}x")
    print("(processed: readings/s applied in the tables (GET /runs); archived: committed by the sinks; the ceiling: "
          "a plain aiokafka consumer reading the case's topics)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=lambda s: [tuple(map(int, c.split("x"))) for c in s.split(",")],
                        default=[(22, 1), (220, 1), (2200, 1), (220, 2), (220, 4)], help="runs x workers, ...")
    parser.add_argument("--rate", type=float, default=5_000, help="readings/s offered in all, one batch per run a second")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    cases = [Case(runs, workers) for runs, workers in args.cases]
    with tempfile.TemporaryDirectory() as folder:
        for case in cases:
            asyncio.run(measure(case, args.rate, args.seconds, Path(folder)))
    report(cases)


if __name__ == "__main__":
    main()
