"""GET /api: what this server offers, as a JSON list of its routes (`/` is the live dashboard)."""

from __future__ import annotations

from faust.web import Request, Response, View

from models.responses import ApiIndex
from sports_prophet.app import app
from web.json_response import json_response
from web.openapi import documented


@app.page("/api")
class Index(View):
    @documented("Every route of this server", tag="operations", ok=ApiIndex)
    async def get(self, request: Request) -> Response:
        routes = sorted({(route.method, route.resource.canonical) for route in request.app.router.routes()
                         if route.method != "HEAD" and route.resource is not None})
        return json_response({
            "service": "Sports Prophet",
            "dashboard": "/",
            "health": "/health",
            "docs": "/docs",
            "openapi": "/openapi.json",
            "routes": [f"{method} {path}" for method, path in routes],
        })
