"""The WebSocket ingest route: a device streams frames of readings, acknowledged once in Kafka.

Frames pass the same checks and write path as HTTP batches (web/ingest.py); a rejected frame gets an
error frame and the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiohttp import WSMsgType, web
from aiokafka.errors import KafkaError
from faust.web import Request, View

from cql.registry import Device
from models.device import InvalidIdentifier, check_identifier
from models.run import StampedReading, stamp_readings
from sports_prophet import metrics
from sports_prophet.app import app, guard, registry
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable, TopicPartitionMismatch
from web.auth import presented_token
from web.client_json import loads
from web.errors import ApiError
from web.ingest import check_batch, deliver, index_errors, rate_limits
from web.json_response import text
from web.openapi import BAD_ID, UNKNOWN_DEVICE, websocket

log = logging.getLogger(__name__)

# A client that does not read its acks must not stall ingest: past this many unsent
# bytes on its socket we stop sending acks (they are cumulative, so skipping is safe).
ACK_BACKLOG_BYTES = 64 * 1024
# Readings received on one WebSocket but not yet in Kafka; the reader waits beyond this.
MAX_PENDING_READINGS = 50_000


@app.page("/send-stream/{device_id}/{run_id}")
class SendStream(View):
    """WebSocket: each text frame is a reading or an array of readings.

    Replies: `{"ack": N, "readings": R}` once frames 1..N are in Kafka (cumulative, R readings so
    far), `{"error", "detail", "frame"}` for a frame that was rejected (the connection stays open).
    """

    @websocket("Stream readings over a WebSocket", tag="ingest", errors={}, messages={
        "client": "Text frames: a reading (JSON object) or a JSON array of readings",
        "server": {"ack": '{"ack": N, "readings": R}: frames 1..N are in Kafka (cumulative, R readings)',
                   "error": '{"error", "detail", "frame": N}: frame N was rejected and not written; the '
                            'connection stays open'},
        "close_codes": {"4400": BAD_ID, "4401": "no token", "4403": "a token that does not grant the device",
                        "4404": UNKNOWN_DEVICE, "1009": "a frame over SP_MAX_MESSAGE_BYTES",
                        "1011": "Kafka unavailable for ~30 s, or the run topic's partition count is wrong"}})
    async def get(self, request: Request, device_id: str, run_id: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=settings.max_message_bytes, heartbeat=30)
        await ws.prepare(request)
        try:
            check_identifier(device_id, "device_id")
            check_identifier(run_id, "run_id")
        except InvalidIdentifier as exc:
            await ws.close(code=4400, message=str(exc)[:120].encode())
            return ws
        device = await registry.get(device_id)
        if device is None:
            await ws.close(code=4404, message=f"device {device_id} is not registered"[:120].encode())
            return ws
        await StreamSession(ws, request, device, run_id).run()
        return ws


class StreamSession:
    """One WebSocket's ingest: a reader validates frames while a writer batches them into Kafka.

    The two run concurrently, so a client is never held to one Kafka round trip per frame:
    whatever arrived while the previous write was in flight goes out as the next record.
    """

    def __init__(self, ws: web.WebSocketResponse, request: Request, device: Device, run_id: str) -> None:
        self.ws, self.request, self.device, self.run_id = ws, request, device, run_id
        self.pending: list[tuple[int, list[StampedReading]]] = []
        self.pending_count = 0
        self.changed = asyncio.Condition()
        self.reading_done = False
        self.frames = 0
        self.acked_readings = 0
        self.rejected_frames = 0
        self.frame_gap_s = math.inf          # the time between accepted frames, smoothed
        self.last_frame_at: float | None = None

    async def run(self) -> None:
        writer = asyncio.create_task(self.write_loop())
        try:
            await self.read_loop()
        finally:
            async with self.changed:
                self.reading_done = True
                self.changed.notify_all()
            await writer

    async def read_loop(self) -> None:
        async for message in self.ws:
            if message.type == WSMsgType.TEXT:
                self.frames += 1
                await self.accept_frame(self.frames, message.data)
            elif message.type == WSMsgType.BINARY:
                self.frames += 1
                await self.reject(self.frames, "binary frames are not readings", "send JSON text frames")
            elif message.type == WSMsgType.ERROR:
                break

    async def accept_frame(self, frame: int, text: str) -> None:
        try:
            parsed = loads(text)
        except ValueError as exc:
            await self.reject(frame, "the frame is not valid JSON", str(exc))
            return
        device = await registry.get(self.device.device_id)
        if device is None:
            await self.reject(frame, "device deleted", f"{self.device.device_id!r} is no longer registered")
            await self.ws.close(code=4404, message=b"device deleted")
            return
        if not guard.may_ingest(device, presented_token(self.request)):
            await self.reject(frame, "the token no longer grants this device", "its ingest token was rotated")
            await self.ws.close(code=4403, message=b"ingest token rotated")
            return
        items = parsed if isinstance(parsed, list) else [parsed]
        readings, errors = stamp_readings(device.schema, items, time.time())
        if errors:
            detail = errors[0] if not isinstance(parsed, list) else index_errors(errors)
            metrics.readings_rejected.labels(device.device_id, "invalid").inc(len(items))
            await self.reject(frame, "invalid reading" if not isinstance(parsed, list) else
                              f"{len(errors)} of {len(items)} readings are invalid; frame not written", detail)
            return
        if not readings:
            await self.reject(frame, "empty frame", "send a reading or a non-empty array of readings")
            return
        try:
            await check_batch(device.device_id, self.run_id, readings)
        except ApiError as exc:
            await self.reject(frame, exc.error, exc.detail)
            return
        while (wait := rate_limits.take(device.device_id, len(readings))) > 0:
            await asyncio.sleep(wait)                # over its rate limit: slow the socket down, lose nothing
        async with self.changed:
            await self.changed.wait_for(lambda: self.pending_count < MAX_PENDING_READINGS)
            self.pending.append((frame, readings))
            self.pending_count += len(readings)
            self.note_arrival(time.monotonic())
            self.changed.notify_all()

    def note_arrival(self, now: float) -> None:
        if self.last_frame_at is not None:
            gap = now - self.last_frame_at
            self.frame_gap_s = gap if math.isinf(self.frame_gap_s) else 0.8 * self.frame_gap_s + 0.2 * gap
        self.last_frame_at = now

    async def write_loop(self) -> None:
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda: self.pending or self.reading_done)
                if not self.pending:
                    return
                await self.linger()
                batch, last_frame = self.take_batch()
                self.changed.notify_all()
            if not await self.write_with_retry(batch):
                return
            self.acked_readings += len(batch)
            await self.send({"ack": last_frame, "readings": self.acked_readings}, droppable=True)

    async def linger(self) -> None:
        """A stream whose frames come faster than SP_INGEST_LINGER_MS waits that long for more of them
        before its next Kafka record (called holding `changed`). The run agent, the changelog and the
        archive each pay per record: a 10 Hz match replayed at 10x wrote 1.8 readings a record, and
        its worker fell behind. A slower stream (a frame every 100 ms at 1x) never waits."""
        linger_s = settings.ingest_linger_ms / 1000
        if not linger_s or self.frame_gap_s >= linger_s:
            return
        try:
            await asyncio.wait_for(self.changed.wait_for(
                lambda: self.pending_count >= settings.readings_per_record or self.reading_done), linger_s)
        except asyncio.TimeoutError:
            pass

    def take_batch(self) -> tuple[list[StampedReading], int]:
        """Whole frames, oldest first, up to SP_READINGS_PER_RECORD readings (at least one frame)."""
        batch: list[StampedReading] = []
        last_frame = 0
        while self.pending and (not batch or len(batch) + len(self.pending[0][1]) <= settings.readings_per_record):
            last_frame, readings = self.pending.pop(0)
            batch.extend(readings)
        self.pending_count -= len(batch)
        return batch, last_frame

    async def write_with_retry(self, batch: list[StampedReading]) -> bool:
        """Retry a failed Kafka write with back-off; after ~30 s give up and close (frames stay un-acked)."""
        delay = 0.5
        for attempt in range(7):
            try:
                await deliver(self.device, self.run_id, batch)
                return True
            except TopicPartitionMismatch as exc:        # retrying cannot help: say why and close
                await self.send({"error": "run topic has the wrong partition count", "detail": str(exc)})
                await self.ws.close(code=1011, message=b"run topic has the wrong partition count")
                return False
            except (KafkaError, KafkaUnavailable) as exc:
                log.warning("Kafka write for %s/%s failed (attempt %d): %s",
                            self.device.device_id, self.run_id, attempt + 1, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8)
        await self.send({"error": "Kafka is unavailable", "detail": "frames after the last ack were not written; "
                         "reconnect and resend them"})
        await self.ws.close(code=1011, message=b"Kafka unavailable")
        return False

    async def reject(self, frame: int, error: str, detail: Any) -> None:
        self.rejected_frames += 1
        await self.send({"error": error, "detail": detail, "frame": frame}, droppable=True)

    async def send(self, message: dict[str, Any], droppable: bool = False) -> None:
        """Send a reply unless the client has stopped reading (then droppable replies are skipped)."""
        transport = self.request.transport
        if self.ws.closed or (droppable and transport is not None
                              and transport.get_write_buffer_size() > ACK_BACKLOG_BYTES):
            return
        try:
            await self.ws.send_str(text(message))
        except ConnectionResetError:
            pass
