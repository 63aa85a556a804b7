"""The live dashboard: the page at `/`, its static files, and the multiplexed `WS /live`.

`WS /live` pushes the summaries of every active run, whichever worker owns it, plus the
events of one match's event feed and that match's state and win probability. Each worker serves its own runs on `WS /live?local=1`; a
dashboard socket merges this worker's runs with those feeds of the other workers (found, like
`GET /runs` finds them, in the assignor's table metadata), so nothing is polled over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from agents import run_rows
from agents.owned import is_live, owned
from models.device import check_identifier
from models.queries import LiveQuery
from models.run import run_topic
from models.match import EVENTS_DEVICE        # a match's event feed: this device, run id = the match id
from sports_prophet.app import app, gateway, guard
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable
from web.client_json import loads
from web.devices import path_id
from web.errors import not_found
from web.json_response import text
from web.live import settings_url
from web.matches import push_match
from web.openapi import Reply, documented, websocket

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
# The only files /static serves: a fixed whitelist, so no path from a request ever reaches the disk.
STATIC_TYPES = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "history.js": "text/javascript",
    "common.js": "text/javascript",
    "charts.js": "text/javascript",
    "match.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
PUSH_INTERVAL_S = 0.2             # changes are gathered and pushed at most five times a second
RECONNECT_S = 1.0                 # after losing another worker's feed, or while a match has no feed yet


def static_response(name: str) -> Response:
    return web.Response(body=(STATIC_DIR / name).read_bytes(), content_type=STATIC_TYPES[name],
                        charset="utf-8" if STATIC_TYPES[name].startswith("text/") else None,
                        headers={"Cache-Control": "no-cache"})


@app.page("/")
class Dashboard(View):
    @documented("The live dashboard page", tag="dashboard", ok=Reply({"type": "string"}, media=("text/html",)))
    async def get(self, request: Request) -> Response:
        return web.Response(body=(STATIC_DIR / "index.html").read_bytes(), content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-cache"})


@app.page("/static/{name}")
class Static(View):
    @documented("A file of the dashboard", tag="dashboard", errors={404: "Not one of the dashboard's files"},
                ok=Reply({"type": "string"}, media=tuple(sorted(set(STATIC_TYPES.values())))))
    async def get(self, request: Request, name: str) -> Response:
        if name not in STATIC_TYPES:
            raise not_found("static file", f"{name!r} is not one of the dashboard's files")
        return static_response(name)


# ------------------------------------------------------------------ run summaries

class LocalSummaries:
    """Summaries of the runs this worker owns. A run's state is replaced, never mutated, on every
    change (agents/runs.py), so a summary is recomputed only when its state object is new."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def current(self) -> dict[str, dict[str, Any]]:
        fresh = {}
        for key, state in [(key, state) for key, state in owned.states.items() if is_live(state)]:
            cached = self._cache.get(key)
            fresh[key] = cached if cached is not None and cached[0] is state else (state, run_rows.summary(state))
        self._cache = fresh
        return {key: summary for key, (_, summary) in fresh.items()}


local_summaries = LocalSummaries()


def progress(summary: dict[str, Any]) -> tuple:
    """Which of two summaries of one run is newer (for a moment after a rebalance two workers have one)."""
    return summary["readings"], summary["alerts"], summary["status"] == "finished", summary["silent"]


