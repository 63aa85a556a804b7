"""The pure parts of web/auth.py: token hashing and checking, loopback detection, which route needs what."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cql.registry import Device
from web.auth import (Access, Guard, exposure_problem, hash_token, is_loopback, new_ingest_token, route_access,
                      same_secret)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def device_with(token_sha256: str | None) -> Device:
    return Device("gps_1", {"latitude": "float"}, NOW, NOW, token_sha256)


def test_a_new_token_is_random_and_only_its_sha256_is_kept():
    token, stored = new_ingest_token()
    other, _ = new_ingest_token()
    assert token != other and len(token) >= 43                 # 32 random bytes, URL-safe base64
    assert stored == hash_token(token) and len(stored) == 64 and token not in stored
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_secrets_compare_whole_and_never_match_an_unset_one():
    assert same_secret("s3cret", "s3cret")
    assert not same_secret("s3cre", "s3cret") and not same_secret("s3cret!", "s3cret")
    assert not same_secret("", "")


def test_ingest_takes_the_devices_token_or_the_admin_token_only():
    token, stored = new_ingest_token()
    guard = Guard(registry=None, admin_token="admin", read_token="read")   # type: ignore[arg-type]
    assert guard.may_ingest(device_with(stored), token)
    assert guard.may_ingest(device_with(stored), "admin")
    assert not guard.may_ingest(device_with(stored), stored)             # the stored hash is not a token
    assert not guard.may_ingest(device_with(stored), "read")
    assert not guard.may_ingest(device_with(stored), None)
    assert not guard.may_ingest(device_with(None), token)               # registered before tokens: admin only
    assert Guard(None, "", "").may_ingest(device_with(stored), None)   # type: ignore[arg-type]  auth off


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LocalHost"])
def test_loopback_addresses(host):
    assert is_loopback(host)
    assert exposure_problem(host, "") is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])
def test_other_addresses_need_the_admin_token(host):
    assert not is_loopback(host)
    problem = exposure_problem(host, "")
    assert problem is not None and f"SP_WEB_HOST={host}" in problem and "SP_ADMIN_TOKEN" in problem
    assert exposure_problem(host, "a-long-secret") is None


@pytest.mark.parametrize("method, route, access", [
    ("GET", "/health", Access.OPEN),
    ("GET", "/", Access.OPEN),
    ("GET", "/static/{name}", Access.OPEN),
    ("GET", None, Access.OPEN),                                  # no such route: its 404 is answered
    ("GET", "/send-stream/{device_id}/{run_id}", Access.INGEST),
    ("POST", "/ingest/{device_id}/{run_id}", Access.INGEST),
    ("POST", "/sensor-logger/{device_id}", Access.INGEST),
    ("GET", "/runs", Access.READ),
    ("GET", "/live", Access.READ),
    ("GET", "/stats/", Access.READ),                             # Faust's own metrics routes are reads
    ("POST", "/register-device", Access.ADMIN),
    ("DELETE", "/delete-all-topics", Access.ADMIN),
    ("GET", "/webhooks", Access.ADMIN),                          # webhook URLs and dead letters: admin reads
    ("GET", "/webhooks/{webhook_id}/dead-letters", Access.ADMIN),
    ("POST", "/a-route-added-later", Access.ADMIN),              # a new write route is guarded by default
])
def test_every_route_needs_something_unless_named_open(method, route, access):
    assert route_access(method, route) is access


@pytest.mark.parametrize("admin, read, access, token, allowed", [
    ("", "", Access.ADMIN, None, True),                  # no admin token (loopback only): old clients unchanged
    ("", "", Access.READ, None, True),
    ("admin", "", Access.READ, None, True),              # reads are open unless SP_READ_TOKEN is set
    ("admin", "", Access.ADMIN, None, False),
    ("admin", "", Access.ADMIN, "read", False),
    ("admin", "", Access.ADMIN, "admin", True),
    ("admin", "read", Access.READ, None, False),
    ("admin", "read", Access.READ, "read", True),
    ("admin", "read", Access.READ, "admin", True),
    ("admin", "read", Access.ADMIN, "read", False),
    ("admin", "read", Access.OPEN, None, True),
])
async def test_which_token_a_route_needs(admin, read, access, token, allowed):
    guard = Guard(registry=None, admin_token=admin, read_token=read)     # type: ignore[arg-type]
    assert await guard.allows(access, token, None) is allowed
