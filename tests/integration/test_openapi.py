"""The API document against a real worker: `/openapi.json` is valid OpenAPI and lists every route
`GET /api` lists; `/docs` renders it from the worker's own files; every error status the document
gives a route is produced by a request to that route; and schemathesis fuzzes the worker from the
document (at least 2,000 requests, no 5xx, every answer as documented)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from yarl import URL

from cql.session import session
from models.match import EVENT_SCHEMA, EVENTS_DEVICE
from sports_prophet.ops.worker_process import free_port
from tests.integration.conftest import GPS_SCHEMA, REPO, TEST_ENV, Worker, create_topic, unique, wait_for
from tests.integration.test_dashboard import page  # noqa: F401  (the real-browser fixture)
from tests.integration.test_ingest import fix, sensor_logger_push

pytestmark = pytest.mark.integration

ADMIN, READ = f"admin-{uuid.uuid4().hex}", f"read-{uuid.uuid4().hex}"
RATE_LIMIT = 20                  # readings/s per device: bursts of 40
PHONE_SCHEMA = {"latitude": "float", "longitude": "float", "time": "timestamp"}
FUZZ_REQUESTS = 2000
NO_WEBHOOK = "0" * 32           # a well-formed webhook_id nobody registered
# POST /webhooks's valid body in the 503 checks: an address where nothing listens (no alert is sent to it)
WEBHOOK = {"url": "http://127.0.0.1:9/alerts", "device_id": "nobody"}
ANSWER_WITHIN_S = 15            # a dependency away makes a route answer 503, not hang (writes give up after 10 s)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="module")
def api_worker(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker with both tokens and a device rate limit, so every documented status can happen, in a
    consumer group of its own (the fuzzer deletes and rewrites what it finds)."""
    w = Worker(tmp_path_factory.mktemp("workers"), "worker-openapi", app_id=f"{TEST_ENV['SP_APP_ID']}-openapi",
               env={"SP_ADMIN_TOKEN": ADMIN, "SP_READ_TOKEN": READ,
                    "SP_DEVICE_RATE_LIMIT": str(RATE_LIMIT)}).start()
    yield w
    w.stop()


async def call(http, method: str, url: str, token: str | None = ADMIN, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, URL(url, encoded=True), headers=bearer(token), **kwargs) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.read())


@pytest.fixture(scope="module")
async def document(http, api_worker) -> dict[str, Any]:
    status, doc = await call(http, "GET", f"{api_worker.url}/openapi.json", token=None)
    assert status == 200
    return doc


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


async def test_the_document_is_valid_openapi_and_lists_every_route(http, api_worker, document):
    validate(document)
    status, index = await call(http, "GET", f"{api_worker.url}/api", token=READ)
    assert status == 200
    documented = {f"{method} {path}" for method, path, _ in operations(document)}
    assert set(index["routes"]) == documented, (set(index["routes"]) - documented, documented - set(index["routes"]))


LOCAL_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


async def test_the_docs_page_and_its_files_come_from_the_worker(http, api_worker):
    status, html = await call(http, "GET", f"{api_worker.url}/docs", token=None)
    assert status == 200 and b"swagger-ui" in html
    references = LOCAL_REFERENCE.findall(html.decode())
    assert len(references) >= 3 and all(r.startswith("/") and not r.startswith("//") for r in references), references
    for reference in references:
        status, body = await call(http, "GET", api_worker.url + reference, token=None)
        assert status == 200 and len(body) > 100, (reference, status)
    _, script = await call(http, "GET", f"{api_worker.url}/docs/docs.js", token=None)
    assert b'url: "/openapi.json"' in script and b"validatorUrl: null" in script
    assert not re.search(rb"https?://", html + script)


async def test_swagger_ui_renders_every_operation_asking_no_other_host(page, api_worker, document):  # noqa: F811
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{api_worker.url}/docs")
    count = sum(1 for _ in operations(document))
    await page.wait_for_function("n => document.querySelectorAll('.opblock').length === n", arg=count, timeout=30_000)
    assert requested and all(url.startswith(api_worker.url + "/") for url in requested), requested


# ------------------------------------------------------------------ each documented error, produced

