"""Ingest routes: HTTP batches and the Sensor Logger push, and the write path they share with the
WebSocket stream (web/send_stream.py).

Every path validates against the device's registered schema, writes one Kafka
record per accepted batch, and acknowledges only after Kafka has acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Awaitable, Callable

from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from marshmallow import ValidationError

from agents.discovery import queued_records
from agents.statuses import run_statuses
from cql import dedup
from cql.registry import Device
from models.device import READING_JSON_SCHEMA, time_field
from models.responses import Ingested, SensorLoggerIngested
from models.run import StampedReading, run_key, run_topic, stamp_readings
from models.sensor_logger import SensorLoggerPushSchema, map_entries
from sports_prophet import metrics
from sports_prophet.app import app, gateway, registry
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable, TopicPartitionMismatch
from web.client_json import TooDeep, check_depth, decode
from web.devices import json_body, path_id
from web.errors import ApiError, not_found
from web.json_response import json_response
from web.openapi import BAD_ID, BOTH_AWAY, NOT_JSON, TOO_LARGE, UNKNOWN_DEVICE, documented
from web.rate_limit import DeviceRateLimits

log = logging.getLogger(__name__)

rate_limits = DeviceRateLimits(settings.device_rate_limit)
# Records waiting in the run agent's queue past which a write gives the agent the loop first.
AGENT_BEHIND_RECORDS = 64
GIVE_WAY_MAX_S = 0.5

RATE_LIMITED = "The device is over SP_DEVICE_RATE_LIMIT: nothing was written; retry after `Retry-After` seconds"
WRONG_PARTITIONS = "The run's topic exists with a partition count other than SP_TOPIC_PARTITIONS: nothing was written"
BATCH = {"oneOf": [{"type": "array", "items": READING_JSON_SCHEMA}, READING_JSON_SCHEMA]}
NDJSON = {"type": "string", "description": "One reading (a JSON object) per line"}


# Checks a device's batches must pass beyond its schema, by device id (web/matches.py adds the match
# feed's): each gets the run id and the stamped readings, and raises ApiError to refuse the batch.
BatchCheck = Callable[[str, list[StampedReading]], Awaitable[None]]
batch_checks: dict[str, BatchCheck] = {}


async def check_batch(device_id: str, run_id: str, readings: list[StampedReading]) -> None:
    """Run the device's own check, if it has one, before anything is written (all or nothing)."""
    check = batch_checks.get(device_id)
    if check is None:
        return
    try:
        await check(run_id, readings)
    except ApiError as exc:
        if exc.status in (409, 422):
            metrics.readings_rejected.labels(device_id, "invalid").inc(len(readings))
        raise


async def device_for_run(device_id: str, run_id: str) -> Device:
    """The registered device, after checking both ids of a run's path (400 / 404 otherwise)."""
    path_id(device_id, "device_id")
    path_id(run_id, "run_id")
    return await known_device(device_id)


async def known_device(device_id: str) -> Device:
    device = await registry.get(device_id)
    if device is None:
        raise not_found("device", f"{device_id!r} is not registered; register it with POST /register-device")
    return device


async def give_way_to_agent() -> None:
    """Ingest and the run agent share one event loop, and Faust hands the agent one record per loop
    turn: under heavy ingest the agent fell ever further behind while every request was acked
    (bench/end_to_end.py: 26k readings/s acked, 1k applied). While the agent's queue is long, a write
    first waits for it to shrink, a few ms at a time and at most GIVE_WAY_MAX_S, so clients that
    wait for their acks slow to the rate the worker applies."""
    waited, pause = 0.0, 0.002
    while queued_records() > AGENT_BEHIND_RECORDS and waited < GIVE_WAY_MAX_S:
        await asyncio.sleep(pause)
        waited += pause
        pause = min(2 * pause, 0.05)


async def deliver(device: Device, run_id: str, readings: list[StampedReading]) -> None:
    """Write a batch to the run's topic (reopening the run first if it was finished)."""
    await give_way_to_agent()
    await run_statuses.reopen(device.device_id, run_id)
    await gateway.write_batch(device.device_id, run_id, readings, time_field(device.schema),
                              run_statuses.deleted_since.get(run_key(device.device_id, run_id), 0.0))
    metrics.readings_ingested.labels(device.device_id).inc(len(readings))


async def write(device: Device, run_id: str, readings: list[StampedReading]) -> None:
    """Write a batch, turning Kafka trouble into a 503 the client can retry (and a device over its
    rate limit into a 429)."""
    wait = rate_limits.take(device.device_id, len(readings))
    if wait > 0:
        metrics.readings_rejected.labels(device.device_id, "rate_limited").inc(len(readings))
        raise ApiError(429, "this device is over its rate limit; nothing was written",
                       f"SP_DEVICE_RATE_LIMIT is {settings.device_rate_limit:g} readings/s; retry after {wait:.1f} s",
                       headers={"Retry-After": str(math.ceil(wait))})
    try:
        await deliver(device, run_id, readings)
    except TopicPartitionMismatch as exc:
        raise ApiError(409, "run topic has the wrong partition count", str(exc)) from exc
    except (KafkaError, KafkaUnavailable) as exc:
        metrics.readings_rejected.labels(device.device_id, "kafka_unavailable").inc(len(readings))
        raise ApiError(503, "Kafka is unavailable; nothing was written, retry later",
                       f"{type(exc).__name__}: {exc}") from exc


