"""Live processing over real Kafka: agents, tables and the query routes, on one and on two workers."""

from __future__ import annotations

import math
import statistics

import pytest

from agents.motion import offline_summary
from tests.integration.conftest import register, unique, wait_for

pytestmark = pytest.mark.integration

T0 = 1_767_225_600.0
GPS = {"latitude": "float", "longitude": "float", "hr": "int", "timestamp": "timestamp"}


def track(n: int, hz: float = 10.0, start: int = 0) -> list[dict]:
    """A player jogging, then sprinting, then jogging on a curve, with heart rate."""
    out = []
    for i in range(start, start + n):
        t = i / hz
        speed = 8.0 if 10 <= t < 14 else 4.0
        out.append({"latitude": 40.0 + (4.0 * t + 4.0 * max(0.0, min(t, 14) - 10)) / 111_034.0,
                    "longitude": -3.7 + 0.00002 * math.sin(t / 5), "hr": 120 + int(speed * 5) + i % 7,
                    "timestamp": T0 + t})
    return out


async def post(http, worker, path: str, body) -> dict:
    async with http.post(worker.url + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def get(http, worker, path: str, status: int = 200) -> dict:
    async with http.get(worker.url + path) as r:
        assert r.status == status, (path, await r.text())
        return await r.json()


async def run_has(http, worker, device: str, run: str, readings: int) -> dict | None:
    async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
        if r.status != 200:
            return None
        body = await r.json()
        return body if body["readings"] == readings else None


async def counted_everywhere(http, workers, device: str, runs: list[str], readings: int) -> bool:
    """Whether every worker answers every run with `readings` processed (any worker serves any run)."""
    for run in runs:
        for w in workers:
            if not await run_has(http, w, device, run, readings):
                return False
    return True


async def stream(http, worker, device: str, run: str, fixes: list[dict], batch: int = 100,
                 total: int | None = None) -> dict:
    """Ingest the fixes, then wait until the run has processed `total` readings (default: these fixes)."""
    for i in range(0, len(fixes), batch):
        await post(http, worker, f"/ingest/{device}/{run}", fixes[i:i + batch])
    total = total or len(fixes)
    try:
        return await wait_for(lambda: run_has(http, worker, device, run, total), timeout=60,
                              what=f"{total} readings processed")
    except AssertionError as exc:
        async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
            raise AssertionError(f"{exc}; the run now: {r.status} {(await r.text())[:300]}") from exc


async def test_summary_matches_an_offline_computation_of_the_same_track(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(300)
    summary = await stream(http, worker, device, run, fixes)
    offline = offline_summary([(f["timestamp"], f["latitude"], f["longitude"]) for f in fixes])
    assert summary["motion"] == offline          # same fold, same order: bit-for-bit equal
    assert summary["motion"]["sprints"] == 1 and summary["duration_s"] == pytest.approx(29.9)


async def test_stats_routes_match_python_statistics(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(120)
    await stream(http, worker, device, run, fixes)
    hr = [f["hr"] for f in fixes]
    expected = {"average": statistics.mean(hr), "max": max(hr), "min": min(hr), "sum": sum(hr),
                "std": statistics.stdev(hr)}
    for agg, value in expected.items():
        body = await get(http, worker, f"/get-stats/{device}/{run}?agg_type={agg}")
        assert body["count"] == 120 and body["agg_type"] == agg
        assert body["stats"]["hr"] == pytest.approx(value)
        assert "timestamp" not in body["stats"]
    all_stats = await get(http, worker, f"/get-stats/{device}/{run}?agg_type=all")
    assert all_stats["stats"]["hr"]["max"] == max(hr)
    bad = await get(http, worker, f"/get-stats/{device}/{run}?agg_type=median", 422)
    assert "average" in bad["detail"]
    await get(http, worker, f"/get-stats/{device}/{unique('norun')}", 404)


async def test_speed_from_the_two_latest_fixes(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(50)
    await stream(http, worker, device, run, fixes)
    body = await get(http, worker, f"/get-speed/{device}/{run}")
    a, b = fixes[-2], fixes[-1]
    dy = (b["latitude"] - a["latitude"]) * 111_034.0
    dx = (b["longitude"] - a["longitude"]) * 111_320.0 * math.cos(math.radians(40.0))
    assert body["speed"] == pytest.approx(math.hypot(dx, dy) / 0.1, rel=0.01)
    assert body["timestamp"] == b["timestamp"] and body["smoothed_speed"] > 0
    await get(http, worker, f"/get-speed/{device}/{unique('norun')}", 404)
    weather = await register(http, worker, {"temperature": "float", "timestamp": "timestamp"}, "weather")
    await get(http, worker, f"/get-speed/{weather}/{run}", 422)


async def test_start_stream_validates_against_the_device(http, worker):
    device = await register(http, worker, GPS)
    cases = [
        (f"/start-stream/{unique('nodev')}/r", {"triggers": {}}, 404),
        (f"/start-stream/{device}/r", {"triggers": {"speed": [0, 1]}}, 422),
        (f"/start-stream/{device}/r", {"triggers": {"hr": [180, 60]}}, 422),
        (f"/start-stream/{device}/r", {"triggers": {"hr": [60]}}, 422),
        (f"/start-stream/{device}/r", {"window_seconds": 0.5}, 422),
        (f"/start-stream/{device}/r", {"motion": {"sprint_mps": -1}}, 422),
        (f"/start-stream/{device}/r", {"motion": {"source": "radar"}}, 422),
        (f"/start-stream/{device}/r", {"surprise": 1}, 422),
    ]
    for path, body, status in cases:
        async with http.post(worker.url + path, json=body) as r:
            assert r.status == status, (body, await r.text())
            assert (await r.json())["error"]


async def test_triggers_windows_alerts_and_sql(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    await post(http, worker, f"/start-stream/{device}/{run}",
               {"triggers": {"hr": [0, 150]}, "window_seconds": 2, "table_preappend": "threshold"})
    fixes = track(200)
    await stream(http, worker, device, run, fixes)
    passing = [f for f in fixes if f["hr"] <= 150]

    async def all_windows_final():
        body = await get(http, worker, f"/runs/{device}/{run}/windows?last=1000")
        return body["windows"] if body["windows"] and all(w["final"] for w in body["windows"]) else None

    windows = await wait_for(all_windows_final, timeout=45, what="every window closed (silence)")
    assert sum(w["count"] for w in windows) == len(passing)
    assert all(w["window_end"] - w["window_start"] == 2 for w in windows)
    result = await get(http, worker, f"/get-latest-stats/{device}/{run}?table_preappend=threshold&query="
                       "SELECT timestamp, count, hr_max FROM {table} ORDER BY timestamp DESC LIMIT 1")
    assert result["columns"] == ["timestamp", "count", "hr_max"]
    assert result["rows"][0][0] == max(w["timestamp"] for w in windows)
    bad = await get(http, worker, f"/get-latest-stats/{device}/{run}?query=DELETE FROM {{table}}", 400)
    assert "SELECT" in bad["detail"]
    await get(http, worker, f"/get-latest-stats/{device}/{run}?table_preappend=other", 404)
    alerts = (await get(http, worker, f"/alerts/{device}/{run}"))["alerts"]
    kinds = [a["type"] for a in alerts]
    assert kinds.count("threshold") == 1 and "data_delay" in kinds     # one excursion; then the run went silent


async def test_a_stopped_run_leaves_the_subscription_and_comes_back_when_written_to(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(60)
    await stream(http, worker, device, run, fixes[:30])
    await post(http, worker, f"/stop-stream/{device}/{run}", {})

    async def finished_and_unsubscribed():
        body = await get(http, worker, f"/runs/{device}/{run}")
        return body["status"] == "finished" and not body["subscribed"]

    await wait_for(finished_and_unsubscribed, timeout=40, what="run finished and out of the subscription")
    listed = (await get(http, worker, "/runs"))["runs"]
    assert {"device_id": device, "run_id": run} in [{k: r[k] for k in ("device_id", "run_id")} for r in listed]
    summary = await stream(http, worker, device, run, fixes[30:], total=60)    # none of these is lost
    assert summary["status"] == "active"

    async def subscribed_again():
        return (await get(http, worker, f"/runs/{device}/{run}"))["subscribed"]

    await wait_for(subscribed_again, timeout=40, what="the reopened run back in the subscription")


async def test_a_new_run_is_picked_up_with_none_of_its_first_readings_lost(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(40)
    for f in fixes[:5]:
        await post(http, worker, f"/ingest/{device}/{run}", [f])      # the first readings, one by one
    await post(http, worker, f"/ingest/{device}/{run}", fixes[5:])
    summary = await wait_for(lambda: run_has(http, worker, device, run, 40), timeout=40,
                             what="the new run's 40 readings")
    assert summary["first_t"] == T0


async def test_state_continues_after_a_worker_restart(http, make_worker):
    w = make_worker("worker-continue").start()
    device, run = await register(http, w, GPS), unique("run")
    fixes = track(200)
    await stream(http, w, device, run, fixes[:100])
    w.stop()
    w.start()
    summary = await stream(http, w, device, run, fixes[100:], total=200)
    offline = offline_summary([(f["timestamp"], f["latitude"], f["longitude"]) for f in fixes])
    assert summary["readings"] == 200
    assert summary["motion"]["distance_m"] == pytest.approx(offline["distance_m"])


async def test_two_workers_both_answer_for_every_run(http, make_worker):
    worker, other = make_worker("worker-a2").start(), make_worker("worker-b").start()
    device = await register(http, worker, GPS)
    run_ids = [unique("run") for _ in range(6)]
    for run in run_ids:
        await post(http, worker, f"/ingest/{device}/{run}", track(20))

    await wait_for(lambda: counted_everywhere(http, (worker, other), device, run_ids, 20), timeout=60, interval=0.5, what="every run answered by both workers")
    for run in run_ids:
        a = await get(http, worker, f"/get-stats/{device}/{run}?agg_type=all")
        b = await get(http, other, f"/get-stats/{device}/{run}?agg_type=all")
        assert a == b
    listed = {r["run_id"] for r in (await get(http, other, "/runs"))["runs"] if r["device_id"] == device}
    assert listed == set(run_ids)


async def test_live_websocket_pushes_the_run_as_it_changes(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(40)
    await stream(http, worker, device, run, fixes[:20])
    async with http.ws_connect(f"{worker.url}/live/{device}/{run}") as ws:
        first = (await ws.receive_json(timeout=10))["run"]
        assert first["readings"] == 20
        await post(http, worker, f"/ingest/{device}/{run}", fixes[20:])
        while True:                                       # pushed, not polled: arrives without asking
            pushed = (await ws.receive_json(timeout=10))["run"]
            if pushed["readings"] == 40:
                break
    assert pushed["last_position"]["latitude"] == fixes[-1]["latitude"]
    assert pushed["motion"]["distance_m"] > first["motion"]["distance_m"]


async def test_a_killed_worker_resumes_without_losing_or_double_counting(http, make_worker):
    import signal

    w = make_worker("worker-kill9").start()
    device, run = await register(http, w, GPS), unique("run")
    fixes = track(600)
    await stream(http, w, device, run, fixes[:300])
    for i in range(300, 600, 20):                         # keep writing while the worker dies
        await post(http, w, f"/ingest/{device}/{run}", fixes[i:i + 20])
        if i == 400:
            w.stop(signal.SIGKILL)
            w.start()
    summary = await wait_for(lambda: run_has(http, w, device, run, 600), timeout=60, interval=0.5,
                             what="all 600 readings counted once after kill -9")
    offline = offline_summary([(f["timestamp"], f["latitude"], f["longitude"]) for f in fixes])
    assert summary["motion"]["distance_m"] == pytest.approx(offline["distance_m"])
    assert summary["stats"]["hr"]["count"] == 600


async def test_two_workers_lose_nothing_when_one_is_killed_and_the_other_restarted_mid_stream(http, make_worker):
    """The rebalances around a kill -9 and a restart are where Faust drops or stalls records
    (agents/watchdog.py): every run must still count every reading exactly once."""
    import signal

    a, b = make_worker("worker-a3").start(), make_worker("worker-b3").start()
    device = await register(http, a, GPS)
    runs = {unique("run"): track(300) for _ in range(4)}
    for step, i in enumerate(range(0, 300, 25)):
        for run, fixes in runs.items():
            await post(http, a, f"/ingest/{device}/{run}", fixes[i:i + 25])
        if step == 4:
            b.stop(signal.SIGKILL)
            b.start()
        if step == 8:
            a.stop()
            a.start()

    await wait_for(lambda: counted_everywhere(http, (a, b), device, list(runs), 300), timeout=90, interval=0.5, what="every reading of every run counted once")
    for run, fixes in runs.items():
        stats = await get(http, b, f"/get-stats/{device}/{run}?agg_type=sum")
        assert stats["stats"]["hr"] == sum(f["hr"] for f in fixes)


async def unknown_everywhere(http, workers, device: str, run: str) -> bool:
    for w in workers:
        async with http.get(f"{w.url}/runs/{device}/{run}") as r:
            if r.status != 404:
                return False
    return True


async def test_a_run_streamed_again_after_its_topic_was_deleted_starts_afresh(http, make_worker):
    """Kafka restarts a re-created topic's offsets at 0: neither the worker that deleted the topic
    nor the other one may take the new readings for replays of the old ones."""
    a, b = make_worker("worker-a4").start(), make_worker("worker-b4").start()
    device, run = await register(http, a, GPS), unique("run")
    await stream(http, b, device, run, track(300))
    async with http.delete(f"{a.url}/delete-topic/{device}/{run}") as r:
        assert r.status == 200, await r.text()
    await wait_for(lambda: unknown_everywhere(http, (a, b), device, run), timeout=30, interval=0.5,
                   what="the deleted run gone from both workers")

    fixes = track(120, start=500)
    for i in range(0, 120, 30):                            # through the worker that did not delete it
        await post(http, b, f"/ingest/{device}/{run}", fixes[i:i + 30])
    await wait_for(lambda: counted_everywhere(http, (a, b), device, [run], 120), timeout=60, interval=0.5,
                   what="the new run's 120 readings, counted afresh")
    summary = await get(http, a, f"/runs/{device}/{run}")
    assert summary["first_t"] == fixes[0]["timestamp"]
    stats = await get(http, a, f"/get-stats/{device}/{run}?agg_type=sum")
    assert stats["stats"]["hr"] == sum(f["hr"] for f in fixes)


async def test_latest_stats_columns_follow_the_schema_when_the_triggers_let_nothing_through(http, worker):
    """The old example client: a random walk just west of longitude -75.0 against a trigger range
    that starts there, so no reading passes; a client reading `latitude_avg` must still find the column."""
    device, run = await register(http, worker, {"latitude": "float", "longitude": "float",
                                                "timestamp": "string"}), unique("run")
    await post(http, worker, f"/start-stream/{device}/{run}", {
        "triggers": {"latitude": [39.0, 40.1], "longitude": [-75.0, -70.0]}, "window_seconds": 2})
    walk = [{"latitude": 39.5 + i * 1e-5, "longitude": -75.0006 - i * 1e-6,
             "timestamp": f"2026-01-01T00:00:{i:02d}"} for i in range(20)]
    await stream(http, worker, device, run, walk)
    body = await get(http, worker, f"/get-latest-stats/{device}/{run}")
    assert body["rows"] == []
    assert {"latitude_avg", "longitude_std", "count", "window_start"} <= set(body["columns"])
    assert "timestamp_avg" not in body["columns"]
