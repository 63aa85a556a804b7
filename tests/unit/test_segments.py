"""Segment summaries (agents/segments.py) against offline computations over the whole track: intervals and
periods as differences of the run's cumulative motion at their bounds, rolling peaks as the brute-force
best window, laps from the track's geometry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from agents import run_rows, run_state, segments
from agents.motion import motion_add_xy, motion_initial
from agents.motion_config import MotionConfig

T0 = 1_767_225_600.0
GPS = {"source": "gps"}      # the EMA smoother folds each fix at once: a step ends at its reading's time


def run_track(readings: list[dict], config: dict, markers: list[tuple[int, float, str | None]] = (),
              batch: int = 37) -> tuple[dict, list[dict]]:
    """Stream the readings in records of `batch` (markers sent before the record at their index),
    stop the run; the final state and every closed segment in order."""
    state = run_state.new_run("gps", "r1", 5.0)
    state["config"] = {**state["config"], **config}
    closed: list[dict] = []
    for offset, start in enumerate(range(0, len(readings), batch)):
        for _, t, label in [m for m in markers if start <= m[0] < start + batch]:
            state = run_state.apply_marker(state, t, label)
        state, _, _ = run_state.apply_burst(state, readings[start:start + batch], offset, 0.0, 2.0, "timestamp")
        segs, rows = segments.take_closed(state["segments"])
        state, closed = {**state, "segments": segs}, closed + rows
    state, _ = run_state.apply_stop(state)
    segs, rows = segments.take_closed(state["segments"])
    return {**state, "segments": segs}, closed + rows


def xy_readings(position, seconds: float, hz: float = 10.0) -> list[dict]:
    out = []
    for i in range(int(seconds * hz) + 1):
        t = T0 + i / hz
        x, y = position(i / hz)
        out.append({"t": t, "data": {"x": x, "y": y, "hr": 100 + i % 50, "timestamp": t}})
    return out


def shuttle(t: float) -> tuple[float, float]:
    """Runs that change speed: 2 to 8 m/s back and forth along x, so HSR, sprints and zones all happen."""
    return 70.0 * math.sin(t / 9.0) + 3.0 * math.sin(t / 1.7), 10.0 * math.sin(t / 30.0)


def cumulative(readings: list[dict], cfg: MotionConfig) -> list[tuple[float, dict]]:
    """The run's motion after each reading, folded offline fix by fix."""
    state, out = motion_initial(cfg), []
    for r in readings:
        state = motion_add_xy(state, r["t"], r["data"]["x"], r["data"]["y"], cfg)
        out.append((r["t"], state))
    return out


def between(history: list[tuple[float, dict]], start: float, end: float, name: str) -> float:
    """How much of a cumulative motion figure the readings with start <= t < end added."""
    before = [s[name] for t, s in history if t < start]
    upto = [s[name] for t, s in history if t < end]
    return (upto[-1] if upto else 0.0) - (before[-1] if before else 0.0)


def test_intervals_split_the_run_summary_and_match_the_offline_track():
    readings = xy_readings(shuttle, 400.0)
    state, closed = run_track(readings, {"motion": GPS, "segments": {"interval_s": 60}})
    intervals = [row for row in closed if row["kind"] == "interval"]
    assert [row["index"] for row in intervals] == list(range(7))
    assert [row["start_t"] for row in intervals] == [T0 + 60 * i for i in range(7)]
    assert intervals[-1]["end_t"] == readings[-1]["t"]              # the last one ends with the run
    history = cumulative(readings, MotionConfig(source="gps"))
    for row in intervals:
        end = row["start_t"] + 60
        for name in ("distance_m", "hsr_distance_m", "sprints", "accelerations", "decelerations"):
            assert row[name] == pytest.approx(between(history, row["start_t"], end, name), abs=1e-6), name
        inside = [r["data"]["hr"] for r in readings if row["start_t"] <= r["t"] < end]
        assert row["readings"] == len(inside)
        assert row["stats"]["hr"]["max"] == max(inside) and row["stats"]["hr"]["mean"] == pytest.approx(
            sum(inside) / len(inside))
        assert "timestamp" not in row["stats"]
    summary = run_rows.summary(state)["motion"]
    assert sum(r["distance_m"] for r in intervals) == pytest.approx(summary["distance_m"])
    assert sum(r["hsr_distance_m"] for r in intervals) == pytest.approx(summary["hsr_distance_m"])
    assert summary["hsr_distance_m"] > 0 and summary["sprints"] > 0
    assert max(r["top_speed_mps"] for r in intervals) == pytest.approx(summary["top_speed_mps"])
    for zone in range(5):
        assert sum(r["zone_time_s"][zone] for r in intervals) == pytest.approx(summary["zones"][zone]["time_s"])


