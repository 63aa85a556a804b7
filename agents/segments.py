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
is), zone times and distances, sprints, accelerations and decelerations, and numeric field stats. The
motion figures are the change of the run's cumulative counters (`counters`) from the segment's start
to its end, so per reading only the top speed and the peaks need work. Stats are folded apart
(`add_stats`): a segment knows the run's readings it spans (ordinals `from_reading`..`to_reading`), so the batch path adds a burst's columns per segment in numpy
while the per-reading reference adds reading by reading. Closed segments wait in `closed` until the
run agent moves them to its chunked tables and outputs (`take_closed`); the state keeps only the open ones.

Rolling peaks: the most distance and HSR distance in any 60, 180 and 300 s, over a per-second series
of the last 300 s (a window is W whole seconds of step end times, so 1 s resolution), updated once a
second (`peak_rows` counts the second under way). The series is whole millimetres, each second the
change of the run's distance rounded to the millimetre, so a window's sum is within 1 mm of the exact
one however long it is, and the state keeps two short lists of small integers: it is written to the
table's changelog with every record (as floats, [second, d, h] rows, it was 10 KB of a 16 KB state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from agents.motion import local_xy
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
    # Start/finish line [[a1, a2], [b1, b2]] in the run's position fields' units (lat/lon or x/y),
    # as the run config holds it (JSON lists).
    lap_line: list[list[float]] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> SegmentConfig:
        d = d or {}
        return cls(interval_s=float(d.get("interval_s") or DEFAULT_INTERVAL_S), lap_line=d.get("lap_line"))


@dataclass(frozen=True)
class Step:
    """What one reading's fix added to the run's motion (several smoothed steps at once when the
    optical smoother releases held fixes): its end time and position, its distance and HSR distance,
    and the speed held up to its end (None while the hold is not covered)."""

    t: float
    x: float
    y: float
    distance_m: float
    hsr_distance_m: float
    held_speed_mps: float | None


def motion_step(before: dict[str, Any] | None, after: dict[str, Any] | None) -> Step | None:
    """The step between two motion states, None when no new smoothed fix came out of the fold."""
    if after is None or after["smooth_t"] is None:
        return None
    if before is not None and before.get("smooth_t") == after["smooth_t"]:
        return None
    moved = before is not None and before.get("smooth_t") is not None      # not the run's first smoothed fix
    return Step(t=after["smooth_t"], x=after["smooth_x"], y=after["smooth_y"],
                distance_m=after["distance_m"] - before["distance_m"] if moved else 0.0,
                hsr_distance_m=after["hsr_distance_m"] - before["hsr_distance_m"] if moved else 0.0,
                held_speed_mps=after.get("held_speed_mps"))


COUNTERS = ("distance_m", "hsr_distance_m", "sprints", "accelerations", "decelerations")
ZONE_COUNTERS = ("zone_time_s", "zone_distance_m")


def counters(motion: dict[str, Any] | None, zones: int) -> dict[str, Any]:
    """The run's cumulative motion counters: a segment's figures are their change over it."""
    if motion is None:
        return {**{name: 0 for name in COUNTERS}, **{name: [0.0] * zones for name in ZONE_COUNTERS}}
    return {name: motion[name] for name in (*COUNTERS, *ZONE_COUNTERS)}


