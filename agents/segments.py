"""A run's segment summaries: fixed intervals, laps, periods and rolling peaks. Pure, no Kafka.

The run summary covers the whole run; coaches also want it per part of the run. Each reading the
run folds (agents/run_state.py, both apply paths) comes here with the step motion just took
(`motion_step`: the change of the motion state the reading's fix made), and lands in the open
segment of each kind:

- interval: fixed intervals of `interval_s` (default 5 min) aligned to the run's first reading (the
  length in force then stays the run's, so interval numbers never repeat);
- lap: between two crossings of the run's start/finish line in its direction (left to right of A→B);
- period: between markers (`POST /runs/{device}/{run}/markers`, or a match feed's kickoff, half-time
  and full-time whistles), a marker with a label starting a period and one without ending it.

A segment has the run summary's metrics: readings, distance, HSR distance, top speed (held as the run's
is), zone times and distances, sprints, accelerations and decelerations, and numeric field stats.
Stats are folded apart from the rest (`add_stats`): a segment knows the run's readings it spans
(ordinals `from_reading`..`to_reading`), so the batch path adds a burst's columns per segment in numpy
while the per-reading reference adds reading by reading. Closed segments wait in `closed` until the
run agent moves them to its chunked tables and outputs (`take_closed`); the state keeps only the open ones.

Rolling peaks: the most distance and HSR distance in any 60, 180 and 300 s, over a per-second series
of the last 300 s (a window is W whole seconds of step end times, so 1 s resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from bisect import bisect_right
from typing import Any, Callable, Mapping

from agents.motion import MotionConfig, held_speed, local_xy
from agents.stats import RunStats

DEFAULT_INTERVAL_S = 300.0
PEAK_WINDOWS_S = (60, 180, 300)
KINDS = ("interval", "lap", "period")
MAX_PENDING_MARKERS = 50          # markers ahead of the run's data; bounded like every per-run list
RUN_STATS = RunStats()

Segments = dict[str, Any]
StatsAdder = Callable[[dict[str, Any], int, int], dict[str, Any]]   # (stats, first, stop) -> stats


@dataclass(frozen=True)
class SegmentConfig:
    """A run's segment options (`segments` in its /start-stream config)."""

    interval_s: float = DEFAULT_INTERVAL_S
    # Start/finish line [[a1, a2], [b1, b2]] in the run's position fields' units (lat/lon or x/y).
    lap_line: tuple[tuple[float, float], tuple[float, float]] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SegmentConfig:
        d = d or {}
        line = d.get("lap_line")
        return cls(interval_s=float(d.get("interval_s") or DEFAULT_INTERVAL_S),
                   lap_line=None if line is None else (tuple(line[0]), tuple(line[1])))


@dataclass(frozen=True)
class Step:
    """What one reading's fix added to the run's motion (several smoothed steps at once when the
    optical smoother releases held fixes): its end time and position, and the counters' increments."""

    t: float
    x: float
    y: float
    distance_m: float
    hsr_distance_m: float
    zone_time_s: list[float]
    zone_distance_m: list[float]
    sprints: int
    accelerations: int
    decelerations: int
    held_speed_mps: float | None
    first: bool                   # the run's first smoothed fix: a position, no movement yet


def motion_step(before: dict[str, Any] | None, after: dict[str, Any] | None, cfg: MotionConfig) -> Step | None:
    """The step between two motion states, None when no new smoothed fix came out of the fold."""
    if after is None or after["smooth_t"] is None:
        return None
    if before is not None and before.get("smooth_t") == after["smooth_t"]:
        return None
    first = before is None or before.get("smooth_t") is None
    base = after if first else before
    window = after["speed_window"]
    return Step(
        t=after["smooth_t"], x=after["smooth_x"], y=after["smooth_y"],
        distance_m=after["distance_m"] - base["distance_m"] if not first else 0.0,
        hsr_distance_m=after["hsr_distance_m"] - base["hsr_distance_m"] if not first else 0.0,
        zone_time_s=[a - b for a, b in zip(after["zone_time_s"], base["zone_time_s"])] if not first
        else [0.0] * len(after["zone_time_s"]),
        zone_distance_m=[a - b for a, b in zip(after["zone_distance_m"], base["zone_distance_m"])] if not first
        else [0.0] * len(after["zone_distance_m"]),
        sprints=after["sprints"] - base["sprints"] if not first else 0,
        accelerations=after["accelerations"] - base["accelerations"] if not first else 0,
        decelerations=after["decelerations"] - base["decelerations"] if not first else 0,
        held_speed_mps=held_speed(window, after["smooth_t"] - cfg.hold_s(after["source"])) if window else None,
        first=first)


