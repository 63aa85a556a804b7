"""StatsBomb records → match-feed events (simulator/replay/events.py), on hand-made records."""

from __future__ import annotations

import json

import pytest

from simulator.replay.events import feed_events, looks_like_statsbomb


def record(kind: str, period: int = 1, **extra) -> dict:
    return {"type": {"name": kind}, "period": period, **extra}


def shot(outcome: str, period: int = 1, xg: float = 0.2) -> dict:
    return record("Shot", period, shot={"outcome": {"name": outcome}, "statsbomb_xg": xg})


@pytest.mark.parametrize("raw, expected", [
    (record("Half Start"), [("kickoff", "", 0.0, "period 1")]),
    (record("Half End", 1), [("half_time", "", 0.0, "end of period 1")]),
    (record("Half End", 2), [("full_time", "", 0.0, "end of period 2")]),
    (record("Pass"), [("pass", "home", 0.0, "")]),
    (record("Carry"), [("carry", "home", 0.0, "")]),
    (shot("Goal", xg=0.7), [("goal", "home", 0.7, "Goal")]),
    (shot("Saved To Post"), [("shot_saved", "home", 0.2, "Saved To Post")]),
    (shot("Post"), [("shot", "home", 0.2, "Post")]),
    (shot("Goal", period=5), [("shootout_goal", "home", 0.0, "Goal")]),          # not a match goal
    (shot("Saved", period=5), [("shootout_miss", "home", 0.0, "Saved")]),
    (record("Own Goal Against"), [("own_goal", "home", 0.0, "own goal")]),
    (record("Own Goal For"), []),                                                # the same goal, once
    (record("Foul Committed", foul_committed={"card": {"name": "Second Yellow"}}),
     [("yellow_card", "home", 0.0, "Second Yellow"), ("red_card", "home", 0.0, "Second Yellow")]),
    (record("Bad Behaviour", bad_behaviour={"card": {"name": "Red Card"}}), [("red_card", "home", 0.0, "Red Card")]),
    (record("Foul Committed", foul_committed={}), []),
    (record("Pressure"), []),
])
def test_records_become_feed_events(raw, expected):
    assert feed_events(raw, "home", last_period=2) == expected


def test_the_last_period_ends_the_match_even_after_a_shootout():
    assert feed_events(record("Half End", 2), "home", last_period=5)[0][0] == "half_time"
    assert feed_events(record("Half End", 5), "home", last_period=5)[0][0] == "full_time"


def test_a_statsbomb_file_is_told_from_its_first_events(tmp_path):
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"id": "x", "possession_team": {"id": 1}, "type": {"name": "Starting XI"}}]))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"frames": []}))
    assert looks_like_statsbomb(events) and not looks_like_statsbomb(other)
