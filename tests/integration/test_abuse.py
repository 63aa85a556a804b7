"""What careless and hostile clients get: per-device rate limits, and a WebSocket fuzzer beside a valid
stream. The worker stays up and the valid stream loses nothing."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
import websockets

from tests.integration.conftest import Worker, register, unique, wait_for
from tests.integration.test_ingest import fix
from tests.integration.test_live import run_has

pytestmark = pytest.mark.integration


@pytest.fixture
def limited_worker(stack, tmp_path_factory):
    w = Worker(tmp_path_factory.mktemp("workers"), "limited", app_id=unique("sp-test-limited"),
               env={"SP_DEVICE_RATE_LIMIT": "100"}).start()
    yield w
    w.stop()


async def test_a_device_over_its_rate_limit_gets_429_and_others_do_not(http, limited_worker):
    w = limited_worker
    device, other, run = await register(http, w), await register(http, w), unique("run")
    async with http.post(f"{w.url}/ingest/{device}/{run}", json=[fix(i) for i in range(300)]) as r:
        assert r.status == 200, await r.text()          # a full bucket lets one big batch through
    async with http.post(f"{w.url}/ingest/{device}/{run}", json=[fix(300)]) as r:
        assert r.status == 429
        assert int(r.headers["Retry-After"]) >= 1
        body = await r.json()
        assert "rate limit" in body["error"] and "SP_DEVICE_RATE_LIMIT" in body["detail"]
    async with http.post(f"{w.url}/ingest/{other}/{run}", json=[fix(0)]) as r:
        assert r.status == 200


async def test_a_websocket_over_the_rate_limit_is_slowed_not_refused(http, limited_worker):
    w = limited_worker
    device, run = await register(http, w), unique("run")
    async with websockets.connect(f"{w.ws_url}/send-stream/{device}/{run}") as ws:
        for start in range(0, 300, 50):
            await ws.send(json.dumps([fix(i) for i in range(start, start + 50)]))
        readings = 0
        while readings < 300:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert "error" not in reply, reply
            readings = reply["readings"]
    await wait_for(lambda: run_has(http, w, device, run, 300), timeout=60, what="all 300 readings counted")


async def fuzz(url: str, rng: random.Random) -> dict[str, int]:
    """Malformed, binary, huge, nested and flooding frames over several connections; counts the answers."""
    frames = [b"\x00\xff binary", "{not json", "[" * 5000 + "]" * 5000, json.dumps({"latitude": "x"}),
              "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "[]", "null", "1e999", '"str"',
              json.dumps([{"latitude": 1.0}] * 3000), "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(2000))]
    seen = {"error_frames": 0, "closed": 0}
    for round_ in range(4):
        async with websockets.connect(url, max_size=None) as ws:
            try:
                for _ in range(300 if round_ == 3 else 40):         # the last round floods
                    await ws.send(rng.choice(frames))
                await ws.send("x" * (2 * 1024 * 1024))               # over the frame limit: closed with 1009
                async for message in ws:
                    seen["error_frames"] += "error" in json.loads(message)
            except websockets.ConnectionClosed:
                pass
            seen["closed"] += ws.close_code == 1009
    return seen


async def test_a_websocket_fuzzer_neither_crashes_the_worker_nor_costs_a_neighbour_a_reading(http, make_worker):
    w = make_worker("fuzzed").start()
    device, run = await register(http, w), unique("run")

    async def neighbour() -> int:
        async with websockets.connect(f"{w.ws_url}/send-stream/{device}/{run}") as ws:
            for i in range(0, 400, 20):
                await ws.send(json.dumps([fix(k) for k in range(i, i + 20)]))
                await asyncio.sleep(0.02)
            readings = 0
            while readings < 400:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert "error" not in reply, reply
                readings = reply["readings"]
        return readings

    seen, acked = await asyncio.gather(fuzz(f"{w.ws_url}/send-stream/{device}/{unique('fuzz')}", random.Random(7)),
                                       neighbour())
    assert acked == 400
    assert seen["closed"] == 4 and seen["error_frames"] > 0, seen
    assert w.proc.poll() is None, w.log_tail()
    await wait_for(lambda: run_has(http, w, device, run, 400), timeout=60, what="the neighbour's 400 readings counted")
