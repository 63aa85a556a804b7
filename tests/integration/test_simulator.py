"""The simulator streams into a real worker: both modes, every run arrives whole."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sports_prophet.config import REPO_ROOT
from tests.integration.conftest import unique, wait_for

pytestmark = pytest.mark.integration


def simulate(worker, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "sports_prophet.cli", "simulate", *args, "--url", worker.url,
                             "--progress-every", "1"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


async def runs_of(http, worker, device: str) -> dict[str, int]:
    async with http.get(f"{worker.url}/runs") as r:
        return {run["run_id"]: run["readings"] for run in (await r.json())["runs"] if run["device_id"] == device}


async def test_a_simulated_match_streams_every_player(http, worker):
    match, device = unique("m"), unique("gps")
    out = simulate(worker, "match", "--match", match, "--device", device, "--speedup", "20",
                   "--duration", "20", "--rate", "10")
    assert "done: sent 4,400 readings" in out and "errors 0" in out        # 22 players x 20 s x 10 Hz

    async def all_processed():
        runs = await runs_of(http, worker, device)
        return runs if len(runs) == 22 and all(n == 200 for n in runs.values()) else None

    runs = await wait_for(all_processed, timeout=60, interval=0.5, what="22 runs of 200 readings")
    assert all(run.startswith(match) for run in runs)


async def test_the_old_example_mode(http, worker):
    out = simulate(worker, "example", "--duration", "1.2")
    assert "errors 0" in out
    expected = {f"run_{i:03d}" for i in range(1, 6)}

    async def five_runs():
        runs = await runs_of(http, worker, "gps_1")
        return runs if expected <= set(runs) and all(runs[r] >= 3 for r in expected) else None

    await wait_for(five_runs, timeout=30, interval=0.5, what="gps_1 run_001..run_005, 3 readings each")