def test_a_quiet_interval_is_skipped_and_the_next_keeps_its_place():
    readings = [r for r in xy_readings(shuttle, 200.0) if not 65 <= r["t"] - T0 < 185]
    _, closed = run_track(readings, {"motion": GPS, "segments": {"interval_s": 60}})
    assert [(r["index"], r["start_t"] - T0) for r in closed if r["kind"] == "interval"] == [(0, 0), (1, 60), (3, 180)]


def brute_force_peak(steps: list[tuple[float, float]], window: int) -> float:
    """The most distance in any `window` whole seconds, trying every window end."""
    bins: dict[int, float] = {}
    for t, d in steps:
        bins[math.floor(t)] = bins.get(math.floor(t), 0.0) + d
    return max((math.fsum(d for s, d in bins.items() if end - window < s <= end) for end in bins), default=0.0)


MM = 1.001e-3      # the series is in millimetres: a window's sum is two roundings from the exact one
step_lists = st.lists(st.tuples(st.floats(0.01, 4.0), st.floats(0.0, 12.0)), min_size=1, max_size=400)


@settings(max_examples=150, deadline=None)
@given(step_lists)
def test_rolling_peaks_are_the_best_window_anywhere_in_the_run(drawn):
    state, t, steps = segments.initial(), T0, []
    for dt, d in drawn:
        t += dt
        hsr = d if d > 6 else 0.0
        steps.append((t, d, hsr))
        state = segments.with_peaks(state, segments.Step(t, 0.0, 0.0, d, hsr, None))
    for w in segments.PEAK_WINDOWS_S:
        peak = {p["window_s"]: p for p in segments.peak_rows(state)}[w]
        assert peak["distance_m"] == pytest.approx(brute_force_peak([(t, d) for t, d, _ in steps], w), abs=MM)
        assert peak["hsr_distance_m"] == pytest.approx(brute_force_peak([(t, h) for t, _, h in steps], w), abs=MM)
    assert len(state["series"]["d"]) <= max(segments.PEAK_WINDOWS_S)      # bounded, however long the run


def test_segments_stored_with_the_float_series_go_on_from_where_they_were():
    """A state written before the series was kept in millimetres: its seconds carry on."""
    steps = [(T0 + 1.3 * i, 3.0 + (i % 7) * 0.5, 1.0 if i % 5 == 0 else 0.0) for i in range(1, 900)]
    assert len({math.floor(t) for t, _, _ in steps[:4]}) == 4       # the old series had a row per second
    stored = {**segments.initial(), "series": [[math.floor(t), d, h] for t, d, h in steps[:3]],
              "current": [math.floor(steps[3][0]), steps[3][1], steps[3][2]], "sums_at": None, "sums": {}}
    state = segments.upgraded(stored)
    assert "sums" not in state and state["moved"] == pytest.approx([sum(d for _, d, _ in steps[:4]),
                                                                    sum(h for _, _, h in steps[:4])])
    for t, d, h in steps[4:]:
        state = segments.with_peaks(state, segments.Step(t, 0.0, 0.0, d, h, None))
    by_window = {p["window_s"]: p for p in segments.peak_rows(state)}
    for w in segments.PEAK_WINDOWS_S:
        assert by_window[w]["distance_m"] == pytest.approx(brute_force_peak([(t, d) for t, d, _ in steps], w), abs=MM)
        assert by_window[w]["hsr_distance_m"] == pytest.approx(brute_force_peak([(t, h) for t, _, h in steps], w),
                                                               abs=MM)


def circle(radius: float, speed: float, direction: float = 1.0):
    """Counter-clockwise (direction 1) round a circle from its leftmost point."""
    def at(t: float) -> tuple[float, float]:
        angle = math.pi + direction * speed * t / radius
        return radius * math.cos(angle), radius * math.sin(angle)
    return at


LINE = [[0.0, -60.0], [0.0, -40.0]]        # across the circle's bottom; counter-clockwise crosses left to right


