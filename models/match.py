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

