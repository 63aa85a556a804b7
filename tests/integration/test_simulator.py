"""The simulator streams into a real worker: every mode, both transports, every run arrives whole."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.events import EVENTS_DEVICE, EventFeed
from simulator.match import Match
from simulator.pitch import Pitch
from sports_prophet.config import REPO_ROOT
from tests.integration.conftest import unique, wait_for

pytestmark = pytest.mark.integration


def simulate(worker, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "sports_prophet.cli", "simulate", *args, "--url", worker.url,
                             "--progress-every", "1"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "unacknowledged" not in result.stdout, result.stdout[-2000:]     # every reading sent was answered
    return result.stdout


async def runs_of(http, worker, device: str) -> dict[str, int]:
    async with http.get(f"{worker.url}/runs") as r:
        return {run["run_id"]: run["readings"] for run in (await r.json())["runs"] if run["device_id"] == device}


async def run_with(http, worker, device: str, run: str, readings: int) -> dict:
    """The run's summary once it has processed exactly `readings` readings."""
    async def arrived():
        async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
            summary = await r.json() if r.status == 200 else {}
        return summary if summary.get("readings") == readings else None

    return await wait_for(arrived, timeout=60, interval=0.5, what=f"{readings} readings in {device}/{run}")


async def test_a_simulated_match_streams_every_player(http, worker):
    match, device = unique("m"), unique("gps")
    out = simulate(worker, "match", "--match", match, "--device", device, "--speedup", "20",
                   "--duration", "20", "--rate", "10", "--no-events", "--no-weather")
    assert "done: sent 4,400 readings" in out and "errors 0" in out        # 22 players x 20 s x 10 Hz

    async def all_processed():
        runs = await runs_of(http, worker, device)
        return runs if len(runs) == 22 and all(n == 200 for n in runs.values()) else None

    runs = await wait_for(all_processed, timeout=60, interval=0.5, what="22 runs of 200 readings")
    assert all(run.startswith(match) for run in runs)


async def test_a_match_over_http_with_its_event_feed_and_weather(http, worker):
    """--transport http; the feed's run has exactly the events the model makes for this seed."""
    match, device, station = unique("m"), unique("gps"), unique("pitch")
    seed, rate, duration = 11, 2.0, 120.0
    out = simulate(worker, "match", "--match", match, "--device", device, "--station", station,
                   "--transport", "http", "--speedup", "40", "--duration", str(duration),
                   "--rate", str(rate), "--seed", str(seed))
    assert "errors 0" in out

    offline = Match(Pitch(), seed=seed, rate_hz=rate)
    feed = EventFeed(offline, match, seed)
    expected = feed.advance()
    for _ in offline.ticks(duration):
        expected += feed.advance()
    expected += feed.advance()

    assert len(expected) > 10
    events = await run_with(http, worker, EVENTS_DEVICE, match, len(expected))
    assert events["last_t"] - events["first_t"] == pytest.approx(expected[-1].t - expected[0].t, abs=1e-3)
    weather = await run_with(http, worker, f"weather_{station}", match, 12)      # one every 10 match seconds
    assert weather["last_t"] - weather["first_t"] == pytest.approx(110.0)

    async def players_done():
        runs = await runs_of(http, worker, device)
        return runs if len(runs) == 22 and all(n == duration * rate for n in runs.values()) else None

    try:
        await wait_for(players_done, timeout=120, interval=0.5, what="22 runs over HTTP")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; readings per run now: {await runs_of(http, worker, device)}") from exc


async def test_a_weather_station_on_its_own(http, worker):
    station, run = unique("st"), unique("wx")
    out = simulate(worker, "weather", "--station", station, "--run", run, "--rate", "1", "--duration", "10",
                   "--speedup", "20")
    assert "sent 10 readings" in out and "errors 0" in out
    summary = await run_with(http, worker, f"weather_{station}", run, 10)
    assert summary["last_t"] - summary["first_t"] == pytest.approx(9.0)


async def test_a_phone_pushes_sensor_logger_data(http, worker):
    device, session = unique("phone"), unique("session")
    out = simulate(worker, "phone", "--device", device, "--run", session, "--duration", "6", "--speedup", "10",
                   "--rate", "1", "--accel-rate", "5")
    assert "sent 6 readings" in out and "acked 6" in out and "left out (accelerometer) 30" in out, out
    summary = await run_with(http, worker, device, session, 6)
    assert summary["position_fields"] == ["latitude", "longitude"]


async def test_the_old_example_mode(http, worker):
    out = simulate(worker, "example", "--duration", "1.2")
    assert "errors 0" in out
    expected = {f"run_{i:03d}" for i in range(1, 6)}

    async def five_runs():
        runs = await runs_of(http, worker, "gps_1")
        return runs if expected <= set(runs) and all(runs[r] >= 3 for r in expected) else None

    await wait_for(five_runs, timeout=60, interval=0.5, what="gps_1 run_001..run_005, 3 readings each")
