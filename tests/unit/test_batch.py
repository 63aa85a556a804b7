"""The run agent's batch path (`run_state.apply_columns`, numpy over a record's columns) against the
per-reading reference (`run_state.apply_readings`): the same state (forecasts too), closed windows and alerts to 1e-9,
for random tracks with out-of-order, duplicate and glitch fixes, odd field values and random batchings."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
from hypothesis import given, settings, strategies as st

from agents import run_rows, run_state
from agents.stats import FieldStats, numeric_columns

T0 = 1_767_225_600.0
GRACE = 2.0

# A fix: time step (0 = duplicate stamp, negative = out of order), x, y in metres (±500: glitches too).
fixes = st.lists(st.tuples(st.sampled_from([-3.0, -0.1, 0.0, 0.02, 0.1, 0.1, 0.1, 0.5, 1.0, 7.0]),
                           st.floats(-500, 500, allow_nan=False), st.floats(-500, 500, allow_nan=False),
                           st.one_of(st.integers(40, 220), st.floats(-1e6, 1e6, allow_nan=False),
                                     st.sampled_from([None, "n/a", True, float("nan"), 10 ** 400]))),
                 min_size=1, max_size=150)
triggers = st.dictionaries(st.sampled_from(["hr", "x", "absent"]),
                           st.tuples(st.floats(-100, 100, allow_nan=False), st.floats(0, 200, allow_nan=False))
                           .map(lambda b: [min(b), max(b)]), max_size=2)


def readings_of(drawn: list[tuple[float, float, float, Any]]) -> list[dict]:
    t, out = T0, []
    for dt, x, y, hr in drawn:
        t += dt
        data = {"x": x, "y": y, "timestamp": t}
        if hr is not None:
            data["hr"] = hr
        out.append({"t": t, "data": data})
    return out


def close(a: Any, b: Any, path: str = "") -> None:
    """Equal structures, floats to 1e-9 (relative, or absolute against the values' own scale)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a, b)
        for key in a:
            close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(a), abs(b))) or (
            math.isnan(a) and math.isnan(b)), (path, a, b)
    else:
        assert a == b and type(a) is type(b), (path, a, b)


@settings(max_examples=300, deadline=None)
@given(fixes, triggers, st.lists(st.integers(0, 150), max_size=6), st.sampled_from([1.0, 5.0, 30.0]))
def test_the_batch_path_equals_the_per_reading_path(drawn, trigger_ranges, cuts, window_seconds):
    readings = readings_of(drawn)
    reference = run_state.new_run("gps", "r1", window_seconds)
    reference["config"]["triggers"] = trigger_ranges
    # Segments close too: intervals of the window size, laps over a line across the track's middle.
    reference["config"]["segments"] = {"interval_s": window_seconds, "lap_line": [[0.0, -500.0], [0.0, 500.0]]}
    reference["config"]["forecast"] = {"fields": ["hr", "absent"], "horizon_s": 3.0}
    batch = reference
    bounds = [0, *sorted(set(c % (len(readings) + 1) for c in cuts)), len(readings)]
    for offset, (a, b) in enumerate(zip(bounds, bounds[1:])):
        reference, closed_ref, alerts_ref = run_state.apply_readings(reference, readings[a:b], offset, 1.0, GRACE,
                                                                     "timestamp")
        batch, closed, alerts = run_state.apply_columns(batch, readings[a:b], offset, 1.0, GRACE, "timestamp")
        close(closed_ref, closed, "closed")
        close(alerts_ref, alerts, "alerts")
        close(reference, batch, "state")
        if offset == 0:                      # a period marker between records, maybe behind the data
            reference = run_state.apply_marker(reference, T0 + 3.0, "second")
            batch = run_state.apply_marker(batch, T0 + 3.0, "second")
    close(run_rows.summary(reference), run_rows.summary(batch), "summary")


def test_a_replayed_record_changes_nothing_on_the_batch_path():
    readings = readings_of([(0.1, i, 0.0, 120) for i in range(10)])
    state, _, _ = run_state.apply_columns(run_state.new_run("gps", "r1", 5.0), readings, 3, 0.0, GRACE, "timestamp")
    again, closed, alerts = run_state.apply_columns(state, readings, 3, 0.0, GRACE, "timestamp")
    assert again is state and closed == [] and alerts == []


def test_columns_keep_finite_numbers_only_and_say_where_they_were():
    columns = numeric_columns([{"a": 1, "b": "x"}, {"a": float("inf"), "b": 2.5}, {"a": True}, {"a": 10 ** 400},
                               {"a": -3.5}])
    assert columns["a"][0].tolist() == [0, 4] and columns["a"][1].tolist() == [1.0, -3.5]
    assert columns["b"][0].tolist() == [1] and columns["b"][1].tolist() == [2.5]


def test_a_burst_of_large_offset_values_keeps_the_spread_exact():
    """Values near 1.7e9 (epoch seconds) with a spread of 0.1, in bursts: the spread to 1e-9 of the
    exact figure (statistics.stdev computes in fractions), where a naive sum of squares loses it all."""
    values = T0 + np.arange(1000) * 0.1
    stats = FieldStats()
    burst = stats.add_many(stats.add_many(stats.initial(), values[:300]), values[300:])
    exact = statistics.stdev(values.tolist())
    assert math.isclose(stats.result(burst)["std"], exact, rel_tol=1e-9)
