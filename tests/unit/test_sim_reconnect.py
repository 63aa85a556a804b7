"""The simulator's WebSocket transport against a real local aiohttp server that drops the connection,
as a worker restarted under scripts/run does: later readings are held and sent on a new connection."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from simulator import transport
from simulator.transport import Progress, WebSocketTransport


async def test_readings_sent_while_the_worker_is_away_arrive_after_it_is_back(monkeypatch):
    monkeypatch.setattr(transport, "RECONNECT_FIRST_S", 0.05)
    received: list[list[dict]] = []          # per connection, the readings it got
    up = asyncio.Event()
    up.set()

    async def send_stream(request: web.Request) -> web.WebSocketResponse:
        if not up.is_set():
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        got: list[dict] = []
        received.append(got)
        frames = 0
        async for message in ws:
            frame = json.loads(message.data)
            got.extend(frame if isinstance(frame, list) else [frame])
            frames += 1
            await ws.send_json({"ack": frames, "readings": len(got)})
            if len(received) == 1 and len(got) == 3:       # the worker goes away after 3 readings
                up.clear()
                await ws.close(code=1011)
        return ws

    app = web.Application()
    app.router.add_get("/send-stream/{device}/{run}", send_stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    progress = Progress()
    async with aiohttp.ClientSession() as http:
        ws_transport = WebSocketTransport(http, f"http://127.0.0.1:{port}", progress)
        for i in range(3):
            await ws_transport.send("gps", "r1", [{"i": i}])
        while not ws_transport.streams[("gps", "r1")].ws.closed:
            await asyncio.sleep(0.01)
        for i in range(3, 6):                       # the worker is away: held
            await ws_transport.send("gps", "r1", [{"i": i}])
        up.set()
        await asyncio.sleep(0.1)                    # past the back-off
        await ws_transport.send("gps", "r1", [{"i": 6}])
        await ws_transport.close()
    await runner.cleanup()
    assert [r["i"] for r in received[0]] == [0, 1, 2]
    assert [r["i"] for r in received[-1]] == [3, 4, 5, 6]
    assert progress.notes["reconnects"] == 1
    assert progress.acked == 7 and progress.errors == 0
