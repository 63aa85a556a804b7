"""Cassandra stopped mid-stream: live processing goes on, /health says the sink is behind, and once
Cassandra is back every reading arrives. Stops and restarts the test stack's Cassandra node."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cassandra.cluster import Cluster

from sports_prophet.config import settings
from tests.integration.conftest import REPO, TEST_ENV, register, unique, wait_for
from tests.integration.test_archive import raw_rows
from tests.integration.test_live import GPS, get, post, stream, track

pytestmark = pytest.mark.integration


def stack(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "sports_prophet.ops.stack", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"scripts/stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


async def health(http, worker) -> tuple[int, dict]:
    async with http.get(f"{worker.url}/health") as r:
        return r.status, await r.json()


async def test_readings_streamed_while_cassandra_is_down_all_arrive_once_it_is_back(http, worker):
    device, run = await register(http, worker, GPS), unique("run")
    fixes = track(400)
    await stream(http, worker, device, run, fixes[:200])
    stack("down", "cassandra")
    try:
        # Ingest (the device is cached) and live processing carry on without Cassandra.
        await stream(http, worker, device, run, fixes[200:], total=400)
        assert (await get(http, worker, f"/get-stats/{device}/{run}?agg_type=max"))["count"] == 400

        async def sink_behind():
            status, body = await health(http, worker)
            return body if status == 503 and body["sink"]["behind"] and body["sink"]["failing_for_s"] else None
        behind = await wait_for(sink_behind, timeout=30, what="/health to say the sink is behind")
        assert behind["cassandra"]["ok"] is False and behind["sink"]["unwritten_records"] > 0
    finally:
        stack("up", "cassandra")

    async def healthy():
        status, body = await health(http, worker)
        return body if status == 200 else None
    await wait_for(healthy, timeout=60, what="/health to recover")
    cluster = Cluster([settings.cassandra_contact_points[0]], port=settings.cassandra_port)
    try:
        cql = cluster.connect(TEST_ENV["SP_KEYSPACE"])

        async def all_rows():
            rows = raw_rows(cql, device, run)
            return rows if len(rows) == len(fixes) else None
        rows = await wait_for(all_rows, timeout=60, what="every reading in Cassandra")
        assert len({(r.t, r.source_offset, r.position) for r in rows}) == len(fixes)
    finally:
        cluster.shutdown()
    await post(http, worker, f"/stop-stream/{device}/{run}", {})
