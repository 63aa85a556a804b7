"""Live queries from the run tables: the old system's routes first, then the new run routes.

Any worker answers any route: a query about a run is forwarded to the worker that owns the
run's partition (Faust's router, as in `app.table_route`, keyed by `<device_id>/<run_id>`).
Writes (start/stop) go to the run-control topic, keyed the same way.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from marshmallow import ValidationError

from agents import run_rows, run_state
from agents.discovery import subscription
from agents.owned import get_run, is_live, run_alerts, run_windows, runs
from agents.run_changes import run_changes
from agents.runs import send_control
from agents.stats import AGG_CHOICES, RunStats
from cql.registry import Device
from models.device import measurement_fields
from models.queries import DEFAULT_SQL, DEFAULT_WINDOWS, LatestStatsQuery, RunsQuery, StatsQuery, WindowsQuery
from models.responses import (RunAlerts as RunAlertsOut, RunList, RunSummary as RunSummaryOut,
                              RunStatsOut, RunWindows as RunWindowsOut, SqlResult, Speed, StreamStarted,
                              StreamStopping)
from models.run import run_key, run_topic
from models.run_config import RunConfigSchema
from sports_prophet.app import app, guard, registry
from sports_prophet.config import settings
from web.devices import json_body, path_id
from web.errors import ApiError, not_found
from web.ingest import device_for_run, known_device
from web.json_response import json_response, text
from web.openapi import (BAD_ID, BOTH_AWAY, NO_OWNER, NOT_JSON, TOO_LARGE, UNKNOWN_DEVICE, UNKNOWN_RUN, documented,
                         websocket)
from web.params import query_int
from web.window_sql import QueryError, ResultTooLarge, query_windows

POSITION_SCHEMAS = (("latitude", "longitude"), ("lat", "lon"), ("x", "y"))
ROUTE_TIMEOUT_S = 5.0          # a forwarded query the owning worker has not answered by then is a 503
RunHandler = Callable[[View, Request, str, str], Awaitable[Response]]


async def warm_router() -> None:
    """Faust's router hashes a key with its producer's metadata for the changelog topic, which the
    producer has not fetched until it writes there (on a worker that owns nothing, never): fetch it."""
    producer = app.producer._ensure_producer()
    topic = runs.changelog_topic.get_topic_name()
    if not producer.client.cluster.partitions_for_topic(topic):
        await producer.partitions_for(topic)


async def on_owner(view: View, request: Request, device_id: str, run_id: str) -> Response | None:
    """The owner's answer when another worker owns the run; None when this worker owns it."""
    path_id(device_id, "device_id")
    path_id(run_id, "run_id")
    await warm_router()
    key = run_key(device_id, run_id)
    try:
        if owner_url(key) is None:
            # Checked before asking Faust's router, which says so by raising SameNode inside a task
            # of its own: a reference cycle per request, whose collection paused the worker for
            # tens of milliseconds (the query p99).
            return None
        return await asyncio.wait_for(app.router.route_req(runs.name, key.encode(), view.web, request),
                                      ROUTE_TIMEOUT_S)
    except SameNode:
        return None
    except (KeyError, TypeError, ServiceUnavailable) as exc:
        raise ApiError(503, "no worker owns this run right now (rebalancing); retry shortly") from exc
    except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
        # The owner is restarting or its ownership just moved: say so instead of hanging the client.
        raise ApiError(503, "the worker that owns this run did not answer; retry shortly",
                       f"{type(exc).__name__}: {exc}") from exc


def answered_by_owner(handler: RunHandler) -> RunHandler:
    """A view about one run runs on the worker that owns the run; any other worker forwards it there."""
    @functools.wraps(handler)
    async def view(self: View, request: Request, device_id: str, run_id: str) -> Response:
        if (routed := await on_owner(self, request, device_id, run_id)) is not None:
            return routed
        return await handler(self, request, device_id, run_id)
    return view


