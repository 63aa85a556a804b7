"""History API: runs, readings, windows, summaries and alerts from Cassandra (the archive the sink
writes). Unlike the live routes, any worker answers these from the database, including for runs
no worker holds any more."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from faust.web import Request, Response, View

from cql import history
from models.device import parse_instant
from models.queries import (DEFAULT_READINGS, MAX_DAYS, MAX_HISTORY_LIMIT, HistoryAlertsQuery, HistoryReadingsQuery,
                            HistoryRunsQuery, HistorySegmentsQuery, HistoryWindowsQuery)
from models.responses import HistoryReadings as HistoryReadingsOut
from models.responses import HistoryRuns as HistoryRunsOut
from models.responses import RunAlerts, RunSegments, RunSummary, RunWindows
from sports_prophet.app import app
from web.devices import path_id
from web.errors import ApiError, not_found
from web.json_response import json_response
from web.openapi import BAD_ID, CASSANDRA_AWAY, documented
from web.params import epoch_number, query_int, segment_kind

FOREVER_MS = 253_402_300_799_999          # 9999-12-31T23:59:59.999Z, the last instant CQL's timestamp shows


def query_instant_ms(request: Request, name: str, default: int) -> int:
    """`from` / `to` as epoch milliseconds; they take ISO 8601 or epoch seconds (or ms, µs, ns)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    number = epoch_number(raw)
    seconds = parse_instant(raw if number is None else number)
    if seconds is None:
        raise ApiError(422, f"invalid {name}", f"{name} must be ISO 8601 (2026-05-01T12:00:00Z) or epoch seconds, "
                                               f"got {raw[:40]!r}")
    return round(seconds * 1000)


def time_range(request: Request) -> tuple[int, int]:
    start, end = query_instant_ms(request, "from", 0), query_instant_ms(request, "to", FOREVER_MS)
    if start > end:
        raise ApiError(422, "invalid range", "from must not be after to")
    return start, end


def query_day(request: Request, name: str, default: date) -> date:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"invalid {name}", f"{name} must be a date, YYYY-MM-DD, got {raw!r}") from None


async def on_days(request: Request, name: str, rows_on: Callable[[date], Awaitable[list]]) -> dict[str, Any]:
    """`{from, to, name: rows}`: the archive's rows of each day of the request's range (`day_range`)."""
    days = day_range(request)
    return {"from": days[0].isoformat(), "to": days[-1].isoformat(),
            name: [row for day in days for row in await rows_on(day)]}


def day_range(request: Request) -> list[date]:
    """The days `?from=YYYY-MM-DD&to=YYYY-MM-DD` (default: the last 7, today's included), at most MAX_DAYS."""
    today = datetime.now(timezone.utc).date()
    first, last = query_day(request, "from", today - timedelta(days=6)), query_day(request, "to", today)
    if first > last or (last - first).days >= MAX_DAYS:
        raise ApiError(422, "invalid range", f"from must not be after to, and at most {MAX_DAYS} days apart")
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


ARCHIVED_RUN_ERRORS = {400: BAD_ID, 404: "The archive has nothing of the run (unknown, or not written yet)",
                       503: CASSANDRA_AWAY}
BAD_RANGE = "`from` or `to` not ISO 8601 or epoch seconds, `from` after `to`, `limit` out of range"
BAD_DAYS = f"`from` or `to` not a YYYY-MM-DD date, `from` after `to`, or more than {MAX_DAYS} days"


async def archived_summary(device_id: str, run_id: str) -> dict[str, Any]:
    """The run's archived summary; 404 when the archive has nothing of the run."""
    found = await history.summary(path_id(device_id, "device_id"), path_id(run_id, "run_id"))
    if found is None and not await history.buckets(device_id, run_id):
        raise not_found("run", f"the archive has no run {device_id}/{run_id} (unknown, or not written yet)")
    return found or {"device_id": device_id, "run_id": run_id}