@dataclass(frozen=True)
class Context:
    """What the error cases name: a GPS device with a run the worker knows, a device without position
    fields, devices for the rate limit, unknown and malformed ids."""
    dev: str
    run: str
    plain: str
    phone: str
    busy: str
    match: str
    new: str = "nobody_" + uuid.uuid4().hex[:8]
    bad: str = "bad.id"

    def fill(self, template: str) -> str:
        """The template with these ids; other braces (a query's `{table}`) stay."""
        return re.sub(r"\{(dev|run|plain|phone|busy|match|new|bad)\}", lambda m: getattr(self, m[1]), template)


async def register(http, worker: Worker, schema: dict[str, str]) -> str:
    device = unique("dev")
    status, body = await call(http, "POST", f"{worker.url}/register-device",
                              json={"device_name": device, "schema": schema})
    assert status == 201, body
    return device


@pytest.fixture(scope="module")
async def context(http, api_worker) -> Context:
    dev, plain, phone, busy = [await register(http, api_worker, schema)
                               for schema in (GPS_SCHEMA, {"hr": "int"}, PHONE_SCHEMA, GPS_SCHEMA)]
    run = unique("run")
    status, body = await call(http, "POST", f"{api_worker.url}/ingest/{dev}/{run}", json=[fix(i) for i in range(3)])
    assert status == 200, body

    async def known() -> bool:
        return (await call(http, "GET", f"{api_worker.url}/runs/{dev}/{run}"))[0] == 200
    await wait_for(known, timeout=60, what=f"run {dev}/{run} on the worker")
    return Context(dev, run, plain, phone, busy, await start_match(http, api_worker))


async def start_match(http, worker: Worker) -> str:
    """A match the worker knows: the match_events feed's first event (its kickoff)."""
    assert (await call(http, "POST", f"{worker.url}/register-device",
                       json={"device_name": EVENTS_DEVICE, "schema": EVENT_SCHEMA}))[0] in (201, 409)
    match = unique("match")
    kickoff = {"timestamp": 1_767_225_600, "minute": 0.0, "event": "kickoff", "team": "", "player": "", "xg": 0.0,
               "detail": ""}
    status, body = await call(http, "POST", f"{worker.url}/ingest/{EVENTS_DEVICE}/{match}", json=[kickoff])
    assert status == 200, body

    async def known() -> bool:
        return (await call(http, "GET", f"{worker.url}/matches/{match}"))[0] == 200
    await wait_for(known, timeout=60, what=f"match {match} on the worker")
    return match


def many_fixes(count: int) -> list[dict[str, Any]]:
    return [fix(i) for i in range(count)]


