"""Football GPS/tracking motion metrics, computed incrementally fix by fix.

Fixes arrive one at a time from a stream, so everything here is a pure fold:
``motion_add(state, ...) -> new state`` over a JSON-serialisable dict that a
Faust table can store. The same core handles GPS (lat/lon, projected to local
metres around the first fix) and tracking data already in metres (x/y).

Each fix passes three stages: a gate (duplicates, out of order, impossible
jumps), the smoother of the run's source (agents/smoothing.py: GPS or
optical, which may hold a fix back for half a window), and the kinematics of
the smoothed fixes (agents/kinematics.py: distance, speed, zones, top speed,
efforts). Distances are agents/geodesy.py's; thresholds agents/motion_config.py's.
"""

from __future__ import annotations

import math
from typing import Any

from agents.geodesy import enu_offset_m, xy_distance_m
from agents.kinematics import kinematics
from agents.motion_config import MotionConfig, MotionState
from agents.smoothing import RATE_STEPS, TIME_EPS_S, ema_position, sampling_rate_hz, savgol_at, source_for


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


def local_xy(state: MotionState, lat: float, lon: float) -> tuple[float, float]:
    """A lat/lon point in the run's local metres (the tangent plane at its first fix), where its
    smoothed positions are: for geometry given in degrees, such as a lap's start line."""
    origin = state["origin"]
    return enu_offset_m(origin[0], origin[1], lat, lon, origin[0])


def _ema_in(state: MotionState, fix: list[float], cfg: MotionConfig) -> MotionState:
    """GPS: low-pass the fix against the last smoothed one and fold it at once."""
    t, x, y = fix
    if state["smooth_t"] is not None:
        x, y = ema_position(state["smooth_x"], state["smooth_y"], x, y, t - state["smooth_t"], cfg.smoothing_hz)
    return kinematics(state, t, x, y, cfg)


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
        state = kinematics(state, held[nxt][0], sx, sy, cfg)
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
    x, y = enu_offset_m(origin[0], origin[1], lat, lon, origin[0])
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
