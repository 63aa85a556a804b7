"""Properties of the maths over random tracks (hypothesis): what must hold whatever the data."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from agents import run_rows, run_state
from agents.motion import motion_add_xy, motion_flush, motion_initial
from agents.motion_config import MotionConfig

T0 = 1_767_225_600.0
GRACE = 2.0

# A fix: time step (0 = a duplicate stamp, negative = out of order), x, y in metres on a pitch.
steps = st.lists(st.tuples(st.sampled_from([-0.1, 0.0, 0.02, 0.1, 0.1, 0.1, 0.5, 1.0]),
                           st.floats(-60, 60, allow_nan=False), st.floats(-40, 40, allow_nan=False)),
                 min_size=1, max_size=120)


def fixes_of(drawn: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    t, out = T0, []
    for dt, x, y in drawn:
        t += dt
        out.append((t, x, y))
    return out


def readings_of(fixes: list[tuple[float, float, float]]) -> list[dict]:
    return [{"t": t, "data": {"x": x, "y": y, "hr": 100 + i % 50, "timestamp": t}} for i, (t, x, y) in enumerate(fixes)]


def fold(readings: list[dict], cuts: list[int]) -> dict:
    """The run's state after the readings arrive as records split at `cuts`."""
    state = run_state.new_run("gps", "r1", 5.0)
    bounds = [0, *sorted(set(c % (len(readings) + 1) for c in cuts)), len(readings)]
    for offset, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if a < b:
            state, _, _ = run_state.apply_readings(state, readings[a:b], offset, 0.0, GRACE, "timestamp")
    return state


@settings(max_examples=200, deadline=None)
@given(steps, st.lists(st.integers(0, 200), max_size=8), st.lists(st.integers(0, 200), max_size=8))
def test_stats_do_not_depend_on_how_readings_are_batched(drawn, cuts_a, cuts_b):
    readings = readings_of(fixes_of(drawn))
    a, b = run_rows.summary(fold(readings, cuts_a)), run_rows.summary(fold(readings, cuts_b))
    assert a["readings"] == b["readings"] == len(readings)
    for field in ("x", "y", "hr"):
        for name, value in a["stats"][field].items():
            assert math.isclose(value, b["stats"][field][name], rel_tol=1e-9, abs_tol=1e-9), (field, name)


@settings(max_examples=200, deadline=None)
@given(steps, st.lists(st.integers(0, 200), max_size=8), st.lists(st.integers(0, 200), max_size=8))
def test_an_ordered_track_gives_the_same_summary_however_it_is_batched(drawn, cuts_a, cuts_b):
    ordered = sorted(set(fixes_of(drawn)))
    readings = readings_of([fix for i, fix in enumerate(ordered) if i == 0 or fix[0] > ordered[i - 1][0]])
    a, b = run_rows.summary(fold(readings, cuts_a)), run_rows.summary(fold(readings, cuts_b))
    assert a["motion"] == b["motion"]
    assert a["late_readings"] == b["late_readings"] == 0


@settings(max_examples=300, deadline=None)
@given(steps)
def test_distance_is_never_negative_and_zone_times_sum_to_the_time_moved_over(drawn):
    cfg = MotionConfig()
    fixes = fixes_of(drawn)
    state = motion_initial(cfg)
    for t, x, y in fixes:
        state = motion_add_xy(state, t, x, y, cfg)
    state = motion_flush(state, cfg)              # what a summary shows: no fix left held by the smoother
    assert state["distance_m"] >= 0.0 and all(d >= 0.0 for d in state["zone_distance_m"])
    assert math.isclose(sum(state["zone_distance_m"]), state["distance_m"], rel_tol=1e-9, abs_tol=1e-9)
    # Every accepted fix adds its time step to one zone: the zones cover the first fix to the last accepted.
    assert math.isclose(sum(state["zone_time_s"]), state["last_t"] - fixes[0][0], rel_tol=1e-9, abs_tol=1e-9)
    assert state["fixes"] + state["rejected"] + state["duplicates"] + state["out_of_order"] == len(fixes)
