"""The one way every simulated device and every replay reaches a worker.

Devices produce readings `(device, run, [reading, ...])`; a transport carries them over the
WebSocket ingest (one socket per run, frames pipelined, acks read in the background) or as
HTTP batches to `/ingest` (one ordered queue per run). Both count what was sent, acknowledged
and rejected in one `Progress`, so every mode reports the same way, and `run_session` gives
every mode the same start (health check), progress lines and clean stop on Ctrl-C.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import json
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Reading = dict[str, Any]
DEFAULT_URL = "http://127.0.0.1:8000"
# Readings a WebSocket may have in flight (sent, not yet acked) before the sender waits:
# replaying a file as fast as possible must not queue it all in memory.
WS_WINDOW_READINGS = 20_000
# HTTP batches: a run's buffer is posted when it reaches this size, or after FLUSH_EVERY_S.
HTTP_BATCH_READINGS = 500
HTTP_FLUSH_EVERY_S = 0.25
HTTP_CONCURRENCY = 8
# A run whose socket closed (the worker restarted) connects again after 0.5 s, doubling to 10 s,
# and holds the readings meanwhile (at most this many; the oldest are dropped and counted as errors).
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 10.0
HELD_READINGS = 20_000
# How long closing waits for the last acks before giving up on them.
DRAIN_TIMEOUT_S = 30.0
# Errors printed in full; past this they are only counted (a wrong schema would flood the terminal).
PRINTED_ERRORS = 10


@dataclass
class Progress:
    """What a session has done so far: the numbers every progress line shows."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    notes: Counter[str] = field(default_factory=Counter)   # mode-specific counts, e.g. left-out entries
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        extra = "".join(f", {name} {count:,}" for name, count in sorted(self.notes.items()))
        return (f"sent {self.sent:,} readings ({self.sent / elapsed:,.0f}/s), acked {self.acked:,}, "
                f"errors {self.errors}{extra}")

    def final_line(self) -> str:
        """The closing line: also what was sent and neither acknowledged nor rejected."""
        unsettled = self.sent - self.acked - self.errors
        return self.line() + (f", unacknowledged {unsettled:,}" if unsettled else "")

    def error(self, where: str, message: str, readings: int = 1) -> None:
        self.errors += readings
        if self.errors <= PRINTED_ERRORS:
            print(f"  error from {where}: {message}", flush=True)


class Transport(abc.ABC):
    """Carries readings of any (device, run) to a worker; `close` flushes and waits for the acks."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, progress: Progress) -> None:
        self.http, self.base_url, self.progress = http, base_url.rstrip("/"), progress

    @abc.abstractmethod
    async def send(self, device: str, run: str, readings: list[Reading]) -> None:
        """Hand over readings of one run, in order; may wait when the worker is behind."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Deliver what is buffered, wait (bounded) for the acks, release connections."""


