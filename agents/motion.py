"""Football GPS/tracking motion metrics, computed incrementally fix by fix.

Fixes arrive one at a time from a stream, so everything here is a pure fold:
``motion_add(state, ...) -> new state`` over a JSON-serialisable dict that a
Faust table can store. The same core handles GPS (lat/lon, projected to local
metres around the first fix) and tracking data already in metres (x/y).

Each fix passes three stages: a gate (duplicates, out of order, impossible
jumps), the smoother of the run's source (agents/smoothing.py: GPS or
optical, which may hold a fix back for half a window), and the kinematics of
the smoothed fixes (distance, speed, zones, top speed, efforts).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, fields
from typing import Any, Mapping

from geopy.distance import geodesic

from agents.smoothing import (
    RATE_STEPS,
    SOURCES,
    TIME_EPS_S,
    ema_position,
    sampling_rate_hz,
    savgol_at,
    source_for,
)

WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

# Above this a flat tangent plane stops being mm-accurate; hand over to geopy.
FAST_DISTANCE_MAX_M = 1000.0

GPS_TOP_SPEED_HOLD_S = 0.5
MAX_SMOOTHING_WINDOW_S = 2.0

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

    ``source`` says how positions are smoothed before speeds are derived
    (agents/smoothing.py): ``gps`` by a causal low-pass at ``smoothing_hz``,
    ``optical`` by Savitzky-Golay over ``smoothing_window_s``; ``auto`` takes
    gps for lat/lon and, for x/y, measures the first steps' rate (optical from
    20 Hz). ``top_speed_hold_s`` None means the source's own: 0.5 s for GPS
    (one noisy step must not set the top speed), 0 for optical (the smoothing
    window already averages half a second).
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
    top_speed_hold_s: float | None = None
    source: str = "auto"
    smoothing_hz: float = 1.0
    smoothing_window_s: float = 0.5

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
        for name in ("sprint_min_s", "accel_min_s", "position_error_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.top_speed_hold_s is not None and not self.top_speed_hold_s >= 0:
            raise ValueError(f"top_speed_hold_s must be >= 0 (or null: the source's own), got {self.top_speed_hold_s!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        # The window's fixes live in the run's state until smoothed: bounded, and at most 2 s of lag.
        if not 0 < self.smoothing_window_s <= MAX_SMOOTHING_WINDOW_S:
            raise ValueError(f"smoothing_window_s must be in (0, {MAX_SMOOTHING_WINDOW_S:g}], "
                             f"got {self.smoothing_window_s!r}")

    def hold_s(self, source: str) -> float:
        """How long a speed must be held to count as the top speed, for fixes from ``source``."""
        if self.top_speed_hold_s is not None:
            return self.top_speed_hold_s
        return GPS_TOP_SPEED_HOLD_S if source == "gps" else 0.0

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
    """Empty state, with one zone slot per speed zone of ``cfg``.

    ``last_*`` is the last accepted raw fix, in local metres (and lat/lon for
    GPS); ``origin`` the [lat, lon] of the first GPS fix (None for x/y data).
    ``held`` keeps accepted raw fixes [t, x, y] the smoother still needs: for
    optical the fixes within half a window of the next fix to smooth
    (``held[held_next]``), for ``auto`` the first steps until the rate is
    known. ``smooth_*`` is the last smoothed fix, from which every metric is
    derived. The GPS filter starts at rest on the first fix (there is no
    earlier velocity), so a stream that begins mid-run shows a ~0.5 s ramp."""
    zones = len((cfg or MotionConfig()).zone_edges_mps) + 1
    return {
        "fixes": 0,
        "rejected": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "origin": None,
        "source": None,
        "last_t": None,
        "last_lat": None,
        "last_lon": None,
        "last_x": None,
        "last_y": None,
        "held": [],
        "held_next": 0,
        "smooth_t": None,
        "smooth_x": None,
        "smooth_y": None,
        "speed_mps": 0.0,
        "raw_speed_mps": 0.0,
        "distance_m": 0.0,
        "top_speed_mps": 0.0,
        "held_speed_mps": None,  # the speed held over the hold up to the last step (None: not covered yet)
        "speed_window": [],  # [[step_start_t, smoothed_speed], ...] covering the top-speed hold
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


def motion_upgraded(state: MotionState) -> MotionState:
    """A state stored before runs had a source (every one GPS-filtered up to its last fix), in
    today's shape, so a run that was live across the upgrade goes on as it was."""
    if "held" in state:
        return state
    return {**state, "source": "gps" if state["fixes"] else None, "held": [], "held_next": 0,
            "smooth_t": state["last_t"]}


