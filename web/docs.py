"""`GET /docs`: the interactive API page, Swagger UI on `/openapi.json`, served entirely by the worker.

Swagger UI's files come from the swagger-ui-bundle-v2 package (the build of swagger-ui-dist that
connexion's maintainers publish on PyPI), so `pip install` brings them and no page asks a CDN.
`/docs/{asset}` serves a fixed whitelist: no path from a request reaches the disk.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from faust.web import Request, Response, View
from swagger_ui_bundle import swagger_ui_path

from sports_prophet.app import app
from web.errors import not_found
from web.openapi import Reply, documented

STATIC_DIR = Path(__file__).with_name("static")
SWAGGER_UI_DIR = Path(str(swagger_ui_path))
ASSETS = {
    "swagger-ui.css": SWAGGER_UI_DIR / "swagger-ui.css",
    "swagger-ui-bundle.js": SWAGGER_UI_DIR / "swagger-ui-bundle.js",
    "docs.js": STATIC_DIR / "docs.js",
}
ASSET_MEDIA = ("text/css", "text/javascript")


@app.page("/docs")
class Docs(View):
    @documented("The interactive API page (Swagger UI)", tag="docs",
                ok=Reply({"type": "string"}, media=("text/html",)))
    async def get(self, request: Request) -> Response:
        return web.FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})


@app.page("/docs/{asset}")
class DocsAsset(View):
    @documented("A file of the API page", tag="docs", ok=Reply({"type": "string"}, media=ASSET_MEDIA),
                errors={404: "Not one of the page's files"})
    async def get(self, request: Request, asset: str) -> web.StreamResponse:
        if asset not in ASSETS:
            raise not_found("docs file", f"{asset!r} is not one of {', '.join(sorted(ASSETS))}")
        return web.FileResponse(ASSETS[asset], headers={"Cache-Control": "public, max-age=3600"})
