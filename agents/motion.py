"""Football GPS/tracking motion metrics, computed incrementally fix by fix.

Fixes arrive one at a time from a stream, so everything here is a pure fold:
``motion_add(state, ...) -> new state`` over a JSON-serialisable dict that a
Faust table can store. The same core handles GPS (lat/lon, projected to local
metres around the first fix) and tracking data already in metres (x/y).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, fields
from typing import Any, Mapping

from geopy.distance import geodesic

WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

# Above this a flat tangent plane stops being mm-accurate; hand over to geopy.
FAST_DISTANCE_MAX_M = 1000.0

# Sensor timestamps are floats (e.g. 0.1 s steps summed); without a tolerance a
# 1.0 s effort could measure 0.9999999 s and not count.
_TIME_EPS_S = 1e-6

MotionState = dict[str, Any]


def _radii_of_curvature(lat_deg: float) -> tuple[float, float]:
    """Meridian (M) and prime-vertical (N) radii of the WGS-84 ellipsoid: the
    metres per radian of latitude and (before the cos factor) of longitude."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    w = math.sqrt(1.0 - WGS84_E2 * s2)
    return WGS84_A_M * (1.0 - WGS84_E2) / w**3, WGS84_A_M / w


def _enu_offset_m(lat1: float, lon1: float, lat2: float, lon2: float, ref_lat: float) -> tuple[float, float]:
    """East/north metres from point 1 to point 2 on the tangent plane at
    ``ref_lat``; longitude difference wrapped so the antimeridian works."""
    m, n = _radii_of_curvature(ref_lat)
    dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
    return (
        math.radians(dlon) * n * math.cos(math.radians(ref_lat)),
        math.radians(lat2 - lat1) * m,
    )


def fast_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Tangent-plane distance at the mean latitude: sub-mm accurate for
    GPS-sized steps and ~100x cheaper than a geodesic, which matters at 10 Hz
    per player."""
    dx, dy = _enu_offset_m(lat1, lon1, lat2, lon2, (lat1 + lat2) / 2.0)
    return math.hypot(dx, dy)


def geodesic_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Exact ellipsoidal distance (Karney, via geopy) for long steps."""
    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Fast formula for short steps, geodesic where the flat plane would err."""
    fast = fast_distance_m(lat1, lon1, lat2, lon2)
    return fast if fast < FAST_DISTANCE_MAX_M else geodesic_distance_m(lat1, lon1, lat2, lon2)


def xy_distance_m(x1: float, y1: float, x2: float, y2: float) -> float:
    """Planar distance for optical/LPS tracking data already in metres."""
    return math.hypot(x2 - x1, y2 - y1)


@dataclass(frozen=True)
class MotionConfig:
    """Thresholds for football motion metrics; defaults follow common
    practice (5.5 m/s HSR, 7 m/s sprint, 3 m/s^2 efforts).

    ``smoothing_hz`` is the cut-off of a causal one-pole low-pass (EMA) on
    positions, applied before differencing: causal so it works live, with
    ``alpha = dt / (dt + 1/(2*pi*fc))`` recomputed from each fix's actual dt so
    dropped or irregular fixes are weighted correctly. 1 Hz keeps a footballer's
    ~1 s accelerations while removing much of the fix-to-fix jitter; it lags
    positions by ``speed/(2*pi*fc)`` (0.8 m at 5 m/s) but not speed.
    """

    max_speed_mps: float = 12.0
    position_error_m: float = 5.0   # GPS error allowed on top of max_speed*dt before a jump is "impossible"
    zone_edges_mps: tuple[float, ...] = (2.0, 4.0, 5.5, 7.0)
    hsr_mps: float = 5.5
    sprint_mps: float = 7.0
    sprint_exit_mps: float = 6.5
    sprint_min_s: float = 1.0
    accel_mps2: float = 3.0
    accel_min_s: float = 0.5
    top_speed_hold_s: float = 0.5
    smoothing_hz: float = 1.0

    def __post_init__(self) -> None:
        """Fail at run start, not mid-match, on inconsistent thresholds."""
        object.__setattr__(self, "zone_edges_mps", tuple(float(e) for e in self.zone_edges_mps))
        edges = self.zone_edges_mps
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
            raise ValueError(f"zone_edges_mps must be positive and strictly increasing, got {edges}")
        if not 0 < self.sprint_exit_mps <= self.sprint_mps:
            raise ValueError("sprint_exit_mps must be in (0, sprint_mps] for hysteresis")
        for name in ("max_speed_mps", "hsr_mps", "sprint_mps", "accel_mps2", "smoothing_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("sprint_min_s", "accel_min_s", "top_speed_hold_s", "position_error_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MotionConfig:
        """Build from a run's JSON options: None means "use the default"; an
        unknown key is a typo that would otherwise be silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown motion config keys {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if v is not None})


