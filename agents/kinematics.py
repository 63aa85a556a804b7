"""The kinematics of smoothed fixes: each step's distance, speed and acceleration, and through them
speed zones, HSR distance, the top speed held, sprints and acceleration efforts."""

from __future__ import annotations

from bisect import bisect_right

from agents.geodesy import xy_distance_m
from agents.motion_config import MotionConfig, MotionState
from agents.smoothing import TIME_EPS_S

def effort(
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
    steps do not reach back that far. The top speed is the best of these (``kinematics``)."""
    if not window or window[0][0] > horizon + TIME_EPS_S:
        return None
    return min(s for _, s in window)


def kinematics(state: MotionState, t: float, sx: float, sy: float, cfg: MotionConfig) -> MotionState:
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
    sprint_since, sprint_counted, new_sprint = effort(
        state["sprint_since"],
        state["sprint_counted"],
        speed >= (cfg.sprint_exit_mps if sprinting else cfg.sprint_mps),
        last_t,
        t,
        cfg.sprint_min_s,
    )

    direction = 1 if accel >= cfg.accel_mps2 else -1 if accel <= -cfg.accel_mps2 else 0
    same = direction == state["accel_dir"]
    accel_since, accel_counted, new_effort = effort(
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
