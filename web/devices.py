"""Device registry routes, with the old system's paths and shapes."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View
from marshmallow import ValidationError

from models.device import DeviceSchema, InvalidIdentifier, check_identifier
from models.responses import DeletedDevice, DeviceNames, DeviceOut, DeviceToken, RegisteredDevice
from sports_prophet.app import app, registry
from web.auth import new_ingest_token
from web.client_json import loads
from web.errors import ApiError, not_found
from web.json_response import json_response
from web.openapi import BAD_ID, CASSANDRA_AWAY, NOT_JSON, TOO_LARGE, UNKNOWN_DEVICE, Reply, documented

INVALID_DEVICE = "An unknown field type, an empty schema, a bad device or field name, an unknown key"


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or a 400 that says why it is not JSON (or too deeply nested)."""
    try:
        return loads(await request.text())
    except ValueError as exc:
        raise ApiError(400, "the body is not valid JSON", str(exc)) from exc


async def device_body(request: Request) -> dict:
    try:
        return DeviceSchema().load(await json_body(request))
    except ValidationError as exc:
        raise ApiError(422, "invalid device", exc.messages) from exc


def path_id(value: str, what: str) -> str:
    try:
        return check_identifier(value, what)
    except InvalidIdentifier as exc:
        raise ApiError(400, f"invalid {what}", str(exc)) from exc


@app.page("/register-device")
class RegisterDevice(View):
    @documented("Register a device and the schema of its readings", tag="devices", body=DeviceSchema,
                ok=Reply(RegisteredDevice, 201, "Registered; `ingest_token` is shown only here"),
                errors={400: NOT_JSON, 409: "The device name is registered already", 413: TOO_LARGE,
                        422: INVALID_DEVICE, 503: CASSANDRA_AWAY})
    async def post(self, request: Request) -> Response:
        body = await device_body(request)
        token, token_sha256 = new_ingest_token()
        device = await registry.register(body["device_name"], body["schema"], token_sha256)
        if device is None:
            raise ApiError(409, "device already registered",
                           f"{body['device_name']!r} exists; change it with PUT /update-device")
        return json_response({**device.as_json(), "ingest_token": token}, status=201)


@app.page("/update-device")
class UpdateDevice(View):
    @documented("Replace a device's schema", tag="devices", body=DeviceSchema, ok=DeviceOut,
                errors={400: NOT_JSON, 404: UNKNOWN_DEVICE, 413: TOO_LARGE, 422: INVALID_DEVICE,
                        503: CASSANDRA_AWAY})
    async def put(self, request: Request) -> Response:
        body = await device_body(request)
        device = await registry.update(body["device_name"], body["schema"])
        if device is None:
            raise not_found("device", f"{body['device_name']!r} is not registered; use POST /register-device")
        return json_response(device.as_json())


@app.page("/delete-device/{device_id}")
class DeleteDevice(View):
    @documented("Delete a device (its runs and readings are kept)", tag="devices", ok=DeletedDevice,
                errors={400: BAD_ID, 404: UNKNOWN_DEVICE, 503: CASSANDRA_AWAY})
    async def delete(self, request: Request, device_id: str) -> Response:
        path_id(device_id, "device_id")
        if not await registry.delete(device_id):
            raise not_found("device", f"{device_id!r} is not registered")
        return json_response({"deleted": device_id, "detail": "its runs and readings are kept"})


@app.page("/devices/{device_id}/rotate-token")
class RotateToken(View):
    """A new ingest token for the device (say, one leaked); the old one is refused from then on."""

    @documented("Issue a new ingest token; the old one stops working", tag="devices", ok=DeviceToken,
                errors={400: BAD_ID, 404: UNKNOWN_DEVICE, 503: CASSANDRA_AWAY})
    async def post(self, request: Request, device_id: str) -> Response:
        path_id(device_id, "device_id")
        token, token_sha256 = new_ingest_token()
        if not await registry.rotate_token(device_id, token_sha256):
            raise not_found("device", f"{device_id!r} is not registered")
        return json_response({"device_name": device_id, "ingest_token": token})


@app.page("/devices")
class Devices(View):
    @documented("The registered devices' names", tag="devices", ok=DeviceNames, errors={503: CASSANDRA_AWAY})
    async def get(self, request: Request) -> Response:
        return json_response({"devices": await registry.names()})


@app.page("/device/{device_id}")
class DeviceDetail(View):
    @documented("A device and its schema", tag="devices", ok=DeviceOut,
                errors={400: BAD_ID, 404: UNKNOWN_DEVICE, 503: CASSANDRA_AWAY})
    async def get(self, request: Request, device_id: str) -> Response:
        path_id(device_id, "device_id")
        device = await registry.get(device_id, fresh=True)
        if device is None:
            raise not_found("device", f"{device_id!r} is not registered")
        return json_response(device.as_json())