class RunStream:
    """One run's WebSocket: frames go out without waiting; acks and error frames are read as they come.

    A frame is one reading or a JSON array of readings. The stream is settled when every frame
    sent has been acked or rejected, which is what `drain` waits for. When the worker goes away
    (a crash and restart under `scripts/run`), the frames in flight are reported as unacknowledged,
    and later readings are held and sent as one frame once a new connection opens.
    """

    def __init__(self, http: aiohttp.ClientSession, url: str, name: str, progress: Progress) -> None:
        self.http, self.url, self.name, self.progress = http, url, name, progress
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task | None = None
        self.frame_sizes: dict[int, int] = {}     # frame number -> readings, until acked or rejected
        self.frame_order: deque[int] = deque()    # frames in sending order, so an ack pops from the front
        self.frames_sent = 0
        self.readings_acked = 0
        self.in_flight = 0
        self.changed = asyncio.Event()
        self.held: list[Reading] = []             # readings waiting for a new connection
        self.retry_at, self.retry_delay = 0.0, RECONNECT_FIRST_S
        self.opening = asyncio.ensure_future(self.open())

    async def open(self) -> None:
        self.ws = await self.http.ws_connect(self.url, heartbeat=30)
        self.frames_sent = self.readings_acked = self.in_flight = 0     # acks count per connection
        self.frame_sizes.clear()
        self.frame_order.clear()
        self.reader = asyncio.create_task(self.read_replies())

    async def reopen(self) -> bool:
        """Connect again after the socket closed, at most once per back-off step."""
        if time.monotonic() < self.retry_at:
            return False
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)    # reports unacked frames of an abnormal close
        if self.in_flight:
            self.progress.error(self.name, "unacknowledged when the worker closed the connection", self.in_flight)
            self.in_flight = 0
        try:
            await self.open()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            self.retry_at = time.monotonic() + self.retry_delay
            self.retry_delay = min(self.retry_delay * 2, RECONNECT_MAX_S)
            return False
        self.retry_delay = RECONNECT_FIRST_S
        self.progress.notes["reconnects"] += 1
        return True

    def hold(self, readings: list[Reading]) -> None:
        self.held.extend(readings)
        if len(self.held) > HELD_READINGS:
            dropped = len(self.held) - HELD_READINGS
            del self.held[:dropped]
            self.progress.error(self.name, "the worker has been unreachable too long: oldest held readings dropped",
                                dropped)

    async def read_replies(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            reply = json.loads(message.data)
            if "error" in reply:
                frame = reply.get("frame")
                lost = self.frame_sizes.pop(frame, 0) if frame is not None else 0
                self.in_flight -= lost
                self.progress.error(self.name, f"{reply['error']} {reply.get('detail')}", max(lost, 1))
            else:
                while self.frame_order and self.frame_order[0] <= reply["ack"]:
                    self.in_flight -= self.frame_sizes.pop(self.frame_order.popleft(), 0)
                self.progress.acked += reply["readings"] - self.readings_acked
                self.readings_acked = reply["readings"]
            self.changed.set()
        if self.ws.close_code not in (None, aiohttp.WSCloseCode.OK):
            self.progress.error(self.name, f"closed by the worker: {self.ws.close_code} "
                                f"{self.ws.exception() or ''}".strip(), self.in_flight)
            self.frame_sizes.clear()
            self.in_flight = 0
        self.changed.set()

    async def send(self, readings: list[Reading]) -> None:
        await self.opening
        assert self.ws is not None
        while self.in_flight >= WS_WINDOW_READINGS and not self.ws.closed:
            self.changed.clear()
            await self.changed.wait()
        if self.ws.closed and not await self.reopen():
            self.hold(readings)
            return
        readings, self.held = self.held + readings, []
        if not readings:
            return
        self.frames_sent += 1
        self.frame_sizes[self.frames_sent] = len(readings)
        self.frame_order.append(self.frames_sent)
        self.in_flight += len(readings)
        try:
            await self.ws.send_str(json.dumps(readings[0] if len(readings) == 1 else readings))
        except (aiohttp.ClientError, ConnectionError):
            return              # the socket died under the frame: the reader reports it unacknowledged
        self.progress.sent += len(readings)

    async def drain(self) -> None:
        """Wait until every frame sent is acked or rejected (or the socket closed)."""
        while self.frame_sizes and self.ws is not None and not self.ws.closed:
            self.changed.clear()
            await self.changed.wait()

    async def close(self) -> None:
        try:
            await self.opening
            if self.held:                       # one last try to deliver what waited for a connection
                self.retry_at = 0.0
                await self.send([])
                if self.held:
                    self.progress.error(self.name, "the worker was unreachable at the end", len(self.held))
            await asyncio.wait_for(self.drain(), DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            print(f"  {self.name}: {self.in_flight} readings still unacknowledged after {DRAIN_TIMEOUT_S:.0f} s")
        except aiohttp.ClientError:
            return                                   # never opened: the error was reported already
        finally:
            if self.ws is not None:
                await self.ws.close()
            if self.reader is not None:
                await asyncio.gather(self.reader, return_exceptions=True)


class WebSocketTransport(Transport):
    """`/send-stream/{device}/{run}`: one socket per run, opened on its first reading."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, progress: Progress) -> None:
        super().__init__(http, base_url, progress)
        self.streams: dict[tuple[str, str], RunStream] = {}

    def stream(self, device: str, run: str) -> RunStream:
        key = (device, run)
        if key not in self.streams:
            url = f"{self.base_url.replace('http', 'ws', 1)}/send-stream/{device}/{run}"
            self.streams[key] = RunStream(self.http, url, f"{device}/{run}", self.progress)
        return self.streams[key]

    async def send(self, device: str, run: str, readings: list[Reading]) -> None:
        try:
            await self.stream(device, run).send(readings)
        except aiohttp.ClientError as exc:
            self.progress.error(f"{device}/{run}", f"cannot stream: {exc}", len(readings))

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.streams.values()))


class HttpTransport(Transport):
    """`POST /ingest/{device}/{run}`: readings are buffered per run and posted in batches.

    Each run's batches go out one at a time, in order (a later batch overtaking an earlier one
    would look like out-of-order fixes to the motion maths); different runs post concurrently.
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str, progress: Progress) -> None:
        super().__init__(http, base_url, progress)
        self.buffers: dict[tuple[str, str], list[Reading]] = {}
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.slots = asyncio.Semaphore(HTTP_CONCURRENCY)
        self.closing = asyncio.Event()
        self.flusher = asyncio.create_task(self.flush_periodically())

    async def send(self, device: str, run: str, readings: list[Reading]) -> None:
        key = (device, run)
        self.buffers.setdefault(key, []).extend(readings)
        if len(self.buffers[key]) >= HTTP_BATCH_READINGS:
            await self.flush(key)

    async def flush_periodically(self) -> None:
        while not self.closing.is_set():
            try:
                await asyncio.wait_for(self.closing.wait(), HTTP_FLUSH_EVERY_S)
            except asyncio.TimeoutError:
                pass
            await asyncio.gather(*(self.flush(key) for key, batch in list(self.buffers.items()) if batch))

    async def flush(self, key: tuple[str, str]) -> None:
        async with self.locks.setdefault(key, asyncio.Lock()):
            batch = self.buffers.get(key)
            if not batch:
                return
            self.buffers[key] = []
            async with self.slots:
                await self.post(key, batch)

    async def post(self, key: tuple[str, str], batch: list[Reading]) -> None:
        device, run = key
        self.progress.sent += len(batch)
        try:
            async with self.http.post(f"{self.base_url}/ingest/{device}/{run}", json=batch) as response:
                body = await response.json(content_type=None)
                if response.status == 200:
                    self.progress.acked += body["accepted"]
                else:
                    self.progress.error(f"{device}/{run}", f"{response.status} {body.get('error')} "
                                        f"{json.dumps(body.get('detail'))[:300]}", len(batch))
        except (aiohttp.ClientError, ValueError) as exc:
            self.progress.error(f"{device}/{run}", f"POST failed: {exc}", len(batch))

    async def close(self) -> None:
        """Stop the periodic flusher by letting it finish (cancelling it would cancel the POSTs it
        has in flight, whose readings were taken from the buffers: lost, and counted nowhere)."""
        self.closing.set()
        await self.flusher
        await asyncio.gather(*(self.flush(key) for key in list(self.buffers)))


