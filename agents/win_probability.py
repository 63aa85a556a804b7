"""In-play win/draw/loss probability: each team's remaining goals as a Poisson count.

Why this model: it can be explained in three sentences and checked by hand. A team scores at a
rate per minute; we know the rate it was expected to have before kickoff (its pre-match strength)
and the expected goals (xG) its shots have produced so far. The rate we believe now is a blend of
the two, weighted by how much play has been seen, and the goals still to come in the time left
are Poisson with that rate. Goals already scored are certain; red cards shift both rates.

    rate_i(t)  = (PRIOR_MINUTES * prematch_i / 90 + xG_i(t)) / (PRIOR_MINUTES + t)      goals per minute
    rate_i    *= (1 - RED_OWN) ** own_reds_i * (1 + RED_OPPONENT) ** opponent_reds_i
    G_i        ~ Poisson(rate_i * minutes_left(t))
    P(home)    = P(score_home + G_home > score_away + G_away), likewise draw and away

The blend is the posterior mean of a Gamma prior on the rate (the pre-match rate, worth
PRIOR_MINUTES minutes of play) updated by xG as if it were observed goals. The added time per period
is fitted on real matches by `bench/win_probability.py`, which also fits PRIOR_MINUTES (see
there and docs/maths.md for why the shipped value differs); the red-card factors are assumptions taken from published studies, since the
data the project can download holds too few red cards to fit them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

TEAMS = ("home", "away")
OUTCOMES = ("home", "draw", "away")
# How many minutes of play the pre-match rate is worth against live xG. bench/win_probability.py
# fits it on the three real matches it can download, and they prefer 1-5 minutes: trust xG at
# once. That is three results, and such a prior makes one early shot swing the forecast to
# certainty, so the shipped value is a full match's worth of prior (docs/maths.md has both
# models' Brier scores; revisit with more matches).
PRIOR_MINUTES = 60.0
# Nominal start and length of each period in minutes of the match clock (StatsBomb's and the
# simulator's), and the added time a period is expected to run over its length: the mean over the
# same real matches (1.3 and 3.1 minutes), to the half minute; extra time: a typical minute.
PERIODS = {1: (0.0, 45.0), 2: (45.0, 45.0), 3: (90.0, 15.0), 4: (105.0, 15.0)}
ADDED_MINUTES = {1: 1.5, 2: 3.0, 3: 1.0, 4: 1.0}
# Minutes still to play once a period has run past its expected added time (play goes on until
# the whistle, which the feed announces).
MIN_MINUTES_LEFT = 0.5
# A sending-off cuts the team's scoring rate by about a third and lifts the opponent's by about a
# fifth (Vecer, Kopriva & Ichiba 2009; Titman et al. 2015 report effects of this size).
RED_OWN = 0.33
RED_OPPONENT = 0.20
# Pre-match goals per match of the home and the away side when a match is not given its own:
# typical of the big European leagues over the 2010s (about 1.5 and 1.2).
DEFAULT_PREMATCH = {"home": 1.5, "away": 1.2}
MAX_GOALS = 20          # remaining goals summed up to this many per team (the tail beyond is < 1e-12)


@dataclass(frozen=True)
class Situation:
    """What the model needs to know about a match at one moment."""

    minute: float
    period: int                          # 1, 2 (regulation), 3, 4 (extra time); 0 before kickoff
    in_break: bool                       # between periods (after a half-time whistle)
    score: Mapping[str, int]
    xg: Mapping[str, float]
    reds: Mapping[str, int]
    prematch: Mapping[str, float]        # goals per 90 minutes expected before kickoff


def minutes_left(period: int, minute: float, in_break: bool, added: Mapping[int, float] = ADDED_MINUTES) -> float:
    """Expected minutes of play until the end of the current stage: regulation (periods 1-2) or,
    once it has begun, extra time (periods 3-4)."""
    period = max(period, 1)
    stage = (1, 2) if period <= 2 else (3, 4)
    if in_break:                                   # the whole next period is still to play
        later = [p for p in stage if p > period]
        return sum(PERIODS[p][1] + added[p] for p in later) if later else MIN_MINUTES_LEFT
    start, length = PERIODS[period]
    left = max(start + length + added[period] - minute, MIN_MINUTES_LEFT)
    return left + sum(PERIODS[p][1] + added[p] for p in stage if p > period)


def minutes_played(period: int, minute: float) -> float:
    """Minutes of play so far: the match clock, never before kickoff."""
    return max(minute, 0.0) if period >= 1 else 0.0


def scoring_rates(s: Situation, prior_minutes: float = PRIOR_MINUTES) -> dict[str, float]:
    """Each team's goals per minute from now on: pre-match rate blended with live xG, red cards applied."""
    played = minutes_played(s.period, s.minute)
    rates = {}
    for team, other in (("home", "away"), ("away", "home")):
        blended = (prior_minutes * s.prematch[team] / 90.0 + s.xg[team]) / (prior_minutes + played)
        rates[team] = blended * (1 - RED_OWN) ** s.reds[team] * (1 + RED_OPPONENT) ** s.reds[other]
    return rates


def poisson_pmf(mean: float, up_to: int = MAX_GOALS) -> list[float]:
    pmf = [math.exp(-mean)]
    for k in range(1, up_to + 1):
        pmf.append(pmf[-1] * mean / k)
    return pmf


def outcome_probabilities(lead: int, home_mean: float, away_mean: float) -> dict[str, float]:
    """P(home wins), P(draw), P(away wins) when home leads by `lead` goals and each side scores
    Poisson(mean) more."""
    home, away = poisson_pmf(home_mean), poisson_pmf(away_mean)
    p = {"home": 0.0, "draw": 0.0, "away": 0.0}
    for i, ph in enumerate(home):
        for j, pa in enumerate(away):
            margin = lead + i - j
            p["home" if margin > 0 else "away" if margin < 0 else "draw"] += ph * pa
    total = sum(p.values())
    return {k: v / total for k, v in p.items()}


def win_probability(s: Situation, prior_minutes: float = PRIOR_MINUTES,
                    added: Mapping[int, float] = ADDED_MINUTES) -> dict[str, float]:
    """{"home", "draw", "away"} probabilities of the result at the end of the current stage."""
    rates = scoring_rates(s, prior_minutes)
    left = minutes_left(s.period, s.minute, s.in_break, added)
    return outcome_probabilities(s.score["home"] - s.score["away"], rates["home"] * left, rates["away"] * left)


def final_result(score: Mapping[str, int]) -> dict[str, float]:
    """The certain 'probabilities' of a finished match (a shoot-out does not change the result of play)."""
    lead = score["home"] - score["away"]
    return {"home": float(lead > 0), "draw": float(lead == 0), "away": float(lead < 0)}


def brier(p: Mapping[str, float], outcome: str) -> float:
    """The multi-class Brier score of one forecast: the squared error summed over the three outcomes."""
    return sum((p[o] - (o == outcome)) ** 2 for o in OUTCOMES)
