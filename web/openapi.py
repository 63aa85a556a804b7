"""The OpenAPI 3.1 document, `GET /openapi.json`, generated from the routes and their marshmallow schemas.

Each route declares what it takes and answers next to its handler, with `@documented`:

    @app.page("/matches/{match_id}")
    class Match(View):
        @documented("A match's score and events", tag="matches", ok=MatchOut,
                    query=MatchQuery, errors={404: "unknown match", 503: CASSANDRA_AWAY})
        async def get(self, request: Request, match_id: str) -> Response:

`ok` is the success body's marshmallow schema (or a `Reply` for another status or media type);
`body`, `query` the request's schemas (models/); `errors` each 4xx/503 the handler really returns,
with why; all errors share `ErrorSchema`. A path parameter takes its schema from
`models.queries.PathParameters` by name (add a new name there). The security requirement, 401 and
403 come from `web.auth.route_access`, so they follow what the auth middleware does. `GET /openapi.json` walks every
registered view: a route without a declaration is left out (and logged), and the test that compares
the document with `GET /api` fails, so a new route cannot go undocumented.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from faust.web import Request, Response, View
from marshmallow import Schema

from models.queries import PathParameters
from models.responses import ErrorSchema
from sports_prophet.app import app
from web.auth import Access, route_access
from web.json_response import json_response

log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
DECLARATION = "__openapi__"
SchemaLike = type[Schema] | Schema | Mapping[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])

# Why a route answers an error, reused by the declarations.
BAD_ID = "A device_id or run_id that breaks ^[A-Za-z0-9_-]{1,64}$"
NOT_JSON = "The body is not JSON, or nests deeper than 32 levels"
TOO_LARGE = "The body is larger than SP_MAX_MESSAGE_BYTES"
UNKNOWN_DEVICE = "The device is not registered"
UNKNOWN_RUN = "No readings or configuration for the run"
CASSANDRA_AWAY = "Cassandra is unavailable: nothing was changed; retry after `Retry-After` seconds"
KAFKA_AWAY = "Kafka is unavailable: nothing was written; retry after `Retry-After` seconds"
BOTH_AWAY = "Kafka or Cassandra is unavailable: nothing was written; retry after `Retry-After` seconds"
NO_OWNER = ("No worker owns the run right now (a rebalance), or its owner did not answer in 5 s, "
            "or Kafka is unavailable; retry after `Retry-After` seconds")
NOT_A_WEBSOCKET = "Not a WebSocket upgrade request (connect with a WebSocket client)"

SECURITY_SCHEMES = {
    "adminToken": "SP_ADMIN_TOKEN: every route that changes something; it also ingests and reads. "
                  "Enforced only when SP_ADMIN_TOKEN is set.",
    "readToken": "SP_READ_TOKEN: the read routes. Enforced only when SP_READ_TOKEN is set.",
    "ingestToken": "The device's own ingest_token (issued by POST /register-device, rotated by "
                   "POST /devices/{device_id}/rotate-token), for its ingest routes. "
                   "Enforced when SP_ADMIN_TOKEN is set.",
}
SECURITY = {
    Access.OPEN: [],
    Access.READ: [{"readToken": []}, {"adminToken": []}],
    Access.INGEST: [{"ingestToken": []}, {"adminToken": []}],
    Access.ADMIN: [{"adminToken": []}],
}
REFUSALS = {401: "No bearer token, and this worker's settings require one",
            403: "The bearer token does not grant this route"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
HEADERS = {401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
           429: RETRY_AFTER, 503: RETRY_AFTER}


@dataclass(frozen=True)
class Reply:
    """A success answer: its status, its body's schema per media type, and what it means."""

    schema: SchemaLike | None = None
    status: int = 200
    description: str = "OK"
    media: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    ok: Reply
    errors: Mapping[int, str | Reply]        # an error's reason (the body is an ErrorSchema), or its own Reply
    bodies: Mapping[str, SchemaLike] = field(default_factory=dict)     # media type → the request body's schema
    query: type[Schema] | None = None
    description: str = ""
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def document(self, path: str, method: str) -> dict[str, Any]:
        """The OpenAPI operation object (apispec's MarshmallowPlugin turns the schemas into JSON Schema)."""
        access = route_access(method, path)
        errors = {**self.errors, **({} if access is Access.OPEN else REFUSALS)}
        replies = [self.ok, *(why if isinstance(why, Reply) else Reply(ErrorSchema, status, why)
                              for status, why in sorted(errors.items()))]
        responses = {str(reply.status): {
            "description": reply.description,
            **({"content": {media: {"schema": reply.schema} for media in reply.media}} if reply.media else {}),
            **({"headers": HEADERS[reply.status]} if reply.status in HEADERS else {})} for reply in replies}
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        parameters: list[dict[str, Any]] = []
        if names:
            parameters.append({"in": "path", "schema": PathParameters(only=names)})
        if self.query is not None:
            parameters.append({"in": "query", "schema": self.query})
        operation: dict[str, Any] = {
            "summary": self.summary, "tags": [self.tag], "operationId": f"{method.lower()}{path}",
            "responses": responses, "security": SECURITY[access], **self.extensions}
        if self.description:
            operation["description"] = self.description
        if parameters:
            operation["parameters"] = parameters
        if self.bodies:
            operation["requestBody"] = {"required": True,
                                        "content": {media: {"schema": schema} for media, schema in self.bodies.items()}}
        return operation


