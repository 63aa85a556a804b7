"""GET /health: whether this worker can reach Kafka and Cassandra, and whether its archive sink keeps
up (200 when all is well, else 503 with the part that is not)."""

from __future__ import annotations

import asyncio

from faust.web import Request, Response, View

from agents.sink import sink
from cql.session import execute
from models.responses import Health as HealthOut
from sports_prophet.app import app, gateway
from web.json_response import json_response
from web.openapi import Reply, documented


async def check(probe) -> dict:
    try:
        await asyncio.wait_for(probe(), timeout=3)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


@app.page("/health")
class Health(View):
    @documented("Whether this worker reaches Kafka and Cassandra and its archive keeps up", tag="operations",
                ok=HealthOut, errors={503: Reply(HealthOut, 503, "Degraded: the part that is not well says why")})
    async def get(self, request: Request) -> Response:
        kafka = await check(gateway.run_topics)
        cassandra = await check(lambda: execute("SELECT release_version FROM system.local"))
        archive = await sink.health()
        ok = kafka["ok"] and cassandra["ok"] and not archive["behind"]
        return json_response({"status": "ok" if ok else "degraded", "kafka": kafka, "cassandra": cassandra,
                                  "sink": archive}, status=200 if ok else 503)
