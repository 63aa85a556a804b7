"""Fault checker: stream runs through real workers while something breaks, then account for every
reading. For each scenario it prints readings acknowledged, stored in Cassandra, lost (acknowledged,
not stored) and duplicated (stored twice), and whether each run's live stats and distance equal an
offline recomputation from the stored raw rows.

Scenarios:
  kill        a worker SIGKILLed at random moments (--kills, default 10) and started again
  two         two workers; one SIGKILLed mid-stream, the other serves every run meanwhile
  kafka       the Kafka broker stopped and started again mid-stream (ingest answers 503 meanwhile)
  cassandra   the Cassandra node stopped and started again mid-stream

Run it with `scripts/bench faults` (a freshly formatted stack of its own), or against a running stack:
.venv/bin/python bench/faults.py [kill two kafka cassandra] [--runs 6] [--seconds 60] [--kills 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from agents.motion import offline_summary
from sports_prophet.config import REPO_ROOT
from sports_prophet.ops.worker_process import WorkerProcess

SCHEMA = {"latitude": "float", "longitude": "float", "seq": "int", "timestamp": "timestamp"}
T0 = 1_767_225_600.0
SCENARIOS = ["kill", "two", "kafka", "cassandra"]
BATCH = 50                 # readings per POST: 10 Hz players, sent every 5 s of match time


def reading(run_index: int, seq: int) -> dict:
    """Player `run_index` jogging north at 4 m/s; `seq` numbers the run's readings."""
    t = seq * 0.1
    return {"latitude": 40.0 + 4.0 * t / 111_034.0, "longitude": -3.7 + run_index * 1e-4, "seq": seq,
            "timestamp": T0 + t}


@dataclass
class Tally:
    acked: dict[str, set[int]] = field(default_factory=dict)     # run → seq numbers acknowledged
    refused: int = 0                                              # 503s: nothing written, sent again
    unanswered: int = 0                                           # no answer: maybe written, not resent


class Streamer:
    """One client per run POSTing batches in order; a batch is acknowledged only by a 200."""

    def __init__(self, http: aiohttp.ClientSession, urls: list[str], device: str, runs: list[str]) -> None:
        self.http, self.urls, self.device, self.runs = http, urls, device, runs
        self.tally = Tally({run: set() for run in runs})
        self.stop = asyncio.Event()

    async def stream_run(self, index: int, run: str) -> None:
        seq = 0
        while not self.stop.is_set():
            batch = [reading(index, s) for s in range(seq, seq + BATCH)]
            url = random.choice(self.urls)
            try:
                async with self.http.post(f"{url}/ingest/{self.device}/{run}", json=batch,
                                          timeout=aiohttp.ClientTimeout(total=15)) as r:
                    if r.status == 200:
                        self.tally.acked[run].update(range(seq, seq + BATCH))
                        seq += BATCH
                    elif r.status == 503:
                        self.tally.refused += 1              # sent again
                    else:
                        raise RuntimeError(f"ingest answered {r.status}: {await r.text()}")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.tally.unanswered += 1
                seq += BATCH            # maybe in Kafka: not resent, so a duplicate would be ours to find
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        await asyncio.gather(*(self.stream_run(i, run) for i, run in enumerate(self.runs)))


async def stored_readings(http: aiohttp.ClientSession, url: str, device: str, run: str) -> list[dict]:
    """Every reading Cassandra holds for the run, through the history route (pages of 10,000)."""
    out: list[dict] = []
    after = ""
    while True:
        async with http.get(f"{url}/history/{device}/{run}/readings?limit=10000{after}") as r:
            if r.status == 404:
                return out
            body = await r.json()
        out += [row["data"] for row in body["readings"]]
        if not body.get("next"):
            return out
        after = f"&after={body['next']}"


