"""Football event data through kloppy: a StatsBomb open-data match as the match-event feed.

`sports-prophet replay EVENTS.json LINEUPS.json --format statsbomb` streams the match as device
`match_events`, run = the match id (`--run`, else from the file name), through the same ingest and
match agent as a live feed. kloppy reads the files (checking their structure); the feed's fields
come from each event's StatsBomb record, which kloppy keeps as `raw_event`:

* `Half Start` → kickoff (once per period), `Half End` → half_time, or full_time after the last period;
* `Pass` → pass, `Carry` → carry (they make the possession share);
* `Shot` → goal, shot_saved (Saved, Saved To Post: on target) or shot, with StatsBomb's xG; in a
  penalty shoot-out (period 5) → shootout_goal / shootout_miss, which are not match goals;
* `Own Goal Against` → own_goal of the side that conceded it (the feed counts it for the other
  side; the matching `Own Goal For` is the same goal and is not sent);
* cards (`Yellow Card`; `Second Yellow` → yellow_card then red_card; `Red Card`) and `Substitution`.

The minute is the match clock (a period starts at 0, 45, 90, 105 or 120 plus the time into it), so it
restarts at 45 after a first half that ran to 47. Within a period a time that goes back (StatsBomb
orders by its event index) is sent at its predecessor's minute, as the feed must not go back.
kloppy makes several events of one StatsBomb record (a foul and its card, a shot and its duel):
each record is sent once. A reading's timestamp is the start (`--start`, else the file's kickoff date, else now) plus the time
since kickoff, periods back to back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from kloppy import statsbomb

from agents.match_state import PERIOD_STARTS, SHOOTOUT_PERIOD
from models.match import EVENT_SCHEMA
from simulator.replay.recording import TIME_FIELD, Recording, ReplayError, Track, safe_id

ON_TARGET = {"Goal", "Saved", "Saved To Post"}
CARDS = {"Yellow Card": ("yellow_card",), "Second Yellow": ("yellow_card", "red_card"), "Red Card": ("red_card",)}


def looks_like_statsbomb(path: Path) -> bool:
    """A StatsBomb events file: a JSON array whose events carry `possession_team`."""
    with path.open("rb") as f:
        head = f.read(4096)
    return head.lstrip().startswith(b"[") and b'"possession_team"' in head


def card_of(raw: dict[str, Any]) -> str | None:
    for holder in ("foul_committed", "bad_behaviour"):
        card = (raw.get(holder) or {}).get("card")
        if card:
            return card["name"]
    return None


def feed_events(raw: dict[str, Any], side: str, last_period: int) -> list[tuple[str, str, float, str]]:
    """(event, team, xg, detail) for one StatsBomb event; [] for the kinds the feed does not carry."""
    kind, period = raw["type"]["name"], raw["period"]
    if kind == "Half Start":
        return [("kickoff", "", 0.0, f"period {period}")]
    if kind == "Half End":
        return [("full_time" if period == last_period else "half_time", "", 0.0, f"end of period {period}")]
    if kind in ("Pass", "Carry"):
        return [(kind.lower(), side, 0.0, "")]
    if kind == "Shot":
        shot = raw["shot"]
        outcome = shot["outcome"]["name"]
        if period == SHOOTOUT_PERIOD:
            return [("shootout_goal" if outcome == "Goal" else "shootout_miss", side, 0.0, outcome)]
        event = "goal" if outcome == "Goal" else "shot_saved" if outcome in ON_TARGET else "shot"
        return [(event, side, float(shot.get("statsbomb_xg") or 0.0), outcome)]
    if kind == "Own Goal Against":
        return [("own_goal", side, 0.0, "own goal")]
    if kind == "Substitution":
        return [("substitution", side, 0.0, f"on {raw['substitution']['replacement']['name']}")]
    card = card_of(raw)
    return [(event, side, 0.0, card) for event in CARDS.get(card, ())] if card else []


def load_statsbomb(paths: list[Path], run: str | None, start: float | None, now: float) -> Recording:
    """Read a StatsBomb events file (and its lineups file) into a one-run recording of the feed."""
    if len(paths) != 2:
        raise ReplayError("statsbomb replays two files: the events JSON, then the lineups JSON")
    try:
        dataset = statsbomb.load(event_data=str(paths[0]), lineup_data=str(paths[1]))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{paths[0].name}, {paths[1].name}: not a StatsBomb events and lineups file "
                          f"({type(exc).__name__}: {exc})") from exc
    home = next(t for t in dataset.metadata.teams if t.ground.name == "HOME")
    away = next(t for t in dataset.metadata.teams if t.ground.name == "AWAY")
    kickoff = start if start is not None else (dataset.metadata.date.timestamp() if dataset.metadata.date else now)
    last_period = max(p.id for p in dataset.metadata.periods)
    rows: list[tuple[float, float, str, str, str, float, str]] = []
    started: set[tuple[str, int]] = set()          # StatsBomb writes each Half Start / Half End once per side
    seen: set[str] = set()                         # kloppy makes several events of one record (a foul and its card)
    clock: dict[int, float] = {}
    for event in dataset.events:
        raw = event.raw_event
        if raw["id"] in seen:
            continue
        seen.add(raw["id"])
        kind, period = raw["type"]["name"], raw["period"]
        if kind in ("Half Start", "Half End"):
            if (kind, period) in started:
                continue
            started.add((kind, period))
        side = "home" if event.team is not None and event.team.team_id == home.team_id else "away"
        into = event.timestamp.total_seconds()
        minute = clock[period] = max(clock.get(period, 0.0), PERIOD_STARTS.get(period, 0.0) + into / 60)
        t = kickoff + event.period.start_timestamp.total_seconds() + into
        player = event.player.name if event.player is not None else ""
        for name, team, xg, detail in feed_events(raw, side, last_period):
            rows.append((t, round(minute, 3), name, team, player, xg, detail))
    if not rows:
        raise ReplayError(f"{paths[0].name}: no events the match feed carries")
    columns = list(zip(*rows))
    match_id = run or safe_id(paths[0].stem)
    track = Track(match_id, np.array(columns[0]), {
        "minute": np.array(columns[1]), "event": np.array(columns[2], dtype=object),
        "team": np.array(columns[3], dtype=object), "player": np.array(columns[4], dtype=object),
        "xg": np.array(columns[5]), "detail": np.array(columns[6], dtype=object)})
    recording = Recording(dict(EVENT_SCHEMA), [track], TIME_FIELD)
    recording.run_config = {"match": {"home_team": home.name, "away_team": away.name}}
    recording.notes.append(f"{home.name} (home) v {away.name} (away), periods 1-{last_period}")
    return recording
