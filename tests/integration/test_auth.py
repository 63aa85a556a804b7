"""Credentials on a real worker started with SP_ADMIN_TOKEN, SP_READ_TOKEN and SP_CORS_ORIGINS: every
guarded route refuses a missing token (401) and a wrong one (403), ingest takes only the device's own
token (or the admin's), rotation retires the old token, Cassandra holds only its hash, and a worker
that would expose an unguarded API does not start. The session's tokenless worker shows old clients
need nothing on loopback (test_registry.py, test_ingest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any, Iterator, Mapping

import aiohttp
import pytest
import websockets

from cql.session import session
from sports_prophet.ops.worker_process import free_port
from tests.integration.conftest import GPS_SCHEMA, REPO, TEST_ENV, Worker, unique, wait_for
from tests.integration.test_ingest import fix, sensor_logger_push
from web.auth import hash_token

pytestmark = pytest.mark.integration

ADMIN, READ = f"admin-{uuid.uuid4().hex}", f"read-{uuid.uuid4().hex}"
ALLOWED_ORIGIN = "https://coach.example"
PHONE_SCHEMA = {"latitude": "float", "longitude": "float", "time": "timestamp", "sensor": "string"}


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="module")
def secured(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker with every credential setting, in a consumer group of its own."""
    w = Worker(tmp_path_factory.mktemp("workers"), "worker-secured", app_id=f"{TEST_ENV['SP_APP_ID']}-auth",
               env={"SP_ADMIN_TOKEN": ADMIN, "SP_READ_TOKEN": READ, "SP_CORS_ORIGINS": ALLOWED_ORIGIN}).start()
    yield w
    w.stop()


async def register(http: aiohttp.ClientSession, worker: Worker, schema: dict | None = None) -> tuple[str, str]:
    """A new device and its ingest token."""
    device = unique("dev")
    async with http.post(f"{worker.url}/register-device", headers=bearer(ADMIN),
                         json={"device_name": device, "schema": schema or GPS_SCHEMA}) as r:
        assert r.status == 201, await r.text()
        return device, (await r.json())["ingest_token"]


async def streamed_run(http: aiohttp.ClientSession, worker: Worker, device: str) -> str:
    """A run with one reading that the run agent has taken in (stop-stream and delete-topic need one)."""
    run = unique("run")
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[fix(1)], headers=bearer(ADMIN)) as r:
        assert r.status == 200, await r.text()

    async def known() -> bool:
        async with http.get(f"{worker.url}/runs/{device}/{run}", headers=bearer(READ)) as r:
            return r.status == 200
    await wait_for(known, what=f"run {device}/{run} to be known")
    return run


async def status_of(http: aiohttp.ClientSession, method: str, url: str, token: str | None,
                    body: Any = None) -> tuple[int, Any, Mapping[str, str]]:
    async with http.request(method, url, headers=bearer(token), json=body) as r:
        return r.status, await r.json(), r.headers


async def assert_refused(http: aiohttp.ClientSession, method: str, url: str, wrong_tokens: list[str],
                         body: Any = None) -> None:
    """No token: 401 asking for a bearer token; each wrong token: 403; both with the JSON error shape."""
    status, payload, headers = await status_of(http, method, url, None, body)
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer", (method, url, status, payload)
    assert payload["error"] and "Authorization: Bearer" in payload["detail"]
    for token in wrong_tokens:
        status, payload, _ = await status_of(http, method, url, token, body)
        assert status == 403 and payload["error"] and payload["detail"], (method, url, token, status, payload)


ADMIN_ROUTES = ["register", "update", "delete-device", "start-stream", "stop-stream", "delete-topic",
                "delete-all-topics", "rotate-token"]


@pytest.mark.parametrize("route", ADMIN_ROUTES)
async def test_admin_routes_take_only_the_admin_token(http, secured, route):
    device, ingest_token = await register(http, secured)
    run = await streamed_run(http, secured, device) if route in ("stop-stream", "delete-topic") else unique("run")
    method, path, body = {
        "register": ("POST", "/register-device", {"device_name": unique("dev"), "schema": GPS_SCHEMA}),
        "update": ("PUT", "/update-device", {"device_name": device, "schema": {**GPS_SCHEMA, "hr": "int"}}),
        "delete-device": ("DELETE", f"/delete-device/{device}", None),
        "start-stream": ("POST", f"/start-stream/{device}/{run}", {"window_seconds": 2}),
        "stop-stream": ("POST", f"/stop-stream/{device}/{run}", None),
        "delete-topic": ("DELETE", f"/delete-topic/{device}/{run}", None),
        "delete-all-topics": ("DELETE", "/delete-all-topics", None),
        "rotate-token": ("POST", f"/devices/{device}/rotate-token", None),
    }[route]
    await assert_refused(http, method, secured.url + path, ["not-the-token", ingest_token, READ], body)
    status, payload, _ = await status_of(http, method, secured.url + path, ADMIN, body)
    assert status in (200, 201), payload


async def ingest_status(http: aiohttp.ClientSession, worker: Worker, route: str, device: str,
                        token: str | None) -> int:
    """How one ingest route answers this token: the HTTP status, or 4xxx for a WebSocket's close code
    (a WebSocket that acks the reading counts as 200)."""
    run = unique("run")
    if route == "ws":
        async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}",
                                      additional_headers=bearer(token)) as ws:
            try:
                await ws.send(json.dumps(fix(1)))
                return 200 if "ack" in json.loads(await asyncio.wait_for(ws.recv(), 10)) else 0
            except websockets.ConnectionClosed:
                return ws.close_code
    url, body = ((f"/ingest/{device}/{run}", [fix(1)]) if route == "http" else
                 (f"/sensor-logger/{device}", sensor_logger_push(uuid.uuid4().int % 10**9, run)))
    async with http.post(worker.url + url, json=body, headers=bearer(token)) as r:
        return r.status