# (method, path, status) → how: the path's ids from Context, then request keyword arguments.
# 401 and 403 (every guarded route), 413 (every route with a body) and 503 are produced for every
# route further down, without a row here.
ERROR_CASES: dict[tuple[str, str, int], tuple[str, dict[str, Any]]] = {
    ("POST", "/register-device", 400): ("/register-device", {"data": b"{"}),
    ("POST", "/register-device", 409): ("/register-device", {"json": {"device_name": "{dev}", "schema": GPS_SCHEMA}}),
    ("POST", "/register-device", 422): ("/register-device", {"json": {"device_name": "{new}", "schema": {"x": "complex"}}}),
    ("PUT", "/update-device", 400): ("/update-device", {"data": b"{"}),
    ("PUT", "/update-device", 404): ("/update-device", {"json": {"device_name": "{new}", "schema": GPS_SCHEMA}}),
    ("PUT", "/update-device", 422): ("/update-device", {"json": {"device_name": "{dev}", "schema": {}}}),
    ("DELETE", "/delete-device/{device_id}", 400): ("/delete-device/{bad}", {}),
    ("DELETE", "/delete-device/{device_id}", 404): ("/delete-device/{new}", {}),
    ("POST", "/devices/{device_id}/rotate-token", 400): ("/devices/{bad}/rotate-token", {}),
    ("POST", "/devices/{device_id}/rotate-token", 404): ("/devices/{new}/rotate-token", {}),
    ("GET", "/device/{device_id}", 400): ("/device/{bad}", {}),
    ("GET", "/device/{device_id}", 404): ("/device/{new}", {}),
    ("POST", "/ingest/{device_id}/{run_id}", 400): ("/ingest/{dev}/{bad}", {"json": [fix(0)]}),
    ("POST", "/ingest/{device_id}/{run_id}", 404): ("/ingest/{new}/{run}", {"json": [fix(0)]}),
    ("POST", "/ingest/{device_id}/{run_id}", 409): ("/ingest/{dev}/{run}_one_partition", {"json": [fix(0)]}),
    ("POST", "/ingest/{device_id}/{run_id}", 422): ("/ingest/{dev}/{run}", {"json": [{"latitude": "north"}]}),
    ("POST", "/ingest/{device_id}/{run_id}", 429): ("/ingest/{busy}/{run}", {"json": many_fixes(2 * RATE_LIMIT + 1)}),
    ("POST", "/sensor-logger/{device_id}", 400): ("/sensor-logger/{bad}", {"json": {}}),
    ("POST", "/sensor-logger/{device_id}", 404): ("/sensor-logger/{new}", {"json": {}}),
    ("POST", "/sensor-logger/{device_id}", 409): ("/sensor-logger/{phone}", {"json": "claimed"}),
    ("POST", "/sensor-logger/{device_id}", 422): ("/sensor-logger/{phone}", {"json": {"payload": []}}),
    ("POST", "/sensor-logger/{device_id}", 429): ("/sensor-logger/{phone}", {"json": "over the rate limit"}),
    ("GET", "/send-stream/{device_id}/{run_id}", 400): ("/send-stream/{dev}/{run}", {}),
    ("POST", "/start-stream/{device_id}/{run_id}", 400): ("/start-stream/{dev}/{bad}", {"json": {}}),
    ("POST", "/start-stream/{device_id}/{run_id}", 404): ("/start-stream/{new}/{run}", {"json": {}}),
    ("POST", "/start-stream/{device_id}/{run_id}", 422): ("/start-stream/{dev}/{run}", {"json": {"window_seconds": 0}}),
    ("POST", "/stop-stream/{device_id}/{run_id}", 400): ("/stop-stream/{bad}/{run}", {}),
    ("POST", "/stop-stream/{device_id}/{run_id}", 404): ("/stop-stream/{dev}/{new}", {}),
    ("GET", "/get-stats/{device_id}/{run_id}", 400): ("/get-stats/{bad}/{run}", {}),
    ("GET", "/get-stats/{device_id}/{run_id}", 404): ("/get-stats/{dev}/{new}", {}),
    ("GET", "/get-stats/{device_id}/{run_id}", 422): ("/get-stats/{dev}/{run}", {"params": {"agg_type": "median"}}),
    ("GET", "/get-speed/{device_id}/{run_id}", 400): ("/get-speed/{bad}/{run}", {}),
    ("GET", "/get-speed/{device_id}/{run_id}", 404): ("/get-speed/{dev}/{new}", {}),
    ("GET", "/get-speed/{device_id}/{run_id}", 422): ("/get-speed/{plain}/{run}", {}),
    ("GET", "/get-latest-stats/{device_id}/{run_id}", 400): ("/get-latest-stats/{dev}/{run}",
                                                             {"params": {"query": "DROP TABLE {table}"}}),
    ("GET", "/get-latest-stats/{device_id}/{run_id}", 404): ("/get-latest-stats/{dev}/{new}", {}),
    ("GET", "/get-latest-stats/{device_id}/{run_id}", 422): ("/get-latest-stats/{dev}/{run}", {
        "params": {"query": "SELECT repeat('x', 20000) FROM range(10000)"}}),
    ("GET", "/runs/{device_id}/{run_id}", 400): ("/runs/{dev}/{bad}", {}),
    ("GET", "/runs/{device_id}/{run_id}", 404): ("/runs/{dev}/{new}", {}),
    ("GET", "/runs/{device_id}/{run_id}/windows", 400): ("/runs/{bad}/{run}/windows", {}),
    ("GET", "/runs/{device_id}/{run_id}/windows", 404): ("/runs/{dev}/{new}/windows", {}),
    ("GET", "/runs/{device_id}/{run_id}/windows", 422): ("/runs/{dev}/{run}/windows", {"params": {"last": "0"}}),
    ("GET", "/runs/{device_id}/{run_id}/segments", 400): ("/runs/{bad}/{run}/segments", {}),
    ("GET", "/runs/{device_id}/{run_id}/segments", 404): ("/runs/{dev}/{new}/segments", {"params": {"kind": "lap"}}),
    ("GET", "/runs/{device_id}/{run_id}/segments", 422): ("/runs/{dev}/{run}/segments", {"params": {"kind": "half"}}),
    ("POST", "/runs/{device_id}/{run_id}/markers", 400): ("/runs/{dev}/{run}/markers", {"data": b"{"}),
    ("POST", "/runs/{device_id}/{run_id}/markers", 404): ("/runs/{new}/{run}/markers", {"json": {"t": 1.0}}),
    ("POST", "/runs/{device_id}/{run_id}/markers", 422): ("/runs/{dev}/{run}/markers", {"json": {"t": -1}}),
    ("GET", "/runs/{device_id}/{run_id}/forecast", 400): ("/runs/{bad}/{run}/forecast", {}),
    ("GET", "/runs/{device_id}/{run_id}/forecast", 404): ("/runs/{dev}/{new}/forecast", {}),
    ("GET", "/runs/{device_id}/{run_id}/forecast", 422): ("/runs/{dev}/{run}/forecast", {}),
    ("GET", "/alerts/{device_id}/{run_id}", 400): ("/alerts/{bad}/{run}", {}),
    ("GET", "/alerts/{device_id}/{run_id}", 404): ("/alerts/{dev}/{new}", {}),
    ("GET", "/live/{device_id}/{run_id}", 400): ("/live/{dev}/{bad}", {}),
    ("GET", "/live", 400): ("/live", {}),
    ("GET", "/static/{name}", 404): ("/static/nothing.js", {}),
    ("GET", "/docs/{asset}", 404): ("/docs/nothing.js", {}),
    ("GET", "/history/runs", 400): ("/history/runs", {"params": {"device_id": "{bad}"}}),
    ("GET", "/history/runs", 422): ("/history/runs", {"params": {"from": "2026-13-01"}}),
    ("GET", "/history/{device_id}/{run_id}/summary", 400): ("/history/{bad}/{run}/summary", {}),
    ("GET", "/history/{device_id}/{run_id}/summary", 404): ("/history/{dev}/{new}/summary", {}),
    ("GET", "/history/{device_id}/{run_id}/readings", 400): ("/history/{dev}/{bad}/readings", {}),
    ("GET", "/history/{device_id}/{run_id}/readings", 404): ("/history/{dev}/{new}/readings", {}),
    ("GET", "/history/{device_id}/{run_id}/readings", 422): ("/history/{dev}/{run}/readings", {"params": {"from": "soon"}}),
    ("GET", "/history/{device_id}/{run_id}/windows", 400): ("/history/{bad}/{run}/windows", {}),
    ("GET", "/history/{device_id}/{run_id}/windows", 404): ("/history/{dev}/{new}/windows", {}),
    ("GET", "/history/{device_id}/{run_id}/windows", 422): ("/history/{dev}/{run}/windows", {"params": {"to": "later"}}),
    ("GET", "/history/{device_id}/{run_id}/segments", 400): ("/history/{bad}/{run}/segments", {}),
    ("GET", "/history/{device_id}/{run_id}/segments", 404): ("/history/{dev}/{new}/segments", {}),
    ("GET", "/history/{device_id}/{run_id}/segments", 422): ("/history/{dev}/{run}/segments",
                                                             {"params": {"limit": "0"}}),
    ("GET", "/history/{device_id}/{run_id}/alerts", 400): ("/history/{bad}/{run}/alerts", {}),
    ("GET", "/history/{device_id}/{run_id}/alerts", 404): ("/history/{dev}/{new}/alerts", {}),
    ("GET", "/history/{device_id}/{run_id}/alerts", 422): ("/history/{dev}/{run}/alerts", {"params": {"limit": "0"}}),
    ("GET", "/export/{device_id}/{filename}", 400): ("/export/{dev}/{bad}.csv", {}),
    ("GET", "/export/{device_id}/{filename}", 404): ("/export/{dev}/{new}.csv", {}),
    ("GET", "/get-topic-messages/{device_id}/{run_id}", 400): ("/get-topic-messages/{bad}/{run}", {}),
    ("GET", "/get-topic-messages/{device_id}/{run_id}", 404): ("/get-topic-messages/{dev}/{new}", {}),
    ("GET", "/get-topic-messages/{device_id}/{run_id}", 422): ("/get-topic-messages/{dev}/{run}", {"params": {"limit": "0"}}),
    ("DELETE", "/delete-topic/{device_id}/{run_id}", 400): ("/delete-topic/{bad}/{run}", {}),
    ("DELETE", "/delete-topic/{device_id}/{run_id}", 404): ("/delete-topic/{dev}/{new}", {}),
    ("GET", "/matches/{match_id}", 400): ("/matches/{bad}", {}),
    ("GET", "/matches/{match_id}", 404): ("/matches/{new}", {}),
    ("GET", "/matches/{match_id}/timeline", 400): ("/matches/{bad}/timeline", {}),
    ("GET", "/matches/{match_id}/timeline", 404): ("/matches/{new}/timeline", {}),
    ("GET", "/matches/{match_id}/timeline", 422): ("/matches/{match}/timeline", {"params": {"last": "0"}}),
    ("GET", "/matches/{match_id}/win-probability", 400): ("/matches/{bad}/win-probability", {}),
    ("GET", "/matches/{match_id}/win-probability", 404): ("/matches/{new}/win-probability", {}),
    ("GET", "/history/matches", 422): ("/history/matches", {"params": {"from": "2026-13-01"}}),
    ("GET", "/history/matches/{match_id}", 400): ("/history/matches/{bad}", {}),
    ("GET", "/history/matches/{match_id}", 404): ("/history/matches/{new}", {}),
    ("GET", "/history/matches/{match_id}/timeline", 400): ("/history/matches/{bad}/timeline", {}),
    ("GET", "/history/matches/{match_id}/timeline", 404): ("/history/matches/{new}/timeline", {}),
    ("GET", "/history/matches/{match_id}/timeline", 422): ("/history/matches/{match}/timeline", {"params": {"limit": "0"}}),
    ("GET", "/history/matches/{match_id}/win-probability", 400): ("/history/matches/{bad}/win-probability", {}),
    ("GET", "/history/matches/{match_id}/win-probability", 404): ("/history/matches/{new}/win-probability", {}),
    ("GET", "/history/matches/{match_id}/win-probability", 422): ("/history/matches/{match}/win-probability",
                                                                  {"params": {"limit": "0"}}),
    ("POST", "/webhooks", 400): ("/webhooks", {"data": b"{"}),
    ("POST", "/webhooks", 422): ("/webhooks", {"json": {"url": "ftp://127.0.0.1/alerts"}}),
    ("DELETE", "/webhooks/{webhook_id}", 400): ("/webhooks/{bad}", {}),
    ("DELETE", "/webhooks/{webhook_id}", 404): (f"/webhooks/{NO_WEBHOOK}", {}),
    ("GET", "/webhooks/{webhook_id}/dead-letters", 400): ("/webhooks/{bad}/dead-letters", {}),
    ("GET", "/webhooks/{webhook_id}/dead-letters", 404): (f"/webhooks/{NO_WEBHOOK}/dead-letters", {}),
}


