"""Replay into a real worker: every reading of a file arrives, stamped with the file's own times."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from simulator.replay.gpx import load_gpx
from simulator.replay.table import load_csv
from simulator.replay.tracking import load_tracking
from sports_prophet.config import REPO_ROOT
from tests.integration.conftest import unique, wait_for
from tests.kloppy_samples import HAWKEYE, hawkeye_players, sample_files

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
METRICA = [DATA / "metrica_home.csv", DATA / "metrica_away.csv"]


def replay(worker, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sports_prophet.cli", "replay", *args, "--url", worker.url,
                           "--progress-every", "1"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


async def arrived(http, worker, device: str, expected: dict[str, tuple[int, float, float]]) -> None:
    """Wait until every run has all its readings, then check its first and last times."""
    async def summaries():
        got = {}
        for run in expected:
            async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
                got[run] = await r.json() if r.status == 200 else {}
        return got if all(got[run].get("readings") == n for run, (n, _, _) in expected.items()) else None

    got = await wait_for(summaries, timeout=90, interval=0.5, what=f"every reading of {sorted(expected)}")
    for run, (_n, first, last) in expected.items():
        assert (got[run]["first_t"], got[run]["last_t"]) == pytest.approx((first, last), abs=1e-5), run


def expected_runs(recording) -> dict[str, tuple[int, float, float]]:
    return {t.run: (len(t), float(t.times[0]), float(t.times[-1])) for t in recording.tracks}


async def test_a_gpx_file_arrives_whole_with_its_own_times(http, worker):
    device, run = unique("gpx"), unique("morning")
    result = replay(worker, str(DATA / "run.gpx"), "--device", device, "--run", run, "--speedup", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: sent 20 readings" in result.stdout and "acked 20, errors 0" in result.stdout
    expected = expected_runs(load_gpx(DATA / "run.gpx", run, False))
    assert set(expected) == {f"{run}_1", f"{run}_2"}
    await arrived(http, worker, device, expected)


async def test_metrica_tracking_over_http_every_player_arrives(http, worker):
    device, run = unique("metrica"), unique("game")
    start = "2024-03-09T15:30:00Z"
    result = replay(worker, *map(str, METRICA), "--device", device, "--run", run, "--start", start,
                    "--transport", "http", "--as-fast-as-possible")
    assert result.returncode == 0, result.stdout + result.stderr
    kickoff = datetime(2024, 3, 9, 15, 30, tzinfo=timezone.utc).timestamp()
    expected = expected_runs(load_tracking("metrica", METRICA, run, kickoff, 0.0, False))
    assert expected[f"{run}_home_11"] == (10, pytest.approx(kickoff + 0.04), pytest.approx(kickoff + 40.4))
    await arrived(http, worker, device, expected)
    async with http.get(f"{worker.url}/runs/{device}/{run}_home_11") as r:
        assert (await r.json())["position_fields"] == ["x", "y"]               # motion in metres


async def test_a_csv_with_a_column_map(http, worker):
    device, run = unique("csv"), unique("hr")
    maps = ["timestamp=time", "latitude=lat", "longitude=lon", "hr=heart_rate:int"]
    result = replay(worker, str(DATA / "tracks.csv"), "--device", device, "--run", run, "--as-fast-as-possible",
                    *(arg for m in maps for arg in ("--map", m)))
    assert result.returncode == 0, result.stdout + result.stderr
    await arrived(http, worker, device, expected_runs(load_csv(DATA / "tracks.csv", [], run, False)))


async def test_a_bad_file_registers_and_sends_nothing(http, worker, tmp_path):
    bad = tmp_path / "bad.gpx"
    bad.write_text((DATA / "run.gpx").read_text().replace("<time>2024-05-01T07:00:02Z</time>", ""))
    device = unique("gpx")
    result = replay(worker, str(bad), "--device", device)
    assert result.returncode == 2 and result.stderr == "replay: bad.gpx: <trkpt> 3 has no <time>\n"
    async with http.get(f"{worker.url}/device/{device}") as r:
        assert r.status == 404


ZONE_EDGES_MPS = [2.0, 4.0, 5.5, 7.0]


def raw_position_figures(track: np.ndarray) -> dict:
    """Distance, top speed, time per speed zone and sprints straight from consecutive raw positions
    (numpy, not the project's maths): the figures a tracking provider's own positions give."""
    t, x, y = track.T
    dt = np.diff(t)
    step = np.hypot(np.diff(x), np.diff(y))
    speed = step / dt
    zone_time = np.bincount(np.searchsorted(ZONE_EDGES_MPS, speed, side="right"), weights=dt, minlength=5)
    sprints, since = 0, None            # >= 7 m/s held >= 1 s, over once below 6.5 m/s
    for i, v in enumerate(speed):
        if v < (6.5 if since is not None else 7.0):
            since = None
        elif since is None:
            since, counted = t[i], False
        if since is not None and not counted and t[i + 1] - since >= 1.0 - 1e-6:
            sprints, counted = sprints + 1, True
    return {"distance_m": step.sum(), "top_speed_mps": speed.max(), "zone_time_s": zone_time, "sprints": sprints}


async def test_hawkeye_optical_tracking_reads_what_its_raw_positions_give(http, worker):
    """Issue 13: a minute of real Hawk-Eye 50 Hz tracking, replayed over HTTP into a worker, read
    back per player from GET /runs: distance within 1.5 % and top speed within -8 %/+4 % of the raw
    positions' figures, the sprint count exact, the time in each speed zone within 3 s."""
    files = sample_files(HAWKEYE)
    device, run = unique("hawkeye"), unique("m")
    result = replay(worker, *map(str, files), "--device", device, "--run", run, "--start", "2024-09-22T21:00:49.383Z",
                    "--transport", "http", "--as-fast-as-possible")
    assert result.returncode == 0, result.stdout + result.stderr
    acked = int(re.search(r"^done: .*acked ([\d,]+), errors 0$", result.stdout, re.M).group(1).replace(",", ""))
    raw = {f"{run}_{player}": raw_position_figures(track) for player, track in hawkeye_players(files[2]).items()}

    async def every_reading_in():
        got = {}
        for run_id in raw:
            async with http.get(f"{worker.url}/runs/{device}/{run_id}") as r:
                got[run_id] = await r.json() if r.status == 200 else {"readings": 0}
        return got if sum(s["readings"] for s in got.values()) == acked else None

    async def delete(run_id: str) -> None:
        async with http.delete(f"{worker.url}/delete-topic/{device}/{run_id}") as r:
            assert r.status == 200, await r.text()

    try:
        summaries = await wait_for(every_reading_in, timeout=120, interval=1, what=f"all {acked} readings processed")
    finally:
        # Later tests' workers start consumer groups of their own, which would read these 66,000
        # readings first: the runs go once read back.
        await asyncio.gather(*map(delete, raw))
    assert len(summaries) == 22 and sum(r["sprints"] for r in raw.values()) >= 1      # home_4 sprints
    for run_id, expected in raw.items():
        motion = summaries[run_id]["motion"]
        assert motion["source"] == "optical", run_id
        assert motion["distance_m"] == pytest.approx(expected["distance_m"], rel=0.015), run_id
        assert -0.08 <= motion["top_speed_mps"] / expected["top_speed_mps"] - 1 <= 0.04, (run_id, expected)
        assert motion["sprints"] == expected["sprints"], run_id
        zone_time = [zone["time_s"] for zone in motion["zones"]]
        assert zone_time == pytest.approx(expected["zone_time_s"].tolist(), abs=3.0), run_id
