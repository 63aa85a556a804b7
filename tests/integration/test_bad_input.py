"""Hostile input on a real worker: odd digits, deeply nested JSON and heavy SQL get a JSON 4xx
(or an error frame), never a 500, a broken connection or a worker busy for ever."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from yarl import URL

from tests.integration.conftest import register, unique, wait_for
from web.client_json import MAX_DEPTH
from web.window_sql import QUERY_TIMEOUT_S

pytestmark = pytest.mark.integration

async def answer(http, worker, path: str) -> tuple[int, dict]:
    """The status and JSON body of a GET, once the worker is past a rebalance (no 503)."""
    async def settled():
        async with http.get(URL(worker.url + path, encoded=True)) as r:
            return None if r.status == 503 else (r.status, await r.json())
    return await wait_for(settled, what=f"an answer other than 503 from {path}")


ODD_NUMBERS = ["%C2%B2", "%EF%BC%95", "1_000", "%D9%A5"]     # superscript 2, full-width 5, 1_000, Arabic-Indic 5


@pytest.mark.parametrize("value", ODD_NUMBERS)
@pytest.mark.parametrize("route", ["/get-topic-messages/{d}/{r}?limit=", "/history/{d}/{r}/readings?limit=",
                                   "/history/{d}/{r}/windows?limit=", "/runs/{d}/{r}/windows?last=",
                                   "/history/{d}/{r}/readings?from=", "/history/{d}/{r}/windows?to="])
async def test_numbers_in_other_than_ascii_digits_are_422(http, worker, route, value):
    path = route.format(d=unique("dev"), r=unique("run")) + value
    status, body = await answer(http, worker, path)
    assert status == 422 and body["error"].startswith("invalid"), (path, status, body)


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
async def test_epochs_that_are_not_numbers_are_422(http, worker, value):
    path = f"/history/{unique('dev')}/{unique('run')}/readings?from={value}"
    status, body = await answer(http, worker, path)
    assert status == 422 and body["error"] == "invalid from", (path, status, body)


DEEP = "[" * 100_000 + "]" * 100_000
GPS_READING = {"latitude": 40.0, "longitude": -75.0, "timestamp": "2026-01-01T00:00:00"}


@pytest.mark.parametrize("method, route", [("POST", "/ingest/{d}/{r}"), ("POST", "/register-device"),
                                           ("PUT", "/update-device"), ("POST", "/sensor-logger/{d}"),
                                           ("POST", "/start-stream/{d}/{r}")])
async def test_deeply_nested_json_bodies_are_400(http, worker, method, route):
    device = await register(http, worker)
    async with http.request(method, worker.url + route.format(d=device, r=unique("run")), data=DEEP) as r:
        body = await r.json()
        assert r.status == 400 and body["detail"] == f"nested deeper than {MAX_DEPTH} levels", (route, r.status, body)


async def test_a_deeply_nested_frame_gets_an_error_frame_and_the_connection_stays_open(http, worker):
    device, run = await register(http, worker), unique("run")
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        await ws.send(DEEP)
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["frame"] == 1 and error["detail"] == f"nested deeper than {MAX_DEPTH} levels", error
        await ws.send(json.dumps(GPS_READING))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"ack": 2, "readings": 1}


async def test_the_live_socket_answers_a_deeply_nested_message_and_stays_open(http, worker):
    async with http.ws_connect(f"{worker.ws_url}/live") as ws:
        await ws.send_str(DEEP)
        while (reply := await ws.receive_json(timeout=10))["type"] != "error":
            pass
        assert reply["detail"] == f"nested deeper than {MAX_DEPTH} levels"
        await ws.send_str("not json")                # still served
        while (reply := await ws.receive_json(timeout=10))["type"] != "error":
            pass
        assert not ws.closed


async def run_with_windows(http, worker) -> tuple[str, str]:
    """A run the worker holds, so that /get-latest-stats has a table to query."""
    device, run = await register(http, worker), unique("run")
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[GPS_READING]) as r:
        assert r.status == 200, await r.text()
    await wait_for(lambda: answer_is(http, worker, f"/runs/{device}/{run}", 200), what="the run in the live table")
    return device, run


async def answer_is(http, worker, path: str, status: int) -> bool:
    async with http.get(worker.url + path) as r:
        return r.status == status


async def sql(http, worker, device: str, run: str, query: str) -> tuple[int, dict]:
    async with http.get(f"{worker.url}/get-latest-stats/{device}/{run}", params={"query": query}) as r:
        return r.status, await r.json()


async def test_a_sql_result_over_the_byte_cap_is_422_naming_how_to_narrow_it(http, worker):
    device, run = await run_with_windows(http, worker)
    status, body = await sql(http, worker, device, run, "SELECT repeat('x', 20000) FROM range(10000)")
    assert status == 422 and "over 1048576 bytes" in body["detail"] and "LIMIT" in body["detail"], (status, body)
    status, body = await sql(http, worker, device, run, "SELECT count(*) FROM {table}")
    assert status == 200 and body["rows"] == [[1]], body


async def test_concurrent_queries_inside_one_long_function_are_stopped_at_the_time_limit(http, worker):
    device, run = await run_with_windows(http, worker)
    # Each repeat() is one function call: DuckDB notices an interrupt only after it returns (seconds).
    answers = await asyncio.wait_for(asyncio.gather(
        *(sql(http, worker, device, run, "SELECT length(repeat('x', 500000000))") for _ in range(4))),
        timeout=2 * QUERY_TIMEOUT_S + 1)
    for status, body in answers:
        assert status == 400 and "longer than" in body["detail"], (status, body)

    async def pool_free_again() -> bool:
        return (await sql(http, worker, device, run, "SELECT count(*) FROM {table}"))[0] == 200

    # The stopped queries release their threads once their repeat() returns: later queries (and tests) run again.
    await wait_for(pool_free_again, timeout=60, interval=0.5, what="a query answered once the stopped ones let go")