def filled(value: Any, context: Context) -> Any:
    if isinstance(value, str):
        return context.fill(value)
    if isinstance(value, dict):
        return {k: filled(v, context) for k, v in value.items()}
    return value


async def prepare_case(http, worker: Worker, context: Context, key: tuple[str, str, int]) -> tuple[str, dict[str, Any]]:
    """The request for one row, after what it needs first (a full bucket spent, a claimed messageId...)."""
    path, kwargs = ERROR_CASES[key]
    kwargs = {name: filled(value, context) for name, value in kwargs.items()}
    if key[2] == 409 and key[1].startswith("/ingest"):
        await create_topic(f"readings.{context.dev}.{context.run}_one_partition", 1)
    elif kwargs.get("json") == "claimed":          # another request is writing this messageId
        push = sensor_logger_push(1, unique("s"))
        await asyncio.to_thread(session().execute, f"INSERT INTO {TEST_ENV['SP_KEYSPACE']}.ingest_dedup "
                                "(device_id, message_id, state, claimed_at) VALUES (%s, %s, 'pending', toTimestamp(now()))",
                                (context.phone, str(push["messageId"])))
        kwargs["json"] = push
    elif kwargs.get("json") == "over the rate limit":
        push = sensor_logger_push(2, unique("s"))
        push["payload"] = [dict(push["payload"][0], time=push["payload"][0]["time"] + i) for i in range(2 * RATE_LIMIT + 1)]
        await call(http, "POST", worker.url + context.fill(path), json={**push, "messageId": 3})
        kwargs["json"] = push
    elif key[2] == 429:
        await call(http, "POST", worker.url + context.fill(path), **kwargs)     # takes the whole burst
    return context.fill(path), kwargs


