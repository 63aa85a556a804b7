"""The match reducer and the win-probability model: pure functions, no Kafka."""

from __future__ import annotations

import pytest

from agents import win_probability as wp
from agents.match_state import MatchEventError, apply_events, apply_setup, new_match, summary

T0 = 1_700_000_000.0


def ev(minute: float, event: str, team: str = "home", xg: float = 0.0, player: str = "p") -> dict:
    return {"t": T0 + minute * 60, "data": {"timestamp": T0 + minute * 60, "minute": minute, "event": event,
                                            "team": team, "player": player, "xg": xg, "detail": ""}}


def play(*events: dict, state: dict | None = None) -> dict:
    return apply_events(state or new_match("m1"), list(events)).state


def test_score_shots_xg_possession_cards_and_subs():
    state = play(ev(0, "kickoff", ""), ev(1, "pass"), ev(2, "carry"), ev(3, "pass", "away"), ev(4, "pass"),
                 ev(5, "shot", xg=0.1), ev(6, "shot_saved", xg=0.2), ev(7, "goal", xg=0.5),
                 ev(8, "shot", "away", xg=0.05), ev(9, "yellow_card", "away"), ev(10, "red_card", "away"),
                 ev(11, "substitution"))
    s = summary(state)
    home, away = s["teams"]["home"], s["teams"]["away"]
    assert s["score"] == {"home": 1, "away": 0} and s["status"] == "playing" and s["period"] == 1
    assert (home["shots"], home["shots_on_target"], home["xg"]) == (3, 2, pytest.approx(0.8))
    assert (away["shots"], away["shots_on_target"], away["xg"]) == (1, 0, pytest.approx(0.05))
    assert (home["possession"], away["possession"]) == (0.75, 0.25)
    assert (away["yellow_cards"], away["red_cards"], home["substitutions"]) == (1, 1, 1)


def test_an_own_goal_is_a_goal_for_the_other_side():
    s = summary(play(ev(0, "kickoff"), ev(52, "own_goal", "home")))
    assert s["score"] == {"home": 0, "away": 1}
    assert s["teams"]["home"]["own_goals"] == 1 and s["teams"]["away"]["shots"] == 0


def test_a_shootout_is_not_match_goals():
    state = play(ev(0, "kickoff"), ev(45, "half_time", ""), ev(45, "kickoff"), ev(93, "half_time", ""),
                 ev(90, "kickoff"), ev(105, "half_time", ""), ev(105, "kickoff"), ev(121, "half_time", ""),
                 ev(120, "kickoff"), ev(120.5, "shootout_goal"), ev(121, "shootout_miss", "away"),
                 ev(122, "full_time", ""))
    s = summary(state)
    assert s["score"] == {"home": 0, "away": 0} and s["shootout"] == {"home": 1, "away": 0}
    assert s["status"] == "finished" and s["win_probability"] == {"home": 0.0, "draw": 1.0, "away": 0.0}


def test_the_clock_restarts_only_at_a_period_start():
    first_half = play(ev(0, "kickoff"), ev(47.5, "pass"), ev(47.6, "half_time", ""))
    second = play(ev(45, "kickoff"), ev(46, "pass"), state=first_half)          # 47.6 → 45: a new period
    assert second["period"] == 2 and second["minute"] == 46
    with pytest.raises(MatchEventError, match="minute goes back") as err:
        play(ev(44, "kickoff"), state=first_half)
    assert "period 2 kicks off at minute 45" in str(err.value.detail)
    with pytest.raises(MatchEventError, match="minute goes back"):
        play(ev(45.5, "pass"), state=second)


@pytest.mark.parametrize("bad, field", [
    (ev(5, "pass", team="Barcelona"), "team"), (ev(5, "pass", team=""), "team"), (ev(-1, "pass"), "minute"),
    (ev(5, "shot", xg=1.2), "xg"), (ev(5, "shot", xg=-0.1), "xg"), (ev(5, "dive"), "event")])
def test_a_bad_event_refuses_the_whole_batch(bad, field):
    start = play(ev(0, "kickoff"), ev(1, "goal", xg=0.3))
    with pytest.raises(MatchEventError) as err:
        apply_events(start, [ev(2, "goal", xg=0.4), bad, ev(6, "goal", xg=0.4)])
    assert err.value.index == 1 and field in err.value.detail and not err.value.conflict
    assert summary(start)["score"] == {"home": 1, "away": 0}         # pure: the state is untouched


