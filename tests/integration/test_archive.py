"""The archive on the real Cassandra node: what the sink writes, replays, and the history and export routes."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from datetime import timezone

import pyarrow.parquet as pq
import pytest
from cassandra.cluster import Cluster

from sports_prophet.config import settings
from tests.integration.conftest import TEST_ENV, register, unique, wait_for
from tests.integration.test_live import GPS, get, post, stream, track

pytestmark = pytest.mark.integration

WINDOW_S = 2


@pytest.fixture(scope="module")
def cql():
    cluster = Cluster([settings.cassandra_contact_points[0]], port=settings.cassandra_port)
    session = cluster.connect(TEST_ENV["SP_KEYSPACE"])
    yield session
    cluster.shutdown()


def raw_rows(cql, device: str, run: str) -> list:
    buckets = [r.bucket for r in cql.execute("SELECT bucket FROM reading_buckets WHERE device_id=%s AND run_id=%s",
                                             (device, run))]
    return [row for b in buckets for row in cql.execute(
        "SELECT t, source_offset, position, data FROM readings WHERE device_id=%s AND run_id=%s AND bucket=%s",
        (device, run, b))]


async def archived(http, worker, device: str, run: str, readings: int, status: str = "finished") -> dict | None:
    async with http.get(f"{worker.url}/history/{device}/{run}/summary") as r:
        body = await r.json() if r.status == 200 else None
    return body if body and body.get("readings") == readings and body.get("status") == status else None


async def finished_run(http, worker, readings: int = 300) -> tuple[str, str, list[dict]]:
    """A run streamed with triggers (windows and alerts), stopped, and archived whole."""
    device, run = await register(http, worker, GPS), unique("run")
    await post(http, worker, f"/start-stream/{device}/{run}",
               {"triggers": {"hr": [100, 150]}, "window_seconds": WINDOW_S, "table_preappend": "t"})
    fixes = track(readings)
    for fix in fixes[100:110]:
        fix["hr"] = 190                                     # one excursion: one alert
    await stream(http, worker, device, run, fixes)
    await post(http, worker, f"/stop-stream/{device}/{run}", {})
    await wait_for(lambda: archived(http, worker, device, run, readings), timeout=60, what="the run archived")
    return device, run, fixes


async def test_every_reading_once_and_aggregates_equal_the_raw_rows(http, worker, cql):
    device, run, fixes = await finished_run(http, worker)
    rows = await wait_for(lambda: _all(raw_rows(cql, device, run), len(fixes)), what="all readings in Cassandra")
    assert sorted(r.data for r in rows) == sorted(_json(f) for f in fixes)

    # Windows in Cassandra equal the windows recomputed from the raw rows (triggers: 100 <= hr <= 150).
    kept = [f for f in fixes if 100 <= f["hr"] <= 150]
    by_window: dict[float, list[dict]] = defaultdict(list)
    for f in kept:
        by_window[math.floor(f["timestamp"] / WINDOW_S) * WINDOW_S].append(f)
    stored = {w.window_start.replace(tzinfo=timezone.utc).timestamp(): w for w in cql.execute(
        "SELECT window_start, count, stats FROM windows WHERE device_id=%s AND run_id=%s", (device, run))}
    assert sorted(stored) == sorted(by_window)
    for start, members in by_window.items():
        window = stored[start]
        hr = [m["hr"] for m in members]
        assert window.count == len(members)
        assert window.stats["hr_avg"] == pytest.approx(statistics.mean(hr))
        assert (window.stats["hr_min"], window.stats["hr_max"], window.stats["hr_sum"]) == (min(hr), max(hr), sum(hr))

    # The run's inception-to-date stats (over every reading, triggers or not) equal the raw rows'.
    summary = (await get(http, worker, f"/history/{device}/{run}/summary"))
    hr = [json.loads(r.data)["hr"] for r in rows]
    assert summary["stats"]["hr"]["count"] == len(hr) and summary["stats"]["hr"]["max"] == max(hr)
    assert summary["stats"]["hr"]["mean"] == pytest.approx(statistics.mean(hr))
    live = await get(http, worker, f"/runs/{device}/{run}")
    assert summary == {k: v for k, v in live.items() if k != "subscribed"}     # the archive has the final summary
    archived_alerts = (await get(http, worker, f"/history/{device}/{run}/alerts"))["alerts"]
    assert [a["type"] for a in archived_alerts].count("threshold") == 1      # one excursion, one alert
    assert archived_alerts == (await get(http, worker, f"/alerts/{device}/{run}"))["alerts"]


def _json(fix: dict) -> str:
    return json.dumps(fix, separators=(",", ":"))


async def _all(rows: list, count: int):
    return rows if len(rows) == count else None


async def test_history_pages_return_exactly_what_was_streamed_in_time_order(http, worker):
    device, run, fixes = await finished_run(http, worker, readings=230)
    got, after, pages = [], None, 0
    while True:
        query = f"?limit=50{'&after=' + after if after else ''}"
        page = await get(http, worker, f"/history/{device}/{run}/readings{query}")
        got += page["readings"]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 5 and [r["data"] for r in got] == fixes
    assert [r["t"] for r in got] == [f["timestamp"] for f in fixes]

    middle = await get(http, worker, f"/history/{device}/{run}/readings?from={fixes[10]['timestamp']}"
                                     f"&to={fixes[19]['timestamp']}")
    assert [r["data"] for r in middle["readings"]] == fixes[10:20] and middle["next"] is None

    runs = await get(http, worker, f"/history/runs?device_id={device}")
    assert [(r["run_id"], r["readings"]) for r in runs["runs"]] == [(run, len(fixes))]
    windows = await get(http, worker, f"/history/{device}/{run}/windows")
    assert windows["windows"] and all(w["count"] > 0 for w in windows["windows"])


async def test_exports_stream_every_reading_as_csv_and_parquet(http, worker, tmp_path):
    device, run, fixes = await finished_run(http, worker, readings=150)
    async with http.get(f"{worker.url}/export/{device}/{run}.csv") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(await r.text())))
    assert [float(row["hr"]) for row in table] == [f["hr"] for f in fixes]
    assert [float(row["latitude"]) for row in table] == [f["latitude"] for f in fixes]

    async with http.get(f"{worker.url}/export/{device}/{run}.parquet") as r:
        assert r.status == 200
        (tmp_path / "run.parquet").write_bytes(await r.read())
    columns = pq.read_table(tmp_path / "run.parquet").to_pydict()
    assert columns["hr"] == [f["hr"] for f in fixes] and columns["latitude"] == [f["latitude"] for f in fixes]
    assert [t.timestamp() for t in columns["t"]] == pytest.approx([f["timestamp"] for f in fixes], abs=1e-3)


async def test_replaying_the_topic_from_the_start_leaves_exactly_the_same_rows(http, worker, make_worker, cql):
    device, run, fixes = await finished_run(http, worker, readings=200)
    before = sorted((r.t, r.source_offset, r.position, r.data) for r in raw_rows(cql, device, run))
    windows_before = list(cql.execute("SELECT * FROM windows WHERE device_id=%s AND run_id=%s", (device, run)))
    # A worker of another app id has no committed offsets: it reads the run topic from the start
    # and writes every reading, window and summary again.
    replayer = make_worker("replayer").start()
    await wait_for(lambda: archived(http, replayer, device, run, len(fixes)), timeout=60,
                   what="the replayed run archived")
    after = sorted((r.t, r.source_offset, r.position, r.data) for r in raw_rows(cql, device, run))
    assert len(before) == len(fixes) and after == before
    assert list(cql.execute("SELECT * FROM windows WHERE device_id=%s AND run_id=%s", (device, run))) == windows_before


async def test_history_rejects_bad_input_with_json_errors(http, worker):
    device, run, _ = await finished_run(http, worker, readings=20)
    cases = {
        f"/history/{device}/nope/summary": 404,
        f"/history/{device}/{unique('run')}/readings": 404,
        f"/history/{device}/{run}/readings?from=2026-01-02&to=2026-01-01": 422,
        f"/history/{device}/{run}/readings?from=yesterday": 422,
        f"/history/{device}/{run}/readings?limit=0": 422,
        f"/history/{device}/{run}/readings?after=garbage": 422,
        f"/history/bad%20id/{run}/summary": 400,
        "/history/runs?from=2026-02-01&to=2026-01-01": 422,
        "/history/runs?from=2020-01-01&to=2026-01-01": 422,
        f"/export/{device}/{run}.xlsx": 404,
        f"/export/{device}/{unique('run')}.csv": 404,
    }
    for path, status in cases.items():
        async with http.get(worker.url + path) as r:
            body = await r.json()
            assert r.status == status and body["error"], (path, r.status, body)
