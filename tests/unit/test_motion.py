"""Unit tests for agents.motion: distances, filtering and football metrics."""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Callable

import numpy as np
import pytest
from geopy.distance import geodesic

from agents.geodesy import distance_m, fast_distance_m, geodesic_distance_m, xy_distance_m
from agents.motion import motion_add, motion_add_xy, motion_initial, motion_summary, offline_summary
from agents.motion_config import MotionConfig

CFG = MotionConfig()
T0 = 1_700_000_000.0
HZ = 10


def _dest(lat: float, lon: float, bearing: float, dist: float) -> tuple[float, float]:
    p = geodesic(meters=dist).destination((lat, lon), bearing)
    return p.latitude, p.longitude


@pytest.mark.parametrize("lat", [0.0, 30.0, 51.5, -45.0, 60.0, 80.0])
def test_fast_distance_agrees_with_geodesic_within_1mm(lat: float) -> None:
    for dist in (1.0, 7.3, 25.0, 100.0):
        for bearing in (0.0, 45.0, 90.0, 135.0, 200.0, 290.0):
            lat2, lon2 = _dest(lat, 10.0, bearing, dist)
            fast = fast_distance_m(lat, 10.0, lat2, lon2)
            assert abs(fast - geodesic_distance_m(lat, 10.0, lat2, lon2)) < 1e-3
            assert abs(fast - dist) < 1e-3


def test_fast_distance_across_antimeridian() -> None:
    lat2, lon2 = _dest(-16.8, 179.9995, 90.0, 100.0)
    assert lon2 < 0  # really crossed
    assert fast_distance_m(-16.8, 179.9995, lat2, lon2) == pytest.approx(100.0, abs=1e-3)


def test_distance_m_one_degree_latitude_at_equator_uses_geodesic() -> None:
    d = distance_m(0.0, 0.0, 1.0, 0.0)
    assert d == pytest.approx(110_574.0, abs=1.0)
    assert d == geodesic_distance_m(0.0, 0.0, 1.0, 0.0)
    assert distance_m(0.0, 0.0, 0.0001, 0.0) == fast_distance_m(0.0, 0.0, 0.0001, 0.0)


def test_xy_distance() -> None:
    assert xy_distance_m(1.0, 2.0, 4.0, 6.0) == 5.0


def test_config_from_dict() -> None:
    cfg = MotionConfig.from_dict({"sprint_mps": 7.5, "hsr_mps": None, "zone_edges_mps": [1, 3, 5, 6]})
    assert cfg.sprint_mps == 7.5 and cfg.hsr_mps == 5.5
    assert cfg.zone_edges_mps == (1.0, 3.0, 5.0, 6.0)
    with pytest.raises(ValueError, match="sprint_speed"):
        MotionConfig.from_dict({"sprint_speed": 7.0})
    with pytest.raises(ValueError):
        MotionConfig.from_dict({"sprint_exit_mps": 8.0})  # above sprint entry: no hysteresis
    with pytest.raises(ValueError):
        MotionConfig.from_dict({"zone_edges_mps": [4.0, 2.0]})


def _xy_track(speed_at: Callable[[float], float], duration_s: float) -> list[tuple[float, float, float]]:
    """(t, x, y) fixes at HZ along the x axis; trapezoid-integrated so a
    piecewise-linear speed profile gives exact positions."""
    fixes, x = [(T0, 0.0, 0.0)], 0.0
    for i in range(1, round(duration_s * HZ) + 1):
        t0, t1 = (i - 1) / HZ, i / HZ
        x += 0.5 * (speed_at(t0) + speed_at(t1)) * (t1 - t0)
        fixes.append((T0 + t1, x, 0.0))
    return fixes


def _fold_xy(fixes: list[tuple[float, float, float]], cfg: MotionConfig = CFG) -> dict:
    state = motion_initial(cfg)
    for t, x, y in fixes:
        state = motion_add_xy(state, t, x, y, cfg)
    return state


def _segments(*segs: tuple[float, float]) -> Callable[[float], float]:
    """Piecewise-constant speed: (duration_s, speed) segments; the speed
    switches within one 0.1 s step at each boundary."""

    def speed_at(t: float) -> float:
        end = 0.0
        for dur, v in segs:
            end += dur
            if t <= end + 1e-9:
                return v
        return segs[-1][1]

    return speed_at


def test_straight_line_north_constant_5mps() -> None:
    fixes = [(T0 + i / HZ, *_dest(51.5, -0.12, 0.0, 0.5 * i)) for i in range(20 * HZ + 1)]
    s = offline_summary(fixes, CFG)
    assert s["distance_m"] == pytest.approx(100.0, rel=0.01)
    assert s["top_speed_mps"] == pytest.approx(5.0, rel=0.01)
    assert s["speed_mps"] == pytest.approx(5.0, rel=1e-3)
    times = [z["time_s"] for z in s["zones"]]
    assert sum(times) == pytest.approx(20.0)
    # The filter starts at rest, so ~0.3 s of start-up is spent in lower zones.
    assert times[2] >= 19.5 and times[3] == 0.0 and times[4] == 0.0
    assert (s["zones"][2]["from_mps"], s["zones"][2]["to_mps"]) == (4.0, 5.5)
    assert s["sprints"] == 0 and s["hsr_distance_m"] == 0.0
    assert (s["fixes"], s["rejected"], s["duplicates"], s["out_of_order"]) == (201, 0, 0, 0)


