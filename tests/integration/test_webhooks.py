"""Alert webhooks on a real worker: a local receiver that fails first attempts, times one out or
refuses everything; each excursion's alert accepted exactly once, dead letters at the route and in
Cassandra, device and kind filters, bad registrations, and no resend after a kill -9."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import signal
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator

import orjson
import pytest
from aiohttp import web
from cassandra.cluster import Cluster

from sports_prophet.config import settings
from tests.integration.conftest import TEST_ENV, Worker, register, unique, wait_for
from tests.integration.test_live import GPS, post, stream, track

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 4
TIMEOUT_S = 1.0
RETRIES = {"SP_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "SP_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_S),
           "SP_WEBHOOK_BASE_DELAY_SECONDS": "0.1", "SP_WEBHOOK_MAX_DELAY_SECONDS": "0.4"}
SECRET = "receiver-shared-secret"
HANG = -1                       # a scripted answer: no answer within the worker's timeout
EXCURSIONS = 3
TRIGGERS = {"hr": [100, 150]}


@dataclass(frozen=True)
class Received:
    key: str
    attempt: int
    status: int
    body: bytes
    signature: str | None


class Receiver:
    """A webhook receiver on 127.0.0.1: each path answers each alert's attempts from its script
    (the last entry repeats) and remembers every request."""

    def __init__(self, scripts: dict[str, list[int]]) -> None:
        self.scripts = scripts
        self.got: dict[str, list[Received]] = defaultdict(list)
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        name, payload, key = request.match_info["name"], await request.read(), request.headers["Idempotency-Key"]
        script = self.scripts[name]
        seen = sum(1 for r in self.got[name] if r.key == key)
        status = script[min(seen, len(script) - 1)]
        self.got[name].append(Received(key, int(request.headers["X-Sports-Prophet-Attempt"]), status, payload,
                                       request.headers.get("X-Sports-Prophet-Signature-256")))
        if status == HANG:
            await asyncio.sleep(TIMEOUT_S * 3)
            status = 200                # too late: the worker has given this attempt up
        return web.Response(status=status)

    def accepted(self, name: str) -> list[Received]:
        return [r for r in self.got[name] if 200 <= r.status < 300]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver({"flaky": [500, HANG, 200], "down": [500], "gone": [410], "open": [200]})
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield rec
    await runner.cleanup()


@pytest.fixture(scope="module")
def hook_worker(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker with short retries, in an app of its own (its alerts and outbox are its own)."""
    w = Worker(tmp_path_factory.mktemp("workers"), "worker-webhooks", app_id=f"{TEST_ENV['SP_APP_ID']}-webhooks",
               env=RETRIES).start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def cql():
    cluster = Cluster([settings.cassandra_contact_points[0]], port=settings.cassandra_port)
    yield cluster.connect(TEST_ENV["SP_KEYSPACE"])
    cluster.shutdown()


async def add_webhook(http, worker: Worker, **given: Any) -> str:
    async with http.post(f"{worker.url}/webhooks", json=given) as r:
        assert r.status == 201, await r.text()
        body = await r.json()
    assert body["url"] == given["url"] and body["signed"] == ("secret" in given) and "secret" not in body
    return body["webhook_id"]


def excursions(count: int, start: int = 0) -> list[dict]:
    """Fixes whose heart rate leaves the trigger's range `count` times, for 5 readings each."""
    fixes = [{**fix, "hr": 130} for fix in track(80 * count, start=start)]
    for n in range(count):
        for fix in fixes[80 * n + 40:80 * n + 45]:
            fix["hr"] = 190
    return fixes


def outcomes(cql, webhook_id: str, outcome: str) -> list[Any]:
    return list(cql.execute("SELECT device_id, run_id, seq, attempts, last_status, last_error FROM webhook_deliveries "
                            "WHERE webhook_id = %s AND outcome = %s", (webhook_id, outcome)))


def outbox(cql, app_id: str, webhook_id: str) -> list[Any]:
    return [row for p in range(settings.topic_partitions) for row in cql.execute(
        "SELECT seq FROM webhook_outbox WHERE app_id = %s AND alerts_partition = %s AND webhook_id = %s",
        (app_id, p, webhook_id))]


