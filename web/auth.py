"""Who may call which route: the admin token, each device's ingest token and the read token.

One middleware decides for every route, so a route added later is guarded by default: a write
(any method but GET) needs the admin token; a read (GET, and the WebSocket `/live` feeds) needs the
read token when SP_READ_TOKEN is set. Only the routes named here differ: `OPEN_ROUTES` need nothing
(health is probed by scripts; the dashboard's and the API docs' pages and files, and the
OpenAPI document, hold no data), `INGEST_ROUTES` also
take the ingest token of the device in their path, and `ADMIN_ROUTES` need the admin token to read too.

Missing token: 401 with `WWW-Authenticate: Bearer`; a token that does not grant the route: 403.
A WebSocket is refused the way `/send-stream` refuses an unknown device (4404): the upgrade is
accepted and closed at once, with 4401 or 4403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from enum import Enum
from typing import Awaitable, Callable

from aiohttp import hdrs, web

from cql.registry import Device, DeviceRegistry
from web.errors import ApiError

OPEN_ROUTES = frozenset({"/health", "/", "/static/{name}", "/docs", "/docs/{asset}", "/openapi.json"})
INGEST_ROUTES = frozenset({"/send-stream/{device_id}/{run_id}", "/ingest/{device_id}/{run_id}",
                           "/sensor-logger/{device_id}"})
# Webhook URLs may carry a receiver's credentials, and dead letters hold alert bodies: admin-only, reads too.
ADMIN_ROUTES = frozenset({"/webhooks", "/webhooks/{webhook_id}", "/webhooks/{webhook_id}/dead-letters"})
READ_METHODS = frozenset({"GET", "HEAD"})


class Access(Enum):
    OPEN = "open"
    READ = "read"
    INGEST = "ingest"
    ADMIN = "admin"


def route_access(method: str, route: str | None) -> Access:
    """What a route needs. An unmatched path (None) is open, so it still answers its 404 or 405."""
    if route is None or route in OPEN_ROUTES:
        return Access.OPEN
    if route in INGEST_ROUTES:
        return Access.INGEST
    if route in ADMIN_ROUTES:
        return Access.ADMIN
    return Access.READ if method in READ_METHODS else Access.ADMIN


def hash_token(token: str) -> str:
    """What the registry stores of an ingest token: its hex SHA-256 (tokens are random, so unsalted is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_ingest_token() -> tuple[str, str]:
    """A fresh ingest token and its hash: the token goes to the client once, the hash to Cassandra."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality, and never equal to an unset (empty) secret."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches only this machine: localhost, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(web_host: str, admin_token: str) -> str | None:
    """Why a worker must not start (its API reachable from other machines with nothing guarding it), or None."""
    if admin_token or is_loopback(web_host):
        return None
    return (f"SP_WEB_HOST={web_host} exposes the API; set SP_ADMIN_TOKEN (and SP_READ_TOKEN to protect reads) "
            f"or bind to 127.0.0.1")


def is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def presented_token(request: web.Request) -> str | None:
    """The request's bearer token; a WebSocket may pass `?token=` instead (browsers cannot set its headers)."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (request.query.get("token") or None) if is_websocket(request) else None


class Guard:
    """The tokens of this worker and the checks that use them: its `middleware` for every route, and
    `may_ingest` for `/send-stream`, which checks again on each frame (a rotated token stops an open socket)."""

    def __init__(self, registry: DeviceRegistry, admin_token: str, read_token: str) -> None:
        self.registry, self.admin_token, self.read_token = registry, admin_token, read_token

    def may_ingest(self, device: Device, token: str | None) -> bool:
        if not self.admin_token:
            return True
        return token is not None and (same_secret(token, self.admin_token) or (
            device.ingest_token_sha256 is not None and same_secret(hash_token(token), device.ingest_token_sha256)))

    async def allows(self, access: Access, token: str | None, device_id: str | None) -> bool:
        if access is Access.OPEN:
            return True
        if not (self.read_token if access is Access.READ else self.admin_token):
            return True                 # that kind of route is not guarded on this worker
        if token is None:
            return False
        if same_secret(token, self.admin_token) or (access is Access.READ and same_secret(token, self.read_token)):
            return True
        if access is Access.INGEST and device_id is not None:
            device = await self.registry.get(device_id)
            return device is not None and self.may_ingest(device, token)
        return False

    def internal_headers(self) -> dict[str, str]:
        """What a worker sends when it reads another worker's routes (`/runs`, the live feeds)."""
        return {hdrs.AUTHORIZATION: f"Bearer {self.read_token}"} if self.read_token else {}

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        resource = request.match_info.route.resource
        access = route_access(request.method, resource.canonical if resource is not None else None)
        token = presented_token(request)
        if await self.allows(access, token, request.match_info.get("device_id")):
            return await handler(request)
        refusal = refused(access, token)
        if is_websocket(request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=4000 + refusal.status, message=refusal.error[:120].encode())
            return ws
        raise refusal


def refused(access: Access, token: str | None) -> ApiError:
    """401 when no token came (the client should send one), 403 when the one that came does not grant the route."""
    accepted = {Access.READ: "SP_READ_TOKEN or SP_ADMIN_TOKEN",
                Access.INGEST: "the device's ingest_token or SP_ADMIN_TOKEN"}.get(access, "SP_ADMIN_TOKEN")
    if token is None:
        return ApiError(401, "a token is required", f"send 'Authorization: Bearer <token>' with {accepted}",
                        headers={hdrs.WWW_AUTHENTICATE: "Bearer"})
    return ApiError(403, "the token does not grant this route", f"this route takes {accepted}")