def test_sprint_burst_counts_once() -> None:
    s = motion_summary(_fold_xy(_xy_track(_segments((5, 4.0), (3, 8.0), (5, 4.0)), 13)))
    assert s["sprints"] == 1
    assert s["top_speed_mps"] == pytest.approx(8.0, rel=0.01)
    assert s["zones"][4]["time_s"] > 2.5
    assert s["hsr_distance_m"] == pytest.approx(24.0, rel=0.1)


def test_short_blip_is_not_a_sprint() -> None:
    fixes = _xy_track(_segments((5, 4.0), (0.6, 9.0), (5, 4.0)), 10.6)
    assert motion_summary(_fold_xy(fixes))["sprints"] == 0
    # The blip did cross the sprint speed: only the 1 s minimum rejects it.
    assert motion_summary(_fold_xy(fixes, MotionConfig(sprint_min_s=0.0)))["sprints"] == 1


def test_sprint_exit_hysteresis() -> None:
    fixes = _xy_track(_segments((1.5, 8.0), (1.0, 6.8), (1.5, 8.0)), 4.0)
    assert motion_summary(_fold_xy(fixes))["sprints"] == 1  # 6.8 >= exit 6.5
    assert motion_summary(_fold_xy(fixes, MotionConfig(sprint_exit_mps=7.0)))["sprints"] == 2


def test_duplicate_and_out_of_order_are_counted_and_skipped() -> None:
    fixes = _xy_track(_segments((3, 4.0)), 3)
    state = _fold_xy(fixes)
    t, x, _ = fixes[-1]
    dup = motion_add_xy(state, t, x + 3.0, 0.0, CFG)
    assert dup == {**state, "duplicates": 1}
    ooo = motion_add_xy(dup, t - 0.05, x + 3.0, 0.0, CFG)
    assert ooo == {**dup, "out_of_order": 1}


def test_impossible_jump_rejected_distance_unaffected() -> None:
    clean = _xy_track(_segments((10, 5.0)), 10)
    t, x, y = clean[50]
    glitch = [*clean[:50], (t, x + 100.0, y), *clean[51:]]
    without = [*clean[:50], *clean[51:]]
    s = motion_summary(_fold_xy(glitch))
    assert s["rejected"] == 1 and s["fixes"] == len(clean) - 1
    assert s["distance_m"] == pytest.approx(motion_summary(_fold_xy(without))["distance_m"], abs=1e-9)
    assert s["distance_m"] == pytest.approx(motion_summary(_fold_xy(clean))["distance_m"], abs=0.01)
    assert s["top_speed_mps"] < 5.1


def test_non_finite_fix_is_rejected() -> None:
    state = motion_add(motion_initial(), T0, float("nan"), 0.0, CFG)
    assert state["rejected"] == 1 and state["fixes"] == 0 and state["origin"] is None


def test_acceleration_and_deceleration_counts() -> None:
    def ramp(rate: float, v_max: float) -> Callable[[float], float]:
        return lambda t: min(max(t - 2.0, 0.0) * rate, v_max)

    s = motion_summary(_fold_xy(_xy_track(ramp(4.0, 8.0), 7)))  # 0 -> 8 m/s in 2 s
    assert (s["accelerations"], s["decelerations"]) == (1, 0)
    gentle = motion_summary(_fold_xy(_xy_track(ramp(2.0, 8.0), 9)))  # 2 m/s^2: below threshold
    assert gentle["accelerations"] == 0

    def brake(t: float) -> float:  # gentle 2 m/s^2 start, then 8 -> 0 m/s in 2 s
        return min(2.0 * t, 8.0) if t < 6.0 else max(8.0 - 4.0 * (t - 6.0), 0.0)

    s = motion_summary(_fold_xy(_xy_track(brake, 10)))
    assert (s["accelerations"], s["decelerations"]) == (0, 1)


def test_state_is_json_and_never_mutated() -> None:
    state = _fold_xy(_xy_track(_segments((2, 8.0)), 2))
    before = copy.deepcopy(state)
    motion_add_xy(state, T0 + 5.0, 30.0, 0.0, CFG)
    assert state == before
    assert json.loads(json.dumps(state)) == state


def test_mixing_gps_and_xy_in_one_state_raises() -> None:
    gps = motion_add(motion_initial(), T0, 51.5, 0.0, CFG)
    with pytest.raises(ValueError):
        motion_add_xy(gps, T0 + 1, 1.0, 1.0, CFG)
    xy = motion_add_xy(motion_initial(), T0, 0.0, 0.0, CFG)
    with pytest.raises(ValueError):
        motion_add(xy, T0 + 1, 51.5, 0.0, CFG)