def finished(cql, app_id: str, webhook_id: str, outcome: str, count: int) -> Callable:
    """A condition: `count` outcomes recorded and nothing left in the outbox (no further sends can follow)."""
    async def check() -> list[Any] | None:
        rows = outcomes(cql, webhook_id, outcome)
        return rows if len(rows) == count and not outbox(cql, app_id, webhook_id) else None
    return check


async def test_each_excursion_arrives_once_and_a_dead_receiver_ends_in_dead_letters(http, hook_worker, receiver, cql):
    app_id = f"{TEST_ENV['SP_APP_ID']}-webhooks"
    device, other = await register(http, hook_worker, GPS), await register(http, hook_worker, GPS)
    flaky = await add_webhook(http, hook_worker, url=f"{receiver.url}/flaky", device_id=device, kind="threshold",
                              secret=SECRET)
    down = await add_webhook(http, hook_worker, url=f"{receiver.url}/down", device_id=device, kind="threshold")
    gone = await add_webhook(http, hook_worker, url=f"{receiver.url}/gone", device_id=device, kind="threshold")
    delays = await add_webhook(http, hook_worker, url=f"{receiver.url}/open", device_id=device, kind="data_delay")
    others = await add_webhook(http, hook_worker, url=f"{receiver.url}/open", device_id=other)
    run = unique("run")
    for dev in (device, other):
        await post(http, hook_worker, f"/start-stream/{dev}/{run}", {"triggers": TRIGGERS})
    await stream(http, hook_worker, device, run, excursions(EXCURSIONS))
    await stream(http, hook_worker, other, run, excursions(1))

    delivered = await wait_for(finished(cql, app_id, flaky, "delivered", EXCURSIONS), timeout=60,
                               what="every excursion delivered to the flaky receiver")
    keys = {f"{device}/{run}/{seq}" for seq in range(1, EXCURSIONS + 1)}
    assert {r.key for r in receiver.accepted("flaky")} == keys
    assert len(receiver.accepted("flaky")) == EXCURSIONS              # each accepted exactly once
    for key in keys:
        tries = [r for r in receiver.got["flaky"] if r.key == key]
        assert [(r.attempt, r.status) for r in tries] == [(1, 500), (2, HANG), (3, 200)]
        assert len({r.body for r in tries}) == 1 and orjson.loads(tries[0].body)["key"] == key
        expected = "sha256=" + hmac.new(SECRET.encode(), tries[0].body, hashlib.sha256).hexdigest()
        assert all(r.signature == expected for r in tries)
    assert all(row.attempts == 3 and row.last_status == 200 for row in delivered)

    dead = await wait_for(finished(cql, app_id, down, "dead", EXCURSIONS), timeout=60, what="dead letters of 'down'")
    assert all(row.attempts == MAX_ATTEMPTS and row.last_status == 500 for row in dead)
    assert len(receiver.got["down"]) == EXCURSIONS * MAX_ATTEMPTS and all(r.signature is None for r in receiver.got["down"])
    async with http.get(f"{hook_worker.url}/webhooks/{down}/dead-letters") as r:
        assert r.status == 200
        letters = (await r.json())["dead_letters"]
    assert sorted(f"{d['device_id']}/{d['run_id']}/{d['seq']}" for d in letters) == sorted(keys)
    assert all(d["attempts"] == MAX_ATTEMPTS and d["last_status"] == 500 and d["alert"]["type"] == "threshold"
               for d in letters)
    refused = await wait_for(finished(cql, app_id, gone, "dead", EXCURSIONS), timeout=30, what="dead letters of 'gone'")
    assert all(row.attempts == 1 and row.last_status == 410 for row in refused)       # a 410 is not retried

    # Filters: the data-delay webhook gets the device's silence alert only; the other device's webhook its own.
    await wait_for(finished(cql, app_id, delays, "delivered", 1), timeout=30, what="the data-delay alert")
    await wait_for(finished(cql, app_id, others, "delivered", 2), timeout=30, what="the other device's alerts")
    opened = [orjson.loads(r.body)["alert"] for r in receiver.got["open"]]
    assert sorted((a["device_id"], a["type"]) for a in opened) == sorted(
        [(device, "data_delay"), (other, "threshold"), (other, "data_delay")])
    async with http.get(f"{hook_worker.url}/metrics") as r:
        metrics = await r.text()
    assert 'sp_webhook_deliveries_total{outcome="delivered"} 6.0' in metrics           # 3 flaky, 1 delay, 2 other
    assert 'sp_webhook_deliveries_total{outcome="dead"} 6.0' in metrics                # 3 down, 3 gone


