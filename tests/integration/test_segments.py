"""Segment summaries through a real worker: a player's run of a match, on a track with a start/finish line,
its periods cut by the match feed's whistles and one explicit marker. Intervals, laps, periods and peaks,
live and in Cassandra, against an offline computation from the same readings (tests/unit/test_segments.py)."""

from __future__ import annotations

import json

import pytest
from cassandra.cluster import Cluster

from agents.motion_config import MotionConfig
from models.match import EVENT_SCHEMA, EVENTS_DEVICE
from simulator.transport import register as register_feed
from sports_prophet.config import settings
from tests.integration.conftest import TEST_ENV, register, unique, wait_for
from tests.integration.test_live import get, post, stream
from agents.segments import crossing
from tests.unit.test_segments import MM, T0, between, brute_force_peak, circle, cumulative, xy_readings

pytestmark = pytest.mark.integration

XY = {"x": "float", "y": "float", "hr": "int", "timestamp": "timestamp"}
SECONDS = 200.0
WHISTLES = [(20.0, 0.0, "kickoff"), (100.0, 45.0, "half_time"), (110.0, 45.0, "kickoff"), (190.0, 90.0, "full_time")]
MARKER_T = 150.0                  # an explicit marker: the last part of the second half is a period of its own
PERIODS = [("period_1", 20.0, 100.0), ("period_2", 110.0, MARKER_T), ("cooldown", MARKER_T, 190.0)]


LAP_LINE = [[0.0, -35.0], [0.0, -15.0]]    # across the circle's bottom, crossed left to right


def fast_circle(t: float) -> tuple[float, float]:
    """Laps of a 25 m circle: each minute 30 s at 6 m/s (high-speed running), then 30 s at 3 m/s."""
    into = t % 60
    arc = 270.0 * (t // 60) + (6.0 * into if into < 30 else 180.0 + 3.0 * (into - 30))
    return circle(25.0, 1.0)(arc)


async def archived_segments(cql, device: str, run: str, kind: str, count: int):
    rows = list(cql.execute("SELECT number, segment_json FROM run_segments WHERE device_id=%s AND run_id=%s "
                            "AND kind=%s", (device, run, kind)))
    return rows if len(rows) == count else None


async def test_intervals_laps_periods_and_peaks_live_and_archived(http, worker):
    match = unique("seg")
    device, run = await register(http, worker, XY), f"{match}_t1_7"
    await post(http, worker, f"/start-stream/{device}/{run}",          # creates the run's topic
               {"motion": {"source": "gps"}, "segments": {"interval_s": 60, "lap_line": LAP_LINE}})
    await register_feed(http, worker.url, EVENTS_DEVICE, EVENT_SCHEMA)
    await post(http, worker, f"/ingest/{EVENTS_DEVICE}/{match}", [
        {"timestamp": T0 + t, "minute": minute, "event": kind, "team": "", "player": "", "xg": 0.0, "detail": ""}
        for t, minute, kind in WHISTLES])

    async def full_time():
        async with http.get(f"{worker.url}/matches/{match}") as r:
            return r.status == 200 and (await r.json())["status"] == "finished"
    await wait_for(full_time, timeout=60, what="the match feed applied (its markers sent to the player's run)")
    async with http.post(f"{worker.url}/runs/{device}/{run}/markers", json={"t": "soon"}) as r:
        assert r.status == 422 and "t" in (await r.json())["detail"]
    await post(http, worker, f"/runs/{device}/{run}/markers", {"t": T0 + MARKER_T, "label": "cooldown"})

    readings = xy_readings(fast_circle, SECONDS)
    await stream(http, worker, device, run, [r["data"] for r in readings], batch=250)
    history = cumulative(readings, MotionConfig(source="gps"))

    live = (await get(http, worker, f"/runs/{device}/{run}/segments?kind=interval"))["segments"]
    assert [(s["index"], s["final"]) for s in live] == [(0, True), (1, True), (2, True), (3, False)]
    for s in live[:3]:
        assert s["distance_m"] == pytest.approx(between(history, s["start_t"], s["start_t"] + 60, "distance_m"))
    peaks = (await get(http, worker, f"/runs/{device}/{run}/segments?kind=peaks"))["segments"]
    steps = [(t, state["distance_m"] - before["distance_m"], state["hsr_distance_m"] - before["hsr_distance_m"])
             for (_, before), (t, state) in zip(history, history[1:])]
    for peak in peaks:
        assert peak["distance_m"] == pytest.approx(brute_force_peak([(t, d) for t, d, _ in steps], peak["window_s"]),
                                                   abs=MM)
        assert peak["hsr_distance_m"] == pytest.approx(brute_force_peak([(t, h) for t, _, h in steps],
                                                                        peak["window_s"]), abs=MM)
    assert peaks[0]["hsr_distance_m"] > 0
    async with http.get(f"{worker.url}/runs/{device}/{run}/segments?kind=sideways") as r:
        assert r.status == 422

    await post(http, worker, f"/stop-stream/{device}/{run}", {})

    async def stopped():
        body = await get(http, worker, f"/runs/{device}/{run}")
        return body["status"] == "finished"
    await wait_for(stopped, what="the run stopped")
    laps = (await get(http, worker, f"/runs/{device}/{run}/segments?kind=lap"))["segments"]
    periods = (await get(http, worker, f"/runs/{device}/{run}/segments?kind=period"))["segments"]
    crossings = offline_crossings(readings)
    assert len(laps) == len(crossings) - 1 >= 4
    for lap, (start, end) in zip(laps, zip(crossings, crossings[1:])):
        assert lap["lap_time_s"] == pytest.approx(end - start, abs=0.3)   # the smoothed track lags the raw one
    assert [(p["label"], p["start_t"] - T0, p["end_t"] - T0) for p in periods] == PERIODS
    for p in periods:
        assert p["distance_m"] == pytest.approx(between(history, p["start_t"], p["end_t"], "distance_m"))
        assert p["readings"] == sum(1 for r in readings if p["start_t"] <= r["t"] < p["end_t"])

    cluster = Cluster([settings.cassandra_contact_points[0]], port=settings.cassandra_port)
    cql = cluster.connect(TEST_ENV["SP_KEYSPACE"])
    try:
        for kind, rows in (("interval", None), ("lap", laps), ("period", periods), ("peaks", peaks)):
            expected = rows or (await get(http, worker, f"/runs/{device}/{run}/segments?kind={kind}"))["segments"]
            stored = await wait_for(lambda: archived_segments(cql, device, run, kind, len(expected)), timeout=60,
                                    what=f"{kind} segments in Cassandra")
            assert [json.loads(row.segment_json) for row in stored] == expected
        archived = await get(http, worker, f"/history/{device}/{run}/segments?kind=period")
        assert archived["segments"] == periods
    finally:
        cluster.shutdown()


def offline_crossings(readings: list[dict]) -> list[float]:
    """When the raw track crosses the lap line left to right, interpolated between fixes."""
    line = (tuple(LAP_LINE[0]), tuple(LAP_LINE[1]))
    times = [crossing([a["t"], a["data"]["x"], a["data"]["y"]], [b["t"], b["data"]["x"], b["data"]["y"]], line)
             for a, b in zip(readings, readings[1:])]
    return [t for t in times if t is not None]
