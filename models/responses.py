"""What the HTTP API answers, as marshmallow schemas: the response bodies `/openapi.json` documents.

The routes build their answers as plain dicts (the hot paths stay cheap); these schemas say what
those dicts hold, and the fuzz test (tests/integration/test_fuzz_openapi.py) checks every answer it
gets against them. Fields always present are `required`; a field that may be null has
`allow_none`. A schema that lists every key refuses others (marshmallow's default, `RAISE`, becomes
`additionalProperties: false`); per-field maps (stats, window columns) and the motion block, whose
metrics grow, stay open.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from agents.stats import AGG_CHOICES
from models.device import FIELD_TYPES
from models.webhook import ALERT_KINDS

Number = fields.Float          # a JSON number (integers included)


def nullable(field: type[fields.Field] = Number, **kwargs) -> fields.Field:
    return field(required=True, allow_none=True, **kwargs)


class RunIds(Schema):
    """The run an answer is about."""

    device_id = fields.String(required=True)
    run_id = fields.String(required=True)


class ErrorSchema(Schema):
    """Every 4xx and 503: what is wrong, and details (a message, or the problems per field or index)."""

    error = fields.String(required=True, metadata={"example": "device not found"})
    detail = fields.Raw(required=True, allow_none=True, metadata={"example": "'gps_9' is not registered"})


# ------------------------------------------------------------------ devices

class DeviceOut(Schema):
    device_name = fields.String(required=True)
    schema = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(list(FIELD_TYPES))),
                         required=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    updated_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})


class RegisteredDevice(DeviceOut):
    ingest_token = fields.String(required=True, metadata={
        "description": "The device's ingest token: shown only here (stored hashed)"})


class DeviceToken(Schema):
    device_name = fields.String(required=True)
    ingest_token = fields.String(required=True)


class DeletedDevice(Schema):
    deleted = fields.String(required=True)
    detail = fields.String(required=True)


class DeviceNames(Schema):
    devices = fields.List(fields.String(), required=True)


# ------------------------------------------------------------------ ingest

class Ingested(RunIds):
    accepted = fields.Integer(required=True)
    topic = fields.String(required=True)


class SensorLoggerIngested(RunIds):
    message_id = fields.String(required=True)
    accepted = fields.Integer(required=True)
    left_out = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                           metadata={"description": "Entries of other sensors, per sensor name"})
    duplicate = fields.Boolean(required=True, metadata={"description": "A retried messageId: nothing was written"})


# ------------------------------------------------------------------ live queries

class RunConfigOut(Schema):
    triggers = fields.Dict(keys=fields.String(), values=fields.List(Number()), required=True)
    window_seconds = Number(required=True)
    table_preappend = nullable(fields.String)
    motion = fields.Dict(required=True)
    match = fields.Dict(allow_none=True, metadata={"description": "A match feed's sides and pre-match strength"})
    segments = fields.Dict(metadata={"description": "Interval length and lap line (agents/segments.py)"})
    forecast = fields.Dict(metadata={"description": "`fields` forecast and the `horizon_s` of the forecasts "
                                                    "issued at each closed window"})


class StreamStarted(RunIds):
    status = fields.String(required=True, validate=validate.OneOf(["started"]))
    config = fields.Nested(RunConfigOut, required=True)


class StreamStopping(RunIds):
    status = fields.String(required=True, validate=validate.OneOf(["stopping"]))


class FieldStats(Schema):
    count = fields.Integer(required=True)
    mean = nullable()
    min = nullable()
    max = nullable()
    sum = Number(required=True)
    std = Number(required=True)


class RunStatsOut(RunIds):
    agg_type = fields.String(required=True, validate=validate.OneOf(AGG_CHOICES))
    count = fields.Integer(required=True, metadata={"description": "Readings in the run"})
    stats = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "Per numeric field: the aggregate asked for (a number, null before any value), "
                       "or with `agg_type=all` every aggregate"})


class Speed(RunIds):
    speed = Number(required=True, metadata={"description": "m/s from the two latest fixes"})
    smoothed_speed = Number(required=True)
    timestamp = Number(required=True, metadata={"description": "The latest fix's time, epoch seconds"})
    unit = fields.String(required=True, validate=validate.OneOf(["m/s"]))


class SqlResult(Schema):
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(fields.List(fields.Raw()), required=True, metadata={"description": "Each row's values, "
                                                                                         "in the columns' order"})
    truncated = fields.Boolean(required=True)


class WindowRow(Schema):
    """A window of a run; per measurement field also `<field>_avg`, `_min`, `_max`, `_sum`, `_std`."""

    class Meta:
        unknown = INCLUDE

    window_start = Number(required=True)
    window_end = Number(required=True)
    timestamp = Number(required=True, metadata={"description": "The window's end"})
    count = fields.Integer(required=True)
    final = fields.Boolean(metadata={"description": "false while the window is open (live routes only)"})


class Motion(Schema):
    """Distance, speeds, zones and efforts of a positional run (docs/maths.md)."""

    class Meta:
        unknown = INCLUDE

    distance_m = Number(required=True)
    top_speed_mps = Number(required=True)
    zones = fields.List(fields.Dict(), required=True)
    source = fields.String(allow_none=True, validate=validate.OneOf(["gps", "optical"]), metadata={
        "description": "How positions were smoothed (the run config's motion.source, else told from the fixes: "
                       "lat/lon or x/y under 20 Hz is gps); null until the first fixes are in"})


class RunSummary(RunIds):
    """A run's summary. An archived run whose summary is not written yet has only its ids."""

    status = fields.String(validate=validate.OneOf(["active", "finished"]))
    silent = fields.Boolean()
    readings = fields.Integer()
    late_readings = fields.Integer()
    first_t = Number(allow_none=True)
    last_t = Number(allow_none=True)
    duration_s = Number()
    config = fields.Nested(RunConfigOut)
    alerts = fields.Integer()
    stats = fields.Dict(keys=fields.String(), values=fields.Nested(FieldStats))
    motion = fields.Nested(Motion)
    position_fields = fields.List(fields.String())
    last_position = fields.Dict()
    subscribed = fields.Boolean(metadata={"description": "Whether workers consume its topic now (live route only)"})