class RunFeed:
    """What one socket has been sent: each push carries only the runs that changed since.

    Active runs are sent; a run that finishes while the socket is open is sent once more, finished.
    A run that vanishes (its owner changed) is not withdrawn: its last summary stands until a newer one.
    """

    def __init__(self, device_id: str | None) -> None:
        self.device_id = device_id
        self.sent: dict[str, dict[str, Any]] = {}

    def changes(self, current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        changed = {key: s for key, s in current.items()
                   if (self.device_id is None or s["device_id"] == self.device_id)
                   and (s["status"] == "active" or key in self.sent) and self.sent.get(key) != s}
        self.sent.update(changed)
        return changed


class WorkerFeeds:
    """The runs other workers own, each from that worker's `WS /live?local=1`, reconnecting on loss."""

    def __init__(self, device_id: str | None) -> None:
        self.http, self.device_id = aiohttp.ClientSession(headers=guard.internal_headers()), device_id
        self.runs: dict[str, dict[str, dict[str, Any]]] = {}      # worker url -> run key -> summary
        self.tasks: dict[str, asyncio.Task] = {}

    def follow_workers(self) -> None:
        """Start following workers that joined the group and stop following those that left."""
        urls = {url.rstrip("/") for url in app.router.tables_metadata()} - {settings_url()}
        for url in urls - self.tasks.keys():
            self.tasks[url] = asyncio.create_task(self.follow(url))
        for url in self.tasks.keys() - urls:
            self.tasks.pop(url).cancel()
            self.runs.pop(url, None)

    async def follow(self, url: str) -> None:
        query = f"?local=1&device_id={self.device_id}" if self.device_id else "?local=1"
        while True:
            runs = self.runs.setdefault(url, {})
            try:
                async with self.http.ws_connect(f"{url.replace('http', 'ws', 1)}/live{query}", heartbeat=30) as ws:
                    async for message in ws:
                        if message.type == WSMsgType.TEXT:
                            runs.update(json.loads(message.data)["runs"])
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.debug("lost the run feed of %s: %s", url, exc)
            runs.clear()
            await asyncio.sleep(RECONNECT_S)

    def merged(self, local: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged = dict(local)
        for runs in self.runs.values():
            for key, summary in runs.items():
                if key not in merged or progress(summary) > progress(merged[key]):
                    merged[key] = summary
        return merged

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.http.close()


# ------------------------------------------------------------------ match events

async def tail_events(match_id: str, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Send a match's event feed from its start, then each record as it arrives: a groupless
    consumer of the feed's run topic (like `gateway.latest_readings`), stopped with the socket.
    Each (re)start begins with `reset`, so the client replaces what it had; Kafka trouble is
    reported to the client and retried."""
    topic = run_topic(EVENTS_DEVICE, match_id)
    while True:
        try:
            while not (count := (await gateway.partition_counts([topic])).get(topic)):
                await asyncio.sleep(RECONNECT_S)                      # no feed for this match (yet)
            consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        value_deserializer=json.loads)
            await consumer.start()
            try:
                consumer.assign([TopicPartition(topic, p) for p in range(count)])
                await send({"type": "events", "match": match_id, "events": [], "reset": True})
                while True:
                    batches = await consumer.getmany(timeout_ms=1000)
                    events = sorted(({"t": r["t"], **r["data"]} for messages in batches.values()
                                     for m in messages for r in m.value.get("readings", ())), key=lambda e: e["t"])
                    if events:
                        await send({"type": "events", "match": match_id, "events": events})
            finally:
                await consumer.stop()
        except (KafkaError, KafkaUnavailable) as exc:
            await send({"type": "error", "error": "the match's event feed is unavailable; retrying",
                        "detail": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(RECONNECT_S)


# ------------------------------------------------------------------ the socket

class LiveSocket:
    """One `WS /live` connection: pushes run changes, and the events and state of the match the client
    follows (`{"type": "follow", "match": id}`). Every task it starts ends when the socket closes."""

    def __init__(self, ws: web.WebSocketResponse, device_id: str | None, local_only: bool) -> None:
        self.ws, self.local_only = ws, local_only
        self.feed = RunFeed(device_id)
        self.send_lock = asyncio.Lock()
        self.match_tasks: list[asyncio.Task] = []        # the followed match's events and state

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:                            # the event tail and the pusher share the socket
            await self.ws.send_json(message, dumps=text)

    async def serve(self) -> None:
        workers = None if self.local_only else WorkerFeeds(self.feed.device_id)
        main = [asyncio.create_task(self.push_runs(workers)), asyncio.create_task(self.read())]
        try:
            done, _ = await asyncio.wait(main, return_when=asyncio.FIRST_COMPLETED)
            for task in done:               # a closed socket ends a task quietly; anything else is a bug
                if (exc := task.exception()) is not None and not isinstance(exc, ConnectionError):
                    log.error("the live socket failed", exc_info=exc)
        finally:
            tasks = [*main, *self.match_tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if workers is not None:
                await workers.close()
            await self.ws.close()

    async def push_runs(self, workers: WorkerFeeds | None) -> None:
        while True:
            current = local_summaries.current()
            if workers is not None:
                workers.follow_workers()
                current = workers.merged(current)
            if changed := self.feed.changes(current):
                await self.send({"type": "runs", "runs": changed})
            await asyncio.sleep(PUSH_INTERVAL_S)

    async def read(self) -> None:
        """Client messages, until the socket closes."""
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                request = loads(message.data)
                match_id = check_identifier(request["match"], "match") if request.get("type") == "follow" else None
            except (ValueError, KeyError, TypeError, AttributeError) as exc:     # not JSON, not an object, bad id
                await self.send({"type": "error", "error": "bad message", "detail": str(exc)})
                continue
            if match_id is not None:
                self.follow_match(match_id)

    def follow_match(self, match_id: str) -> None:
        for task in self.match_tasks:
            task.cancel()
        self.match_tasks = [asyncio.create_task(tail_events(match_id, self.send)),
                            asyncio.create_task(push_match(match_id, self.send, lambda: self.ws.closed))]


@app.page("/live")
class Live(View):
    """WebSocket: every active run's summary as it changes (`?device_id=` for one device's runs),
    and a match's events; `?local=1` serves only this worker's runs (what other workers merge)."""

    @websocket("Follow every active run and a match's events and state", tag="dashboard", query=LiveQuery,
               errors={400: "A device_id that breaks ^[A-Za-z0-9_-]{1,64}$"}, messages={
                   "client": '{"type": "follow", "match": id}: also send that match\'s events and state',
                   "server": {"runs": '{"type": "runs", "runs": {key: summary}}: the active runs that changed',
                              "events": '{"type": "events", "match": id, "events": [...], "reset"?: true}',
                              "match": '{"type": "match", "match": GET /matches/{id}?points=1\'s body}: on change',
                              "error": '{"type": "error", "error", "detail"}: a bad message; the socket stays open'},
                   "close_codes": {"4401": "no token", "4403": "a token that does not grant reads"}})
    async def get(self, request: Request) -> web.WebSocketResponse:
        device_id = request.query.get("device_id")
        if device_id:
            path_id(device_id, "device_id")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        await LiveSocket(ws, device_id or None, bool(request.query.get("local"))).serve()
        return ws