TRANSPORTS: dict[str, type[Transport]] = {"ws": WebSocketTransport, "http": HttpTransport}


async def register(http: aiohttp.ClientSession, base_url: str, device: str, schema: dict[str, str]) -> None:
    """Register the device, or accept it as it is when it exists with the same schema."""
    async with http.post(f"{base_url}/register-device", json={"device_name": device, "schema": schema}) as r:
        if r.status == 201:
            return
        if r.status != 409:
            raise SystemExit(f"cannot register {device}: {r.status} {await r.text()}")
    async with http.get(f"{base_url}/device/{device}") as r:
        existing = (await r.json())["schema"]
    if existing != schema:
        raise SystemExit(f"device {device} exists with another schema {existing}; delete it or use --device")


async def configure_run(http: aiohttp.ClientSession, base_url: str, device: str, run: str,
                        config: dict[str, Any]) -> None:
    """Configure a run (`/start-stream`) before its first reading."""
    async with http.post(f"{base_url}/start-stream/{device}/{run}", json=config) as r:
        if r.status != 200:
            raise SystemExit(f"cannot configure {device}/{run}: {r.status} {await r.text()}")


def positive(text: str) -> float:
    """argparse type: a positive number (rates, durations, speed-ups)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


class Clock:
    """Paces media time (match seconds, a file's own timestamps) against the wall clock.

    Media time `start` is now; media time t is due `(t - start) / speedup` seconds later.
    `speedup=None` means as fast as possible: everything is due at once.
    """

    def __init__(self, start: float, speedup: float | None) -> None:
        self.start, self.speedup, self.wall_start = start, speedup, time.monotonic()

    def now(self) -> float:
        """The media time that is due now (infinite when not pacing)."""
        if self.speedup is None:
            return float("inf")
        return self.start + (time.monotonic() - self.wall_start) * self.speedup

    async def wait_until(self, t: float, stop: asyncio.Event) -> bool:
        """Sleep until media time t is due; False when stopped first."""
        if self.speedup is not None:
            wait = (t - self.start) / self.speedup - (time.monotonic() - self.wall_start)
            if wait > 0:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
        return not stop.is_set()


Body = Callable[[aiohttp.ClientSession, asyncio.Event, Progress], Awaitable[None]]


def operator_headers() -> dict[str, str]:
    """The simulator and replay register devices and ingest as the operator: with SP_ADMIN_TOKEN set
    (`scripts/run` with auth on), they send it on every request and WebSocket."""
    token = os.environ.get("SP_ADMIN_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


async def run_session(url: str, progress_every: float, body: Body) -> Progress:
    """Check the worker answers, run `body` with progress lines every `progress_every` s, stop on Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    progress = Progress()

    async def report() -> None:
        while not stop.is_set():
            await asyncio.sleep(progress_every)
            print(progress.line(), flush=True)

    reporter = asyncio.create_task(report())
    try:
        async with aiohttp.ClientSession(headers=operator_headers()) as http:
            try:
                async with http.get(f"{url}/health") as r:
                    await r.read()
            except aiohttp.ClientError as exc:
                raise SystemExit(f"Sports Prophet not reachable at {url} — run `scripts/run` first ({exc})")
            await body(http, stop, progress)
    finally:
        stop.set()
        reporter.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(f"done: {progress.final_line()}", flush=True)
    return progress
