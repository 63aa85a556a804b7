"""GET /: what this server offers, until the live dashboard takes this place (issue 6)."""

from __future__ import annotations

from aiohttp import web
from faust.web import Request, Response, View

from sports_prophet.app import app


@app.page("/")
class Index(View):
    async def get(self, request: Request) -> Response:
        routes = sorted({(route.method, route.resource.canonical) for route in request.app.router.routes()
                         if route.method != "HEAD" and route.resource is not None})
        return web.json_response({
            "service": "Sports Prophet",
            "health": "/health",
            "routes": [f"{method} {path}" for method, path in routes],
        })