def motion_initial(cfg: MotionConfig | None = None) -> MotionState:
    """Empty state, with one zone slot per speed zone of ``cfg``. ``last_x/last_y`` are the last accepted raw fix and
    ``smooth_x/smooth_y`` the filtered position, both in local metres;
    ``origin`` is the [lat, lon] of the first GPS fix (None for x/y data).
    The filter starts at rest on the first fix (there is no earlier velocity),
    so a stream that begins mid-run shows a ~0.5 s start-up ramp."""
    zones = len((cfg or MotionConfig()).zone_edges_mps) + 1
    return {
        "fixes": 0,
        "rejected": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "origin": None,
        "last_t": None,
        "last_lat": None,
        "last_lon": None,
        "last_x": None,
        "last_y": None,
        "smooth_x": None,
        "smooth_y": None,
        "speed_mps": 0.0,
        "raw_speed_mps": 0.0,
        "distance_m": 0.0,
        "top_speed_mps": 0.0,
        "speed_window": [],  # [[step_start_t, smoothed_speed], ...] covering top_speed_hold_s
        "zone_time_s": [0.0] * zones,
        "zone_distance_m": [0.0] * zones,
        "hsr_distance_m": 0.0,
        "sprints": 0,
        "sprint_since": None,  # start t of the current sprint, None when not sprinting
        "sprint_counted": False,
        "accelerations": 0,
        "decelerations": 0,
        "accel_dir": 0,  # +1 accelerating, -1 decelerating, 0 neither
        "accel_since": None,
        "accel_counted": False,
    }


def _effort(
    since: float | None, counted: bool, active: bool, step_start: float, t: float, min_s: float
) -> tuple[float | None, bool, bool]:
    """Track one sustained-threshold effort; returns (since, counted,
    just_counted). Counted as soon as it has lasted ``min_s``, so live
    dashboards see it without waiting for the effort to end."""
    if not active:
        return None, False, False
    since = step_start if since is None else since
    if not counted and t - since >= min_s - _TIME_EPS_S:
        return since, True, True
    return since, counted, False


def _step(state: MotionState, t: float, x: float, y: float, cfg: MotionConfig) -> MotionState:
    """Shared core: fold one fix given in local metres."""
    if not (math.isfinite(t) and math.isfinite(x) and math.isfinite(y)):
        return {**state, "rejected": state["rejected"] + 1}
    last_t = state["last_t"]
    if last_t is None:
        return {**state, "fixes": 1, "last_t": t, "last_x": x, "last_y": y, "smooth_x": x, "smooth_y": y}
    if t == last_t:
        return {**state, "duplicates": state["duplicates"] + 1}
    if t < last_t:
        return {**state, "out_of_order": state["out_of_order"] + 1}
    dt = t - last_t
    raw_step = xy_distance_m(state["last_x"], state["last_y"], x, y)
    raw_speed = raw_step / dt
    if raw_step > cfg.max_speed_mps * dt + cfg.position_error_m:
        # Impossible for a human even allowing for GPS error: at 10 Hz, 1 m of noise alone gives
        # raw "speeds" over 12 m/s, so the bound is on distance with an error allowance, not on
        # raw speed. Not moving last_* means the next good fix is judged against the last good one.
        return {**state, "rejected": state["rejected"] + 1}

    alpha = dt / (dt + 1.0 / (2.0 * math.pi * cfg.smoothing_hz))
    sx = state["smooth_x"] + alpha * (x - state["smooth_x"])
    sy = state["smooth_y"] + alpha * (y - state["smooth_y"])
    step = xy_distance_m(state["smooth_x"], state["smooth_y"], sx, sy)
    speed = step / dt
    accel = (speed - state["speed_mps"]) / dt

    zone = bisect_right(cfg.zone_edges_mps, speed)
    zone_time = list(state["zone_time_s"])
    zone_dist = list(state["zone_distance_m"])
    zone_time[zone] += dt
    zone_dist[zone] += step

    # Top speed = best speed held for top_speed_hold_s: the minimum over the
    # steps covering the trailing hold window, so one noisy step cannot set it.
    window = [*state["speed_window"], [last_t, speed]]
    horizon = t - cfg.top_speed_hold_s
    while len(window) > 1 and window[1][0] <= horizon + _TIME_EPS_S:
        window.pop(0)
    top = state["top_speed_mps"]
    if window[0][0] <= horizon + _TIME_EPS_S:
        top = max(top, min(s for _, s in window))

    sprinting = state["sprint_since"] is not None
    sprint_since, sprint_counted, new_sprint = _effort(
        state["sprint_since"],
        state["sprint_counted"],
        speed >= (cfg.sprint_exit_mps if sprinting else cfg.sprint_mps),
        last_t,
        t,
        cfg.sprint_min_s,
    )

    direction = 1 if accel >= cfg.accel_mps2 else -1 if accel <= -cfg.accel_mps2 else 0
    same = direction == state["accel_dir"]
    accel_since, accel_counted, new_effort = _effort(
        state["accel_since"] if same else None,
        state["accel_counted"] and same,
        direction != 0,
        last_t,
        t,
        cfg.accel_min_s,
    )

    return {
        **state,
        "fixes": state["fixes"] + 1,
        "last_t": t,
        "last_x": x,
        "last_y": y,
        "smooth_x": sx,
        "smooth_y": sy,
        "speed_mps": speed,
        "raw_speed_mps": raw_speed,
        "distance_m": state["distance_m"] + step,
        "top_speed_mps": top,
        "speed_window": window,
        "zone_time_s": zone_time,
        "zone_distance_m": zone_dist,
        "hsr_distance_m": state["hsr_distance_m"] + (step if speed >= cfg.hsr_mps else 0.0),
        "sprints": state["sprints"] + int(new_sprint),
        "sprint_since": sprint_since,
        "sprint_counted": sprint_counted,
        "accelerations": state["accelerations"] + int(new_effort and direction > 0),
        "decelerations": state["decelerations"] + int(new_effort and direction < 0),
        "accel_dir": direction,
        "accel_since": accel_since,
        "accel_counted": accel_counted,
    }


