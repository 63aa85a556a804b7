"""Win-probability model: fit and calibration on real matches, against two baselines.

Data: the whole StatsBomb open-data matches that kloppy's source distribution on PyPI ships as test
files, downloaded at run time (simulator/replay/samples.py), read by the project's own replay
loader (kloppy) and folded by the match reducer, exactly as a replayed match is live. After every
event the model's forecast of the result (home win / draw / away win) is scored against how the
match really ended. Points after full time (certain) are left out.

Models scored on the same points:
- in-play as shipped: agents/win_probability.py with its constants;
- in-play with the prior weight fitted leave-one-match-out (chosen on the other matches by the
  lowest Brier score, scored on the held-out one): what the data alone would pick;
- pre-match odds only: the model's kickoff forecast from the pre-match strengths, held all match;
- constant base rate: the home/draw/away frequencies of the matches themselves (in-sample, which
  flatters it).

Brier score: the squared error summed over the three outcomes, averaged over points (0 is perfect;
always saying 1/3 each scores 0.667). The reliability table pools the three outcomes' forecasts
(one against the rest) into bins and compares the mean forecast with how often it happened.

Run it with `scripts/bench win_probability` (no stack needed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import numpy as np

from agents.match_state import apply_events, apply_setup, new_match, situation
from agents.win_probability import OUTCOMES, PERIODS, PRIOR_MINUTES, Situation, brier, win_probability
from simulator.replay.events import load_statsbomb
from simulator.replay.samples import MATCHES, statsbomb_match

SHIPPED = f"in-play, as shipped (prior {PRIOR_MINUTES:g} min)"
FITTED = "in-play, prior fitted leave-one-match-out"
PRIOR_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 270.0, 400.0)
BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0000001)


class Match:
    """One real match: the situation after each of its events, its result and its periods' lengths."""

    def __init__(self, name: str) -> None:
        recording = load_statsbomb(list(statsbomb_match(name)), None, 0.0, time.time())
        track = recording.tracks[0]
        state = apply_setup(new_match(name), recording.setup["match"])
        self.name = f"{recording.setup['match']['home_team']} v {recording.setup['match']['away_team']}"
        self.situations: list[Situation] = []
        self.period_ends: dict[int, float] = {}
        for reading in track.readings(np.arange(len(track)), recording.time_field):
            state = apply_events(state, [{"t": reading["timestamp"], "data": reading}]).state
            if state["status"] == "finished":
                break
            if reading["event"] == "half_time" or state["period"] in PERIODS:
                self.period_ends[state["period"]] = state["minute"]
            self.situations.append(situation(state))
        score = {t: state["sides"][t]["goals"] for t in ("home", "away")}
        self.outcome = "home" if score["home"] > score["away"] else "away" if score["away"] > score["home"] else "draw"
        self.score = f"{score['home']}-{score['away']}"


def mean_brier(matches: list[Match], prior: float) -> float:
    return statistics.fmean(brier(win_probability(s, prior), m.outcome) for m in matches for s in m.situations)


def fit_prior(matches: list[Match]) -> float:
    return min(PRIOR_GRID, key=lambda prior: mean_brier(matches, prior))


def forecasts(matches: list[Match]) -> dict[str, list[tuple[dict[str, float], str]]]:
    """(forecast, outcome) per point for each model; in-play fitted leave-one-match-out."""
    base = Counter(m.outcome for m in matches)
    base_rate = {o: base[o] / len(matches) for o in OUTCOMES}
    out: dict[str, list[tuple[dict[str, float], str]]] = {SHIPPED: [], FITTED: [], "pre-match odds only": [],
                                                          "constant base rate": []}
    for held in matches:
        others = [m for m in matches if m is not held]
        prior = fit_prior(others) if others else PRIOR_MINUTES
        kickoff = win_probability(held.situations[0])
        for s in held.situations:
            out[SHIPPED].append((win_probability(s), held.outcome))
            out[FITTED].append((win_probability(s, prior), held.outcome))
            out["pre-match odds only"].append((kickoff, held.outcome))
            out["constant base rate"].append((base_rate, held.outcome))
    return out


def reliability(points: list[tuple[dict[str, float], str]]) -> list[tuple[str, int, float, float]]:
    """(bin, forecasts in it, mean forecast, observed frequency), the three outcomes pooled."""
    rows = []
    pairs = [(p[o], float(o == outcome)) for p, outcome in points for o in OUTCOMES]
    for lo, hi in zip(BINS, BINS[1:]):
        inside = [(f, hit) for f, hit in pairs if lo <= f < hi]
        if inside:
            rows.append((f"{lo:.1f}-{min(hi, 1):.1f}", len(inside), statistics.fmean(f for f, _ in inside),
                         statistics.fmean(hit for _, hit in inside)))
    return rows


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    matches = [Match(name) for name in MATCHES]
    print(f"data: {len(matches)} whole StatsBomb matches from kloppy's sdist "
          f"({', '.join(f'{m.name} {m.score}' for m in matches)}), "
          f"{sum(len(m.situations) for m in matches):,} forecast points (one after every event)")
    print("LIMITATION: three matches (three results) cannot establish calibration; every figure below has "
          "wide uncertainty and the points within a match are strongly correlated.")
    for p in (1, 2):
        overruns = [m.period_ends[p] - sum(PERIODS[p]) for m in matches if p in m.period_ends]
        print(f"added time, period {p}: mean {statistics.fmean(overruns):.1f} min "
              f"({', '.join(f'{o:.1f}' for o in overruns)})")
    print(f"prior weight fitted on all {len(matches)} matches: {fit_prior(matches):g} minutes "
          f"(the model ships PRIOR_MINUTES = {PRIOR_MINUTES:g}); leave-one-out choices: "
          f"{', '.join(f'{fit_prior([o for o in matches if o is not m]):g}' for m in matches)}")
    scored = forecasts(matches)
    print()
    print(f"| model | Brier score | ratio to the shipped model | " + " | ".join(m.name for m in matches) + " |")
    print("| --- | --- | --- |" + " --- |" * len(matches))
    inplay = statistics.fmean(brier(p, o) for p, o in scored[SHIPPED])
    start = 0
    spans = []
    for m in matches:
        spans.append((start, start + len(m.situations)))
        start += len(m.situations)
    for model, points in scored.items():
        overall = statistics.fmean(brier(p, o) for p, o in points)
        per_match = [statistics.fmean(brier(p, o) for p, o in points[a:b]) for a, b in spans]
        print(f"| {model} | {overall:.3f} | {overall / inplay:.2f} | " + " | ".join(f"{b:.3f}" for b in per_match) + " |")
    for model, points in scored.items():
        print(f"\nreliability, {model} (the three outcomes pooled, one against the rest):")
        print("| forecast | n | mean forecast | observed |")
        print("| --- | --- | --- | --- |")
        for label, n, forecast, observed in reliability(points):
            print(f"| {label} | {n:,} | {forecast:.3f} | {observed:.3f} |")


if __name__ == "__main__":
    main()