def local_run(device_id: str, run_id: str) -> dict[str, Any]:
    state = get_run(run_key(device_id, run_id))
    if state is None:
        raise not_found("run", f"no readings or configuration for {device_id}/{run_id}")
    return state


@app.page("/start-stream/{device_id}/{run_id}")
class StartStream(View):
    """Configure a run: triggers (field ranges), window size, motion thresholds."""

    @documented("Configure a run: triggers, window size, motion thresholds", tag="live",
                body=RunConfigSchema(context_schema={}), ok=StreamStarted,
                errors={400: f"{BAD_ID}; {NOT_JSON}", 404: UNKNOWN_DEVICE, 413: TOO_LARGE,
                        422: "A trigger on a field that is not a numeric field of the device, min > max, "
                             "window_seconds out of 1..86400, an unknown motion threshold or key, a forecast "
                             "field that is not a numeric field, forecast horizon_s out of 1..86400",
                        503: BOTH_AWAY})
    async def post(self, request: Request, device_id: str, run_id: str) -> Response:
        device = await device_for_run(device_id, run_id)
        try:
            config = RunConfigSchema(context_schema=device.schema).load(await json_body(request))
        except ValidationError as exc:
            raise ApiError(422, "invalid run configuration", exc.messages) from exc
        await send_control(device_id, run_id, {"type": "config", "config": config})
        return json_response({"status": "started", "device_id": device_id, "run_id": run_id, "config": config})


@app.page("/stop-stream/{device_id}/{run_id}")
class StopStream(View):
    @documented("End a run: its windows close, its summary stays", tag="live", ok=StreamStopping,
                errors={400: BAD_ID, 404: UNKNOWN_RUN, 503: NO_OWNER})
    @answered_by_owner
    async def post(self, request: Request, device_id: str, run_id: str) -> Response:
        local_run(device_id, run_id)
        await send_control(device_id, run_id, {"type": "stop"})
        return json_response({"status": "stopping", "device_id": device_id, "run_id": run_id})


