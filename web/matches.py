"""Match routes: live state from the match agent's table, history from Cassandra, and the gateway's
check of a match feed's batches.

A match's table row is keyed like its feed's run (`match_events/<match>`), so any worker answers for
any match the way it does for runs: it forwards the query to the worker that owns the key
(web/live.py's `on_owner`). History routes read Cassandra, on any worker.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable

import aiohttp
import mode
from faust.web import Request, Response, View

from agents import matches
from agents.match_state import MatchEventError, apply_events, new_match, summary
from cql import matches as archive
from models.match import EVENTS_DEVICE
from models.run import StampedReading
from sports_prophet.app import app, guard
from web.devices import path_id
from web.errors import ApiError, not_found
from models.queries import MAX_HISTORY_LIMIT, MatchHistoryQuery, RunsQuery, HistoryDaysQuery, MatchQuery, MatchTimelineQuery
from models.responses import HistoryMatchesOut, MatchList, MatchOut, MatchTimelineOut, MatchWinProbabilityOut, Open
from web.history import BAD_DAYS, on_days
from web.ingest import batch_checks
from web.json_response import json_response
from web.live import ROUTE_TIMEOUT_S, from_every_worker, on_owner, owner_url, push_changes, warm_router
from web.openapi import CASSANDRA_AWAY, NO_OWNER, documented
from web.params import query_int

MatchHandler = Callable[[View, Request, str], Awaitable[Response]]
BAD_MATCH_ID = "A match_id that breaks ^[A-Za-z0-9_-]{1,64}$"
LIVE_MATCH_ERRORS = {400: BAD_MATCH_ID, 404: "No events for the match", 503: NO_OWNER}
ARCHIVED_MATCH_ERRORS = {400: BAD_MATCH_ID, 404: "The archive has nothing of the match (unknown, or not written yet)",
                         503: CASSANDRA_AWAY}


def answered_by_owner(handler: MatchHandler) -> MatchHandler:
    """A view about one match runs on the worker that owns it; any other worker forwards it there."""
    @functools.wraps(handler)
    async def view(self: View, request: Request, match_id: str) -> Response:
        path_id(match_id, "match_id")
        if (routed := await on_owner(self, request, EVENTS_DEVICE, match_id)) is not None:
            return routed
        return await handler(self, request, match_id)
    return view


def local_match(match_id: str) -> dict[str, Any]:
    """The match's table value on this worker (its owner); 404 if unknown."""
    value = matches.get_match(match_id)
    if value is None:
        raise not_found("match", f"no events for match {match_id} (device {EVENTS_DEVICE}, run {match_id})")
    return value


def live_view(match_id: str, with_points: bool) -> dict[str, Any]:
    value = local_match(match_id)
    body = summary(value["state"])
    if with_points:
        body["points"] = matches.match_list(match_id, value, matches.POINTS)
    return body


@app.page("/matches")
class Matches(View):
    """Every match the workers know, gathered from each worker (`?local=1`: this worker's only)."""

    @documented("Every match any worker knows", tag="matches", query=RunsQuery, ok=MatchList)
    async def get(self, request: Request) -> Response:
        if request.query.get("local"):
            return json_response({"matches": matches.local_matches()})
        body = await from_every_worker("/matches", "matches", matches.local_matches())
        body["matches"].sort(key=lambda m: m["match_id"])
        return json_response(body)


@app.page("/matches/{match_id}")
class MatchSummary(View):
    """Score, per-side shots, shots on target, xG, possession share, cards and substitutions, the
    period and minute, and the win probability; `?points=1` adds the win-probability series."""

    @documented("A match's score, per-side stats and win probability", tag="matches", query=MatchQuery, ok=MatchOut,
                errors=LIVE_MATCH_ERRORS)
    @answered_by_owner
    async def get(self, request: Request, match_id: str) -> Response:
        return json_response(live_view(match_id, bool(request.query.get("points"))))


