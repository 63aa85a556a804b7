"""`GET /runs/{device_id}/{run_id}/forecast`: a run field's forecast a horizon ahead, with prediction
intervals, from the run's live state (the model: agents/forecast.py, docs/maths.md#forecasts)."""

from __future__ import annotations

import re
from typing import Any

from faust.web import Request, Response, View

from agents import forecast
from models.queries import HORIZON_PATTERN, ForecastQuery
from models.responses import ForecastOut
from models.run_config import MAX_HORIZON_S
from sports_prophet.app import app
from web.errors import ApiError, not_found
from web.history import query_instant_ms
from web.json_response import json_response
from web.live import answered_by_owner, local_run
from web.openapi import BAD_ID, NO_OWNER, UNKNOWN_RUN, documented

HORIZON = re.compile(HORIZON_PATTERN)


def forecast_fields(state: dict[str, Any]) -> list[str]:
    """The fields the run forecasts: its config's, and the distance of a positional run."""
    configured, _ = forecast.run_fields(state["config"])
    return sorted({*configured, *state.get("forecasts", {})})


def wanted_horizon(request: Request, issued_at: float, default_s: float) -> float:
    """`horizon` seconds, or `at` as seconds after the latest observation; 422 for anything else."""
    raw, at_given = request.query.get("horizon"), "at" in request.query
    if raw is not None and at_given:
        raise ApiError(422, "give horizon or at, not both")
    if at_given:
        horizon = query_instant_ms(request, "at", 0) / 1000 - issued_at
        what = f"at must be after the latest observation ({issued_at}) and at most {MAX_HORIZON_S} s after it"
    elif raw is not None:
        horizon = float(raw) if HORIZON.fullmatch(raw) else -1.0
        what = f"horizon must be seconds above 0 and at most {MAX_HORIZON_S} in ASCII digits, got {raw[:40]!r}"
    else:
        return default_s
    if not 0 < horizon <= MAX_HORIZON_S:
        raise ApiError(422, "invalid horizon", what)
    return horizon


@app.page("/runs/{device_id}/{run_id}/forecast")
class RunForecast(View):
    @documented("A run field's forecast with 80 % and 95 % prediction intervals", tag="live", query=ForecastQuery,
                ok=ForecastOut,
                description="Holt's linear exponential smoothing on the field's irregular time stamps, updated "
                            "as readings arrive; `scores` rates the forecasts the run issued at each closed "
                            "window against what then arrived.",
                errors={400: BAD_ID,
                        404: f"{UNKNOWN_RUN}; a field the run does not forecast, or with fewer than "
                             f"{forecast.MIN_ERRORS + 1} observations yet",
                        422: "No `field`; `horizon` not a number of seconds in (0, 86400]; `at` not a time "
                             "after the latest observation within a day; both `horizon` and `at`",
                        503: NO_OWNER})
    @answered_by_owner
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        state = local_run(device_id, run_id)
        fields = forecast_fields(state)
        name = request.query.get("field")
        if name is None:
            raise ApiError(422, "missing field", {"forecast_fields": fields})
        model = state.get("forecasts", {}).get(name)
        if model is None:
            raise not_found("forecast", f"{device_id}/{run_id} has no observations of {name[:64]!r} to forecast "
                                        f"(its forecast fields: {', '.join(fields) or 'none'})")
        _, default_horizon = forecast.run_fields(state["config"])
        if model["errors"] < forecast.MIN_ERRORS:
            raise not_found("forecast", f"{name} has {model['n']} observations; a forecast needs "
                                        f"{forecast.MIN_ERRORS + 1}")
        out = forecast.forecast(model, wanted_horizon(request, model["last_t"], default_horizon))
        assert out is not None                       # MIN_ERRORS one-step errors exist
        intervals = {p: {"lower": out.pop(f"lower_{p}"), "upper": out.pop(f"upper_{p}")} for p in forecast.Z}
        return json_response({"device_id": device_id, "run_id": run_id, "field": name, **out,
                                  "intervals": intervals, "scores": forecast.scores(model)})
