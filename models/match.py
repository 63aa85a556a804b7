"""The match-event feed's shape: its device, its readings, the events a match understands and the
match's setup (team names, pre-match strength).

A match is a run of the device `match_events` whose run id is the match id. Its readings pass the
device's schema (types) first, then `MatchEventSchema` (what the values may be); the checks that
need the match's state (a minute going back, an event after the final whistle) are the match
reducer's (agents/match_state.py), which the gateway runs on the match's current state before
anything is written.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from models.device import StrictFloat, StrictString

EVENTS_DEVICE = "match_events"
EVENT_SCHEMA = {"timestamp": "timestamp", "minute": "float", "event": "string", "team": "string",
                "player": "string", "xg": "float", "detail": "string"}
TEAMS = ("home", "away")
# Whistles may name the side that kicks off, or none.
WHISTLES = ("kickoff", "half_time", "full_time")
SHOTS = ("shot", "shot_saved", "goal")                  # shot_saved: on target, kept out; goal: on target, in
TEAM_EVENTS = ("pass", "carry", *SHOTS, "own_goal", "yellow_card", "red_card", "substitution",
               "shootout_goal", "shootout_miss")
EVENT_KINDS = (*WHISTLES, *TEAM_EVENTS)
# What the timeline lists: everything but the ball-moving events (a match has thousands of those).
TIMELINE_EXCLUDES = frozenset({"pass", "carry"})


class MatchEventSchema(Schema):
    """What one event's values may be. Unknown team: anything but home/away (or empty on a whistle)."""

    class Meta:
        unknown = INCLUDE                   # timestamp, player, detail: the device schema checked them

    minute = StrictFloat(required=True, validate=validate.Range(min=0, error="minute must not be negative"))
    event = StrictString(required=True, validate=validate.OneOf(
        EVENT_KINDS, error=f"unknown event; use one of {', '.join(EVENT_KINDS)}"))
    team = StrictString(required=True)
    xg = StrictFloat(required=True, validate=validate.Range(min=0, max=1, error="xg must be from 0 to 1"))

    @validates_schema
    def check_team(self, data: dict[str, Any], **_: Any) -> None:
        team, kind = data.get("team"), data.get("event")
        allowed = ("", *TEAMS) if kind in WHISTLES else TEAMS
        if team not in allowed:
            raise ValidationError(f"unknown team {team!r}: {kind or 'an event'} needs "
                                  f"{' or '.join(repr(t) for t in allowed)}", "team")


EVENT_VALIDATOR = MatchEventSchema()


def event_errors(event: dict[str, Any]) -> dict[str, Any]:
    """marshmallow's messages for one event's values ({} when they are fine)."""
    return EVENT_VALIDATOR.validate(event)


class MatchSetupSchema(Schema):
    """`start-stream`'s `match` object for a match feed: the sides' names and pre-match strength
    (goals each is expected to score in 90 minutes, e.g. from bookmakers' odds or a rating)."""

    class Meta:
        unknown = RAISE

    home_team = fields.String(load_default="home", validate=validate.Length(1, 64))
    away_team = fields.String(load_default="away", validate=validate.Length(1, 64))
    home_goals = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                              validate=validate.Range(min=0.05, max=10, error="expected goals from 0.05 to 10"))
    away_goals = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                              validate=validate.Range(min=0.05, max=10, error="expected goals from 0.05 to 10"))


# ------------------------------------------------------------------ the match routes' parameters and answers
# (what /openapi.json documents; the routes build plain dicts, web/matches.py)

MAX_MATCH_LIMIT = 10_000
MATCH_ID = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$"), metadata={
    "description": "The match id: the run id of its `match_events` feed", "example": "match_001"})


class MatchQuery(Schema):
    points = fields.String(metadata={"description": "Any value: add the win-probability series (`points`)"})
    local = fields.String(metadata={"description": "GET /matches only, any value: this worker's matches only"})


class TimelineQuery(Schema):
    last = fields.Integer(validate=validate.Range(1, MAX_MATCH_LIMIT), metadata={
        "description": f"How many of the newest entries (ASCII digits; default all kept, at most {MAX_MATCH_LIMIT})"})


class HistoryMatchesQuery(Schema):
    from_ = fields.Date(data_key="from", metadata={"description": "First day (YYYY-MM-DD, UTC); default 6 days ago"})
    to = fields.Date(metadata={"description": "Last day; default today; at most 366 days after `from`"})


class HistoryLimitQuery(Schema):
    limit = fields.Integer(validate=validate.Range(1, MAX_MATCH_LIMIT), metadata={
        "description": f"Most rows (ASCII digits; default and most {MAX_MATCH_LIMIT})"})


class Outcomes(Schema):
    home = fields.Float(required=True)
    draw = fields.Float(required=True)
    away = fields.Float(required=True)


class Score(Schema):
    home = fields.Integer(required=True)
    away = fields.Integer(required=True)


class SideOut(Schema):
    """One side's name and counts; `possession` is its share of passes and carries (null before any)."""

    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True)
    prematch_goals = fields.Float(required=True)
    goals = fields.Integer(required=True)
    shots = fields.Integer(required=True)
    shots_on_target = fields.Integer(required=True)
    xg = fields.Float(required=True)
    possession = fields.Float(required=True, allow_none=True)
    yellow_cards = fields.Integer(required=True)
    red_cards = fields.Integer(required=True)
    substitutions = fields.Integer(required=True)


class ProbabilityPoint(Outcomes):
    seq = fields.Integer(required=True)
    minute = fields.Float(required=True)
    period = fields.Integer(required=True)


class MatchOut(Schema):
    """A match now (live) or as archived last."""

    class Meta:
        unknown = INCLUDE

    match_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["scheduled", "playing", "break", "finished"]))
    period = fields.Integer(required=True)
    minute = fields.Float(required=True)
    first_t = fields.Float(required=True, allow_none=True)
    last_t = fields.Float(required=True, allow_none=True)
    score = fields.Nested(Score, required=True)
    shootout = fields.Nested(Score, required=True, allow_none=True)
    teams = fields.Dict(keys=fields.String(), values=fields.Nested(SideOut), required=True)
    win_probability = fields.Nested(Outcomes, required=True)
    events = fields.Integer(required=True)
    rejected_batches = fields.Integer(required=True)
    points = fields.List(fields.Nested(ProbabilityPoint), metadata={"description": "With `?points=1`"})


class MatchListing(Schema):
    class Meta:
        unknown = INCLUDE

    match_id = fields.String(required=True)
    status = fields.String(required=True)
    score = fields.Nested(Score, required=True)
    teams = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)


class MatchList(Schema):
    matches = fields.List(fields.Nested(MatchListing), required=True)
    unreachable_workers = fields.List(fields.String(), metadata={"description": "Workers that did not answer"})
    from_ = fields.String(data_key="from")
    to = fields.String()


class TimelineEntry(Schema):
    class Meta:
        unknown = INCLUDE

    seq = fields.Integer(required=True)
    minute = fields.Float(required=True)
    event = fields.String(required=True)
    team = fields.String(required=True)
    score = fields.Nested(Score, required=True)
    win_probability = fields.Nested(Outcomes, required=True)


class MatchTimelineOut(Schema):
    match_id = fields.String(required=True)
    timeline = fields.List(fields.Nested(TimelineEntry), required=True)


class WinProbabilityOut(Schema):
    class Meta:
        unknown = INCLUDE

    match_id = fields.String(required=True)
    win_probability = fields.Nested(Outcomes, required=True)
    points = fields.List(fields.Nested(ProbabilityPoint), required=True)