@app.page("/matches/{match_id}/timeline")
class MatchTimeline(View):
    """Every event but passes and carries, oldest first, each with the score and win probability
    after it; `last=N` (default all the live table keeps)."""

    @documented("A match's timeline, oldest first", tag="matches", query=MatchTimelineQuery, ok=MatchTimelineOut,
                errors={**LIVE_MATCH_ERRORS, 422: "`last` out of range or not in ASCII digits"})
    @answered_by_owner
    async def get(self, request: Request, match_id: str) -> Response:
        last = query_int(request, "last", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        entries = matches.match_list(match_id, local_match(match_id), matches.TIMELINE)
        return json_response({"match_id": match_id, "timeline": entries[-last:]})


@app.page("/matches/{match_id}/win-probability")
class MatchWinProbability(View):
    """The home win / draw / away win probability now, and after each timeline event and each minute."""

    @documented("A match's win probability, now and over the match", tag="matches", ok=MatchWinProbabilityOut,
                errors=LIVE_MATCH_ERRORS)
    @answered_by_owner
    async def get(self, request: Request, match_id: str) -> Response:
        body = live_view(match_id, True)
        return json_response({key: body[key] for key in
                                  ("match_id", "status", "period", "minute", "score", "win_probability", "points")})


# ------------------------------------------------------------------ the gateway's check

OWNER_WAIT_S = 15.0


class MatchClock:
    """The clock (status, period, minute) of a match as its owner has it, for the gateway's check."""

    def __init__(self) -> None:
        self.http: aiohttp.ClientSession | None = None

    async def current(self, match_id: str) -> dict[str, Any]:
        """The match's state as far as the reducer's checks go, from the worker that owns it: a
        match with no events yet is a new one."""
        owner = await self.owner(matches.match_key(match_id))
        if owner is None:
            known = matches.get_match(match_id)
            return known["state"] if known else new_match(match_id)
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ROUTE_TIMEOUT_S),
                                              headers=guard.internal_headers())
        try:
            async with self.http.get(f"{owner}/matches/{match_id}") as response:
                if response.status == 404:
                    return new_match(match_id)
                response.raise_for_status()
                clock = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ApiError(503, "the worker that owns this match did not answer; nothing was written, retry shortly",
                           f"{type(exc).__name__}: {exc}") from exc
        return {**new_match(match_id), **{k: clock[k] for k in ("status", "period", "minute")}}


    @staticmethod
    async def owner(key: str) -> str | None:
        """The owner's URL (None: this worker). While the workers' partitions are being assigned (at
        start-up, or a new run's rebalance) there is none: wait for one rather than refuse the feed's
        first events, for up to OWNER_WAIT_S."""
        await warm_router()
        deadline = asyncio.get_running_loop().time() + OWNER_WAIT_S
        while True:
            try:
                return owner_url(key)
            except (KeyError, TypeError) as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    raise ApiError(503, "no worker owns this match right now (rebalancing); retry shortly") from exc
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


match_clock = MatchClock()


@app.service
class MatchClockClient(mode.Service):
    """Closes the match check's HTTP client with the worker."""

    async def on_stop(self) -> None:
        await match_clock.close()


async def check_match_batch(match_id: str, readings: list[StampedReading]) -> None:
    """Refuse a batch the match cannot take (unknown team, a minute that is negative or goes back,
    xG outside [0, 1], an unknown event, any event after full time) before it is written: the
    match reducer itself, run on the owner's current state. 409 for a finished match, else 422."""
    try:
        apply_events(await match_clock.current(match_id), list(readings))
    except MatchEventError as exc:
        raise ApiError(409 if exc.conflict else 422, f"event {exc.index}: {exc.message}; nothing was written",
                       {"index": exc.index, "problem": exc.detail}) from exc


batch_checks[EVENTS_DEVICE] = check_match_batch


async def push_match(match_id: str, send: Callable[[dict[str, Any]], Awaitable[None]],
                     closed: Callable[[], bool]) -> None:
    """For `WS /live`: the followed match's summary and win-probability series whenever it changes."""
    def local() -> dict[str, Any] | None:
        try:
            return live_view(match_id, True)
        except ApiError:
            return None

    await push_changes(matches.match_key(match_id), local, f"/matches/{match_id}?points=1",
                       lambda body: send({"type": "match", "match": body}), closed)


# ------------------------------------------------------------------ history (Cassandra)

async def archived_match(match_id: str) -> dict[str, Any]:
    found = await archive.match_summary(path_id(match_id, "match_id"))
    if found is None:
        raise not_found("match", f"the archive has no match {match_id} (unknown, or not written yet)")
    return found


@app.page("/history/matches")
class HistoryMatches(View):
    """Archived matches whose first event fell on the days `?from=YYYY-MM-DD&to=YYYY-MM-DD` (default: the last 7)."""

    @documented("Archived matches that started on some days", tag="history", query=HistoryDaysQuery,
                ok=HistoryMatchesOut, errors={422: BAD_DAYS, 503: CASSANDRA_AWAY})
    async def get(self, request: Request) -> Response:
        return json_response(await on_days(request, "matches", archive.matches_on))


@app.page("/history/matches/{match_id}")
class HistoryMatch(View):
    @documented("An archived match's summary", tag="history", ok=Open, errors=ARCHIVED_MATCH_ERRORS)
    async def get(self, request: Request, match_id: str) -> Response:
        return json_response(await archived_match(match_id))


@app.page("/history/matches/{match_id}/timeline")
class HistoryMatchTimeline(View):
    @documented("An archived match's timeline", tag="history", query=MatchHistoryQuery, ok=MatchTimelineOut,
                errors={**ARCHIVED_MATCH_ERRORS, 422: "`limit` out of range or not in ASCII digits"})
    async def get(self, request: Request, match_id: str) -> Response:
        limit = query_int(request, "limit", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        await archived_match(match_id)
        return json_response({"match_id": match_id, "timeline": await archive.timeline(match_id, limit)})


@app.page("/history/matches/{match_id}/win-probability")
class HistoryMatchWinProbability(View):
    @documented("An archived match's win probability over the match", tag="history", query=MatchHistoryQuery,
                ok=MatchWinProbabilityOut,
                errors={**ARCHIVED_MATCH_ERRORS, 422: "`limit` out of range or not in ASCII digits"})
    async def get(self, request: Request, match_id: str) -> Response:
        limit = query_int(request, "limit", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        found = await archived_match(match_id)
        return json_response({"match_id": match_id, "win_probability": found["win_probability"],
                                  "points": await archive.probabilities(match_id, limit)})
