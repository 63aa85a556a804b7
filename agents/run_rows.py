"""A run's state as rows: its summary (/runs/{device}/{run}, the dashboard, the archive) and its
windows (closed ones as the run agent stores and archives them, open ones as provisional rows)."""

from __future__ import annotations

from typing import Any

from agents.motion import motion_summary, motion_upgraded
from agents.run_state import RUN_STATS, motion_config

WINDOW_AGGREGATES = (("mean", "avg"), ("min", "min"), ("max", "max"), ("sum", "sum"), ("std", "std"))


def window_row(window: dict[str, Any], final: bool = True) -> dict[str, Any]:
    """A window as a flat row: what /get-latest-stats queries and /windows returns."""
    row: dict[str, Any] = {"window_start": window["window_start"], "window_end": window["window_end"],
                           "timestamp": window["window_end"], "count": window["count"], "final": final}
    for field, result in sorted(window["stats"].items()):
        for agg, suffix in WINDOW_AGGREGATES:
            row[f"{field}_{suffix}"] = result[agg]
    return row


def window_columns(fields: list[str]) -> list[str]:
    """A window row's columns for these measurement fields, whether or not any row exists yet."""
    return ["window_start", "window_end", "timestamp", "count", "final",
            *(f"{field}_{suffix}" for field in sorted(fields) for _, suffix in WINDOW_AGGREGATES)]


def open_window_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The still-open windows as provisional rows (final = false), oldest first."""
    open_windows = sorted(state["windows"]["open"].values(), key=lambda w: w["start"])
    return [window_row({"window_start": w["start"], "window_end": w["end"], "count": w["count"],
                        "stats": RUN_STATS.result(w["stats"])}, final=False) for w in open_windows]


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """What /runs/{device}/{run} answers: counts, time span, stats and motion."""
    first, last = state["first_t"], state["last_t"]
    body: dict[str, Any] = {
        "device_id": state["device_id"], "run_id": state["run_id"], "status": state["status"],
        "silent": state["silent"], "readings": state["readings"], "late_readings": state["late"],
        "first_t": first, "last_t": last, "duration_s": (last - first) if first is not None else 0.0,
        "config": state["config"], "alerts": state["alerts"],
        "stats": RUN_STATS.result(state["stats"]),
    }
    if state["motion"] is not None:
        motion = motion_upgraded(state["motion"])
        body["motion"] = motion_summary(motion, motion_config(state))
        body["position_fields"] = state["position"]["fields"]
        a, b = state["position"]["fields"]
        geo = state["position"]["kind"] == "geo"
        body["last_position"] = {a: motion["last_lat" if geo else "last_x"], b: motion["last_lon" if geo else "last_y"],
                                 "t": motion["last_t"]}
    return body
