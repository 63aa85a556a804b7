"""The middleware that times every HTTP request by route, for `sp_request_seconds` (GET /metrics)."""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web

from sports_prophet import metrics


@web.middleware
async def timed(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """Latency per route pattern (`/runs/{device_id}/{run_id}`, not each run's path: bounded labels)."""
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.request_seconds.labels(route, request.method).observe(time.perf_counter() - started)