def test_stationary_gps_noise_is_smoothed() -> None:
    # White noise, 1 m horizontal RMS (0.71 m per axis), 10 Hz, 60 s.
    rng = random.Random(3)
    fixes = []
    for i in range(60 * HZ):
        east, north = rng.gauss(0, 0.5**0.5), rng.gauss(0, 0.5**0.5)
        bearing = math.degrees(math.atan2(east, north))
        fixes.append((T0 + i / HZ, *_dest(51.5, -0.12, bearing, math.hypot(east, north))))
    raw = sum(distance_m(a[1], a[2], b[1], b[2]) for a, b in zip(fixes, fixes[1:]))
    s = offline_summary(fixes, CFG)
    assert s["distance_m"] < 0.5 * raw
    # White position noise differentiated at 10 Hz stays a few m/s even after
    # a 1 Hz filter; the 0.5 s hold and the 1 s sprint minimum keep it out of
    # top speed above HSR and out of sprints.
    assert s["top_speed_mps"] < CFG.hsr_mps
    assert s["sprints"] == 0


def _bend(hz: float, seconds: float = 20.0) -> list[tuple[float, float, float]]:
    """Exact (t, x, y) of a player along a 15 m-radius bend, easing from 2 m/s up to 8 m/s at
    10 s and back: 100 m in 20 s, top speed 8 m/s, over 7 m/s for 2.3 s (one sprint)."""
    t = np.arange(round(seconds * hz) + 1) / hz
    s = 5.0 * t - (30.0 / math.pi) * np.sin(math.pi * t / 10.0)     # the integral of 2 + 6 sin^2(pi t / 20)
    return [(T0 + ti, 15.0 * math.sin(si / 15.0), 15.0 * (1.0 - math.cos(si / 15.0))) for ti, si in zip(t, s)]


def test_optical_tracking_keeps_distance_and_top_speed_where_the_gps_filter_reads_them_low() -> None:
    optical = motion_summary(_fold_xy(_bend(50)))               # auto: 50 Hz x/y is optical
    assert optical["source"] == "optical"
    assert optical["distance_m"] == pytest.approx(100.0, rel=1e-3)
    assert optical["top_speed_mps"] == pytest.approx(8.0, rel=5e-3)
    assert optical["sprints"] == 1
    assert sum(z["time_s"] for z in optical["zones"]) == pytest.approx(20.0)
    gps = MotionConfig(source="gps")
    filtered = motion_summary(_fold_xy(_bend(50), gps), gps)   # the 1 Hz low-pass cuts the bend short
    assert filtered["distance_m"] < 99.7 and filtered["top_speed_mps"] < 7.97


def test_auto_measures_the_rate_of_x_y_fixes_and_takes_lat_lon_for_gps() -> None:
    assert motion_summary(_fold_xy(_bend(25)))["source"] == "optical"
    assert motion_summary(_fold_xy(_bend(10)))["source"] == "gps"
    fixes = [(t, *_dest(51.5, -0.12, 90.0, x)) for t, x, _ in _bend(50, 2.0)]
    assert offline_summary(fixes)["source"] == "gps"
    assert motion_summary(_fold_xy(_bend(10), OPTICAL), OPTICAL)["source"] == "optical"


OPTICAL = MotionConfig(source="optical")


def test_a_summary_mid_run_covers_every_fix_so_far_and_changes_nothing_held() -> None:
    track = _bend(50)
    state = _fold_xy(track[:501])                               # the first 10 s
    held = copy.deepcopy(state)
    mid = motion_summary(state)
    assert state == held and state["held"]                      # the last quarter second is still held
    assert sum(z["time_s"] for z in mid["zones"]) == pytest.approx(10.0)
    assert mid["distance_m"] == pytest.approx(50.0, rel=1e-3)   # s(10) = 50 m
    for t, x, y in track[501:]:
        state = motion_add_xy(state, t, x, y, CFG)
    assert motion_summary(state) == motion_summary(_fold_xy(track))


def test_a_new_source_in_the_run_config_switches_the_smoother_from_the_next_fix() -> None:
    track = _bend(50)
    gps = MotionConfig(source="gps")
    state = _fold_xy(track[:500], gps)
    for t, x, y in track[500:]:
        state = motion_add_xy(state, t, x, y, OPTICAL)
    summary = motion_summary(state, OPTICAL)
    assert summary["source"] == "optical"
    assert sum(z["time_s"] for z in summary["zones"]) == pytest.approx(20.0)
    assert summary["fixes"] == len(track)


def test_source_and_smoothing_window_are_checked() -> None:
    with pytest.raises(ValueError, match="source must be one of auto, gps, optical"):
        MotionConfig.from_dict({"source": "radar"})
    with pytest.raises(ValueError, match="smoothing_window_s"):
        MotionConfig.from_dict({"smoothing_window_s": 5})
    assert MotionConfig().hold_s("gps") == 0.5 and MotionConfig().hold_s("optical") == 0.0
    assert MotionConfig(top_speed_hold_s=1.0).hold_s("optical") == 1.0
