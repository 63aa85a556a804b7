"""Forecasts on a real worker: a run with a known trend and noise, its forecast route against the
readings that arrive later, and the forecasts archived and scored in Cassandra."""

from __future__ import annotations

import json
from datetime import timezone

import numpy as np
import pytest

from tests.integration.conftest import register, unique, wait_for
from tests.integration.test_archive import cql  # noqa: F401  (the Cassandra session fixture)
from tests.integration.test_live import GPS, T0, get, post, stream, track

pytestmark = pytest.mark.integration

WEATHER = {"temp": "float", "timestamp": "timestamp"}
SLOPE, NOISE = 0.05, 0.5               # °C per second, standard deviation
HORIZONS = [2.0 * i for i in range(1, 21)]


def weather(n: int, seed: int = 5) -> list[dict]:
    """Temperatures on a rising trend with noise, at irregular times (0.2 to 0.8 s apart)."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.uniform(0.2, 0.8, n))
    temps = 10.0 + SLOPE * (ts - T0) + rng.normal(0, NOISE, n)
    return [{"temp": round(float(y), 4), "timestamp": round(float(t), 3)} for t, y in zip(ts, temps)]


def first_at_or_after(readings: list[dict], t: float) -> dict:
    return next(r for r in readings if r["timestamp"] >= t)


async def test_forecast_intervals_hold_the_readings_that_arrive_later(http, worker, cql):  # noqa: F811
    device, run = await register(http, worker, WEATHER), unique("run")
    async with http.post(f"{worker.url}/start-stream/{device}/{run}",
                         json={"forecast": {"fields": ["temp", "humidity"]}}) as r:
        assert r.status == 422 and "humidity" in json.dumps(await r.json())
    await post(http, worker, f"/start-stream/{device}/{run}",
               {"window_seconds": 2, "forecast": {"fields": ["temp"], "horizon_s": 5}})
    readings = weather(1000)
    await stream(http, worker, device, run, readings[:500], batch=10)     # ~5 s of readings a record, as live

    path = f"/runs/{device}/{run}/forecast?field=temp"
    now = [await get(http, worker, f"{path}&horizon={h:g}") for h in HORIZONS]
    assert {f["issued_at"] for f in now} == {readings[499]["timestamp"]} and now[0]["observations"] == 500
    assert now[0]["model"]["trend_per_s"] == pytest.approx(SLOPE, rel=0.3)
    at = await get(http, worker, f"{path}&at={now[-1]['target_t']}")
    assert at["forecast"] == pytest.approx(now[-1]["forecast"]) and at["horizon_s"] == pytest.approx(HORIZONS[-1])

    await stream(http, worker, device, run, readings[500:], batch=10, total=len(readings))
    truths = [first_at_or_after(readings, f["target_t"])["temp"] for f in now]
    inside_95 = sum(f["intervals"]["95"]["lower"] <= y <= f["intervals"]["95"]["upper"] for f, y in zip(now, truths))
    inside_80 = sum(f["intervals"]["80"]["lower"] <= y <= f["intervals"]["80"]["upper"] for f, y in zip(now, truths))
    assert inside_95 >= 17 and 12 <= inside_80 <= 20, (inside_80, inside_95)

    # Every record that closed a window issued a 5 s forecast; the readings after its target scored it,
    # in the live state and in Cassandra alike.
    live = (await get(http, worker, path))["scores"]
    assert live["count"] > 80 and live["mae"] < live["naive_mae"]
    assert 0.7 <= live["coverage_80"] <= 0.92 and 0.88 <= live["coverage_95"] <= 1.0

    def scored_rows():
        rows = list(cql.execute("SELECT issued_at, target_t, forecast, realised_t, realised, in_95 FROM forecasts "
                                "WHERE device_id=%s AND run_id=%s AND field='temp'", (device, run)))
        return [r for r in rows if r.realised is not None]

    async def all_scored():
        rows = scored_rows()
        return rows if len(rows) == live["count"] else None

    rows = await wait_for(all_scored, timeout=30, what="the scored forecasts in Cassandra")
    by_time = {round(r["timestamp"], 3): r["temp"] for r in readings}
    for row in rows:
        realised_t = row.realised_t.replace(tzinfo=timezone.utc).timestamp()
        assert by_time[round(realised_t, 3)] == row.realised        # a real reading scored it
    assert sum(r.in_95 for r in rows) / len(rows) == pytest.approx(live["coverage_95"])


async def test_a_positional_run_forecasts_its_distance_to_a_given_time(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    await stream(http, worker, device, run, track(300))          # 30 s, jogging at 4 m/s at the end
    summary = await get(http, worker, f"/runs/{device}/{run}")
    ahead = await get(http, worker, f"/runs/{device}/{run}/forecast?field=distance_m&at={T0 + 60}")
    # The distance is sampled at the first fix of each second: the latest at T0 + 29 s.
    assert ahead["issued_at"] == pytest.approx(T0 + 29.0) and ahead["horizon_s"] == pytest.approx(31.0)
    assert ahead["observations"] == 30
    assert ahead["forecast"] == pytest.approx(summary["motion"]["distance_m"] + 4.0 * 30.1, rel=0.15)
    assert ahead["intervals"]["95"]["lower"] < ahead["forecast"] < ahead["intervals"]["95"]["upper"]

    base = f"/runs/{device}/{run}/forecast"
    assert (await get(http, worker, base, 422))["detail"] == {"forecast_fields": ["distance_m"]}
    await get(http, worker, f"{base}?field=hr", 404)               # not configured
    for bad in ("horizon=abc", "horizon=0", "horizon=1e3", "horizon=90000", f"at={T0}", "horizon=5&at=1"):
        await get(http, worker, f"{base}?field=distance_m&{bad}", 422)
    await get(http, worker, f"/runs/{device}/nope/forecast?field=distance_m", 404)