@app.page("/get-stats/{device_id}/{run_id}")
class GetStats(View):
    """Inception-to-date stats per numeric field: agg_type average|max|min|sum|std|count|all."""

    @documented("A run's stats per numeric field, inception to date", tag="live", query=StatsQuery, ok=RunStatsOut,
                errors={400: BAD_ID, 404: UNKNOWN_RUN, 422: "An unknown agg_type", 503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        agg_type = request.query.get("agg_type", "average")
        if agg_type not in AGG_CHOICES:
            raise ApiError(422, "invalid agg_type", f"use one of {', '.join(AGG_CHOICES)}")
        state = local_run(device_id, run_id)
        stats = RunStats.select(run_state.RUN_STATS.result(state["stats"]), agg_type)
        return json_response({"device_id": device_id, "run_id": run_id, "agg_type": agg_type,
                                  "count": state["readings"], "stats": stats})


def has_position(device: Device) -> bool:
    return any(a in device.schema and b in device.schema for a, b in POSITION_SCHEMAS)


@app.page("/get-speed/{device_id}/{run_id}")
class GetSpeed(View):
    """Speed in m/s from the two latest fixes, with the smoothed speed and the latest fix's time."""

    @documented("A run's current speed", tag="live", ok=Speed,
                errors={400: BAD_ID, 404: f"{UNKNOWN_DEVICE}; {UNKNOWN_RUN}; fewer than two position fixes",
                        422: "The device has no position fields (latitude/longitude, lat/lon or x/y)",
                        503: f"{NO_OWNER}; Cassandra is unavailable"})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        device = await known_device(device_id)
        if not has_position(device):
            raise ApiError(422, "the device has no position fields",
                           "speed needs latitude/longitude, lat/lon or x/y (metres) in the device's schema")
        state = local_run(device_id, run_id)
        motion = state["motion"]
        if motion is None or motion["fixes"] < 2:
            raise not_found("speed", f"{device_id}/{run_id} has fewer than two position fixes")
        return json_response({"device_id": device_id, "run_id": run_id, "speed": motion["raw_speed_mps"],
                                  "smoothed_speed": motion["speed_mps"], "timestamp": motion["last_t"],
                                  "unit": "m/s"})


def window_rows(key: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    return run_windows.read(key, state.get("windows_closed", 0)) + run_rows.open_window_rows(state)


@app.page("/get-latest-stats/{device_id}/{run_id}")
class GetLatestStats(View):
    """SQL over the run's window rows: `query` names them `{table}`."""

    @documented("SQL over a run's window rows", tag="live", query=LatestStatsQuery, ok=SqlResult,
                description="One read-only SELECT (DuckDB, in process, no file or network access), 2 s and "
                            "10,000 rows at most.",
                errors={400: f"{BAD_ID}; a query that is not one SELECT, does not parse or ran past 2 s",
                        404: f"{UNKNOWN_RUN}; another table_preappend than the run's",
                        422: "The rows are over SP_SQL_MAX_RESULT_BYTES: narrow the query",
                        503: f"{NO_OWNER}; Cassandra is unavailable"})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        query = request.query.get("query", DEFAULT_SQL)
        key = run_key(device_id, run_id)
        state = local_run(device_id, run_id)
        wanted = request.query.get("table_preappend")
        configured = state["config"].get("table_preappend")
        if wanted and configured and wanted != configured:
            raise not_found("table", f"{device_id}/{run_id} was started with table_preappend={configured!r}")
        rows = window_rows(key, state)
        # The columns follow the device's schema, not the rows: a client reading `latitude_avg` finds it
        # even while the run's triggers have let no reading through (the old system's example client).
        device = await registry.get(device_id)
        fields = measurement_fields(device.schema) if device else []
        columns = list(dict.fromkeys([*run_rows.window_columns(fields), *(c for row in rows for c in row)]))
        try:
            return json_response(await query_windows(rows, columns, query))
        except ResultTooLarge as exc:
            raise ApiError(422, "the result is too large", str(exc)) from exc
        except QueryError as exc:
            raise ApiError(400, "bad query", str(exc)) from exc


@app.page("/runs/{device_id}/{run_id}")
class RunSummary(View):
    @documented("A run's summary: counts, stats, motion", tag="live", ok=RunSummaryOut,
                errors={400: BAD_ID, 404: UNKNOWN_RUN, 503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        body = run_rows.summary(local_run(device_id, run_id))
        body["subscribed"] = run_topic(device_id, run_id) in subscription.subscribed
        return json_response(body)


@app.page("/runs/{device_id}/{run_id}/windows")
class RunWindows(View):
    """The run's windows, newest last: `last=N` (default 100); open windows have final=false."""

    @documented("A run's newest windows, oldest first", tag="live", query=WindowsQuery, ok=RunWindowsOut,
                errors={400: BAD_ID, 404: UNKNOWN_RUN, 422: "`last` out of range or not in ASCII digits",
                        503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        last = query_int(request, "last", DEFAULT_WINDOWS, settings.window_history + DEFAULT_WINDOWS)
        rows = window_rows(run_key(device_id, run_id), local_run(device_id, run_id))
        return json_response({"device_id": device_id, "run_id": run_id, "windows": rows[-last:]})


@app.page("/alerts/{device_id}/{run_id}")
class RunAlerts(View):
    @documented("A run's alerts", tag="live", ok=RunAlertsOut, errors={400: BAD_ID, 404: UNKNOWN_RUN, 503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        state = local_run(device_id, run_id)
        return json_response({"device_id": device_id, "run_id": run_id,
                                  "alerts": run_alerts.read(run_key(device_id, run_id), state["alerts"])})


# How often a live view re-checks when it cannot be woken: its run is owned by another worker.
REMOTE_LIVE_INTERVAL_S = 0.2


async def push_changes(key: str, local: Callable[[], dict[str, Any] | None], remote_path: str,
                       send: Callable[[dict[str, Any]], Awaitable[None]], closed: Callable[[], bool]) -> None:
    """Send a run's view (or a match's: same key) whenever it changes, at most ten times a second,
    until `closed()`: from this worker's tables when it owns the key (woken by the run agent), else
    from the owner's `remote_path`, re-checked every REMOTE_LIVE_INTERVAL_S."""
    await warm_router()
    sent = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5),
                                     headers=guard.internal_headers()) as http:
        while not closed():
            try:
                owner = owner_url(key)
            except (KeyError, TypeError):
                owner = None                      # no owner yet: what this worker has, if anything
            if owner is None:
                current = local()
            else:
                async with http.get(f"{owner}{remote_path}") as response:
                    current = await response.json() if response.status == 200 else None
            if current is not None and current != sent:
                await send(current)
                sent = current
            if owner is None:
                await run_changes.wait(key, timeout=1.0)
                await asyncio.sleep(0.1)          # coalesce bursts: at most ten pushes a second
            else:
                await asyncio.sleep(REMOTE_LIVE_INTERVAL_S)


@app.page("/live/{device_id}/{run_id}")
class LiveRun(View):
    """WebSocket: the run's summary, pushed whenever it changes (at most every 100 ms), from any worker."""

    @websocket("Follow one run's summary", tag="live", errors={400: BAD_ID}, messages={
        "server": '{"type": "run", "run": summary}, whenever the run changes (at most ten a second)',
        "close_codes": {"4401": "no token", "4403": "a token that does not grant reads"}})
    async def get(self, request: Request, device_id: str, run_id: str) -> web.WebSocketResponse:
        path_id(device_id, "device_id")
        path_id(run_id, "run_id")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        key = run_key(device_id, run_id)

        def local() -> dict[str, Any] | None:
            state = get_run(key)
            return run_rows.summary(state) if state else None

        await push_changes(key, local, f"/runs/{device_id}/{run_id}",
                           lambda summary: ws.send_json({"type": "run", "run": summary}, dumps=text), lambda: ws.closed)
        return ws


def owner_url(key: str) -> str | None:
    """The owning worker's base URL, or None when this worker owns the run. While no worker does
    (a rebalance), Faust's router raises KeyError, or TypeError before it has the partition count."""
    url = str(app.router.key_store(runs.name, key.encode())).rstrip("/")
    return None if url == settings_url() else url


def local_runs() -> list[dict[str, Any]]:
    """Every run in this worker's table partitions (a full read of the local store)."""
    return [{"device_id": s["device_id"], "run_id": s["run_id"], "status": s["status"], "silent": s["silent"],
             "readings": s["readings"], "last_t": s["last_t"]} for _, s in list(runs.items()) if is_live(s)]


async def from_every_worker(path: str, name: str, local: list[dict[str, Any]]) -> dict[str, Any]:
    """`{name: rows}` gathered from every worker's `path?local=1` (this worker's rows are `local`),
    plus `unreachable_workers` when one did not answer (say while it restarts)."""
    found = list(local)
    others = {url for url in app.router.tables_metadata() if url.rstrip("/") != settings_url()}
    unreachable = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5),
                                     headers=guard.internal_headers()) as http:
        for url in others:
            try:
                async with http.get(f"{url.rstrip('/')}{path}?local=1") as response:
                    response.raise_for_status()
                    found += (await response.json())[name]
            except (aiohttp.ClientError, asyncio.TimeoutError):    # a worker restarting: say so
                unreachable.append(url)
    return {name: found, **({"unreachable_workers": unreachable} if unreachable else {})}


@app.page("/runs")
class Runs(View):
    """Every run the workers know, gathered from each worker (`?local=1`: this worker's only)."""

    @documented("Every run any worker knows", tag="live", query=RunsQuery, ok=RunList)
    async def get(self, request: Request) -> Response:
        if request.query.get("local"):
            return json_response({"runs": local_runs()})
        body = await from_every_worker("/runs", "runs", local_runs())
        body["runs"].sort(key=lambda r: (r["device_id"], r["run_id"]))
        return json_response(body)


def settings_url() -> str:
    return str(app.conf.canonical_url).rstrip("/")


