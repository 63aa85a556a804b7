"""The forecast maths (agents/forecast.py): the burst path against the per-reading reference, what
Holt's method must get right on series whose answer is known, and interval coverage on noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from agents import forecast
from cql.forecasts import forecast_writes
from tests.unit.test_batch import close

T0 = 1_767_225_600.0


def folded(ts, ys, issue_every: int = 0, horizon_s: float = 5.0):
    """The reference: one observation at a time, issuing a forecast every `issue_every` observations."""
    state, rows = forecast.field_initial(), []
    for i, (t, y) in enumerate(zip(ts, ys)):
        state, scored = forecast.field_add(state, float(t), float(y))
        rows += scored
        if issue_every and i % issue_every == 0:
            state, _ = forecast.issue(state, horizon_s)
    return state, rows


# An observation: a time step (0 = duplicate stamp, negative = late) and a value.
observations = st.lists(st.tuples(st.sampled_from([-2.0, 0.0, 0.01, 0.1, 0.1, 0.5, 1.0, 1.0, 3.0, 60.0]),
                                  st.floats(-1e4, 1e4, allow_nan=False)), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(observations, st.lists(st.integers(0, 120), max_size=5), st.sampled_from([0.5, 5.0, 100.0]))
def test_the_burst_update_equals_the_per_reading_update(drawn, cuts, horizon_s):
    ts = T0 + np.cumsum([dt for dt, _ in drawn])
    ys = np.array([y for _, y in drawn])
    bounds = [0, *sorted(set(c % (len(ts) + 1) for c in cuts)), len(ts)]
    reference, burst = forecast.field_initial(), forecast.field_initial()
    for a, b in zip(bounds, bounds[1:]):
        order = np.argsort(ts[a:b], kind="stable")       # a burst arrives sorted (run_state sorts it)
        rows_ref = []
        for t, y in zip(ts[a:b][order], ys[a:b][order]):
            reference, scored = forecast.field_add(reference, float(t), float(y))
            rows_ref += scored
        burst, rows = forecast.field_add_burst(burst, ts[a:b][order], ys[a:b][order])
        close(rows_ref, rows, "rows")
        close(reference, burst, "state")
        reference, _ = forecast.issue(reference, horizon_s)
        burst, _ = forecast.issue(burst, horizon_s)
    close(forecast.forecast(reference, horizon_s), forecast.forecast(burst, horizon_s), "forecast")


def test_a_noiseless_line_is_learnt_exactly_whatever_the_spacing():
    rng = np.random.default_rng(7)
    ts = T0 + np.cumsum(rng.uniform(0.05, 30.0, 1000))       # spacing varying 600-fold
    ys = 12.0 - 0.25 * (ts - T0)
    widths = []
    state = forecast.field_initial()
    for part in np.split(np.arange(1000), 5):
        state, _ = forecast.field_add_burst(state, ts[part], ys[part])
        out = forecast.forecast(state, 90.0)
        assert math.isclose(out["forecast"], 12.0 - 0.25 * (ts[part[-1]] + 90.0 - T0), abs_tol=1e-6)
        widths.append(out["upper_95"] - out["lower_95"])
    # The trend starts at 0: the start-up's errors widen the intervals until they fade (FORGET).
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 5
    assert out["observations"] == 1000 and out["model"]["trend_per_s"] == pytest.approx(-0.25)


def test_late_and_duplicate_observations_are_left_out():
    state, _ = folded([T0, T0 + 1, T0 + 2, T0 + 3], [1.0, 2.0, 3.0, 4.0])
    again, rows = forecast.field_add(state, T0 + 3, 100.0)
    assert again is state and rows == []
    again, _ = forecast.field_add(state, T0 + 1.5, 100.0)
    assert again is state


def test_the_error_variance_grows_with_the_horizon_from_the_one_step_variance():
    assert forecast.horizon_variance(2.0, 0.3, 0.1, 1.0) == 2.0
    assert forecast.horizon_variance(2.0, 0.3, 0.1, 0.2) == 2.0
    values = [forecast.horizon_variance(2.0, 0.3, 0.1, h) for h in (1, 2, 5, 20, 100)]
    assert values == sorted(values) and values[-1] > 10 * values[0]
    # h = 2: sigma^2 (1 + alpha^2 + 2 alpha beta* + beta*^2) with beta* = alpha beta (Hyndman et al.)
    b = 0.3 * 0.1
    assert math.isclose(forecast.horizon_variance(1.0, 0.3, 0.1, 2.0), 1 + 0.09 + 2 * 0.3 * b + b * b)


def test_the_grid_picks_heavy_smoothing_for_noise_and_light_for_a_random_walk():
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(2000.0)
    noise, _ = forecast.field_add_burst(forecast.field_initial(), ts, 20.0 + rng.normal(0, 1, 2000))
    walk, _ = forecast.field_add_burst(forecast.field_initial(), ts, np.cumsum(rng.normal(0, 1, 2000)))
    assert forecast.forecast(noise, 10.0)["model"]["alpha"] == min(forecast.ALPHAS)
    assert forecast.forecast(walk, 10.0)["model"]["alpha"] >= 0.6


def test_intervals_cover_later_observations_at_about_their_nominal_rate():
    rng = np.random.default_rng(11)
    ts = T0 + np.cumsum(rng.uniform(0.5, 1.5, 6000))
    ys = 5.0 + 0.1 * (ts - T0) + rng.normal(0, 2.0, len(ts))
    state, rows = folded(ts, ys, issue_every=10, horizon_s=8.0)
    result = forecast.scores(state)
    assert result["count"] == len(rows) > 500
    assert 0.72 <= result["coverage_80"] <= 0.88
    assert 0.9 <= result["coverage_95"] <= 0.99
    assert result["mae"] < result["naive_mae"]          # the trend is worth following here
    row = rows[-1]
    assert row["target_t"] == row["issued_at"] + 8.0 and row["in_95"] == (row["lower_95"] <= row["realised"] <=
                                                                          row["upper_95"])


def test_the_realised_value_is_the_first_observation_at_or_after_the_target_time():
    state, _ = folded(T0 + np.arange(5.0), [0.0, 1.0, 2.0, 3.0, 4.0])
    state, issued = forecast.issue(state, 2.5)            # target T0 + 6.5
    assert issued["target_t"] == T0 + 6.5
    state, rows = forecast.field_add(state, T0 + 6.0, 6.0)
    assert rows == [] and len(state["pending"]) == 1
    state, rows = forecast.field_add(state, T0 + 8.0, 10.0)
    assert rows[0]["realised"] == 10.0 and rows[0]["realised_t"] == T0 + 8.0 and state["pending"] == []
    assert state["scored"]["count"] == 1


def test_issuing_is_once_per_observation_and_bounded():
    state, _ = folded(T0 + np.arange(5.0), [0.0, 1.0, 2.0, 3.0, 4.0])
    state, first = forecast.issue(state, 10.0)
    again, second = forecast.issue(state, 10.0)
    assert first is not None and second is None and again is state
    for i in range(forecast.MAX_PENDING + 10):
        state, _ = forecast.field_add(state, T0 + 5 + i * 1e-3, 4.0)
        state, _ = forecast.issue(state, 1000.0)
    assert len(state["pending"]) == forecast.MAX_PENDING


def test_no_forecast_before_two_one_step_errors():
    state, _ = folded([T0, T0 + 1], [1.0, 2.0])
    assert forecast.forecast(state, 5.0) is None
    state, _ = forecast.field_add(state, T0 + 3, 4.0)
    assert forecast.forecast(state, 5.0) is not None


def test_an_issue_and_its_score_are_two_writes_of_their_own_columns_under_one_key():
    state, _ = folded(T0 + np.arange(10.0), np.arange(10.0) ** 1.5)
    state, issued = forecast.issue(state, 2.0)
    state, scored = forecast.field_add(state, T0 + 12, 40.0)
    writes = [w for row in (issued, scored[0])
              for w in forecast_writes({"device_id": "d", "run_id": "r", "row": {"field": "temp", **row}})]
    key = ("d", "r", "temp", 1_767_225_609_000, 2.0)
    assert len(writes) == 2 and writes[0].params[:5] == writes[1].params[:5] == key
    assert writes[0].partition == writes[1].partition and writes[0].row != writes[1].row   # both kept in a batch
    for write in writes:
        columns = write.cql.split("(")[1].split(")")[0].split(", ")
        assert len(columns) == write.cql.count("?") == len(write.params)
    assert "realised" not in writes[0].cql and "forecast," not in writes[1].cql
