"""GET /health: whether this worker can reach Kafka and Cassandra (200 when both answer, else 503)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import Request, Response, View

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
        ok = kafka["ok"] and cassandra["ok"]
        return web.json_response({"status": "ok" if ok else "degraded", "kafka": kafka, "cassandra": cassandra},
                                 status=200 if ok else 503)
