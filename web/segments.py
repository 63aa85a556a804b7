"""A run's segment summaries, live (intervals, laps, periods, rolling peaks: agents/segments.py), and
the period markers that cut it into periods. Answered by the worker that owns the run, as web/live.py's
run routes are; the archive's copy is `GET /history/runs/{device_id}/{run_id}/segments`."""

from __future__ import annotations

from faust.web import Request, Response, View
from marshmallow import ValidationError

from agents import run_state, segments
from agents.owned import list_rows_key, run_segment_rows
from agents.runs import send_control
from models.queries import DEFAULT_SEGMENTS, MarkerBody, SegmentsQuery
from models.responses import MarkerAccepted, RunSegments
from models.run import run_key
from sports_prophet.app import app
from sports_prophet.config import settings
from web.devices import json_body
from web.errors import ApiError
from web.ingest import device_for_run
from web.json_response import json_response
from web.live import answered_by_owner, local_run
from web.openapi import BAD_ID, BOTH_AWAY, NO_OWNER, NOT_JSON, TOO_LARGE, UNKNOWN_DEVICE, UNKNOWN_RUN, documented
from web.params import query_int, segment_kind

@app.page("/runs/{device_id}/{run_id}/segments")
class RunSegmentsView(View):
    """The run's closed segments of one kind, oldest first, then the open one (final=false)."""

    @documented("A run's segment summaries: intervals, laps, periods or rolling peaks", tag="live",
                query=SegmentsQuery, ok=RunSegments,
                errors={400: BAD_ID, 404: UNKNOWN_RUN,
                        422: "`kind` missing or not interval, lap, period or peaks; `last` out of range or not "
                             "in ASCII digits",
                        503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        kind = segment_kind(request)
        last = query_int(request, "last", DEFAULT_SEGMENTS, settings.segment_history)
        state = local_run(device_id, run_id)
        segs = run_state.run_segments(state)
        if kind == "peaks":
            rows = segments.peak_rows(segs)
        else:
            closed = run_segment_rows.read(list_rows_key(run_key(device_id, run_id), kind),
                                           state.get("segments_closed", {}).get(kind, 0))
            rows = closed[-last:] + segments.open_rows(segs, kind, state["last_t"], run_state.motion_counters(state))
        return json_response({"device_id": device_id, "run_id": run_id, "kind": kind, "segments": rows})


@app.page("/runs/{device_id}/{run_id}/markers")
class RunMarkers(View):
    """Period markers: the run's readings from `t` on are in the period `label` (no label: the period ends)."""

    @documented("Mark a period start (or end) in a run", tag="live", body=MarkerBody, ok=MarkerAccepted,
                description="Applied in order with the run's readings: once its data reaches `t`, or at once "
                            "if it already has (the period then counts from the marker's arrival).",
                errors={400: f"{BAD_ID}; {NOT_JSON}", 404: UNKNOWN_DEVICE, 413: TOO_LARGE,
                        422: "`t` missing, not a number, negative or past 9999; a label that is not 1 to 64 "
                             "characters; another key",
                        503: BOTH_AWAY})
    async def post(self, request: Request, device_id: str, run_id: str) -> Response:
        await device_for_run(device_id, run_id)
        try:
            marker = MarkerBody().load(await json_body(request))
        except ValidationError as exc:
            raise ApiError(422, "invalid marker", exc.messages) from exc
        await send_control(device_id, run_id, {"type": "marker", **marker})
        return json_response({"status": "marked", "device_id": device_id, "run_id": run_id, **marker})
