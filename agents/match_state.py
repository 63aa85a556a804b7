"""One match's live state and how its feed's events change it: a pure reducer, no Kafka.

`apply_events(state, events)` folds a batch of feed events into the match, or refuses the whole
batch with `MatchEventError` naming the first bad event: nothing is ever half-applied. The gateway
runs it on the match's current state before writing a batch (so a client gets a 4xx), and the
match agent runs it again when it applies the batch (a defensive check against concurrent writers).

The state is a JSON-serialisable dict, replaced (never mutated) on every change, as Faust tables
need. The win probability (agents/win_probability.py) is recomputed after every event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.win_probability import DEFAULT_PREMATCH, Situation, final_result, win_probability
from models.match import TEAMS, TIMELINE_EXCLUDES, event_errors

# Where each period's clock starts (minutes): a period's first event may go back to it, since the
# official clock restarts at 45:00 however long the first half ran (5: a penalty shoot-out).
PERIOD_STARTS = {1: 0.0, 2: 45.0, 3: 90.0, 4: 105.0, 5: 120.0}
SHOOTOUT_PERIOD = 5
COUNTERS = ("goals", "shots", "shots_on_target", "xg", "passes_and_carries", "yellow_cards", "red_cards",
            "substitutions", "own_goals", "shootout_goals", "shootout_kicks")


class MatchEventError(ValueError):
    """An event the match cannot take; `index` is its place in the batch, `conflict` marks an event
    for a finished match (HTTP 409) rather than a bad one (422)."""

    def __init__(self, index: int, message: str, detail: Any = None, conflict: bool = False) -> None:
        super().__init__(message)
        self.index, self.message, self.detail, self.conflict = index, message, detail, conflict


@dataclass
class MatchUpdate:
    """A batch applied: the new state, its timeline entries and its win-probability points."""

    state: dict[str, Any]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)


def new_side(name: str, prematch: float) -> dict[str, Any]:
    return {"name": name, "prematch_goals": prematch, **{c: 0 for c in COUNTERS}, "xg": 0.0}


def new_match(match_id: str, since: float = 0.0) -> dict[str, Any]:
    sides = {team: new_side(team, DEFAULT_PREMATCH[team]) for team in TEAMS}
    state = {"match_id": match_id, "since": since, "status": "scheduled", "period": 0, "minute": 0.0,
             "first_t": None, "last_t": None, "events": 0, "timeline_events": 0, "points": 0, "sampled_minute": -1,
             "sides": sides, "win_probability": None, "rejected_batches": 0, "last_rejection": None}
    return {**state, "win_probability": probability(state)}


def apply_setup(state: dict[str, Any], setup: dict[str, Any] | None) -> dict[str, Any]:
    """The sides' names and pre-match strength from the feed's `start-stream` config."""
    if not setup:
        return state
    sides = {team: {**side, "name": setup.get(f"{team}_team") or side["name"],
                    "prematch_goals": setup.get(f"{team}_goals") or side["prematch_goals"]}
             for team, side in state["sides"].items()}
    new = {**state, "sides": sides}
    return {**new, "win_probability": probability(new)}


def situation(state: dict[str, Any]) -> Situation:
    sides = state["sides"]
    return Situation(minute=state["minute"], period=state["period"], in_break=state["status"] == "break",
                     score={t: sides[t]["goals"] for t in TEAMS}, xg={t: sides[t]["xg"] for t in TEAMS},
                     reds={t: sides[t]["red_cards"] for t in TEAMS},
                     prematch={t: sides[t]["prematch_goals"] for t in TEAMS})


def probability(state: dict[str, Any]) -> dict[str, float]:
    """Win/draw/loss now: certain once the match is over or in its shoot-out (which is not play)."""
    if state["status"] == "finished" or state["period"] >= SHOOTOUT_PERIOD:
        return final_result({t: state["sides"][t]["goals"] for t in TEAMS})
    return win_probability(situation(state))


def check_clock(state: dict[str, Any], index: int, kind: str, minute: float) -> int:
    """The period this event belongs to; a minute that goes back is refused, except that a kickoff
    after a break may restart the clock at its period's start."""
    if state["status"] == "finished":
        raise MatchEventError(index, "the match is finished", f"full time was at minute {state['minute']:g}; "
                              "a finished match takes no more events", conflict=True)
    period = state["period"]
    if kind == "kickoff" and state["status"] in ("scheduled", "break"):
        period += 1
        start = PERIOD_STARTS.get(period)
        if start is None:
            raise MatchEventError(index, "no period left to kick off", f"periods 1 to {SHOOTOUT_PERIOD} are played")
        floor = start if state["status"] == "break" else state["minute"]
        if minute < floor:
            raise MatchEventError(index, "the minute goes back", {"minute": f"period {period} kicks off at minute "
                                                                   f"{floor:g} or later, not {minute:g}"})
        return period
    if minute < state["minute"]:
        raise MatchEventError(index, "the minute goes back",
                              {"minute": f"{minute:g} is before the match's minute {state['minute']:g}"})
    return max(period, 1) if kind not in ("half_time", "full_time") else period


