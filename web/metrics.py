"""GET /metrics: the worker's Prometheus metrics (text exposition format)."""

from __future__ import annotations

from aiohttp import web
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.owned import owned
from agents.sink import sink
from sports_prophet import metrics
from sports_prophet.app import app
from web.openapi import Reply, documented


@app.page("/metrics")
class Metrics(View):
    @documented("The worker's Prometheus metrics", tag="operations",
                ok=Reply({"type": "string"}, media=("text/plain",), description="Prometheus's text format"))
    async def get(self, request: Request) -> Response:
        metrics.runs_active.set(sum(1 for state in list(owned.states.values()) if state.get("status") == "active"))
        metrics.sink_rows_written.set(sink.writer.health.rows_written)
        metrics.sink_unwritten_records.set(await sink.unwritten())
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