def ok_path(path: str, context: Context) -> str:
    """A route's path with the ids of a registered device and a known run."""
    return path.replace("{device_id}", context.dev).replace("{run_id}", context.run).replace(
        "{filename}", f"{context.run}.csv").replace("{name}", "common.js").replace("{asset}", "docs.js").replace(
        "{match_id}", context.match).replace("{webhook_id}", NO_WEBHOOK)


def conforms(document: dict[str, Any], method: str, path: str, status: int, body: Any) -> bool:
    """Whether a JSON body is what the document says the route answers with this status."""
    schema = document["paths"][path][method.lower()]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]}).is_valid(body)


async def test_every_documented_error_status_is_produced(http, api_worker, document, context):
    missing, wrong = [], []
    for method, path, operation in operations(document):
        statuses = {int(s) for s in operation["responses"] if int(s) >= 400} - {503}
        for status in sorted(statuses):
            token: str | None = ADMIN
            if status in (401, 403):
                url, kwargs, token = api_worker.url + ok_path(path, context), {}, None if status == 401 else "nope"
            elif status == 413:
                url, kwargs = api_worker.url + ok_path(path, context), {"data": b" " * (1024 * 1024 + 1)}
            elif (method, path, status) in ERROR_CASES:
                url, kwargs = await prepare_case(http, api_worker, context, (method, path, status))
                url = api_worker.url + url
            else:
                missing.append(f"{method} {path} {status}")
                continue
            got, body = await call(http, method, url, token=token, **kwargs)
            if got != status or not conforms(document, method, path, status, body):
                wrong.append(f"{method} {url} → {got} {body!r:.200} (documented {status})")
    assert not missing, f"documented statuses no request here produces: {missing}"
    assert not wrong, wrong