def count(side: dict[str, Any], kind: str, xg: float) -> dict[str, Any]:
    """A side's counters after one of its events (own goals are counted for the other side by the caller)."""
    side = dict(side)
    if kind in ("pass", "carry"):
        side["passes_and_carries"] += 1
    elif kind in ("shot", "shot_saved", "goal"):
        side["shots"] += 1
        side["xg"] = side["xg"] + xg
        side["shots_on_target"] += kind != "shot"
        side["goals"] += kind == "goal"
    elif kind in ("shootout_goal", "shootout_miss"):             # not match goals
        side["shootout_kicks"] += 1
        side["shootout_goals"] += kind == "shootout_goal"
    elif kind == "own_goal":
        side["own_goals"] += 1
    elif kind in ("yellow_card", "red_card", "substitution"):
        side[{"yellow_card": "yellow_cards", "red_card": "red_cards", "substitution": "substitutions"}[kind]] += 1
    return side


def step(state: dict[str, Any], index: int, t: float, event: dict[str, Any]) -> dict[str, Any]:
    """One event applied (or MatchEventError)."""
    problems = event_errors(event)
    if problems:
        field_name = next(iter(problems))
        raise MatchEventError(index, f"invalid {field_name}", problems)
    kind, team, minute = event["event"], event["team"], float(event["minute"])
    period = check_clock(state, index, kind, minute)
    status = state["status"]
    if kind == "kickoff":
        status = "playing"
    elif kind == "half_time":
        status = "break"
    elif kind == "full_time":
        status = "finished"
    sides = state["sides"]
    if team in TEAMS and kind not in ("kickoff", "half_time", "full_time"):
        sides = {**sides, team: count(sides[team], kind, float(event["xg"]))}
        if kind == "own_goal":                         # a goal for the other side
            other = "away" if team == "home" else "home"
            sides = {**sides, other: {**sides[other], "goals": sides[other]["goals"] + 1}}
    first_t = t if state["first_t"] is None else min(state["first_t"], t)
    last_t = t if state["last_t"] is None else max(state["last_t"], t)
    return {**state, "status": status, "period": period, "minute": minute, "sides": sides,
            "first_t": first_t, "last_t": last_t, "events": state["events"] + 1}


def apply_events(state: dict[str, Any], events: list[dict[str, Any]]) -> MatchUpdate:
    """Fold a batch of feed readings (`{"t", "data"}`, in feed order) into the match, all or none."""
    update = MatchUpdate(state)
    for index, reading in enumerate(events):
        event = reading["data"]
        new = step(update.state, index, reading["t"], event)
        p = probability(new)
        new["win_probability"] = p
        on_timeline = event["event"] not in TIMELINE_EXCLUDES
        if on_timeline:
            update.timeline.append({
                "seq": new["timeline_events"], "t": reading["t"], "minute": new["minute"], "period": new["period"],
                "event": event["event"], "team": event["team"], "player": event.get("player", ""), "xg": event["xg"],
                "detail": event.get("detail", ""), "score": {t: new["sides"][t]["goals"] for t in TEAMS},
                "win_probability": p})
            new["timeline_events"] += 1
        whole_minute = math.floor(new["minute"])
        if on_timeline or whole_minute > new["sampled_minute"]:
            update.points.append({"seq": new["points"], "minute": new["minute"], "period": new["period"], **p})
            new["points"] += 1
            new["sampled_minute"] = whole_minute
        update.state = new
    return update


def reject(state: dict[str, Any], error: MatchEventError) -> dict[str, Any]:
    """The match after refusing a batch that reached it anyway (concurrent writers): nothing applied,
    the refusal counted and kept for the summary."""
    return {**state, "rejected_batches": state["rejected_batches"] + 1,
            "last_rejection": {"index": error.index, "error": error.message, "detail": error.detail}}


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """What `GET /matches/{id}` answers: score, per-side stats with possession share, win probability."""
    sides = state["sides"]
    ball = sum(s["passes_and_carries"] for s in sides.values())
    teams = {}
    for team, side in sides.items():
        teams[team] = {**side, "xg": round(side["xg"], 4),
                       "possession": round(side["passes_and_carries"] / ball, 4) if ball else None}
    shootout = ({t: sides[t]["shootout_goals"] for t in TEAMS}
                if any(sides[t]["shootout_kicks"] for t in TEAMS) else None)
    return {"match_id": state["match_id"], "status": state["status"], "period": state["period"],
            "minute": state["minute"], "first_t": state["first_t"], "last_t": state["last_t"],
            "score": {t: sides[t]["goals"] for t in TEAMS}, "shootout": shootout, "teams": teams,
            "win_probability": state["win_probability"], "events": state["events"],
            "timeline_events": state["timeline_events"], "rejected_batches": state["rejected_batches"],
            "last_rejection": state["last_rejection"]}