@app.page("/history/runs")
class HistoryRuns(View):
    """Archived runs: a device's runs (`?device_id=`), or the runs started on the days
    `?from=YYYY-MM-DD&to=YYYY-MM-DD` (default: the last 7 days), with distance and top speed."""

    @documented("Archived runs: a device's, or those started on some days", tag="history", query=HistoryRunsQuery,
                ok=HistoryRunsOut, errors={400: BAD_ID, 422: BAD_DAYS, 503: CASSANDRA_AWAY})
    async def get(self, request: Request) -> Response:
        device_id = request.query.get("device_id")
        if device_id is not None:
            runs = await history.device_runs(path_id(device_id, "device_id"))
            return json_response({"device_id": device_id, "runs": runs})
        return json_response(await on_days(request, "runs", history.runs_on))


@app.page("/history/{device_id}/{run_id}/summary")
class HistorySummary(View):
    @documented("An archived run's summary", tag="history", ok=RunSummary, errors=ARCHIVED_RUN_ERRORS)
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        return json_response(await archived_summary(device_id, run_id))


@app.page("/history/{device_id}/{run_id}/readings")
class HistoryReadings(View):
    """A run's readings in event-time order, `limit` per page; pass a page's `next` as `after`."""

    @documented("An archived run's readings, a page at a time", tag="history", query=HistoryReadingsQuery,
                ok=HistoryReadingsOut, errors={**ARCHIVED_RUN_ERRORS, 422: BAD_RANGE + "; an `after` that is not a cursor"})
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        start, end = time_range(request)
        limit = query_int(request, "limit", DEFAULT_READINGS, MAX_HISTORY_LIMIT)
        after = None
        if "after" in request.query:
            try:
                after = history.Cursor.decode(request.query["after"])
            except ValueError as exc:
                raise ApiError(422, "invalid after", str(exc)) from exc
        await archived_summary(device_id, run_id)
        readings, cursor = await history.readings_page(device_id, run_id, start, end, limit, after)
        return json_response({"device_id": device_id, "run_id": run_id, "readings": readings,
                                  "next": cursor.encode() if cursor else None})


@app.page("/history/{device_id}/{run_id}/windows")
class HistoryWindows(View):
    @documented("An archived run's closed windows", tag="history", query=HistoryWindowsQuery, ok=RunWindows,
                errors={**ARCHIVED_RUN_ERRORS, 422: BAD_RANGE})
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        start, end = time_range(request)
        limit = query_int(request, "limit", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        await archived_summary(device_id, run_id)
        return json_response({"device_id": device_id, "run_id": run_id,
                                  "windows": await history.windows(device_id, run_id, start, end, limit)})


@app.page("/history/{device_id}/{run_id}/segments")
class HistorySegments(View):
    @documented("An archived run's segments: closed intervals, laps, periods, or its rolling peaks", tag="history",
                query=HistorySegmentsQuery, ok=RunSegments,
                errors={**ARCHIVED_RUN_ERRORS, 422: "`kind` missing or not interval, lap, period or peaks; "
                                                    "`limit` out of range or not in ASCII digits"})
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        limit = query_int(request, "limit", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        await archived_summary(device_id, run_id)
        kind = segment_kind(request)
        return json_response({"device_id": device_id, "run_id": run_id, "kind": kind,
                                  "segments": await history.segments(device_id, run_id, kind, limit)})


@app.page("/history/{device_id}/{run_id}/alerts")
class HistoryAlerts(View):
    @documented("An archived run's alerts", tag="history", query=HistoryAlertsQuery, ok=RunAlerts,
                errors={**ARCHIVED_RUN_ERRORS, 422: "`limit` out of range or not in ASCII digits"})
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        limit = query_int(request, "limit", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        await archived_summary(device_id, run_id)
        return json_response({"device_id": device_id, "run_id": run_id,
                                  "alerts": await history.alerts(device_id, run_id, limit)})