def change(base: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    return {**{name: now[name] - base[name] for name in COUNTERS},
            **{name: [b - a for a, b in zip(base[name], now[name])] for name in ZONE_COUNTERS}}


def initial() -> Segments:
    """`seen`: the run's readings folded so far (their ordinals number them); `current`: the second
    under way; `moved`: the distance and HSR distance of every step so far, `booked_mm` the same in
    whole millimetres at the last complete second; `series`: the millimetres of each second up to
    its `end`, the last complete one."""
    return {"origin": None, "interval_s": None, "seen": 0, "interval": None, "lap": None, "laps": 0, "period": None,
            "periods": 0, "markers": [], "marks": [], "prev_xy": None, "current": None, "moved": [0.0, 0.0],
            "booked_mm": [0, 0], "series": empty_series(),
            "peaks": {str(w): new_peak() for w in PEAK_WINDOWS_S}, "closed": []}


def empty_series() -> dict[str, Any]:
    return {"end": None, "d": [], "h": []}


def upgraded(state: Segments) -> Segments:
    """Segments stored before the series was kept in millimetres ([second, d, h] rows of floats,
    with running window sums): the same seconds, replayed into the millimetre series."""
    if not isinstance(state["series"], list):
        return state
    new = {k: v for k, v in state.items() if k not in ("sums", "sums_at")}
    new.update(current=None, moved=[0.0, 0.0], booked_mm=[0, 0], series=empty_series())
    for second, d, h in [*state["series"], *([state["current"]] if state["current"] else [])]:
        new = completed_second(new)
        new = {**new, "current": second, "moved": [new["moved"][0] + d, new["moved"][1] + h]}
    return new


def new_peak() -> dict[str, Any]:
    return {"distance_m": 0.0, "distance_end_t": None, "hsr_distance_m": 0.0, "hsr_end_t": None}


def open_segment(state: Segments, kind: str, index: int, start: float, base: dict[str, Any],
                 label: str | None = None) -> dict[str, Any]:
    """A segment starting now: from the next reading on, from the run's motion counters `base`."""
    return {"kind": kind, "index": index, "label": label, "start_t": start, "end_t": None,
            "from_reading": state["seen"], "to_reading": None, "base": base, "top_speed_mps": 0.0,
            "stats": RUN_STATS.initial()}


def add_stats(state: Segments, first: int, stop: int, adder: StatsAdder) -> Segments:
    """Fold the numeric fields of the run's readings `first`..`stop - 1` (just folded by `fold_reading`)
    into the stats of the segments that hold them; `adder(stats, a, b)` adds readings first + a .. first + b - 1."""
    def added(segment: dict[str, Any]) -> dict[str, Any]:
        last = state["seen"] - 1 if segment["to_reading"] is None else segment["to_reading"]
        a, b = max(segment["from_reading"], first), min(last + 1, stop)
        return segment if b <= a else {**segment, "stats": adder(segment["stats"], a - first, b - first)}
    new = {**state, "closed": [added(segment) for segment in state["closed"]]}
    for kind in KINDS:
        if state[kind] is not None:
            new[kind] = added(state[kind])
    return new


ROW_OMITS = ("stats", "from_reading", "to_reading", "base", "totals")


def segment_row(segment: dict[str, Any], final: bool, seen: int, now: dict[str, Any] | None = None,
                end_t: float | None = None) -> dict[str, Any]:
    """A segment as a flat row: what /runs/{device}/{run}/segments answers and run_segments stores. An
    open one (`final` false) counts up to the run's `seen` readings and its motion counters `now`."""
    end = segment["end_t"] if end_t is None else end_t
    last = seen - 1 if segment["to_reading"] is None else segment["to_reading"]
    totals = segment.get("totals") or change(segment["base"], now)
    return {**{k: v for k, v in segment.items() if k not in ROW_OMITS}, "end_t": end,
            "duration_s": None if end is None else end - segment["start_t"], "final": final,
            "readings": last + 1 - segment["from_reading"], **totals, "stats": RUN_STATS.result(segment["stats"])}


def closing(state: Segments, kind: str, end_t: float, now: dict[str, Any], **extra: Any) -> Segments:
    """The state with its open segment of `kind` closed at `end_t`, with the run's counters `now`, and
    queued in `closed`."""
    segment = state[kind]
    if segment is None:
        return state
    closed = {**segment, **extra, "end_t": end_t, "to_reading": state["seen"] - 1,
              "totals": change(segment["base"], now)}
    return {**state, kind: None, "closed": [*state["closed"], closed]}


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


def apply_markers(state: Segments, until: float, now: dict[str, Any]) -> Segments:
    """Apply the pending markers at or before `until`: each closes the open period; a label opens the next."""
    while state["markers"] and state["markers"][0]["t"] <= until:
        marker, rest = state["markers"][0], state["markers"][1:]
        state = {**closing(state, "period", marker["t"], now), "markers": rest}
        if marker["label"] is not None:
            state = {**state, "periods": state["periods"] + 1,
                     "period": open_segment(state, "period", state["periods"] + 1, marker["t"], now, marker["label"])}
    return state


def interval_index(t: float, origin: float, interval_s: float) -> int:
    return max(0, math.floor((t - origin) / interval_s))


def fold_reading(state: Segments, t: float, before: dict[str, Any] | None, after: dict[str, Any] | None,
                 step: Step | None, cfg: SegmentConfig, zones: int) -> Segments:
    """Fold one reading (time `t`; its stats come with `add_stats`): the run's motion went from `before`
    to `after` with it, by `step`. Laps need the lap line in the run's metres first (`with_lap_line`)."""
    if state["origin"] is None:          # the intervals' grid is fixed by the run's first reading
        state = {**state, "origin": t, "interval_s": cfg.interval_s}
    else:
        state = dict(state)
    origin, length = state["origin"], state["interval_s"]
    open_interval = state["interval"]
    index = interval_index(t, origin, length)
    if (state["markers"] and state["markers"][0]["t"] <= t) or open_interval is None \
            or index > open_interval["index"]:
        now = counters(before, zones)
        state = apply_markers(state, t, now)
        if open_interval is not None and index > open_interval["index"]:
            state = closing(state, "interval", origin + (open_interval["index"] + 1) * length, now)
        if state["interval"] is None:
            state["interval"] = open_segment(state, "interval", index, origin + index * length, now)
    state["seen"] += 1                  # `state` is this call's own copy from here on: set in place
    if step is None:
        return state
    if step.held_speed_mps is not None:
        for kind in KINDS:
            segment = state[kind]
            if segment is not None and step.held_speed_mps > segment["top_speed_mps"]:
                state[kind] = {**segment, "top_speed_mps": step.held_speed_mps}
    state = with_peaks(state, step)
    line = state.get("line_xy")
    if line is not None and state["prev_xy"] is not None:
        crossed = crossing(state["prev_xy"], [step.t, step.x, step.y], line)
        if crossed is not None:
            state = new_lap(state, crossed, counters(after, zones))
    state["prev_xy"] = [step.t, step.x, step.y]
    return state


def new_lap(state: Segments, at: float, now: dict[str, Any]) -> Segments:
    """The line was crossed at `at`: the open lap (if any) ends there and the next begins."""
    lap = state["lap"]
    if lap is not None:
        state = closing(state, "lap", at, now, lap_time_s=at - lap["start_t"])
    return {**state, "laps": state["laps"] + 1, "lap": open_segment(state, "lap", state["laps"] + 1, at, now)}


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


def with_lap_line(state: Segments, cfg: SegmentConfig, motion: dict[str, Any] | None, geographic: bool) -> Segments:
    """The state with the run's lap line in its local metres (`line_xy`), projected once the run has
    its first fix (lat/lon points around that fix) and again only if the configured line changes."""
    wanted = cfg.lap_line
    if state.get("line_of") == wanted and (wanted is None or state.get("line_xy") is not None):
        return state
    if wanted is None or motion is None or (geographic and motion.get("origin") is None):
        return {**state, "line_of": wanted, "line_xy": None}
    xy = wanted if not geographic else [list(local_xy(motion, *point)) for point in wanted]
    return {**state, "line_of": wanted, "line_xy": xy}


def with_peaks(state: Segments, step: Step) -> Segments:
    """Add the step to the second under way; when a new second begins, the one before is complete
    and moves every window on (`completed_second`). Per step, only the running totals change."""
    second = math.floor(step.t)
    if state["current"] is not None and state["current"] != second:
        state = completed_second(state)
    d, h = state["moved"]
    return {**state, "current": second, "moved": [d + step.distance_m, h + step.hsr_distance_m]}


def completed_second(state: Segments) -> Segments:
    """The second under way taken as complete: booked into the series in whole millimetres (the
    change of the rounded running totals, so roundings do not add up), after zeros for any seconds
    without a step. Each window now ends with it, `(s - W, s]`: the sum of the series' last W
    seconds, and the best window so far rises to meet it. The series keeps the last 300 seconds."""
    second = state["current"]
    if second is None:
        return state
    booked = [round(total * 1000) for total in state["moved"]]
    series = booked_second(state["series"], second, booked[0] - state["booked_mm"][0],
                           booked[1] - state["booked_mm"][1])
    peaks = dict(state["peaks"])
    for w in PEAK_WINDOWS_S:
        d, h = sum(series["d"][-w:]) / 1000, sum(series["h"][-w:]) / 1000
        peak = peaks[str(w)]
        if d > peak["distance_m"]:
            peak = {**peak, "distance_m": d, "distance_end_t": float(second + 1)}
        if h > peak["hsr_distance_m"]:
            peak = {**peak, "hsr_distance_m": h, "hsr_end_t": float(second + 1)}
        peaks[str(w)] = peak
    return {**state, "series": series, "current": None, "booked_mm": booked, "peaks": peaks}


def booked_second(series: dict[str, Any], second: int, d_mm: int, h_mm: int) -> dict[str, Any]:
    """The series with `second`'s millimetres appended, the seconds since its end as zeros, and only
    the last 300 seconds kept."""
    longest = max(PEAK_WINDOWS_S)
    gap = 0 if series["end"] is None else min(second - series["end"] - 1, longest)
    zeros = [0] * gap
    return {"end": second, "d": [*series["d"], *zeros, d_mm][-longest:], "h": [*series["h"], *zeros, h_mm][-longest:]}


def peak_rows(state: Segments) -> list[dict[str, Any]]:
    """The rolling peaks, one row per window length, the second under way counted as if complete."""
    peaks = completed_second(state)["peaks"]
    return [{"kind": "peaks", "index": w, "window_s": w, **peaks[str(w)]} for w in PEAK_WINDOWS_S]


def close_all(state: Segments, end_t: float | None, now: dict[str, Any]) -> Segments:
    """The run ended: every open segment closes at the run's last time, with its counters `now` (an
    open lap is not a lap and is dropped)."""
    if end_t is None:
        return state
    state = closing(state, "interval", end_t, now)
    state = closing(state, "period", end_t, now)
    return {**state, "lap": None}


def open_rows(state: Segments, kind: str, last_t: float | None, now: dict[str, Any]) -> list[dict[str, Any]]:
    """The open segment of `kind` as a provisional row (final = false), up to the run's last time."""
    segment = state.get(kind)
    return [] if segment is None else [segment_row(segment, False, state["seen"], now, end_t=last_t)]


def take_closed(state: Segments) -> tuple[Segments, list[dict[str, Any]]]:
    """The segments closed since the last call as rows, and the state without them (the run agent
    stores them)."""
    return {**state, "closed": []}, [segment_row(segment, True, state["seen"]) for segment in state["closed"]]