def _effort(
    since: float | None, counted: bool, active: bool, step_start: float, t: float, min_s: float
) -> tuple[float | None, bool, bool]:
    """Track one sustained-threshold effort; returns (since, counted,
    just_counted). Counted as soon as it has lasted ``min_s``, so live
    dashboards see it without waiting for the effort to end."""
    if not active:
        return None, False, False
    since = step_start if since is None else since
    if not counted and t - since >= min_s - TIME_EPS_S:
        return since, True, True
    return since, counted, False


def held_speed(window: list[list[float]], horizon: float) -> float | None:
    """The speed held since ``horizon``: the slowest of the steps covering it; None while the
    steps do not reach back that far. The top speed is the best of these (``_kinematics``)."""
    if not window or window[0][0] > horizon + TIME_EPS_S:
        return None
    return min(s for _, s in window)


def local_xy(state: MotionState, lat: float, lon: float) -> tuple[float, float]:
    """A lat/lon point in the run's local metres (the tangent plane at its first fix), where its
    smoothed positions are: for geometry given in degrees, such as a lap's start line."""
    origin = state["origin"]
    return _enu_offset_m(origin[0], origin[1], lat, lon, origin[0])


def _kinematics(state: MotionState, t: float, sx: float, sy: float, cfg: MotionConfig) -> MotionState:
    """Fold one smoothed fix: the step from the previous one gives distance,
    speed and acceleration, and through them zones, top speed and efforts."""
    last_t = state["smooth_t"]
    if last_t is None:
        return {**state, "smooth_t": t, "smooth_x": sx, "smooth_y": sy}
    dt = t - last_t
    step = xy_distance_m(state["smooth_x"], state["smooth_y"], sx, sy)
    speed = step / dt
    accel = (speed - state["speed_mps"]) / dt

    zone = bisect_right(cfg.zone_edges_mps, speed)
    zone_time = list(state["zone_time_s"])
    zone_dist = list(state["zone_distance_m"])
    zone_time[zone] += dt
    zone_dist[zone] += step

    # Top speed = best speed held for the hold time: the minimum over the
    # steps covering the trailing hold window, so one noisy step cannot set it.
    window = [*state["speed_window"], [last_t, speed]]
    horizon = t - cfg.hold_s(state["source"])
    while len(window) > 1 and window[1][0] <= horizon + TIME_EPS_S:
        window.pop(0)
    held = held_speed(window, horizon)
    top = state["top_speed_mps"] if held is None else max(state["top_speed_mps"], held)

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
        "smooth_t": t,
        "smooth_x": sx,
        "smooth_y": sy,
        "speed_mps": speed,
        "distance_m": state["distance_m"] + step,
        "top_speed_mps": top,
        "held_speed_mps": held,
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


def _ema_in(state: MotionState, fix: list[float], cfg: MotionConfig) -> MotionState:
    """GPS: low-pass the fix against the last smoothed one and fold it at once."""
    t, x, y = fix
    if state["smooth_t"] is not None:
        x, y = ema_position(state["smooth_x"], state["smooth_y"], x, y, t - state["smooth_t"], cfg.smoothing_hz)
    return _kinematics(state, t, x, y, cfg)


def _savgol_in(state: MotionState, fix: list[float] | None, cfg: MotionConfig) -> MotionState:
    """Optical: hold the fix, then smooth and fold every held fix whose window
    is complete (the newest fix is half a window past it). ``fix`` None
    flushes: every held fix is smoothed with the fixes there are."""
    held = state["held"] if fix is None else [*state["held"], fix]
    half = cfg.smoothing_window_s / 2.0
    newest = math.inf if fix is None else fix[0]
    nxt = state["held_next"]
    while nxt < len(held) and held[nxt][0] + half <= newest + TIME_EPS_S:
        sx, sy = savgol_at(held, nxt, half)
        state = _kinematics(state, held[nxt][0], sx, sy, cfg)
        nxt += 1
    if nxt < len(held):             # fixes before the next one's window are done with
        start, cut = held[nxt][0] - half - TIME_EPS_S, 0
        while held[cut][0] < start:
            cut += 1
        held, nxt = held[cut:], nxt - cut
    return {**state, "held": held, "held_next": nxt}


