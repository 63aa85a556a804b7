"""The body of /start-stream: a run's triggers, window size and motion thresholds (old shape plus `motion`),
its segments (`segments`: interval length, lap line), and for a match feed its sides (`match`)."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from agents.motion_config import MotionConfig
from agents.segments import DEFAULT_INTERVAL_S
from models.device import FIELD_NAME, NUMERIC_TYPES, braces_escaped
from models.match import MatchSetupSchema
from sports_prophet.config import settings

MAX_FORECAST_FIELDS = 16         # each forecast field is ~1 KB of run state and a numpy pass per record
MAX_HORIZON_S = 86_400


def not_numeric(numeric_fields: list[str]) -> str:
    return f"not a numeric field of the device (its numeric fields: {', '.join(numeric_fields)})"


class ForecastConfigSchema(Schema):
    """Which numeric fields to forecast, and the horizon of the forecasts issued at each closed window
    (positional runs also forecast their distance, `distance_m`, without being asked)."""

    class Meta:
        unknown = RAISE

    horizon_s = fields.Float(load_default=lambda: settings.forecast_horizon_seconds, allow_nan=False,
                             validate=validate.Range(min=1, max=MAX_HORIZON_S,
                                                     error=f"horizon_s must be from 1 to {MAX_HORIZON_S}"))
    # (last: the attribute shadows marshmallow's `fields` in the class body)
    fields = fields.List(fields.String(), load_default=list, validate=validate.Length(
        max=MAX_FORECAST_FIELDS, error=f"at most {MAX_FORECAST_FIELDS} fields"))


class SegmentConfigSchema(Schema):
    """How a run is cut into segments (agents/segments.py)."""

    class Meta:
        unknown = RAISE

    interval_s = fields.Float(load_default=DEFAULT_INTERVAL_S, allow_nan=False, validate=validate.Range(
        min=10, max=86_400, error="interval_s must be from 10 to 86400"), metadata={
        "description": "Length of the fixed intervals, aligned to the run's first reading"})
    lap_line = fields.List(fields.List(fields.Float(allow_nan=False),
                                       validate=validate.Length(equal=2)),
                           validate=validate.Length(equal=2), load_default=None, allow_none=True, metadata={
        "description": "The start/finish line [[a1, a2], [b1, b2]] in the run's position fields' units ([lat, "
                       "lon] or [x, y]): a lap starts each time the track crosses it from the left of A→B to the right"})

    @validates("lap_line")
    def check_line(self, line: list[list[float]] | None, **_: Any) -> None:
        if line is not None and line[0] == line[1]:
            raise ValidationError("the line's two points must differ")


class RunConfigSchema(Schema):
    """Validated against the device's schema: a trigger must name one of its numeric fields."""

    class Meta:
        unknown = RAISE

    triggers = fields.Dict(keys=fields.String(), values=fields.List(fields.Float(allow_nan=False)),
                           load_default=dict)
    window_seconds = fields.Float(load_default=lambda: settings.default_window_seconds, allow_nan=False,
                                  validate=validate.Range(min=1, max=86_400,
                                                          error="window_seconds must be from 1 to 86400"))
    table_preappend = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        FIELD_NAME, error=braces_escaped(f"table_preappend must match {FIELD_NAME.pattern}")))
    motion = fields.Dict(keys=fields.String(), load_default=dict)
    match = fields.Nested(MatchSetupSchema, load_default=None, allow_none=True)     # a match feed's sides
    segments = fields.Nested(SegmentConfigSchema, load_default=lambda: SegmentConfigSchema().load({}))
    forecast = fields.Nested(ForecastConfigSchema, load_default=lambda: ForecastConfigSchema().load({}))

    def __init__(self, context_schema: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device_schema = context_schema

    @validates("triggers")
    def check_triggers(self, triggers: dict[str, list[float]], **_: Any) -> None:
        errors: dict[str, str] = {}
        for name, bounds in triggers.items():
            if self.device_schema.get(name) not in NUMERIC_TYPES:
                errors[name] = not_numeric(self.numeric_fields())
            elif len(bounds) != 2 or not all(math.isfinite(b) for b in bounds):
                errors[name] = "give [min, max]"
            elif bounds[0] > bounds[1]:
                errors[name] = f"min {bounds[0]} is greater than max {bounds[1]}"
        if errors:
            raise ValidationError(errors)

    @validates("forecast")
    def check_forecast(self, forecast: dict[str, Any], **_: Any) -> None:
        errors = {name: not_numeric(self.numeric_fields())
                  for name in forecast.get("fields", []) if self.device_schema.get(name) not in NUMERIC_TYPES}
        if errors:
            raise ValidationError({"fields": errors})

    def numeric_fields(self) -> list[str]:
        return [f for f, t in self.device_schema.items() if t in NUMERIC_TYPES]

    @validates_schema
    def check_motion(self, data: dict[str, Any], **_: Any) -> None:
        try:
            cfg = MotionConfig.from_dict(data.get("motion") or {})
        except (TypeError, ValueError) as exc:
            raise ValidationError({"motion": [str(exc)]}) from exc
        if len(cfg.zone_edges_mps) != 4:
            raise ValidationError({"motion": ["zone_edges_mps needs exactly four edges (five zones)"]})
