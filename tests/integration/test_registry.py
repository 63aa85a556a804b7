"""Device registry over a real worker and Cassandra: old routes and shapes, bad input, concurrency, restart."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import GPS_SCHEMA, register, unique

pytestmark = pytest.mark.integration


async def test_register_then_read_back(http, worker):
    name = unique("gps")
    async with http.post(f"{worker.url}/register-device", json={"device_name": name, "schema": GPS_SCHEMA}) as r:
        assert r.status == 201
        body = await r.json()
    assert body["device_name"] == name and body["schema"] == GPS_SCHEMA
    async with http.get(f"{worker.url}/device/{name}") as r:
        assert r.status == 200
        assert (await r.json())["schema"] == GPS_SCHEMA
    async with http.get(f"{worker.url}/devices") as r:
        assert name in (await r.json())["devices"]


@pytest.mark.parametrize("body, status, mentions", [
    ({"device_name": "x", "schema": {"a": "floaty"}}, 422, "unknown type"),
    ({"device_name": "x", "schema": {}}, 422, "at least one field"),
    ({"device_name": "bad name!", "schema": {"a": "float"}}, 422, "A-Za-z0-9_-"),
    ({"device_name": "x" * 65, "schema": {"a": "float"}}, 422, "A-Za-z0-9_-"),
    ({"device_name": "x", "schema": {"bad field": "float"}}, 422, "field names"),
    ({"schema": {"a": "float"}}, 422, "device_name"),
    ({"device_name": "x", "schema": {"a": "float"}, "extra": 1}, 422, "extra"),
])
async def test_bad_registrations_are_422_naming_the_problem(http, worker, body, status, mentions):
    async with http.post(f"{worker.url}/register-device", json=body) as r:
        assert r.status == status
        payload = await r.json()
    assert payload["error"] and mentions in str(payload["detail"])


async def test_api_lists_the_routes_and_root_is_the_dashboard(http, worker):
    async with http.get(f"{worker.url}/api") as r:
        assert r.status == 200
        routes = (await r.json())["routes"]
    assert "POST /register-device" in routes and "GET /get-speed/{device_id}/{run_id}" in routes
    assert "GET /history/{device_id}/{run_id}/readings" in routes
    async with http.get(f"{worker.url}/") as r:
        assert r.status == 200 and r.content_type == "text/html"


async def test_body_that_is_not_json_is_400(http, worker):
    async with http.post(f"{worker.url}/register-device", data=b"{nope") as r:
        assert r.status == 400
        assert "JSON" in (await r.json())["error"]


async def test_duplicate_is_409_and_update_delete_lifecycle(http, worker):
    name = await register(http, worker)
    async with http.post(f"{worker.url}/register-device", json={"device_name": name, "schema": GPS_SCHEMA}) as r:
        assert r.status == 409
    new_schema = {"latitude": "float", "longitude": "float", "timestamp": "timestamp", "hr": "int"}
    async with http.put(f"{worker.url}/update-device", json={"device_name": name, "schema": new_schema}) as r:
        assert r.status == 200
        assert (await r.json())["schema"] == new_schema
    async with http.get(f"{worker.url}/device/{name}") as r:
        assert (await r.json())["schema"] == new_schema
    async with http.delete(f"{worker.url}/delete-device/{name}") as r:
        assert r.status == 200
    for method, url in (("DELETE", f"/delete-device/{name}"), ("GET", f"/device/{name}")):
        async with http.request(method, worker.url + url) as r:
            assert r.status == 404
            assert "not registered" in (await r.json())["detail"]
    async with http.put(f"{worker.url}/update-device", json={"device_name": name, "schema": GPS_SCHEMA}) as r:
        assert r.status == 404


async def test_concurrent_registrations_of_one_name_have_one_winner(http, worker, make_worker):
    other = make_worker("worker-registry").start()
    name = unique("race")
    body = {"device_name": name, "schema": GPS_SCHEMA}

    async def attempt(url: str) -> int:
        async with http.post(f"{url}/register-device", json=body) as r:
            return r.status

    statuses = await asyncio.gather(*(attempt(w.url) for w in [worker, other] * 6))
    assert sorted(statuses) == [201] + [409] * 11
    # Every worker sees the same registry.
    async with http.get(f"{other.url}/device/{name}") as r:
        assert r.status == 200


async def test_registry_survives_a_worker_restart(http, make_worker):
    w = make_worker("worker-restart").start()
    name = await register(http, w)
    w.stop()
    w.start()
    async with http.get(f"{w.url}/device/{name}") as r:
        assert r.status == 200
        assert (await r.json())["schema"] == GPS_SCHEMA