def documented(summary: str, *, tag: str, ok: SchemaLike | Reply | None = None,
               errors: Mapping[int, str | Reply] | None = None,
               body: SchemaLike | None = None, bodies: Mapping[str, SchemaLike] | None = None,
               query: type[Schema] | None = None, description: str = "",
               extensions: Mapping[str, Any] | None = None) -> Callable[[Handler], Handler]:
    """Declare a view method's operation for the document (see the module's docstring). `body` is a
    JSON body's schema; `bodies` maps several media types to theirs."""
    reply = ok if isinstance(ok, Reply) else Reply(ok)
    media = {**({"application/json": body} if body is not None else {}), **(bodies or {})}
    operation = Operation(summary, tag, reply, errors or {}, media, query, description, extensions or {})

    def declare(handler: Handler) -> Handler:
        setattr(handler, DECLARATION, operation)
        return handler
    return declare


def websocket(summary: str, *, tag: str, messages: Mapping[str, Any], errors: Mapping[int, str],
              query: type[Schema] | None = None) -> Callable[[Handler], Handler]:
    """A WebSocket route: OpenAPI has no WebSocket operations, so it is the GET that upgrades (101),
    its plain-HTTP refusals, and `x-websocket`: the frames each side sends and the close codes."""
    return documented(summary, tag=tag, query=query, ok=Reply(status=101, media=(), description=(
        "Switching Protocols: the connection is a WebSocket (see `x-websocket`)")),
        errors={**errors, 400: "; ".join([NOT_A_WEBSOCKET, *([errors[400]] if 400 in errors else [])])},
        extensions={"x-websocket": messages})


DESCRIPTION = """Real-time analytics for sports sensor streams. Every error is JSON,
`{"error": "what is wrong", "detail": ...}`. Auth is on only when the worker has `SP_ADMIN_TOKEN`
(docs/security.md). WebSocket routes appear as the GET that upgrades; their frames are in `x-websocket`."""


def build_document(views: Mapping[str, View]) -> dict[str, Any]:
    """The document for these views (Faust's `app.web.views`: path → view)."""
    spec = APISpec(title="Sports Prophet", version="0.1.0", openapi_version=OPENAPI_VERSION,
                   plugins=[MarshmallowPlugin()], info={"description": DESCRIPTION})
    for name, description in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, {"type": "http", "scheme": "bearer", "description": description})
    for path, view in views.items():
        operations = {}
        for method in sorted(view.get_methods() - {"HEAD"}):
            declared: Operation | None = getattr(getattr(type(view), method.lower()), DECLARATION, None)
            if declared is None:
                log.warning("%s %s has no @documented declaration: left out of /openapi.json", method, path)
                continue
            operations[method.lower()] = declared.document(path, method)
        if operations:
            spec.path(path=path, operations=operations)
    return spec.to_dict()


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """Built once: every view is registered when the worker's modules are imported."""
    return build_document(app.web.views)


@app.page("/openapi.json")
class OpenApiDocument(View):
    @documented("This document: the API in OpenAPI 3.1", tag="docs", ok=Reply({"type": "object"}))
    async def get(self, request: Request) -> Response:
        return json_response(document())