async def test_a_killed_worker_does_not_resend_what_was_delivered(http, hook_worker, receiver, cql):
    """Killed right after its deliveries, before the alerts' offsets are surely committed: the
    restarted worker re-reads those alerts, finds their outcomes and sends only the new one."""
    app_id = f"{TEST_ENV['SP_APP_ID']}-webhooks"
    device, run = await register(http, hook_worker, GPS), unique("run")
    hook = await add_webhook(http, hook_worker, url=f"{receiver.url}/open", device_id=device, kind="threshold")
    await post(http, hook_worker, f"/start-stream/{device}/{run}", {"triggers": TRIGGERS})
    await stream(http, hook_worker, device, run, excursions(2))
    await wait_for(finished(cql, app_id, hook, "delivered", 2), timeout=60, what="two alerts delivered")
    hook_worker.stop(signal.SIGKILL)
    hook_worker.start()
    await stream(http, hook_worker, device, run, excursions(1, start=160), total=240)
    # (seq 3 is the new excursion's, or a data-delay alert's if the restart took longer than the
    # silence; either way the third threshold alert is the third delivery)
    rows = await wait_for(finished(cql, app_id, hook, "delivered", 3), timeout=90,
                          what="the third threshold alert after the restart")
    keys = [r.key for r in receiver.got["open"] if r.key.startswith(f"{device}/")]
    assert sorted(keys) == sorted(f"{row.device_id}/{row.run_id}/{row.seq}" for row in rows)   # each once


@pytest.mark.parametrize("given, field", [
    ({"url": "ftp://127.0.0.1/alerts"}, "url"),
    ({"url": "127.0.0.1:8080/alerts"}, "url"),
    ({"device_id": "gps_1"}, "url"),
    ({"url": "http://127.0.0.1:9/in", "kind": "everything"}, "kind"),
    ({"url": "http://127.0.0.1:9/in", "device_id": "no spaces"}, "device_id"),
    ({"url": "http://127.0.0.1:9/in", "secret": ""}, "secret"),
])
async def test_bad_registrations_are_422_naming_the_field(http, hook_worker, given, field):
    async with http.post(f"{hook_worker.url}/webhooks", json=given) as r:
        assert r.status == 422
        assert field in (await r.json())["detail"]


async def test_list_delete_and_unknown_ids(http, hook_worker, receiver):
    hook = await add_webhook(http, hook_worker, url=f"{receiver.url}/open", kind="data_delay", secret="s")
    async with http.get(f"{hook_worker.url}/webhooks") as r:
        listed = {w["webhook_id"]: w for w in (await r.json())["webhooks"]}
    assert listed[hook]["kind"] == "data_delay" and listed[hook]["signed"] and listed[hook]["device_id"] is None
    async with http.delete(f"{hook_worker.url}/webhooks/{hook}") as r:
        assert r.status == 200
    for method, path, status in (("DELETE", f"/webhooks/{hook}", 404), ("GET", f"/webhooks/{hook}/dead-letters", 404),
                                 ("GET", "/webhooks/not-an-id/dead-letters", 400)):
        async with http.request(method, hook_worker.url + path) as r:
            assert r.status == status and (await r.json())["error"]
    async with http.get(f"{hook_worker.url}/webhooks") as r:
        assert hook not in {w["webhook_id"] for w in (await r.json())["webhooks"]}
