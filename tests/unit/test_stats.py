"""Unit tests for agents.stats: Welford/Chan aggregators and event-time windows."""

from __future__ import annotations

import copy
import json
import random
import statistics

import pytest

from agents.stats import FieldStats, RunStats, WindowBuffer, window_start

FS = FieldStats()
RS = RunStats()
WB = WindowBuffer()


def _fold(values: list[float]) -> dict:
    state = FS.initial()
    for v in values:
        state = FS.add(state, v)
    return state


def test_welford_matches_statistics_on_random_data() -> None:
    rng = random.Random(42)
    # Large offset: the naive sum-of-squares formula would lose digits here.
    values = [1e6 + rng.gauss(0, 3) for _ in range(500)]
    res = FS.result(_fold(values))
    assert res["count"] == 500
    assert res["mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
    assert res["std"] == pytest.approx(statistics.stdev(values), rel=1e-9)
    assert res["std"] != pytest.approx(statistics.pstdev(values), rel=1e-6)  # sample, not population
    assert res["min"] == min(values) and res["max"] == max(values)
    assert res["sum"] == pytest.approx(sum(values), rel=1e-12)


def test_std_is_zero_below_two_values_and_empty_mean_is_none() -> None:
    assert FS.result(FS.initial()) == {"count": 0, "mean": None, "min": None, "max": None, "sum": 0.0, "std": 0.0}
    assert FS.result(_fold([5.0]))["std"] == 0.0
    assert FS.result(_fold([1.0, 3.0]))["std"] == pytest.approx(2**0.5)


def test_add_never_mutates_and_state_is_json() -> None:
    state = _fold([1.0, 2.0])
    before = copy.deepcopy(state)
    FS.add(state, 10.0)
    assert state == before
    assert json.loads(json.dumps(state)) == state


def test_add_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        FS.add(FS.initial(), float("nan"))


def test_merge_equals_stats_on_concatenation() -> None:
    rng = random.Random(7)
    a = [rng.uniform(-50, 50) for _ in range(37)]
    b = [rng.uniform(100, 200) for _ in range(61)]
    merged = FS.result(FS.merge(_fold(a), _fold(b)))
    whole = FS.result(_fold(a + b))
    for key in ("count", "min", "max"):
        assert merged[key] == whole[key]
    for key in ("mean", "sum", "std"):
        assert merged[key] == pytest.approx(whole[key], rel=1e-12)
    assert merged["std"] == pytest.approx(statistics.stdev(a + b), rel=1e-12)
    assert FS.merge(FS.initial(), _fold(b)) == _fold(b)
    assert FS.merge(_fold(a), FS.initial()) == _fold(a)


def _run(readings: list[dict]) -> dict:
    state = RS.initial()
    for r in readings:
        state = RS.add(state, r)
    return RS.result(state)


READINGS = [
    {"hr": 120, "speed": 3.0, "player": "p1", "valid": True},
    {"hr": 130, "speed": 5.0, "note": None},
    {"hr": 140, "speed": float("nan")},
]


def test_runstats_only_numeric_non_bool_finite_fields() -> None:
    res = _run(READINGS)
    assert set(res) == {"hr", "speed"}
    assert res["hr"]["count"] == 3 and res["speed"]["count"] == 2


@pytest.mark.parametrize(
    ("agg_type", "expected"),
    [
        ("average", {"hr": 130.0, "speed": 4.0}),
        ("max", {"hr": 140.0, "speed": 5.0}),
        ("min", {"hr": 120.0, "speed": 3.0}),
        ("sum", {"hr": 390.0, "speed": 8.0}),
        ("std", {"hr": 10.0, "speed": pytest.approx(2**0.5)}),
        ("count", {"hr": 3, "speed": 2}),
    ],
)
def test_select_each_agg_type(agg_type: str, expected: dict) -> None:
    assert RunStats.select(_run(READINGS), agg_type) == expected


def test_select_all_returns_full_dicts() -> None:
    res = _run(READINGS)
    assert RunStats.select(res, "all") == res
    assert set(RunStats.select(res, "all")["hr"]) == {"count", "mean", "min", "max", "sum", "std"}


def test_select_unknown_agg_type_raises() -> None:
    with pytest.raises(ValueError, match="unknown agg_type 'median'"):
        RunStats.select(_run(READINGS), "median")


def test_runstats_merge_fieldwise() -> None:
    a, b = RS.initial(), RS.initial()
    a = RS.add(a, {"hr": 100, "x": 1.0})
    b = RS.add(RS.add(b, {"hr": 110}), {"hr": 120, "y": 2.0})
    res = RS.result(RS.merge(a, b))
    assert res["hr"]["count"] == 3 and res["hr"]["mean"] == pytest.approx(110.0)
    assert res["x"]["count"] == 1 and res["y"]["count"] == 1


def test_window_start_alignment() -> None:
    assert window_start(1_700_000_007.5, 5.0) == 1_700_000_005.0
    assert window_start(10.0, 5.0) == 10.0  # a boundary belongs to the window it starts
    assert window_start(-0.5, 1.0) == -1.0
    with pytest.raises(ValueError):
        window_start(1.0, 0.0)


def _feed(items: list[tuple[float, float]], size: float = 10.0, grace: float = 2.0):
    state, closed, late = WB.initial(), [], []
    for ts, v in items:
        state, out, is_late = WB.add(state, ts, {"v": v}, size, grace)
        closed += out
        late.append(is_late)
    return state, closed, late


def test_windows_in_order() -> None:
    state, closed, late = _feed([(1.0, 1.0), (5.0, 2.0), (11.0, 3.0), (12.5, 4.0)])
    assert late == [False] * 4
    # 12.5 - grace 2 >= 10: the first window is closed by the 4th reading.
    assert [(w["window_start"], w["window_end"], w["count"]) for w in closed] == [(0.0, 10.0, 2)]
    assert closed[0]["stats"]["v"]["mean"] == 1.5
    assert list(state["open"]) == ["10.0"]
    assert json.loads(json.dumps(state)) == state


def test_out_of_order_within_grace_lands_in_its_window() -> None:
    state, closed, late = _feed([(8.0, 1.0), (11.0, 2.0), (9.0, 3.0), (13.0, 4.0)])
    assert late == [False] * 4
    assert len(closed) == 1 and closed[0]["window_start"] == 0.0
    assert closed[0]["count"] == 2 and closed[0]["stats"]["v"]["sum"] == 4.0
    assert state["open"]["10.0"]["count"] == 2


def test_late_reading_past_grace_is_rejected() -> None:
    state, closed, late = _feed([(8.0, 1.0), (13.0, 2.0)])
    assert [w["window_start"] for w in closed] == [0.0]
    new, out, is_late = WB.add(state, 9.5, {"v": 99.0}, 10.0, 2.0)
    assert is_late and out == [] and new == state
    # Also late for a window that never opened, once the watermark passed it.
    assert WB.add(state, -5.0, {"v": 1.0}, 10.0, 2.0)[2]


def test_close_all_flushes_last_window_and_blocks_reopening() -> None:
    state, closed, _ = _feed([(1.0, 1.0), (11.0, 2.0), (14.0, 3.0)])
    assert len(closed) == 1
    state, flushed = WB.close_all(state)
    assert [(w["window_start"], w["count"]) for w in flushed] == [(10.0, 2)]
    assert flushed[0]["stats"]["v"]["max"] == 3.0
    assert state["open"] == {}
    # A straggler for the flushed window must not emit it a second time.
    assert WB.add(state, 15.0, {"v": 5.0}, 10.0, 2.0)[2]
    assert WB.close_all(state) == (state, [])


def test_close_until_wall_clock_closes_only_ended_windows() -> None:
    state, _, _ = _feed([(1.0, 1.0), (11.0, 2.0)], grace=5.0)
    state, closed = WB.close_until(state, 10.0)
    assert [w["window_start"] for w in closed] == [0.0]
    assert list(state["open"]) == ["10.0"]
