"""Memory benchmark: a worker's resident memory (RSS) while matches stream into it, against match
time (does it level off over a whole 90-minute match?) and against the number of active runs.

Each phase runs on a fresh worker and deletes its run topics at its end.
1. One simulated match (22 players at 10 Hz, the event feed and a weather station: 24 runs) streamed
   at `--speedup` times real time for its full 90 minutes, RSS sampled as it goes.
2. 1, 22 and 220 runs (no match, one match, ten matches at once) for `--minutes` each, on a fresh
   worker every time: RSS at the end, and the memory each run adds.

Run it with `scripts/bench memory` (a freshly formatted stack of its own). Starts its own workers.
Usage: .venv/bin/python bench/memory.py [--speedup 10] [--minutes 3] [--match-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from sports_prophet.config import REPO_ROOT
from sports_prophet.ops.worker_process import WorkerProcess

MATCH_SECONDS = 90 * 60
FULL_TIME_MINUTE = 90.0
CATCH_UP_S = 20 * 60           # how long a worker behind the simulator is followed once it has sent all
PLAYERS = 22


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def delete_all_topics(worker: WorkerProcess) -> None:
    """Leave no run topics behind: the next phase's fresh worker would read them all first."""
    urllib.request.urlopen(urllib.request.Request(f"{worker.url}/delete-all-topics", method="DELETE"), timeout=60)


def simulate(url: str, folder: Path, match: str, speedup: float, seconds: float, extras: bool) -> subprocess.Popen:
    """One simulated match streaming into `url` (its own process, output to a log file)."""
    command = [sys.executable, "-m", "sports_prophet.cli", "simulate", "match", "--url", url, "--match", match,
               "--speedup", str(speedup), "--rate", "10", "--duration", str(seconds), "--progress-every", "30",
               "--seed", str(uuid.uuid4().int % 10_000)]
    if not extras:
        command += ["--no-events", "--no-weather"]
    with open(folder / f"sim-{match}.log", "ab") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)


def whole_match(folder: Path, speedup: float) -> list[tuple[float, float]]:
    """(match minute, RSS MB) every 30 s of a 90-minute match streamed `speedup` times faster."""
    worker = WorkerProcess(folder, f"memory-match-{uuid.uuid4().hex[:6]}",
                           {"SP_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"}).start()
    samples = [(0.0, rss_mb(worker.proc.pid))]
    try:
        match_id = f"m{uuid.uuid4().hex[:6]}"
        sim = simulate(worker.url, folder, match_id, speedup, MATCH_SECONDS, extras=True)
        caught_up_by = None
        while sim.poll() is None or (samples[-1][0] < FULL_TIME_MINUTE
                                     and (caught_up_by is None or time.monotonic() < caught_up_by)):
            time.sleep(30)
            samples.append((match_minute(worker, match_id), rss_mb(worker.proc.pid)))
            print(f"  match minute {samples[-1][0]:5.1f}: worker RSS {samples[-1][1]:6.0f} MB"
                  f"{'' if caught_up_by is None else ' (the simulator is done; the worker catches up)'}", flush=True)
            if caught_up_by is None and sim.poll() is not None:
                caught_up_by = time.monotonic() + CATCH_UP_S
        if sim.returncode != 0:
            raise RuntimeError(f"the simulator failed; see {folder}/sim-*.log")
        return samples
    finally:
        delete_all_topics(worker)
        worker.stop()


def match_minute(worker: WorkerProcess, match_id: str) -> float:
    """The match minute the worker has reached (its match agent's clock): on a busy machine the
    simulator falls behind its --speedup, so wall-clock time does not say how far the match is."""
    try:
        with urllib.request.urlopen(f"{worker.url}/matches/{match_id}", timeout=10) as response:
            return float(json.load(response)["minute"] or 0.0)
    except (OSError, ValueError, KeyError):
        return float("nan")


def runs_at_once(folder: Path, runs: int, minutes: float) -> float:
    """RSS (MB) of a fresh worker after `runs` runs streamed at once for `minutes` (real time)."""
    worker = WorkerProcess(folder, f"memory-{runs}-{uuid.uuid4().hex[:6]}",
                           {"SP_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"}).start()
    try:
        if runs == 0:
            time.sleep(minutes * 60)
            return rss_mb(worker.proc.pid)
        matches = [simulate(worker.url, folder, f"m{uuid.uuid4().hex[:6]}", 1.0, minutes * 60, extras=False)
                   for _ in range(max(1, runs // PLAYERS))]
        for sim in matches:
            sim.wait()
        return rss_mb(worker.proc.pid)
    finally:
        delete_all_topics(worker)
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speedup", type=float, default=10.0, help="match time per real second (whole match)")
    parser.add_argument("--minutes", type=float, default=3.0, help="real minutes of each runs-at-once phase")
    parser.add_argument("--match-only", dest="runs", action="store_false", help="skip the runs-at-once phases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        by_runs = {}
        for runs in (0, PLAYERS, 10 * PLAYERS) if args.runs else ():
            print(f"{runs} runs at once for {args.minutes:g} min ...", flush=True)
            by_runs[runs] = runs_at_once(folder, runs, args.minutes)
        print(f"one 90-minute match at {args.speedup:g}x ...", flush=True)
        match = whole_match(folder, args.speedup)

    print(f"\n{'what':58} {'RSS':>10}")
    for minute, mb in match[::max(1, len(match) // 10)] + [match[-1]]:
        print(f"{'one match (24 runs), match minute ' + format(minute, '.0f'):58} {mb:7.0f} MB")
    print(f"{'  growth over the second half (minute 45 to 90)':58} "
          f"{match[-1][1] - min((s for s in match if s[0] == s[0]), key=lambda s: abs(s[0] - 45))[1]:+7.0f} MB")
    if match[-1][0] < FULL_TIME_MINUTE:
        print(f"  the worker did not keep up: at minute {match[-1][0]:.0f} {CATCH_UP_S / 60:.0f} min after the "
              f"simulator ended")
    for runs, mb in by_runs.items():
        print(f"{f'{runs} runs streaming at 10 Hz for {args.minutes:g} min (fresh worker)':58} {mb:7.0f} MB")
    if by_runs:
        per_run = (by_runs[10 * PLAYERS] - by_runs[PLAYERS]) / (9 * PLAYERS)
        print(f"{'  memory per extra active run (22 -> 220 runs)':58} {per_run * 1024:7.0f} kB")


if __name__ == "__main__":
    main()
