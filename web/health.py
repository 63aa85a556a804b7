"""GET /health: whether this worker can reach Kafka and Cassandra, and whether its archive sink keeps
up (200 when all is well, else 503 with the part that is not)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import Request, Response, View

from agents.sink import sink
from cql.session import execute
from sports_prophet.app import app, gateway


async def check(probe) -> dict:
    try:
        await asyncio.wait_for(probe(), timeout=3)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


@app.page("/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        kafka = await check(gateway.run_topics)
        cassandra = await check(lambda: execute("SELECT release_version FROM system.local"))
        archive = await sink.health()
        ok = kafka["ok"] and cassandra["ok"] and not archive["behind"]
        return web.json_response({"status": "ok" if ok else "degraded", "kafka": kafka, "cassandra": cassandra,
                                  "sink": archive}, status=200 if ok else 503)