def initial() -> Segments:
    """`series`: [second, distance, HSR distance] of the last complete seconds, `current` the second
    under way; `sums`: each peak window's totals up to now."""
    return {"origin": None, "interval_s": None, "seen": 0, "interval": None, "lap": None, "laps": 0, "period": None, "periods": 0,
            "markers": [], "marks": [], "prev_xy": None, "series": [], "current": None,
            "sums": {str(w): [0.0, 0.0] for w in PEAK_WINDOWS_S},
            "peaks": {str(w): new_peak() for w in PEAK_WINDOWS_S}, "closed": []}


def new_peak() -> dict[str, Any]:
    return {"distance_m": 0.0, "distance_end_t": None, "hsr_distance_m": 0.0, "hsr_end_t": None}


def open_segment(kind: str, index: int, start: float, zones: int, label: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "index": index, "label": label, "start_t": start, "end_t": None, "readings": 0,
            "from_reading": None, "to_reading": None,
            "distance_m": 0.0, "hsr_distance_m": 0.0, "top_speed_mps": 0.0, "zone_time_s": [0.0] * zones,
            "zone_distance_m": [0.0] * zones, "sprints": 0, "accelerations": 0, "decelerations": 0,
            "stats": RUN_STATS.initial()}


def with_reading(segment: dict[str, Any], ordinal: int) -> dict[str, Any]:
    first = ordinal if segment["from_reading"] is None else segment["from_reading"]
    return {**segment, "readings": segment["readings"] + 1, "from_reading": first, "to_reading": ordinal}


def add_stats(state: Segments, first: int, stop: int, adder: StatsAdder) -> Segments:
    """Fold the numeric fields of the run's readings `first`..`stop - 1` (just folded by `fold_reading`)
    into the stats of the segments that hold them; `adder(stats, a, b)` adds readings first + a .. first + b - 1."""
    def added(segment: dict[str, Any]) -> dict[str, Any]:
        if segment["to_reading"] is None or segment["to_reading"] < first or segment["from_reading"] >= stop:
            return segment
        a, b = max(segment["from_reading"], first) - first, min(segment["to_reading"] + 1, stop) - first
        return {**segment, "stats": adder(segment["stats"], a, b)}
    new = {**state, "closed": [added(segment) for segment in state["closed"]]}
    for kind in KINDS:
        if state[kind] is not None:
            new[kind] = added(state[kind])
    return new


def with_step(segment: dict[str, Any], step: Step) -> dict[str, Any]:
    top = segment["top_speed_mps"] if step.held_speed_mps is None else max(segment["top_speed_mps"],
                                                                            step.held_speed_mps)
    return {**segment, "distance_m": segment["distance_m"] + step.distance_m,
            "hsr_distance_m": segment["hsr_distance_m"] + step.hsr_distance_m, "top_speed_mps": top,
            "zone_time_s": [a + b for a, b in zip(segment["zone_time_s"], step.zone_time_s)],
            "zone_distance_m": [a + b for a, b in zip(segment["zone_distance_m"], step.zone_distance_m)],
            "sprints": segment["sprints"] + step.sprints,
            "accelerations": segment["accelerations"] + step.accelerations,
            "decelerations": segment["decelerations"] + step.decelerations}


ROW_OMITS = ("stats", "from_reading", "to_reading")


def segment_row(segment: dict[str, Any], final: bool, end_t: float | None = None) -> dict[str, Any]:
    """A segment as a flat row: what /runs/{device}/{run}/segments answers and run_segments stores."""
    end = segment["end_t"] if end_t is None else end_t
    return {**{k: v for k, v in segment.items() if k not in ROW_OMITS}, "end_t": end,
            "duration_s": None if end is None else end - segment["start_t"], "final": final,
            "stats": RUN_STATS.result(segment["stats"])}