def test_an_event_after_full_time_is_a_conflict():
    finished = play(ev(0, "kickoff"), ev(94, "full_time", ""))
    with pytest.raises(MatchEventError) as err:
        play(ev(95, "goal", xg=0.9), state=finished)
    assert err.value.conflict and err.value.message == "the match is finished"


def test_timeline_and_probability_points():
    update = apply_events(new_match("m"), [ev(0, "kickoff", ""), ev(0.5, "pass"), ev(1.2, "pass"), ev(1.5, "pass"),
                                           ev(2.1, "shot", xg=0.1)])
    assert [e["event"] for e in update.timeline] == ["kickoff", "shot"]
    assert [e["seq"] for e in update.timeline] == [0, 1]
    assert [p["minute"] for p in update.points] == [0, 1.2, 2.1]      # timeline events and one a minute
    assert all(abs(p["home"] + p["draw"] + p["away"] - 1) < 1e-9 for p in update.points)


def test_setup_names_the_sides_and_moves_the_prematch_probability():
    state = apply_setup(new_match("m"), {"home_team": "Turkey", "away_team": "Italy", "home_goals": 0.9,
                                         "away_goals": 1.7})
    s = summary(state)
    assert (s["teams"]["home"]["name"], s["teams"]["away"]["name"]) == ("Turkey", "Italy")
    assert s["win_probability"]["away"] > s["win_probability"]["home"]


def situation(**kw) -> wp.Situation:
    base = dict(minute=0.0, period=1, in_break=False, score={"home": 0, "away": 0}, xg={"home": 0.0, "away": 0.0},
                reds={"home": 0, "away": 0}, prematch={"home": 1.35, "away": 1.35})
    return wp.Situation(**{**base, **kw})


def test_equal_sides_at_kickoff_are_symmetric_and_the_draw_matches_poisson():
    p = wp.win_probability(situation())
    assert p["home"] == pytest.approx(p["away"]) and sum(p.values()) == pytest.approx(1)
    mean = 1.35 / 90 * wp.minutes_left(1, 0.0, False)
    draw = sum(wp.poisson_pmf(mean)[k] ** 2 for k in range(wp.MAX_GOALS + 1))
    assert p["draw"] == pytest.approx(draw)


def test_a_late_lead_is_nearly_certain_and_xg_and_reds_move_the_rates():
    assert wp.win_probability(situation(minute=92, period=2, score={"home": 1, "away": 0}))["home"] > 0.9
    base = wp.scoring_rates(situation(minute=60, period=2))
    hot = wp.scoring_rates(situation(minute=60, period=2, xg={"home": 3.0, "away": 0.0}))
    assert hot["home"] > base["home"] and hot["away"] == pytest.approx(base["away"])
    red = wp.scoring_rates(situation(minute=60, period=2, reds={"home": 1, "away": 0}))
    assert red["home"] == pytest.approx(base["home"] * (1 - wp.RED_OWN))
    assert red["away"] == pytest.approx(base["away"] * (1 + wp.RED_OPPONENT))


def test_minutes_left_follow_the_periods():
    added = wp.ADDED_MINUTES
    assert wp.minutes_left(1, 0, False) == pytest.approx(45 + added[1] + 45 + added[2])
    assert wp.minutes_left(1, 45, True) == pytest.approx(45 + added[2])        # half time
    assert wp.minutes_left(2, 80, False) == pytest.approx(10 + added[2])
    assert wp.minutes_left(2, 99, False) == wp.MIN_MINUTES_LEFT               # past the expected added time
    assert wp.minutes_left(3, 90, False) == pytest.approx(15 + 1 + 15 + 1)     # extra time is its own stage
    assert wp.brier({"home": 1, "draw": 0, "away": 0}, "home") == 0
    assert wp.brier({"home": 0.5, "draw": 0.25, "away": 0.25}, "draw") == pytest.approx(0.25 + 0.5625 + 0.0625)


def test_a_feed_without_the_optional_fields_is_refused_or_taken_never_a_crash():
    """A `match_events` device registered with another schema: missing required values are an error,
    missing player and detail are fine."""
    with pytest.raises(MatchEventError, match="invalid"):
        apply_events(new_match("m"), [{"t": T0, "data": {"minute": 1.0, "event": "shot", "team": "home"}}])
    taken = apply_events(new_match("m"), [{"t": T0, "data": {"minute": 1.0, "event": "shot", "team": "home", "xg": 0.2}}])
    assert taken.timeline[0]["player"] == "" and summary(taken.state)["teams"]["home"]["shots"] == 1
