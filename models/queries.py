"""Path and query parameters of the HTTP API, as marshmallow schemas: what `/openapi.json` documents.

The limits live here, and the routes read them from here (web/topics.py, web/history.py,
web/live.py), so the document and the checks cannot drift apart. The routes parse the values
themselves (web/params.py: ASCII digits only, strict epochs), with the same bounds.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from agents.stats import AGG_CHOICES
from models.device import FIELD_NAME_RULE, IDENTIFIER_RULE
from models.run_config import MAX_HORIZON_S
from models.webhook import WEBHOOK_ID_RULE
from sports_prophet.config import settings

DEFAULT_MESSAGES = 100          # GET /get-topic-messages
MAX_MESSAGES = 10_000
DEFAULT_WINDOWS = 100           # GET /runs/{device_id}/{run_id}/windows
DEFAULT_SEGMENTS = 100          # GET /runs/{device_id}/{run_id}/segments
MAX_HISTORY_LIMIT = 10_000      # the history routes' `limit`
DEFAULT_READINGS = 1_000
MAX_DAYS = 366                  # GET /history/runs?from=&to=
MAX_QUERY_CHARS = 4_000         # GET /get-latest-stats?query=
# What `from`/`to` look like: epoch seconds (web/params.py's EPOCH_NUMBER) or an ISO 8601 date and time.
INSTANT_PATTERN = (r"^[0-9]{1,20}(\.[0-9]{1,9})?$|"
                   r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
                   r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
HORIZON_PATTERN = r"^[0-9]{1,5}(\.[0-9]{1,6})?$"       # GET /runs/{device_id}/{run_id}/forecast?horizon=
DEFAULT_SQL = "SELECT * FROM {table} ORDER BY timestamp DESC LIMIT 1"
LAST_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second CQL's timestamp shows


def identifier(what: str, example: str, **kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(IDENTIFIER_RULE), metadata={
        "description": f"{what}: letters, digits, _ and -, 1 to 64 of them", "example": example}, **kwargs)


def count(description: str, default: int, most: int) -> fields.Integer:
    return fields.Integer(validate=validate.Range(1, most), metadata={
        "description": f"{description} (ASCII digits; default {default}, at most {most})", "default": default})


def instant(description: str, **kwargs) -> fields.String:
    return fields.String(**kwargs, validate=validate.Regexp(INSTANT_PATTERN), metadata={
        "description": f"{description}: ISO 8601 (2026-05-01T12:00:00Z, no zone is UTC) "
                       "or epoch seconds (ms, µs, ns told apart by size)",
        "example": "2026-05-01T12:00:00Z"})


class PathParameters(Schema):
    """Every path parameter by name; a route's document takes the ones in its path."""

    device_id = identifier("The device's registered name", "gps_1", required=True)
    run_id = identifier("The run (session) id", "run_001", required=True)
    name = fields.String(required=True, metadata={"description": "A file of the dashboard", "example": "dashboard.js"})
    filename = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}\.(csv|parquet)$"),
                             metadata={"description": "`<run_id>.csv` or `<run_id>.parquet`",
                                       "example": "run_001.csv"})
    asset = fields.String(required=True, metadata={"description": "A file of the bundled Swagger UI",
                                                   "example": "swagger-ui.css"})
    match_id = identifier("The match: the run id of its event feed (device match_events)", "match_001", required=True)
    webhook_id = fields.String(required=True, validate=validate.Regexp(WEBHOOK_ID_RULE), metadata={
        "description": "The id POST /webhooks answered (32 hex digits)", "example": "0123456789abcdef0123456789abcdef"})


class TopicMessagesQuery(Schema):
    limit = count("How many of the newest readings", DEFAULT_MESSAGES, MAX_MESSAGES)


class StatsQuery(Schema):
    agg_type = fields.String(validate=validate.OneOf(AGG_CHOICES), metadata={
        "description": "Which aggregate per field (`std` is the sample standard deviation; `all`: every one)",
        "default": "average"})


class LatestStatsQuery(Schema):
    query = fields.String(validate=validate.Length(max=MAX_QUERY_CHARS), metadata={
        "description": "One read-only SELECT (DuckDB SQL) over the run's window rows, named `{table}`",
        "default": DEFAULT_SQL})
    table_preappend = fields.String(validate=validate.Regexp(FIELD_NAME_RULE), metadata={
        "description": "The `table_preappend` the run was started with (the old system's table name); "
                       "another one is a 404"})


class WindowsQuery(Schema):
    last = count("How many of the newest windows", DEFAULT_WINDOWS, settings.window_history + DEFAULT_WINDOWS)


SEGMENT_KINDS = ("interval", "lap", "period", "peaks")


def segment_kind() -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(SEGMENT_KINDS), metadata={
        "description": "Which segments: fixed intervals, laps, periods (markers, match whistles) or rolling peaks"})


class SegmentsQuery(Schema):
    kind = segment_kind()
    last = count("How many of the newest closed segments (with the open one after them)", DEFAULT_SEGMENTS,
                 settings.segment_history)


class MarkerBody(Schema):
    """A period marker: from `t` on the run is in the period `label`; without a label, the open period ends."""

    class Meta:
        unknown = RAISE

    t = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0, max=LAST_EPOCH_S), metadata={
        "description": "When, epoch seconds (event time, as the run's readings), up to 9999-12-31"})
    label = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class RunsQuery(Schema):
    local = fields.String(metadata={"description": "Any value: only this worker's runs (what workers ask each other)"})


class LiveQuery(Schema):
    device_id = identifier("Only this device's runs", "gps_match")
    local = fields.String(metadata={"description": "Any value: only this worker's runs (what workers merge)"})


class HistoryDaysQuery(Schema):
    from_ = fields.Date(data_key="from", metadata={"description": "First day (YYYY-MM-DD, UTC); default 6 days ago"})
    to = fields.Date(metadata={"description": f"Last day; default today; at most {MAX_DAYS} days after `from`"})


class HistoryRunsQuery(HistoryDaysQuery):
    device_id = identifier("A device whose archived runs to list (then `from` and `to` are not used)", "gps_1")


class HistoryReadingsQuery(Schema):
    from_ = instant("Earliest event time", data_key="from")
    to = instant("Latest event time")
    limit = count("Readings per page", DEFAULT_READINGS, MAX_HISTORY_LIMIT)
    after = fields.String(metadata={"description": "The `next` of the previous page, to read the page after it"})


class HistoryWindowsQuery(Schema):
    from_ = instant("Earliest window start", data_key="from")
    to = instant("Latest window start")
    limit = count("Most windows", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)


class HistoryAlertsQuery(Schema):
    limit = count("Most alerts", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)


class HistorySegmentsQuery(Schema):
    kind = segment_kind()
    limit = count("Most segments", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)


class ForecastQuery(Schema):
    field = fields.String(metadata={"description": "The field to forecast: one named in the run config's "
                                                   "`forecast.fields`, or `distance_m` of a positional run"})
    horizon = fields.String(validate=validate.Regexp(HORIZON_PATTERN), metadata={
        "description": f"Seconds after the field's latest observation (up to {MAX_HORIZON_S}); "
                       "default the run config's `forecast.horizon_s`", "example": "60"})
    at = instant("Or the time to forecast, at most a day after the latest observation ("
                 "\"the distance at full time\"); not with `horizon`")


class MatchQuery(Schema):
    points = fields.String(metadata={"description": "Any value: add the win-probability series (`points`)"})


class MatchTimelineQuery(Schema):
    last = count("How many of the newest timeline entries", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)


class MatchHistoryQuery(Schema):
    limit = count("Most entries, oldest first", MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