def closing(state: Segments, kind: str, end_t: float, **extra: Any) -> Segments:
    """The state with its open segment of `kind` closed at `end_t` and queued in `closed`."""
    segment = state[kind]
    if segment is None:
        return state
    return {**state, kind: None, "closed": [*state["closed"], {**segment, **extra, "end_t": end_t}]}


def add_marker(state: Segments, t: float, label: str | None) -> Segments:
    """A period marker: applied when the run's data reaches `t` (at once if it already has). A marker
    seen before (sent again after a crash) changes nothing."""
    marker = {"t": t, "label": label}
    seen = state.get("marks", [])
    if marker in seen:
        return state
    markers = sorted([*state["markers"], marker], key=lambda m: m["t"])[-MAX_PENDING_MARKERS:]
    return {**state, "markers": markers, "marks": [*seen, marker][-MAX_PENDING_MARKERS:]}


WHISTLES = ("kickoff", "half_time", "full_time")


def whistle_markers(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A match feed's period markers: a kickoff starts period n, half and full time end it."""
    return [{"t": entry["t"], "label": f"period_{entry['period']}" if entry["event"] == "kickoff" else None}
            for entry in timeline if entry["event"] in WHISTLES]


def apply_markers(state: Segments, until: float, zones: int) -> Segments:
    """Apply the pending markers at or before `until`: each closes the open period; a label opens the next."""
    while state["markers"] and state["markers"][0]["t"] <= until:
        marker, rest = state["markers"][0], state["markers"][1:]
        state = {**closing(state, "period", marker["t"]), "markers": rest}
        if marker["label"] is not None:
            state = {**state, "periods": state["periods"] + 1,
                     "period": open_segment("period", state["periods"] + 1, marker["t"], zones, marker["label"])}
    return state


def interval_index(t: float, origin: float, interval_s: float) -> int:
    return max(0, math.floor((t - origin) / interval_s))


def fold_reading(state: Segments, t: float, step: Step | None, cfg: SegmentConfig, zones: int,
                 line: tuple[tuple[float, float], tuple[float, float]] | None = None) -> Segments:
    """Fold one reading (time `t`; its stats come with `add_stats`) and the motion step its fix made.
    `line`: the lap line in the run's local metres (`lap_line_xy`)."""
    if state["origin"] is None:          # the intervals' grid is fixed by the run's first reading
        state = {**state, "origin": t, "interval_s": cfg.interval_s}
    else:
        state = dict(state)
    origin, length = state["origin"], state["interval_s"]
    if state["markers"] and state["markers"][0]["t"] <= t:
        state = apply_markers(state, t, zones)
    index = interval_index(t, origin, length)
    open_interval = state["interval"]
    if open_interval is not None and index > open_interval["index"]:
        state = closing(state, "interval", origin + (open_interval["index"] + 1) * length)
    if state["interval"] is None:
        state["interval"] = open_segment("interval", index, origin + index * length, zones)
    ordinal = state["seen"]
    state["seen"] = ordinal + 1
    for kind in KINDS:                  # `state` is this call's own copy from here on: set in place
        if state[kind] is not None:
            state[kind] = with_reading(state[kind], ordinal)
    if step is None:
        return state
    for kind in KINDS:
        if state[kind] is not None:
            state[kind] = with_step(state[kind], step)
    state = with_peaks(state, step)
    if line is not None and state["prev_xy"] is not None:
        crossed = crossing(state["prev_xy"], [step.t, step.x, step.y], line)
        if crossed is not None:
            state = new_lap(state, crossed, zones)
    return {**state, "prev_xy": [step.t, step.x, step.y]}


def new_lap(state: Segments, at: float, zones: int) -> Segments:
    """The line was crossed at `at`: the open lap (if any) ends there and the next begins."""
    lap = state["lap"]
    if lap is not None:
        state = closing(state, "lap", at, lap_time_s=at - lap["start_t"])
    return {**state, "laps": state["laps"] + 1, "lap": open_segment("lap", state["laps"] + 1, at, zones)}


def crossing(p: list[float], q: list[float], line: tuple[tuple[float, float], tuple[float, float]]) -> float | None:
    """When the move p → q ([t, x, y] each) crosses the segment A→B from its left to its right (or
    onto it), by linear interpolation; None if it does not."""
    (ax, ay), (bx, by) = line
    ux, uy = bx - ax, by - ay
    side_p = ux * (p[2] - ay) - uy * (p[1] - ax)
    side_q = ux * (q[2] - ay) - uy * (q[1] - ax)
    if not (side_p > 0 >= side_q):
        return None
    s = side_p / (side_p - side_q)                       # where along p → q the line is met
    cx, cy = p[1] + s * (q[1] - p[1]), p[2] + s * (q[2] - p[2])
    length2 = ux * ux + uy * uy
    along = ((cx - ax) * ux + (cy - ay) * uy) / length2 if length2 else -1.0
    if not 0.0 <= along <= 1.0:
        return None
    return p[0] + s * (q[0] - p[0])


def lap_line_xy(cfg: SegmentConfig, motion: dict[str, Any] | None,
                geographic: bool) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The run's lap line in its local metres: lat/lon points projected around the run's first fix."""
    if cfg.lap_line is None or motion is None or (geographic and motion.get("origin") is None):
        return None
    if not geographic:
        return cfg.lap_line
    a, b = cfg.lap_line
    return local_xy(motion, *a), local_xy(motion, *b)


def with_peaks(state: Segments, step: Step) -> Segments:
    """Add the step to the per-second series and raise the peaks the windows ending now reach. A new
    second moves every window on: what leaves it is taken off its sums (found by bisection)."""
    second = math.floor(step.t)
    series, current, sums = state["series"], state["current"], state["sums"]
    if current is not None and current[0] != second:
        series = [*series, current]
        sums = {str(w): leaving(series, sums[str(w)], current[0] - w, second - w) for w in PEAK_WINDOWS_S}
        series = series[bisect_right(series, second - max(PEAK_WINDOWS_S), key=first_item):]
        current = None
    current = [second, step.distance_m, step.hsr_distance_m] if current is None else \
        [second, current[1] + step.distance_m, current[2] + step.hsr_distance_m]
    sums = {w: [d + step.distance_m, h + step.hsr_distance_m] for w, (d, h) in sums.items()}
    peaks = dict(state["peaks"])
    for w, (d, h) in sums.items():
        peak = peaks[w]
        if d > peak["distance_m"]:
            peak = {**peak, "distance_m": d, "distance_end_t": float(second + 1)}
        if h > peak["hsr_distance_m"]:
            peak = {**peak, "hsr_distance_m": h, "hsr_end_t": float(second + 1)}
        peaks[w] = peak
    return {**state, "series": series, "current": current, "sums": sums, "peaks": peaks}


def first_item(entry: list[float]) -> float:
    return entry[0]


def leaving(series: list[list[float]], sums: list[float], was_after: int, now_after: int) -> list[float]:
    """A window's sums once the seconds in (was_after, now_after] have left it."""
    d, h = sums
    for entry in series[bisect_right(series, was_after, key=first_item):bisect_right(series, now_after,
                                                                                     key=first_item)]:
        d, h = d - entry[1], h - entry[2]
    return [d, h]


def peak_rows(state: Segments) -> list[dict[str, Any]]:
    """The rolling peaks, one row per window length."""
    return [{"kind": "peaks", "index": w, "window_s": w, **state["peaks"][str(w)]} for w in PEAK_WINDOWS_S]


def close_all(state: Segments, end_t: float | None) -> Segments:
    """The run ended: every open segment closes at the run's last time (the interval at its own end
    if sooner; an open lap is not a lap and is dropped)."""
    if end_t is None:
        return state
    state = closing(state, "interval", end_t)
    state = closing(state, "period", end_t)
    return {**state, "lap": None}


def open_rows(state: Segments, kind: str, last_t: float | None) -> list[dict[str, Any]]:
    """The open segment of `kind` as a provisional row (final = false), up to the run's last time."""
    segment = state.get(kind)
    return [] if segment is None else [segment_row(segment, final=False, end_t=last_t)]


def take_closed(state: Segments) -> tuple[Segments, list[dict[str, Any]]]:
    """The segments closed since the last call as rows, and the state without them (the run agent
    stores them)."""
    return {**state, "closed": []}, [segment_row(segment, final=True) for segment in state["closed"]]
