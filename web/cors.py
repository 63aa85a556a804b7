"""CORS for the origins in SP_CORS_ORIGINS only: browsers on other sites may call the API only when
listed (with no list, no CORS header is ever sent, as before). A listed origin's preflight is answered
here, before the auth middleware, since browsers send preflights without credentials."""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import hdrs, web

PREFLIGHT_MAX_AGE_S = 600


def cors(origins: frozenset[str]) -> Callable:
    """The middleware for this allow-list of origins (`scheme://host[:port]`, as browsers send them)."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin not in origins:
            return await handler(request)
        allowed = {hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin, hdrs.VARY: hdrs.ORIGIN}
        if request.method == "OPTIONS" and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return web.Response(status=204, headers={
                **allowed,
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET, POST, PUT, DELETE",
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Authorization, Content-Type",
                hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_S)})
        response = await handler(request)
        if not response.prepared:       # a streamed export has sent its headers already
            response.headers.update({**allowed, hdrs.ACCESS_CONTROL_EXPOSE_HEADERS: "Retry-After, WWW-Authenticate"})
        return response

    return middleware