def test_laps_start_at_each_crossing_in_the_lines_direction():
    lap_s = 2 * math.pi * 50.0 / 5.0
    readings = xy_readings(circle(50.0, 5.0), 4.6 * lap_s)
    _, closed = run_track(readings, {"motion": GPS, "segments": {"lap_line": LINE}})
    laps = [row for row in closed if row["kind"] == "lap"]
    assert [row["index"] for row in laps] == [1, 2, 3, 4]        # first crossing at a quarter; the open 5th dropped
    assert laps[0]["start_t"] - T0 == pytest.approx(lap_s / 4, abs=0.6)   # the EMA lags the true path a little
    for row in laps:
        assert row["lap_time_s"] == pytest.approx(lap_s, abs=0.05)
        assert row["distance_m"] == pytest.approx(2 * math.pi * 50.0, rel=0.01)
    backwards = xy_readings(circle(50.0, 5.0, direction=-1.0), 3 * lap_s)
    _, closed = run_track(backwards, {"motion": GPS, "segments": {"lap_line": LINE}})
    assert not [row for row in closed if row["kind"] == "lap"]


def test_laps_on_gps_fixes_use_a_line_in_degrees():
    lat0, lon0 = 40.0, -3.0
    m_per_deg_lat, m_per_deg_lon = 111_034.6, 85_393.8           # at 40°N, near enough for a 20 m line
    readings = []
    for r in xy_readings(circle(50.0, 5.0), 200.0):
        x, y = r["data"]["x"], r["data"]["y"]
        readings.append({"t": r["t"], "data": {"lat": lat0 + y / m_per_deg_lat, "lon": lon0 + x / m_per_deg_lon}})
    line = [[lat0 + y / m_per_deg_lat, lon0 + x / m_per_deg_lon] for x, y in LINE]
    _, closed = run_track(readings, {"motion": GPS, "segments": {"lap_line": line}})
    laps = [row for row in closed if row["kind"] == "lap"]
    assert len(laps) == 2 and all(row["lap_time_s"] == pytest.approx(2 * math.pi * 10.0, abs=0.05) for row in laps)


def test_periods_follow_markers_sent_ahead_of_or_behind_the_data():
    readings = xy_readings(shuttle, 300.0)
    markers = [(0, T0 + 30, "first"), (0, T0 + 150, None), (0, T0 + 160, "second"),
               (2000, T0 + 190, "third")]           # sent when the data is at 200 s: the third starts then
    _, closed = run_track(readings, {"motion": GPS}, markers)
    periods = [row for row in closed if row["kind"] == "period"]
    assert [(p["index"], p["label"], p["start_t"] - T0) for p in periods] == [(1, "first", 30), (2, "second", 160),
                                                                               (3, "third", 190)]
    assert [p["end_t"] - T0 for p in periods] == [150, 190, 300]
    history = cumulative(readings, MotionConfig(source="gps"))
    first, second, third = periods
    assert first["distance_m"] == pytest.approx(between(history, T0 + 30, T0 + 150, "distance_m"), abs=1e-6)
    assert first["readings"] == sum(1 for r in readings if T0 + 30 <= r["t"] < T0 + 150)
    # The late marker closes the second period when it arrives, after the record that reached 200 s.
    arrived = readings[min(2000 // 37 * 37, len(readings)) - 1]["t"] + 0.1
    assert second["distance_m"] == pytest.approx(between(history, T0 + 160, arrived, "distance_m"), abs=1e-6)
    assert third["distance_m"] == pytest.approx(between(history, arrived, T0 + 301, "distance_m"), abs=1e-6)


def test_marker_list_is_bounded():
    state = segments.initial()
    for i in range(3 * segments.MAX_PENDING_MARKERS):
        state = segments.add_marker(state, T0 + i, f"p{i}")
    assert len(state["markers"]) == segments.MAX_PENDING_MARKERS


def test_crossing_time_is_interpolated_and_the_wrong_way_is_not_a_crossing():
    line = ((0.0, -1.0), (0.0, 1.0))
    assert segments.crossing([10.0, -1.0, 0.0], [12.0, 3.0, 0.0], line) == pytest.approx(10.5)
    assert segments.crossing([10.0, 1.0, 0.0], [12.0, -3.0, 0.0], line) is None
    assert segments.crossing([10.0, -1.0, 5.0], [12.0, 3.0, 5.0], line) is None      # past the line's end
