"""GET /api: what this server offers, as a JSON list of its routes (`/` is the live dashboard)."""

from __future__ import annotations

from aiohttp import web
from faust.web import Request, Response, View

from sports_prophet.app import app


@app.page("/api")
class Index(View):
    async def get(self, request: Request) -> Response:
        routes = sorted({(route.method, route.resource.canonical) for route in request.app.router.routes()
                         if route.method != "HEAD" and route.resource is not None})
        return web.json_response({
            "service": "Sports Prophet",
            "dashboard": "/",
            "health": "/health",
            "routes": [f"{method} {path}" for method, path in routes],
        })