async def settled(http: aiohttp.ClientSession, url: str, device: str, runs: list[str], floor: dict[str, int],
                  timeout: float = 300) -> dict[str, dict]:
    """Wait until every run's live count and archived rows stop changing (and reach what was acked)."""
    deadline = time.monotonic() + timeout
    last: dict[str, tuple[int, int]] = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        now: dict[str, tuple[int, int]] = {}
        summaries: dict[str, dict] = {}
        async with http.get(f"{url}/health") as r:
            healthy = r.status == 200
        for run in runs:
            async with http.get(f"{url}/runs/{device}/{run}") as r:
                summaries[run] = await r.json() if r.status == 200 else {}
            now[run] = (summaries[run].get("readings", 0), healthy)
        if now != last:
            last, stable_since = now, time.monotonic()
        reached = all(now[run][0] >= floor[run] and now[run][1] for run in runs)
        if reached and time.monotonic() - stable_since >= 10:
            return summaries
        await asyncio.sleep(1)
    raise RuntimeError(f"runs did not settle within {timeout:.0f}s: {last}")


async def account(http: aiohttp.ClientSession, url: str, device: str, streamer: Streamer) -> dict:
    floor = {run: len(acked) for run, acked in streamer.tally.acked.items()}
    summaries = await settled(http, url, device, streamer.runs, floor)
    acked = stored = lost = duplicated = 0
    mismatches: list[str] = []
    for run in streamer.runs:
        rows = await stored_readings(http, url, device, run)
        seqs = [row["seq"] for row in rows]
        unique_seqs = set(seqs)
        acked += len(streamer.tally.acked[run])
        stored += len(unique_seqs)
        lost += len(streamer.tally.acked[run] - unique_seqs)
        duplicated += len(seqs) - len(unique_seqs)
        live = summaries[run]
        rows.sort(key=lambda row: row["timestamp"])
        offline = offline_summary([(row["timestamp"], row["latitude"], row["longitude"]) for row in rows])
        checks = {"count": (live["readings"], len(rows)),
                  "seq sum": (live["stats"]["seq"]["sum"], float(sum(seqs))),
                  "distance_m": (round(live["motion"]["distance_m"], 6), round(offline["distance_m"], 6))}
        mismatches += [f"{run} {name}: live {a} vs offline {b}" for name, (a, b) in checks.items() if a != b]
    return {"acked": acked, "stored": stored, "lost": lost, "duplicated": duplicated,
            "refused_503": streamer.tally.refused, "unanswered": streamer.tally.unanswered,
            "stats_equal": not mismatches, "mismatches": mismatches[:5]}


BUSY: set[int] = set()        # workers being killed or restarted on purpose


async def kill(w: WorkerProcess) -> None:
    BUSY.add(id(w))
    await asyncio.to_thread(w.stop, signal.SIGKILL)


async def start(w: WorkerProcess) -> None:
    """Start in a thread, so the clients go on streaming (and meeting a dead worker) meanwhile."""
    BUSY.add(id(w))
    try:
        await asyncio.to_thread(w.start)
    finally:
        BUSY.discard(id(w))


async def live_counts(http: aiohttp.ClientSession, url: str, device: str, runs: list[str]) -> list[int]:
    """Each run's processed readings as one worker answers (-1 while it cannot answer for the run)."""
    counts = []
    for run in runs:
        async with http.get(f"{url}/runs/{device}/{run}") as r:
            counts.append((await r.json())["readings"] if r.status == 200 else -1)
    return counts


async def keep_running(workers: list[WorkerProcess], events: list[str]) -> None:
    """What `sports-prophet supervise` does for scripts/run: a worker that exited by itself is started again."""
    while True:
        for i, w in enumerate(workers):
            if id(w) not in BUSY and w.proc is not None and w.proc.poll() is not None:
                events.append(f"worker {i + 1} exited by itself ({w.proc.returncode}); restarted")
                await start(w)
        await asyncio.sleep(0.5)


def stack(action: str, part: str) -> None:
    subprocess.run([sys.executable, "-m", "sports_prophet.ops.stack", action, part], cwd=REPO_ROOT, check=True,
                   stdout=subprocess.DEVNULL)