class RunWindows(RunIds):
    windows = fields.List(fields.Nested(WindowRow), required=True)


class SegmentRow(Schema):
    """An interval, lap or period with the run summary's metrics (docs/maths.md, Segments), or a rolling
    peak (kind `peaks`)."""

    class Meta:
        unknown = INCLUDE

    kind = fields.String(required=True, validate=validate.OneOf(["interval", "lap", "period", "peaks"]))
    index = fields.Integer(required=True, metadata={"description": "interval: its place from the run's start "
                                                                   "(0, 1, ...); lap, period: 1, 2, ...; peaks: the "
                                                                   "window in seconds"})
    final = fields.Boolean(metadata={"description": "false while the segment is open (live route only)"})


class RunSegments(RunIds):
    kind = fields.String(required=True)
    segments = fields.List(fields.Nested(SegmentRow), required=True)


class MarkerAccepted(RunIds):
    status = fields.String(required=True, validate=validate.OneOf(["marked"]))
    t = Number(required=True)
    label = nullable(fields.String)


class Alert(RunIds):
    """A threshold alert (`field`, `value`, `min`, `max`) or a data-delay alert (`silent_seconds`)."""

    class Meta:
        unknown = INCLUDE

    seq = fields.Integer(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ALERT_KINDS))
    t = Number(required=True, allow_none=True)


class RunAlerts(RunIds):
    alerts = fields.List(fields.Nested(Alert), required=True)


class RunListing(RunIds):
    status = fields.String(required=True)
    silent = fields.Boolean(required=True)
    readings = fields.Integer(required=True)
    last_t = nullable()


class RunList(Schema):
    runs = fields.List(fields.Nested(RunListing), required=True)
    unreachable_workers = fields.List(fields.String(), metadata={"description": "Workers that did not answer"})


# ------------------------------------------------------------------ history

class DayRun(RunIds):
    day = fields.String(required=True)
    first_t = nullable()
    duration_s = nullable()
    distance_m = nullable()
    top_speed_mps = nullable()
    sprints = nullable(fields.Integer)


class HistoryRuns(Schema):
    """`device_id` and the device's summaries, or `from`, `to` and the runs started on those days."""

    device_id = fields.String()
    from_ = fields.String(data_key="from")
    to = fields.String()
    runs = fields.List(fields.Dict(), required=True, metadata={"description": "RunSummary or DayRun objects"})


class ArchivedReading(Schema):
    t = Number(required=True, metadata={"description": "Event time, epoch seconds"})
    received_at = nullable()
    data = fields.Dict(required=True, metadata={"description": "The reading as the device sent it"})


class HistoryReadings(RunIds):
    readings = fields.List(fields.Nested(ArchivedReading), required=True)
    next = nullable(fields.String, metadata={"description": "Pass as `after` for the next page; null: last page"})


# ------------------------------------------------------------------ topics and operations

class TopicList(Schema):
    topics = fields.List(fields.String(), required=True)


class TopicMessages(Schema):
    messages = fields.List(fields.Dict(), required=True, metadata={"description": "Readings, newest first"})


class DeletedTopics(Schema):
    deleted = fields.List(fields.String(), required=True)


class Probe(Schema):
    ok = fields.Boolean(required=True)
    error = fields.String()


class SinkHealth(Schema):
    behind = fields.Boolean(required=True)
    unwritten_records = fields.Integer(required=True)
    rows_written = fields.Integer(required=True)
    last_written_at = nullable()
    failing_for_s = nullable()
    last_error = nullable(fields.String)


