"""The match agent on a real worker: a real StatsBomb match replayed through the live path, and bad
events refused at the gateway with nothing applied."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from models.match import EVENT_SCHEMA, EVENTS_DEVICE
from simulator.replay.samples import statsbomb_match
from simulator.transport import register
from sports_prophet.config import REPO_ROOT
from tests.integration.conftest import unique, wait_for

pytestmark = pytest.mark.integration
KICKOFF = 1_623_438_000.0            # 2021-06-11 19:00 UTC, the Euro 2020 opener


def expected_from_file(events_path) -> dict:
    """Each side's goals, shots and xG read straight from the StatsBomb file (not through kloppy):
    own goals count for the side StatsBomb credits (`Own Goal For`); shoot-out kicks (period 5) are
    not match shots or goals."""
    raw = json.loads(events_path.read_text())
    home = next(e["team"]["name"] for e in raw if e["type"]["name"] == "Starting XI")
    side = lambda e: "home" if e["team"]["name"] == home else "away"        # noqa: E731
    goals, shots, xg = Counter(), Counter(), defaultdict(float)
    for e in raw:
        if e["type"]["name"] == "Shot" and e["period"] < 5:
            shots[side(e)] += 1
            xg[side(e)] += e["shot"]["statsbomb_xg"]
            goals[side(e)] += e["shot"]["outcome"]["name"] == "Goal"
        elif e["type"]["name"] == "Own Goal For":
            goals[side(e)] += 1
    return {"goals": goals, "shots": shots, "xg": xg, "own_goals": sum(e["type"]["name"] == "Own Goal For" for e in raw)}


async def json_of(http, url: str, status: int = 200) -> dict:
    async with http.get(url) as response:
        assert response.status == status, (url, await response.text())
        return await response.json()


async def test_a_replayed_statsbomb_match_ends_as_its_file_says(http, worker):
    events, lineups = statsbomb_match("3788741")            # Turkey 0-3 Italy, with an own goal
    expected = expected_from_file(events)
    assert expected["own_goals"] == 1
    match = unique("euro")
    result = subprocess.run([sys.executable, "-m", "sports_prophet.cli", "replay", str(events), str(lineups),
                             "--run", match, "--start", "2021-06-11T19:00:00Z", "--as-fast-as-possible", "--url", worker.url],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "errors 0" in result.stdout

    async def finished():
        async with http.get(f"{worker.url}/matches/{match}") as response:
            body = await response.json() if response.status == 200 else {}
        return body if body.get("status") == "finished" else None

    final = await wait_for(finished, timeout=120, interval=0.5, what=f"match {match} at full time")
    assert final["score"] == {"home": expected["goals"]["home"], "away": expected["goals"]["away"]} == \
        {"home": 0, "away": 3}
    for side in ("home", "away"):
        assert final["teams"][side]["shots"] == expected["shots"][side]
        assert final["teams"][side]["xg"] == pytest.approx(expected["xg"][side], abs=1e-3)
    assert (final["teams"]["home"]["name"], final["teams"]["away"]["name"]) == ("Turkey", "Italy")
    assert final["rejected_batches"] == 0 and final["win_probability"] == {"home": 0.0, "draw": 0.0, "away": 1.0}
    assert final["teams"]["away"]["possession"] > 0.5

    timeline = (await json_of(http, f"{worker.url}/matches/{match}/timeline"))["timeline"]
    own_goal = next(e for e in timeline if e["event"] == "own_goal")
    assert own_goal["team"] == "home" and own_goal["score"] == {"home": 0, "away": 1}
    curve = await json_of(http, f"{worker.url}/matches/{match}/win-probability")
    assert curve["points"][0]["minute"] == 0 and len(curve["points"]) >= 90
    before, after = (p["away"] for p in curve["points"] if p["minute"] in (0, own_goal["minute"]))
    assert after > before                                    # Italy's chances rose with the goal
    listed = (await json_of(http, f"{worker.url}/matches"))["matches"]
    assert any(m["match_id"] == match and m["score"] == {"home": 0, "away": 3} for m in listed)

    async def archived():
        async with http.get(f"{worker.url}/history/matches/{match}") as response:
            body = await response.json() if response.status == 200 else {}
        return body if body.get("status") == "finished" else None

    assert (await wait_for(archived, timeout=60, interval=0.5, what="the archived match"))["score"] == final["score"]
    history = await json_of(http, f"{worker.url}/history/matches/{match}/timeline")
    assert [e["seq"] for e in history["timeline"]] == [e["seq"] for e in timeline]
    day = await json_of(http, f"{worker.url}/history/matches?from=2021-06-11&to=2021-06-11")
    assert match in {m["match_id"] for m in day["matches"]}


def event(minute: float, kind: str, team: str = "home", xg: float = 0.0) -> dict:
    return {"timestamp": KICKOFF + minute * 60, "minute": minute, "event": kind, "team": team, "player": "p",
            "xg": xg, "detail": ""}


async def test_bad_events_get_clear_errors_and_nothing_is_half_applied(http, worker):
    await register(http, worker.url, EVENTS_DEVICE, EVENT_SCHEMA)
    match = unique("bad")
    url = f"{worker.url}/ingest/{EVENTS_DEVICE}/{match}"

    async def post(events: list[dict]) -> tuple[int, dict]:
        async with http.post(url, json=events) as response:
            return response.status, await response.json()

    assert (await post([event(0, "kickoff", ""), event(10, "goal", xg=0.4)]))[0] == 200

    async def applied(n: int):
        async with http.get(f"{worker.url}/matches/{match}") as response:
            body = await response.json() if response.status == 200 else {}
        return body if body.get("events") == n else None

    await wait_for(lambda: applied(2), what="the first two events")
    bad = {"unknown team": event(12, "shot", team="Barcelona", xg=0.1), "negative minute": event(-1, "pass"),
           "decreasing minute": event(9, "shot", xg=0.1), "xg above 1": event(12, "shot", xg=1.5),
           "xg below 0": event(12, "shot", xg=-0.2)}
    for what, wrong in bad.items():
        status, body = await post([event(11, "goal", xg=0.3), wrong])          # the good one is refused with it
        assert status == 422, (what, body)
        assert body["detail"]["index"] == 1 and "nothing was written" in body["error"], (what, body)
    assert (await post([event(12, "shot", team="away", xg=0.1)]))[0] == 200
    status, body = await post([event(13, "pass", team="visitors")])
    assert status == 422 and "unknown team 'visitors'" in json.dumps(body), body

    async with http.ws_connect(f"{worker.ws_url}/send-stream/{EVENTS_DEVICE}/{match}") as ws:
        await ws.send_str(json.dumps(event(5, "pass")))                      # before the match's minute
        reply = await ws.receive_json(timeout=10)
        assert reply["frame"] == 1 and "minute goes back" in reply["error"], reply
        await ws.send_str(json.dumps(event(94, "full_time", "")))
        assert (await ws.receive_json(timeout=10)) == {"ack": 2, "readings": 1}
    await wait_for(lambda: applied(4), what="full time")
    status, body = await post([event(95, "goal", xg=0.5)])
    assert status == 409 and "finished" in body["error"], body
    final = await applied(4)
    assert final["score"] == {"home": 1, "away": 0} and final["teams"]["away"]["shots"] == 1
    assert final["status"] == "finished" and final["rejected_batches"] == 0