async def scenario(name: str, folder: Path, runs_count: int, seconds: float, kills: int) -> dict:
    env = {"SP_APP_ID": f"faults-{name}-{uuid.uuid4().hex[:6]}", "SP_REGISTRY_CACHE_SECONDS": "0.5"}
    workers = [WorkerProcess(folder, f"{name}-{i}", env) for i in range(2 if name == "two" else 1)]
    for w in workers:
        w.start()
    device, runs = f"faults_{uuid.uuid4().hex[:8]}", [f"run_{i}" for i in range(runs_count)]
    events: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{workers[0].url}/register-device",
                                 json={"device_name": device, "schema": SCHEMA}) as r:
                assert r.status == 201, await r.text()
            streamer = Streamer(http, [w.url for w in workers], device, runs)
            streaming = asyncio.create_task(streamer.run())
            keeping = asyncio.create_task(keep_running(workers, events))
            started = time.monotonic()
            if name == "kill":
                moments = sorted(random.uniform(3, seconds - 5) for _ in range(kills))
                for moment in moments:
                    await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
                    await kill(workers[0])
                    events.append(f"SIGKILL at {time.monotonic() - started:.1f}s")
                    await start(workers[0])
            elif name == "two":
                await asyncio.sleep(seconds / 3)
                before = await live_counts(http, workers[0].url, device, runs)
                await kill(workers[1])
                killed_at = time.monotonic()
                events.append(f"worker 2 SIGKILLed at {killed_at - started:.1f}s")
                streamer.urls = [workers[0].url]
                while any(now <= then for now, then in zip(await live_counts(http, workers[0].url, device, runs),
                                                            before)):
                    await asyncio.sleep(0.2)
                events.append(f"every run served and moving on worker 1 again {time.monotonic() - killed_at:.1f}s "
                              f"after the kill")
                await asyncio.sleep(max(0.0, killed_at + seconds / 3 - time.monotonic()))
                await start(workers[1])
                streamer.urls = [w.url for w in workers]
            elif name in ("kafka", "cassandra"):
                await asyncio.sleep(seconds / 3)
                stack("down", name)
                events.append(f"{name} stopped at {time.monotonic() - started:.1f}s")
                await asyncio.sleep(15)
                stack("up", name)
                events.append(f"{name} back at {time.monotonic() - started:.1f}s")
            await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
            streamer.stop.set()
            await streaming
            keeping.cancel()
            result = await account(http, workers[0].url, device, streamer)
            for run in runs:        # the next scenario's fresh consumer group need not read them all again
                async with http.delete(f"{workers[0].url}/delete-topic/{device}/{run}") as r:
                    assert r.status == 200, await r.text()
            return {"scenario": name, "events": events, **result}
    finally:
        for w in workers:
            w.stop()


def print_table(results: list[dict]) -> None:
    print(f"\n{'scenario':10} {'acked':>8} {'stored':>8} {'lost':>5} {'dup':>5} {'503s':>5} {'no answer':>9}  stats = offline")
    for r in results:
        print(f"{r['scenario']:10} {r['acked']:8d} {r['stored']:8d} {r['lost']:5d} {r['duplicated']:5d} "
              f"{r['refused_503']:5d} {r['unanswered']:9d}  {'yes' if r['stats_equal'] else 'NO ' + '; '.join(r['mismatches'])}")
        print(f"{'':10} {', '.join(r['events'])}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"{', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    if set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario {sorted(set(args.scenarios) - set(SCENARIOS))}: use {', '.join(SCENARIOS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="sp-faults-") as folder:
        for name in args.scenarios or SCENARIOS:
            print(f"==> scenario {name}: {args.runs} runs streaming for {args.seconds:.0f}s", flush=True)
            results.append(await scenario(name, Path(folder), args.runs, args.seconds, args.kills))
            print_table(results[-1:])
    print_table(results)
    if any(r["lost"] or r["duplicated"] or not r["stats_equal"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