class Health(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded"]))
    kafka = fields.Nested(Probe, required=True)
    cassandra = fields.Nested(Probe, required=True)
    sink = fields.Nested(SinkHealth, required=True)


class ApiIndex(Schema):
    service = fields.String(required=True)
    dashboard = fields.String(required=True)
    health = fields.String(required=True)
    docs = fields.String(required=True)
    openapi = fields.String(required=True)
    routes = fields.List(fields.String(), required=True, metadata={"example": ["GET /devices"]})


# ------------------------------------------------------------------ matches

class Open(Schema):
    """A body whose listed fields are always there; others may follow (the match blocks grow)."""

    class Meta:
        unknown = INCLUDE


class MatchOut(Open):
    """GET /matches/{match_id}: agents/match_state.py `summary`."""

    match_id = fields.String(required=True)
    status = fields.String(required=True)
    period = nullable(fields.Raw)
    minute = nullable()
    score = fields.Dict(required=True, metadata={"description": "Goals per side: home, away"})
    teams = fields.Dict(required=True, metadata={"description": "Per side: shots, on target, xG, possession, cards"})
    win_probability = nullable(fields.Dict, metadata={"description": "home, draw, away: probabilities summing to 1"})
    points = fields.List(fields.Dict(), metadata={"description": "With ?points=1: the win probability over the match"})


class MatchList(Schema):
    matches = fields.List(fields.Nested(MatchOut), required=True)
    unreachable_workers = fields.List(fields.String(), metadata={"description": "Workers that did not answer"})


class MatchTimelineOut(Schema):
    match_id = fields.String(required=True)
    timeline = fields.List(fields.Dict(), required=True, metadata={
        "description": "Events but passes and carries, oldest first, each with the score and win probability after it"})


class MatchWinProbabilityOut(Open):
    match_id = fields.String(required=True)
    win_probability = nullable(fields.Dict)
    points = fields.List(fields.Dict(), required=True)


class HistoryMatchesOut(Schema):
    from_ = fields.String(data_key="from", required=True)
    to = fields.String(required=True)
    matches = fields.List(fields.Dict(), required=True)


class Interval(Schema):
    lower = Number(required=True)
    upper = Number(required=True)


class ForecastModel(Schema):
    alpha = Number(required=True, metadata={"description": "Level smoothing weight of one mean interval"})
    beta = Number(required=True, metadata={"description": "Trend smoothing weight of one mean interval"})
    level = Number(required=True, metadata={"description": "The smoothed value at `issued_at`"})
    trend_per_s = Number(required=True, metadata={"description": "The smoothed slope, units per second"})
    sigma = Number(required=True, metadata={"description": "RMS of the recent one-step errors"})
    step_s = Number(required=True, metadata={"description": "The mean interval between observations"})


class ForecastScores(Schema):
    count = fields.Integer(required=True, metadata={"description": "Issued forecasts whose target time has passed"})
    mae = nullable(metadata={"description": "Their mean absolute error"})
    naive_mae = nullable(metadata={"description": "The same of the last value at issue (the naive forecast)"})
    coverage_80 = nullable(metadata={"description": "Share of the realised values inside the 80 % interval"})
    coverage_95 = nullable()


class ForecastOut(RunIds):
    field = fields.String(required=True)
    issued_at = Number(required=True, metadata={"description": "The field's latest observation, epoch seconds"})
    horizon_s = Number(required=True)
    target_t = Number(required=True, metadata={"description": "issued_at + horizon_s"})
    forecast = Number(required=True, metadata={"description": "The point forecast at target_t"})
    intervals = fields.Dict(keys=fields.String(validate=validate.OneOf(["80", "95"])),
                            values=fields.Nested(Interval), required=True,
                            metadata={"description": "Prediction intervals by nominal coverage, percent"})
    naive = Number(required=True, metadata={"description": "The last observed value (the naive forecast)"})
    model = fields.Nested(ForecastModel, required=True)
    observations = fields.Integer(required=True)
    scores = fields.Nested(ForecastScores, required=True,
                           metadata={"description": "The run's forecasts issued at window closes, scored so far"})


# ------------------------------------------------------------------ webhooks

class WebhookOut(Schema):
    webhook_id = fields.String(required=True)
    url = fields.String(required=True)
    device_id = nullable(fields.String, metadata={"description": "Only this device's alerts; null: every device"})
    kind = nullable(fields.String, metadata={"description": "Only alerts of this type; null: every type"})
    signed = fields.Boolean(required=True, metadata={"description": "Whether bodies are signed (a secret is set)"})
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC; alerts raised after it are sent"})


class WebhookList(Schema):
    webhooks = fields.List(fields.Nested(WebhookOut), required=True)


class DeletedWebhook(Schema):
    deleted = fields.String(required=True)


class DeadLetter(RunIds):
    seq = fields.Integer(required=True)
    attempts = fields.Integer(required=True)
    last_status = nullable(fields.Integer, metadata={"description": "The last answer's HTTP status; null: no answer"})
    last_error = fields.String(required=True)
    alert = fields.Nested(Alert, required=True)
    dead_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})


class DeadLetters(Schema):
    webhook_id = fields.String(required=True)
    dead_letters = fields.List(fields.Nested(DeadLetter), required=True)