_SMOOTHERS = {"gps": _ema_in, "optical": _savgol_in}


def _chosen_source(held: list[list[float]], cfg: MotionConfig, geographic: bool, final: bool) -> str | None:
    """The run's source: the configured one, else measured from the held
    fixes' steps once RATE_STEPS of them are in (or whatever is in, when
    ``final``); None while still measuring."""
    if cfg.source != "auto":
        return cfg.source
    if geographic:
        return "gps"
    if len(held) <= RATE_STEPS and not final:
        return None
    return source_for(sampling_rate_hz([f[0] for f in held]), geographic=False)


def _smooth_in(state: MotionState, fix: list[float], cfg: MotionConfig, geographic: bool) -> MotionState:
    """Pass one accepted fix to the run's smoother, choosing it first if not yet chosen. A run
    config that names another source (a /start-stream mid-run) switches from this fix on."""
    if state["source"] is not None and cfg.source not in ("auto", state["source"]):
        state = {**motion_flush(state, cfg), "source": None, "held": [], "held_next": 0}
    if state["source"] is not None:
        return _SMOOTHERS[state["source"]](state, fix, cfg)
    state = {**state, "held": [*state["held"], fix]}
    source = _chosen_source(state["held"], cfg, geographic, final=False)
    return state if source is None else _release(state, source, cfg)


def _release(state: MotionState, source: str, cfg: MotionConfig) -> MotionState:
    """Set the run's source and pass its smoother the fixes held while measuring."""
    held = state["held"]
    state = {**state, "source": source, "held": []}
    for fix in held:
        state = _SMOOTHERS[source](state, fix, cfg)
    return state


def motion_flush(state: MotionState, cfg: MotionConfig) -> MotionState:
    """The state with every held fix smoothed and folded, as if the run ended
    here: what summaries show, so the figures cover every fix received. The
    last half window is provisional (smoothed from the fixes before it only)
    until later fixes arrive; the stored state goes on holding them."""
    if state["source"] is None and state["held"]:      # still measuring the rate (x/y only)
        state = _release(state, _chosen_source(state["held"], cfg, geographic=False, final=True), cfg)
    return _savgol_in(state, None, cfg) if state["source"] == "optical" else state


def _step(state: MotionState, t: float, x: float, y: float, cfg: MotionConfig, geographic: bool) -> MotionState:
    """Shared core: gate one fix given in local metres, then smooth and fold it."""
    if not (math.isfinite(t) and math.isfinite(x) and math.isfinite(y)):
        return {**state, "rejected": state["rejected"] + 1}
    last_t = state["last_t"]
    raw_speed = 0.0
    if last_t is not None:
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
    state = {**state, "fixes": state["fixes"] + 1, "last_t": t, "last_x": x, "last_y": y, "raw_speed_mps": raw_speed}
    return _smooth_in(state, [t, x, y], cfg, geographic)


def motion_add_xy(state: MotionState, t: float, x: float, y: float, cfg: MotionConfig) -> MotionState:
    """Fold one tracking fix already in metres (epoch seconds ``t``)."""
    if state["origin"] is not None:
        raise ValueError("this motion state holds lat/lon fixes; use motion_add")
    return _step(state, t, x, y, cfg, geographic=False)


def motion_add(state: MotionState, t: float, lat: float, lon: float, cfg: MotionConfig) -> MotionState:
    """Fold one GPS fix: project to tangent-plane metres around the first fix,
    then run the planar core. Over a pitch-sized area the projection error is
    far below GPS noise."""
    if state["fixes"] and state["origin"] is None:
        raise ValueError("this motion state holds x/y fixes; use motion_add_xy")
    origin = state["origin"] or [lat, lon]
    x, y = _enu_offset_m(origin[0], origin[1], lat, lon, origin[0])
    new = _step(state, t, x, y, cfg, geographic=True)
    if new["fixes"] == state["fixes"]:  # skipped: only a counter moved
        return new
    return {**new, "origin": origin, "last_lat": lat, "last_lon": lon}


def motion_summary(state: MotionState, cfg: MotionConfig | None = None) -> dict[str, Any]:
    """Readable metrics over every fix received (held fixes flushed: ``motion_flush``);
    ``cfg`` is the run's (defaults if None)."""
    cfg = cfg or MotionConfig()
    state = motion_flush(state, cfg)
    bounds = [0.0, *cfg.zone_edges_mps, None]
    return {
        "source": state["source"],
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
