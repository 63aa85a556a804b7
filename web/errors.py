"""One error shape for every route: `{"error": "...", "detail": ...}` with a fitting 4xx status.

Handlers raise `ApiError`; the middleware turns it, and aiohttp's own HTTP errors
(unknown route, wrong method, body too large), into that JSON. Anything else is a
bug: it is logged with its traceback and answered with a 500 that says so.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiokafka.errors import KafkaError
from cassandra import OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable

from cql.session import CassandraUnavailable
from sports_prophet.kafka import KafkaUnavailable
from web.json_response import json_response

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def not_found(what: str, detail: Any = None) -> ApiError:
    return ApiError(404, f"{what} not found", detail)


RETRY_AFTER_S = 1


def error_response(status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
                   ) -> web.Response:
    """The JSON error; a 503 (nothing was done, a dependency is away) also says when to retry."""
    headers = {**(headers or {}), **({"Retry-After": str(RETRY_AFTER_S)} if status == 503 else {})}
    return json_response({"error": error, "detail": detail}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return error_response(413, "request body too large", exc.text)
        return error_response(exc.status, exc.reason, f"{request.method} {request.path}")
    except (CassandraUnavailable, NoHostAvailable, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout) as exc:
        return error_response(503, "Cassandra is unavailable; retry shortly",
                              f"{type(exc).__name__}: {exc}. Is it running? `scripts/stack status`")
    except (KafkaError, KafkaUnavailable) as exc:
        return error_response(503, "Kafka is unavailable; nothing was changed, retry shortly",
                              f"{type(exc).__name__}: {exc}")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error", "this is a bug; the worker log has the traceback")