@contextmanager
def private_kafka(folder: Path) -> Iterator[str]:
    """A Kafka of its own (`scripts/stack`'s, on free ports), to be stopped without disturbing the
    session's workers; its bootstrap address."""
    bootstrap = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SP_STACK_DIR": str(folder), "SP_KAFKA_BOOTSTRAP": bootstrap,
           "SP_KAFKA_CONTROLLER_PORT": str(free_port()), "SP_KAFKA_HEAP": "512m"}
    stack = [sys.executable, "-m", "sports_prophet.ops.stack"]
    subprocess.run([*stack, "up", "kafka"], cwd=REPO, env=env, check=True, capture_output=True, timeout=180)
    try:
        yield bootstrap
    finally:
        subprocess.run([*stack, "down", "kafka"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)


async def test_every_documented_503_is_produced_with_a_dependency_away(http, document, context, tmp_path):
    """Cassandra away: a worker pointed at a closed port. On a Kafka of their own, two workers: one
    stopped (SIGSTOP, for fewer seconds than the group's session timeout) leaves the runs it owns
    unanswered on the other; then that Kafka stops."""
    documented = {(method, path) for method, path, operation in operations(document) if "503" in operation["responses"]}
    no_cassandra = Worker(tmp_path, "worker-no-cassandra", app_id=f"{TEST_ENV['SP_APP_ID']}-no-cassandra",
                          env={"SP_CASSANDRA_PORT": str(free_port())})
    with private_kafka(tmp_path / "kafka") as bootstrap:
        group = f"{TEST_ENV['SP_APP_ID']}-own-kafka"
        a, b = (Worker(tmp_path, name, app_id=group, env={"SP_KAFKA_BOOTSTRAP": bootstrap}) for name in ("a", "b"))
        try:
            await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start),
                                 asyncio.to_thread(no_cassandra.start, degraded=True))
            unavailable = {route for route in documented
                           if await answers_503(http, no_cassandra, route, context, document)}
            unavailable |= await unanswered_owner(http, a, b, documented - unavailable, document)
            b.stop(signal.SIGKILL)
            subprocess.run([sys.executable, "-m", "sports_prophet.ops.stack", "down", "kafka"], cwd=REPO, check=True,
                           env={**os.environ, "SP_STACK_DIR": str(tmp_path / "kafka")}, capture_output=True)
            unavailable |= {route for route in documented - unavailable
                            if await answers_503(http, a, route, context, document)}
        finally:
            for worker in (no_cassandra, a, b):
                worker.stop(signal.SIGKILL)
    assert documented - unavailable == set(), f"documented 503s not produced: {sorted(documented - unavailable)}"