@pytest.mark.parametrize("route", ["http", "sensor-logger", "ws"])
async def test_ingest_takes_the_devices_own_token_or_the_admin_token(http, secured, route):
    schema = PHONE_SCHEMA if route == "sensor-logger" else GPS_SCHEMA
    (device, token), (_, other_token) = await register(http, secured, schema), await register(http, secured, schema)
    refused = (4401, 4403) if route == "ws" else (401, 403)
    assert await ingest_status(http, secured, route, device, None) == refused[0]
    for wrong in ("not-the-token", other_token, READ):
        assert await ingest_status(http, secured, route, device, wrong) == refused[1], wrong
    assert await ingest_status(http, secured, route, device, token) == 200
    assert await ingest_status(http, secured, route, device, ADMIN) == 200


async def test_a_websocket_may_pass_its_token_in_the_query(http, secured):
    device, token = await register(http, secured)
    async with websockets.connect(f"{secured.ws_url}/send-stream/{device}/{unique('run')}?token={token}") as ws:
        await ws.send(json.dumps(fix(1)))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"ack": 1, "readings": 1}
    async with http.post(f"{secured.url}/ingest/{device}/{unique('run')}?token={token}", json=[fix(1)]) as r:
        assert r.status == 401                         # plain HTTP takes the header only (URLs end up in logs)


async def test_rotation_retires_the_old_token_within_the_cache_time(http, secured):
    device, old = await register(http, secured)
    run = unique("run")
    async with websockets.connect(f"{secured.ws_url}/send-stream/{device}/{run}",
                                  additional_headers=bearer(old)) as ws:
        await ws.send(json.dumps(fix(1)))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"ack": 1, "readings": 1}
        status, rotated, _ = await status_of(http, "POST", f"{secured.url}/devices/{device}/rotate-token", ADMIN)
        assert status == 200 and rotated["device_name"] == device and rotated["ingest_token"] != old

        async def old_refused() -> bool:               # SP_REGISTRY_CACHE_SECONDS is 0.5 in the tests
            return await ingest_status(http, secured, "http", device, old) == 403
        await wait_for(old_refused, timeout=5, what="the old token to be refused")
        await ws.send(json.dumps(fix(2)))              # the socket opened with the old token is closed
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4403
    assert await ingest_status(http, secured, "http", device, rotated["ingest_token"]) == 200
    status, _, _ = await status_of(http, "POST", f"{secured.url}/devices/{unique('nodev')}/rotate-token", ADMIN)
    assert status == 404


async def test_the_token_is_answered_once_and_cassandra_keeps_only_its_hash(http, secured):
    device, token = await register(http, secured)
    row = session().execute(f"SELECT ingest_token_sha256 FROM {TEST_ENV['SP_KEYSPACE']}.devices WHERE device_id = %s",
                            (device,)).one()
    assert row.ingest_token_sha256 == hash_token(token) and row.ingest_token_sha256 != token
    for method, path, body in (("GET", f"/device/{device}", None),
                               ("PUT", "/update-device", {"device_name": device, "schema": GPS_SCHEMA})):
        status, payload, _ = await status_of(http, method, secured.url + path, ADMIN, body)
        assert status == 200 and "ingest_token" not in payload and row.ingest_token_sha256 not in json.dumps(payload)


async def test_reads_take_the_read_or_admin_token_and_health_and_dashboard_stay_open(http, secured):
    device, token = await register(http, secured)
    run = await streamed_run(http, secured, device)
    for path in ("/devices", f"/runs/{device}/{run}", "/runs", "/list-topics", "/api"):
        await assert_refused(http, "GET", secured.url + path, ["not-the-token", token])
        for good in (READ, ADMIN):
            assert (await status_of(http, "GET", secured.url + path, good))[0] == 200, (path, good)
    for path in ("/health", "/", "/static/dashboard.js"):
        async with http.get(secured.url + path) as r:
            assert r.status == 200, path
    for query, code in (("", 4401), ("?token=not-the-token", 4403)):
        async with websockets.connect(f"{secured.ws_url}/live/{device}/{run}{query}") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == code
    async with websockets.connect(f"{secured.ws_url}/live/{device}/{run}?token={READ}") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "run"


async def test_cors_answers_listed_origins_only(http, secured, worker):
    preflight = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "DELETE",
                 "Access-Control-Request-Headers": "authorization"}
    async with http.options(f"{secured.url}/delete-all-topics", headers=preflight) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    async with http.get(f"{secured.url}/devices", headers={"Origin": ALLOWED_ORIGIN}) as r:
        assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN   # the page can read why
    async with http.get(f"{secured.url}/health", headers={"Origin": "https://elsewhere.example"}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    async with http.options(f"{secured.url}/devices", headers={**preflight, "Origin": "https://elsewhere.example"}) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
    async with http.get(f"{worker.url}/health", headers={"Origin": ALLOWED_ORIGIN}) as r:     # no SP_CORS_ORIGINS
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_a_worker_bound_beyond_loopback_without_an_admin_token_does_not_start():
    env = {**os.environ, **TEST_ENV, "SP_WEB_HOST": "0.0.0.0", "SP_WEB_PORT": str(free_port()), "SP_ADMIN_TOKEN": ""}
    result = subprocess.run([sys.executable, "-m", "sports_prophet.cli", "worker"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert ("SP_WEB_HOST=0.0.0.0 exposes the API; set SP_ADMIN_TOKEN (and SP_READ_TOKEN to protect reads) "
            "or bind to 127.0.0.1") in result.stderr