def index_errors(errors: dict[int, Any]) -> dict[str, Any]:
    return {str(index): messages for index, messages in sorted(errors.items())}


def parse_batch(body: bytes, content_type: str) -> list[Any]:
    """A JSON array, a single JSON object, or NDJSON (one reading per line)."""
    text = body.decode("utf-8", errors="strict").strip()
    if not text:
        raise ApiError(400, "empty body", "send a JSON array of readings or NDJSON, one reading per line")
    try:
        check_depth(body)
    except TooDeep as exc:
        raise ApiError(400, "the body is not valid JSON", str(exc)) from exc
    if "ndjson" in content_type or (text[0] == "{" and "\n" in text):
        items = []
        for line_no, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    items.append(decode(line))
                except ValueError as exc:
                    raise ApiError(400, "invalid NDJSON", f"line {line_no}: {exc}") from exc
        return items
    try:
        parsed = decode(body)
    except ValueError as exc:
        raise ApiError(400, "the body is not valid JSON", str(exc)) from exc
    return parsed if isinstance(parsed, list) else [parsed]


@app.page("/ingest/{device_id}/{run_id}")
class IngestBatch(View):
    """POST a JSON array or NDJSON of readings: all are written, or none (422 names each bad one)."""

    @documented("Write a batch of readings, all or none", tag="ingest", ok=Ingested,
                bodies={"application/json": BATCH, "application/x-ndjson": NDJSON},
                description="A JSON array of readings, one reading, or NDJSON (one per line). Answered "
                            "once Kafka has acknowledged; the first reading of a run creates its topic.",
                errors={400: f"{BAD_ID}; the body is empty, not UTF-8, not JSON or NDJSON", 404: UNKNOWN_DEVICE,
                        409: f"{WRONG_PARTITIONS}; or an event for a finished match (device match_events)",
                        413: TOO_LARGE,
                        422: "Readings that do not fit the device's schema (`detail` names each index and field), "
                             "or none; a match feed's event its match cannot take (`detail`: its index and the "
                             "problem)", 429: RATE_LIMITED, 503: BOTH_AWAY})
    async def post(self, request: Request, device_id: str, run_id: str) -> Response:
        device = await device_for_run(device_id, run_id)
        try:
            items = parse_batch(await request.read(), request.content_type)
        except UnicodeDecodeError as exc:
            raise ApiError(400, "the body is not UTF-8", str(exc)) from exc
        readings, errors = stamp_readings(device.schema, items, time.time())
        if errors:
            metrics.readings_rejected.labels(device_id, "invalid").inc(len(items))
            raise ApiError(422, f"{len(errors)} of {len(items)} readings are invalid; nothing was written",
                           index_errors(errors))
        if not readings:
            raise ApiError(422, "no readings in the body", "send at least one reading")
        await check_batch(device_id, run_id, readings)
        await write(device, run_id, readings)
        return json_response({"device_id": device_id, "run_id": run_id, "accepted": len(readings),
                                  "topic": run_topic(device_id, run_id)})


@app.page("/sensor-logger/{device_id}")
class SensorLoggerPush(View):
    """The Sensor Logger app's push: sessionId becomes the run, retries of a messageId are written once."""

    @documented("Write a push of the Sensor Logger phone app", tag="ingest", body=SensorLoggerPushSchema,
                ok=SensorLoggerIngested,
                description="`sessionId` is the run; entries map onto the device's fields by name; a retried "
                            "`messageId` answers `duplicate: true` and writes nothing.",
                errors={400: f"{BAD_ID}; {NOT_JSON}", 404: UNKNOWN_DEVICE,
                        409: "Another request is writing this messageId; retry in a few seconds", 413: TOO_LARGE,
                        422: "Not a Sensor Logger push, or entries that do not fit the device's schema",
                        429: RATE_LIMITED, 503: BOTH_AWAY})
    async def post(self, request: Request, device_id: str) -> Response:
        path_id(device_id, "device_id")
        device = await known_device(device_id)
        try:
            push = SensorLoggerPushSchema().load(await json_body(request))
        except ValidationError as exc:
            raise ApiError(422, "not a Sensor Logger push", exc.messages) from exc
        run_id, message_id = push["sessionId"], str(push["messageId"])
        candidates, left_out = map_entries(device.schema, push["payload"])
        readings, errors = stamp_readings(device.schema, candidates, time.time())
        if errors:
            metrics.readings_rejected.labels(device_id, "invalid").inc(len(candidates))
            raise ApiError(422, "payload entries do not fit the device's schema; nothing was written",
                           index_errors(errors))
        if readings:
            await check_batch(device_id, run_id, readings)
        answer = {"device_id": device_id, "run_id": run_id, "message_id": message_id,
                  "accepted": len(readings), "left_out": left_out, "duplicate": False}
        state = await dedup.claim(device_id, message_id)
        if state is dedup.Claim.DONE:
            return json_response({**answer, "accepted": 0, "duplicate": True})
        if state is dedup.Claim.IN_FLIGHT:
            raise ApiError(409, "this messageId is being written by another request", "retry in a few seconds")
        try:
            if readings:
                await write(device, run_id, readings)
        except BaseException:
            await dedup.release(device_id, message_id)
            raise
        await dedup.finish(device_id, message_id, len(readings))
        return json_response(answer)