async def answers_503(http, worker: Worker, route: tuple[str, str], context: Context, document: dict[str, Any]) -> bool:
    method, path = route
    body = None if method not in ("POST", "PUT") else WEBHOOK if path == "/webhooks" else {
        "device_name": context.dev, "schema": GPS_SCHEMA}
    try:
        status, answer = await asyncio.wait_for(
            call(http, method, worker.url + ok_path(path, context), json=body), ANSWER_WITHIN_S)
    except asyncio.TimeoutError:
        raise AssertionError(f"{method} {path} did not answer within {ANSWER_WITHIN_S}s") from None
    return status == 503 and conforms(document, method, path, 503, answer)


async def unanswered_owner(http, a: Worker, b: Worker, routes: set[tuple[str, str]],
                           document: dict[str, Any]) -> set[tuple[str, str]]:
    """The routes that answer 503 on worker `a` about a run owned by worker `b` while `b` is stopped."""
    device = await register(http, a, GPS_SCHEMA)
    for run in [unique("run") for _ in range(8)]:
        assert (await call(http, "POST", f"{a.url}/ingest/{device}/{run}", json=[fix(0)]))[0] == 200

    async def owned_by_b() -> list[str]:
        _, local = await call(http, "GET", f"{b.url}/runs?local=1")
        return [r["run_id"] for r in local["runs"] if r["device_id"] == device]
    run = (await wait_for(owned_by_b, timeout=60, what="a run owned by worker b"))[0]
    matches = [await start_match(http, a) for _ in range(8)]

    async def match_of_b() -> list[str]:
        _, local = await call(http, "GET", f"{b.url}/matches?local=1")
        return [m["match_id"] for m in local["matches"] if m["match_id"] in matches]
    match = (await wait_for(match_of_b, timeout=60, what="a match owned by worker b"))[0]
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        answers = await asyncio.gather(*(call(http, method, a.url + path.replace("{device_id}", device).replace(
            "{run_id}", run).replace("{match_id}", match)) for method, path in sorted(routes)))
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    return {(method, path) for (method, path), (status, body) in zip(sorted(routes), answers)
            if status == 503 and conforms(document, method, path, 503, body)}


# ------------------------------------------------------------------ fuzzing

def schemathesis_run(worker: Worker, har: Path, token: str, *selection: str, examples: int) -> subprocess.CompletedProcess:
    """One worker thread: with two, hypothesis's lambda descriptions ran `ast.parse` in both at once, and
    CPython 3.11.7 raised a spurious `SystemError: AST constructor recursion depth mismatch` (cpython
    gh-106905) that stopped the fuzz run in CI."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(Path(__file__).with_name(
            "schemathesis.toml")), "--no-color", "run", f"{worker.url}/openapi.json", "--request-timeout", "30",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(examples), "--workers", "1",
         "--header", f"Authorization: Bearer {token}", "--report", "har", "--report-har-path", str(har),
         *selection],
        cwd=REPO, capture_output=True, text=True, timeout=600)


async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(http, api_worker, tmp_path):
    """Every operation but DELETE /delete-all-topics with the admin token (the examples in the
    document, `gps_1`/`run_001`, exist: some requests reach real state); that one with a wrong token,
    so it never deletes the run topics other tests use (it answers 403, checked like any other)."""
    device_status, _ = await call(http, "POST", f"{api_worker.url}/register-device",
                                  json={"device_name": "gps_1", "schema": GPS_SCHEMA})
    assert device_status in (201, 409)
    assert (await call(http, "POST", f"{api_worker.url}/ingest/gps_1/run_001", json=many_fixes(5)))[0] == 200
    runs = [schemathesis_run(api_worker, tmp_path / "all.har", ADMIN, "--exclude-path", "/delete-all-topics",
                             examples=50),
            schemathesis_run(api_worker, tmp_path / "delete-all.har", "not-the-admin-token",
                             "--include-path", "/delete-all-topics", examples=10)]
    requests = sum(len(json.loads((tmp_path / har).read_text())["log"]["entries"])
                   for har in ("all.har", "delete-all.har"))
    print(f"schemathesis sent {requests} requests")
    for run in runs:
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert requests >= FUZZ_REQUESTS