def motion_add_xy(state: MotionState, t: float, x: float, y: float, cfg: MotionConfig) -> MotionState:
    """Fold one tracking fix already in metres (epoch seconds ``t``)."""
    if state["origin"] is not None:
        raise ValueError("this motion state holds lat/lon fixes; use motion_add")
    return _step(state, t, x, y, cfg)


def motion_add(state: MotionState, t: float, lat: float, lon: float, cfg: MotionConfig) -> MotionState:
    """Fold one GPS fix: project to tangent-plane metres around the first fix,
    then run the planar core. Over a pitch-sized area the projection error is
    far below GPS noise."""
    if state["fixes"] and state["origin"] is None:
        raise ValueError("this motion state holds x/y fixes; use motion_add_xy")
    origin = state["origin"] or [lat, lon]
    x, y = _enu_offset_m(origin[0], origin[1], lat, lon, origin[0])
    new = _step(state, t, x, y, cfg)
    if new["fixes"] == state["fixes"]:  # skipped: only a counter moved
        return new
    return {**new, "origin": origin, "last_lat": lat, "last_lon": lon}


def motion_summary(state: MotionState, cfg: MotionConfig | None = None) -> dict[str, Any]:
    """Readable metrics; ``cfg`` supplies the zone edges (defaults if None)."""
    edges = (cfg or MotionConfig()).zone_edges_mps
    bounds = [0.0, *edges, None]
    return {
        "distance_m": state["distance_m"],
        "top_speed_mps": state["top_speed_mps"],
        "speed_mps": state["speed_mps"],
        "zones": [
            {"from_mps": bounds[i], "to_mps": bounds[i + 1], "time_s": ts, "distance_m": dm}
            for i, (ts, dm) in enumerate(zip(state["zone_time_s"], state["zone_distance_m"]))
        ],
        "hsr_distance_m": state["hsr_distance_m"],
        "sprints": state["sprints"],
        "accelerations": state["accelerations"],
        "decelerations": state["decelerations"],
        "fixes": state["fixes"],
        "rejected": state["rejected"],
        "duplicates": state["duplicates"],
        "out_of_order": state["out_of_order"],
    }


def offline_summary(fixes: list[tuple[float, float, float]], cfg: MotionConfig | None = None) -> dict[str, Any]:
    """Fold ``motion_add`` over a whole (t, lat, lon) list: the reference the
    streaming path must reproduce."""
    cfg = cfg or MotionConfig()
    state = motion_initial(cfg)
    for t, lat, lon in fixes:
        state = motion_add(state, t, lat, lon, cfg)
    return motion_summary(state, cfg)
