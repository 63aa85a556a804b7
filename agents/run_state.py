"""One run's live state and how each event changes it: pure functions, no Kafka.

The state is one JSON-serialisable dict kept in the `runs` table under the run's
key. Each function returns a new dict (Faust writes a table value to its changelog
only when it is reassigned) plus what the change produced: closed windows and alerts.

Replays are harmless: the state records the offset of the last record it applied,
and `apply_readings` skips records at or below it (DESIGN.md, exactly once
without Faust's transactions).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import orjson

from agents import forecast, segments
from agents.motion import motion_add, motion_add_xy, motion_initial, motion_upgraded
from agents.motion_config import MotionConfig
from agents.stats import Columns, RunStats, WindowBuffer, is_numeric, numeric_columns

RUN_STATS = RunStats()
WINDOWS = WindowBuffer()
# Records of fewer readings take the per-reading path: numpy's fixed cost per call made a one-reading
# burst cost ~290 µs against the reference's ~105 (they cross at about five readings).
SMALL_RECORD = 4
POSITION_FIELDS = (("latitude", "longitude", "geo"), ("lat", "lon", "geo"), ("x", "y", "xy"))


def new_run(device_id: str, run_id: str, window_seconds: float, since: float = 0.0) -> dict[str, Any]:
    """A run's first state. `since`: when the run's previous topic was deleted (see `deleted_run`)."""
    return {
        "device_id": device_id, "run_id": run_id, "since": since,
        "config": {"triggers": {}, "window_seconds": window_seconds, "table_preappend": None, "motion": {}},
        "status": "active",
        "readings": 0, "late": 0, "first_t": None, "last_t": None,
        "last_received_at": None, "last_offset": -1,
        "stats": RUN_STATS.initial(),
        "windows": WINDOWS.initial(),
        "motion": None, "position": None,
        "excursions": {},            # trigger field -> True while its value is outside the range
        "silent": False,
        "alerts": 0,
        "windows_closed": 0,         # closed windows ever kept in the run-window-chunks table (agents/owned.py)
        "segments": segments.initial(),
        "forecasts": {},             # field -> its forecast state (agents/forecast.py)
        "forecast_rows": [],         # forecasts the last record issued or scored, for the archive
    }


def deleted_run(device_id: str, run_id: str, at: float) -> dict[str, Any]:
    """What remains of a run whose topic was deleted at `at`: records written before belong to the
    deleted topic and are dropped; the first one written after starts the run afresh (Kafka
    restarts a re-created topic's offsets at 0, which the old state would take for replays)."""
    return {"device_id": device_id, "run_id": run_id, "status": "deleted", "since": at}


def motion_config(state: dict[str, Any]) -> MotionConfig:
    return motion_config_of(orjson.dumps(state["config"].get("motion") or {}, option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=1024)
def motion_config_of(options: bytes) -> MotionConfig:
    """A run's MotionConfig, built (and checked) once per distinct options, not once per record (~20 µs)."""
    return MotionConfig.from_dict(orjson.loads(options))


def position_kind(reading: dict[str, Any]) -> tuple[str, str, str] | None:
    """Which fields hold a position: (lat, lon, "geo") or (x, y, "xy"), when both are numbers."""
    for a, b, kind in POSITION_FIELDS:
        if is_numeric(reading.get(a)) and is_numeric(reading.get(b)):
            return a, b, kind
    return None


def fold_position(motion: dict[str, Any] | None, position: dict[str, Any] | None, kind: tuple[str, str, str],
                  t: float, first: float, second: float, cfg: MotionConfig
                  ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Fold one position into the run's motion; the first one fixes which fields hold positions.
    Both apply paths fold motion fix by fix through here."""
    a, b, how = kind
    if motion is None:
        motion, position = motion_initial(cfg), {"fields": [a, b], "kind": how}
    add = motion_add if how == "geo" else motion_add_xy
    return add(motion, t, first, second, cfg), position


def burst_positions(columns: Columns, count: int) -> list[tuple[int, tuple[str, str, str], float, float]]:
    """`position_kind` for a whole burst from its numeric columns: (row, kind, first, second) for each
    reading with a position, in reading order."""
    taken = np.zeros(count, dtype=bool)
    found: list[tuple[np.ndarray, tuple[str, str, str], np.ndarray, np.ndarray]] = []
    for kind in POSITION_FIELDS:
        a, b, _ = kind
        if a not in columns or b not in columns:
            continue
        has_a, has_b = np.full(count, np.nan), np.full(count, np.nan)
        has_a[columns[a][0]], has_b[columns[b][0]] = columns[a][1], columns[b][1]
        rows = np.flatnonzero(~taken & ~np.isnan(has_a) & ~np.isnan(has_b))
        taken[rows] = True
        found.append((rows, kind, has_a[rows], has_b[rows]))
    if len(found) == 1:                  # the usual case: one kind of position, already in order
        rows, kind, firsts, seconds = found[0]
        return [(row, kind, x, y) for row, x, y in zip(rows.tolist(), firsts.tolist(), seconds.tolist())]
    return sorted((row, kind, x, y) for rows, kind, firsts, seconds in found
                  for row, x, y in zip(rows.tolist(), firsts.tolist(), seconds.tolist()))


def fold_segments(segs: segments.Segments, t: float, before: dict[str, Any] | None, motion: dict[str, Any] | None,
                  position: dict[str, Any] | None, cfg: MotionConfig,
                  seg_cfg: segments.SegmentConfig) -> segments.Segments:
    """The reading at `t`, whose fix (if any) took the run's motion from `before` to `motion`, into the
    run's segments (agents/segments.py; their stats are added apart, `segments.add_stats`). Both apply
    paths fold every reading through here."""
    segs = segments.with_lap_line(segs, seg_cfg, motion, bool(position) and position["kind"] == "geo")
    return segments.fold_reading(segs, t, before, motion, segments.motion_step(before, motion), seg_cfg,
                                 len(cfg.zone_edges_mps) + 1)


def run_segments(state: dict[str, Any]) -> segments.Segments:
    """The run's segments (a run stored before segments existed starts them now)."""
    return segments.upgraded(state["segments"]) if state.get("segments") else segments.initial()


def segment_config(state: dict[str, Any]) -> segments.SegmentConfig:
    return segments.SegmentConfig.from_dict(state["config"].get("segments"))


def motion_counters(state: dict[str, Any]) -> dict[str, Any]:
    """The run's cumulative motion counters now, from which its open segments' figures are measured."""
    return segments.counters(state["motion"], len(motion_config(state).zone_edges_mps) + 1)


def passes_triggers(reading: dict[str, Any], triggers: dict[str, list[float]]) -> bool:
    return all(is_numeric(reading.get(f)) and lo <= reading[f] <= hi for f, (lo, hi) in triggers.items())


def apply_config(state: dict[str, Any], config: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """A new config from /start-stream. A new window size closes the open windows first; new motion
    thresholds apply from the next fix on (zone edges are always four, so zone totals keep their shape)."""
    closed: list[dict] = []
    windows = state["windows"]
    if config["window_seconds"] != state["config"]["window_seconds"]:
        windows, closed = WINDOWS.close_all(windows)
    return {**state, "config": config, "windows": windows, "status": "active"}, closed


def apply_readings(state: dict[str, Any], readings: list[dict[str, Any]], offset: int, received_at: float,
                   grace: float, time_field: str | None = None) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """Fold one record's readings into the run. Returns (state, closed windows, alerts).

    Every reading moves event time on, so windows close even when later readings fail the
    triggers; the time field itself is not a measurement and stays out of the stats.
    """
    if offset <= state["last_offset"]:
        return state, [], []                      # a replayed record: already applied
    triggers = state["config"]["triggers"]
    size = state["config"]["window_seconds"]
    cfg, seg_cfg = motion_config(state), segment_config(state)
    stats, windows, position, segs = state["stats"], state["windows"], state["position"], run_segments(state)
    motion = state["motion"] and motion_upgraded(state["motion"])
    excursions = dict(state["excursions"])
    closed: list[dict] = []
    alerts: list[dict] = []
    late = 0
    first_t, last_t = state["first_t"], state["last_t"]
    forecasts, forecast_rows = dict(state.get("forecasts") or {}), []
    fields, horizon_s = forecast.run_fields(state["config"])
    for reading in sorted(readings, key=lambda r: r["t"]):   # a batch may arrive out of order
        t, data = reading["t"], reading["data"]
        measured = {k: v for k, v in data.items() if k != time_field} if time_field in data else data
        stats = RUN_STATS.add(stats, measured)
        forecasts, rows = forecast.add_reading(forecasts, fields, t, measured)
        forecast_rows += rows
        if passes_triggers(data, triggers):
            windows, just_closed, was_late = WINDOWS.add(windows, t, measured, size, grace)
            closed.extend(just_closed)
            late += was_late
        for field, (lo, hi) in triggers.items():
            value = data.get(field)
            if not is_numeric(value):
                continue
            outside = not lo <= value <= hi
            if outside and not excursions.get(field):
                alerts.append({"type": "threshold", "field": field, "value": value, "min": lo, "max": hi, "t": t})
            excursions[field] = outside
        before, kind = motion, position_kind(data)
        if kind is not None:
            motion, position = fold_position(motion, position, kind, t, data[kind[0]], data[kind[1]], cfg)
        segs = fold_segments(segs, t, before, motion, position, cfg, seg_cfg)
        segs = segments.add_stats(segs, segs["seen"] - 1, segs["seen"],
                                  lambda stats, a, b: RUN_STATS.add(stats, measured))
        if kind is not None and forecast.distance_due(forecasts, t):
            forecasts, rows = forecast.add_reading(forecasts, [forecast.DISTANCE], t,
                                                   {forecast.DISTANCE: motion["distance_m"]})
            forecast_rows += rows
        first_t = t if first_t is None else min(first_t, t)
        last_t = t if last_t is None else max(last_t, t)
    if last_t is not None:
        windows, just_closed = WINDOWS.close_until(windows, last_t - grace)
        closed.extend(just_closed)
    forecasts, forecast_rows = issued_at_close(forecasts, forecast_rows, horizon_s, closed)
    new = {**state, "stats": stats, "windows": windows, "motion": motion, "position": position, "segments": segs,
           "forecasts": forecasts, "forecast_rows": forecast_rows, "excursions": excursions,
           "readings": state["readings"] + len(readings), "late": state["late"] + late,
           "first_t": first_t, "last_t": last_t, "last_received_at": received_at, "last_offset": offset,
           "silent": False, "status": "active", "alerts": state["alerts"] + len(alerts)}
    return new, closed, stamp_alerts(new, alerts)


def apply_burst(state: dict[str, Any], readings: list[dict[str, Any]], offset: int, received_at: float,
                grace: float, time_field: str | None = None) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """One record's readings as the run agent applies them: the smallest records reading by reading
    (`apply_readings`), the others in numpy over the burst's columns (`apply_columns`)."""
    apply = apply_readings if len(readings) < SMALL_RECORD else apply_columns
    return apply(state, readings, offset, received_at, grace, time_field)


def apply_columns(state: dict[str, Any], readings: list[dict[str, Any]], offset: int, received_at: float,
                  grace: float, time_field: str | None = None) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """`apply_readings` for a whole record at once: stats, windows and trigger excursions in numpy over
    the burst's columns, not reading by reading. `apply_readings` stays the reference; the two agree
    to 1e-9 (tests/unit/test_batch.py)."""
    if offset <= state["last_offset"]:
        return state, [], []                      # a replayed record: already applied
    ordered = sorted(readings, key=lambda r: r["t"])   # a batch may arrive out of order
    datas = [r["data"] for r in ordered]
    ts = np.array([r["t"] for r in ordered], dtype=np.float64)
    columns = numeric_columns(datas)
    measured = {name: column for name, column in columns.items() if name != time_field}
    triggers = state["config"]["triggers"]
    passing = np.ones(len(ordered), dtype=bool)
    for field, (lo, hi) in triggers.items():
        inside = np.zeros(len(ordered), dtype=bool)
        if field in columns:
            rows, values = columns[field]
            inside[rows] = (values >= lo) & (values <= hi)
        passing &= inside
    windows, closed, late = WINDOWS.add_burst(state["windows"], ts[passing], only_rows(measured, passing),
                                              state["config"]["window_seconds"], grace)
    excursions, alerts = threshold_alerts(ordered, columns, triggers, state["excursions"])
    motion, position = state["motion"] and motion_upgraded(state["motion"]), state["position"]
    cfg, seg_cfg, segs = motion_config(state), segment_config(state), run_segments(state)
    first = segs["seen"]
    fixes = iter(burst_positions(columns, len(ordered)))
    fix = next(fixes, None)
    fix_rows: list[int] = []
    distances: list[float] = []
    for row, t in enumerate(ts.tolist()):
        before = motion
        if fix is not None and fix[0] == row:
            motion, position = fold_position(motion, position, fix[1], t, fix[2], fix[3], cfg)
            fix_rows.append(row)
            distances.append(motion["distance_m"])
            fix = next(fixes, None)
        segs = fold_segments(segs, t, before, motion, position, cfg, seg_cfg)
    segs = segments.add_stats(segs, first, segs["seen"],
                              lambda stats, a, b: RUN_STATS.add_columns(stats, measured, a, b))
    fields, horizon_s = forecast.run_fields(state["config"])
    forecasts, forecast_rows = forecast.add_columns(dict(state.get("forecasts") or {}), fields, ts, measured)
    fixed = np.array(fix_rows, dtype=np.int64)
    due = forecast.distance_samples(forecasts, ts[fixed])
    forecasts, rows = forecast.add_columns(forecasts, [forecast.DISTANCE], ts, {
        forecast.DISTANCE: (fixed[due], np.array(distances, dtype=np.float64)[due])} if due.any() else {})
    forecast_rows += rows
    first_t, last_t = state["first_t"], state["last_t"]
    if ordered:
        first_t = ordered[0]["t"] if first_t is None else min(first_t, ordered[0]["t"])
        last_t = ordered[-1]["t"] if last_t is None else max(last_t, ordered[-1]["t"])
        windows, just_closed = WINDOWS.close_until(windows, last_t - grace)
        closed.extend(just_closed)
    forecasts, forecast_rows = issued_at_close(forecasts, forecast_rows, horizon_s, closed)
    new = {**state, "stats": RUN_STATS.add_columns(state["stats"], measured), "windows": windows, "motion": motion,
           "position": position, "segments": segs, "forecasts": forecasts, "forecast_rows": forecast_rows,
           "excursions": excursions,
           "readings": state["readings"] + len(readings),
           "late": state["late"] + late, "first_t": first_t, "last_t": last_t, "last_received_at": received_at,
           "last_offset": offset, "silent": False, "status": "active", "alerts": state["alerts"] + len(alerts)}
    return new, closed, stamp_alerts(new, alerts)


def issued_at_close(forecasts: dict[str, Any], rows: list[dict], horizon_s: float,
                    closed: list[dict]) -> tuple[dict[str, Any], list[dict]]:
    """A record that closed a window issues each field's forecast (so forecasts are issued at the
    run's window cadence, in event time); the record's forecast rows, issued and scored, in one order."""
    if closed:
        forecasts, issued = forecast.issue_all(forecasts, horizon_s)
        rows = rows + issued
    return forecasts, forecast.in_order(rows)


def only_rows(columns: Columns, keep: np.ndarray) -> Columns:
    """The columns of the readings where `keep` is true, indexed by position among those readings."""
    position = np.cumsum(keep) - 1
    kept: Columns = {}
    for name, (rows, values) in columns.items():
        selected = keep[rows]
        if selected.any():
            kept[name] = (position[rows[selected]], values[selected])
    return kept


def threshold_alerts(ordered: list[dict[str, Any]], columns: Columns, triggers: dict[str, list[float]],
                     excursions: dict[str, bool]) -> tuple[dict[str, bool], list[dict]]:
    """A threshold alert where a trigger field's value leaves its range (once per excursion), in
    reading order; and whether each field is outside at the end of the burst."""
    excursions = dict(excursions)
    found: list[tuple[int, int, dict]] = []
    for order, (field, (lo, hi)) in enumerate(triggers.items()):
        if field not in columns:
            continue
        rows, values = columns[field]
        outside = (values < lo) | (values > hi)
        before = np.concatenate(([bool(excursions.get(field))], outside[:-1]))
        for i in np.flatnonzero(outside & ~before).tolist():
            row = int(rows[i])
            found.append((row, order, {"type": "threshold", "field": field, "value": ordered[row]["data"][field],
                                       "min": lo, "max": hi, "t": ordered[row]["t"]}))
        excursions[field] = bool(outside[-1])
    return excursions, [alert for _, _, alert in sorted(found, key=lambda f: f[:2])]


def apply_silence(state: dict[str, Any], now: float) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """The run sent nothing for a while: close its windows by wall clock and raise a data-delay alert once."""
    if state["silent"]:
        return state, [], []
    windows, closed = WINDOWS.close_all(state["windows"])
    alert = {"type": "data_delay", "silent_seconds": round(now - (state["last_received_at"] or now), 3),
             "t": state["last_t"]}
    new = {**state, "windows": windows, "silent": True, "alerts": state["alerts"] + 1}
    return new, closed, stamp_alerts(new, [alert])


def apply_stop(state: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """The run ended (/stop-stream or long silence): flush its windows; its summary stays queryable."""
    windows, closed = WINDOWS.close_all(state["windows"])
    segs = segments.close_all(run_segments(state), state["last_t"], motion_counters(state))
    return {**state, "windows": windows, "segments": segs, "status": "finished"}, closed


def apply_marker(state: dict[str, Any], t: float, label: str | None) -> dict[str, Any]:
    """A period marker (agents/segments.py): applied now if the run's data is past `t`, else when it gets there."""
    segs = segments.add_marker(run_segments(state), t, label)
    if state["last_t"] is not None and t <= state["last_t"]:
        segs = segments.apply_markers(segs, state["last_t"], motion_counters(state))
    return {**state, "segments": segs}


def stamp_alerts(state: dict[str, Any], alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number the alerts just counted into `state` 1, 2, ... across the run's life: the sequence number
    is their key in Cassandra, so two alerts of one record must not share it."""
    first = state["alerts"] - len(alerts) + 1
    return [{"device_id": state["device_id"], "run_id": state["run_id"], "seq": first + i, **alert}
            for i, alert in enumerate(alerts)]


def supersedes(current: dict[str, Any] | None, record: dict[str, Any], deleted_since: float) -> bool:
    """Whether a status record replaces the current one. 'archived' must archive the finished record
    that is current (or repeat it); 'finished' must be of the run since its topic's last deletion.
    With no current record (the topic was compacted) there is nothing to check against."""
    if record["status"] == "archived":
        if current is None:
            return True
        finished_at = current["at"] if current["status"] == "finished" else current.get("finished_at")
        return current["status"] in ("finished", "archived") and finished_at == record.get("finished_at")
    if record["status"] == "finished":
        return record.get("since", 0.0) >= deleted_since
    return True

