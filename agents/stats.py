"""Streaming statistics for sensor readings, shaped as pure aggregators.

Every aggregator has ``initial() -> state``, ``add(state, value) -> state`` and
``result(state)``. ``add`` always returns a *new* state and never mutates its
argument: the state lives in a Faust table, which only persists values that are
assigned back, so an in-place change would be silently lost. States are plain
dicts/lists/floats/ints so the table's JSON serialiser round-trips them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

FieldState = dict[str, Any]
SMALL_BURST = 32          # values up to which a burst is summed in plain Python (`FieldStats.of_values`)
Columns = dict[str, tuple[np.ndarray, np.ndarray]]     # field -> (reading indices, values), see numeric_columns
RunState = dict[str, FieldState]
FieldResult = dict[str, Any]
RunResult = dict[str, FieldResult]

# Public aggregation names (as used in queries) -> key in a FieldStats result.
AGG_TYPES: dict[str, str] = {
    "average": "mean",
    "max": "max",
    "min": "min",
    "sum": "sum",
    "std": "std",
    "count": "count",
}
AGG_CHOICES: tuple[str, ...] = (*AGG_TYPES, "all")


def is_numeric(value: object) -> bool:
    """True for finite real numbers; bools are flags, not measurements, and
    NaN/inf would poison every later mean, so both are excluded, as are ints
    past a float's range (10**400 has no float value)."""
    kind = type(value)
    # Plain floats and ints first: the ABC check costs ~1 µs a value.
    if kind is not float and kind is not int and (not isinstance(value, numbers.Real) or isinstance(value, bool)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def numeric_columns(readings: list[dict[str, Any]], skip: str | None = None) -> Columns:
    """A burst of readings as columns: for each field, the indices of the readings where it is a finite
    number (`is_numeric`) and those values. Columns of plain ints and floats, the usual case, are
    converted by numpy in one call; a column with other types is filtered value by value."""
    names = set().union(*map(dict.keys, readings))
    names.discard(skip)
    columns: Columns = {}
    for name in names:
        column = [reading.get(name) for reading in readings]
        if set(map(type, column)) <= {float, int}:
            try:
                values = np.array(column, dtype=np.float64)
            except OverflowError:                # an int past float's range: judged value by value
                values = None
            if values is not None:
                rows = np.flatnonzero(np.isfinite(values))
                columns[name] = (rows, values[rows])
                continue
        rows = np.array([i for i, value in enumerate(column) if is_numeric(value)], dtype=np.int64)
        if len(rows):
            columns[name] = (rows, np.array([float(column[i]) for i in rows], dtype=np.float64))
    return {name: column for name, column in columns.items() if len(column[0])}


class FieldStats:
    """Count/mean/min/max/sum/std of one numeric field via Welford's algorithm.

    Welford (and Chan's merge) avoid the catastrophic cancellation of the naive
    ``sum(x^2) - n*mean^2`` formula on large-offset signals such as epoch
    timestamps or altitudes. ``std`` is the *sample* standard deviation
    (n - 1): a window is a sample of a continuous signal, and we estimate that
    signal's spread. It is 0.0 when count < 2 (undefined) so results stay
    numeric JSON.
    """

    def initial(self) -> FieldState:
        """Empty state; min/max are None until a value arrives."""
        return {"count": 0, "mean": 0.0, "m2": 0.0, "min": None, "max": None, "sum": 0.0}

    def add(self, state: FieldState, value: float) -> FieldState:
        """Fold one value in (Welford's update)."""
        if not is_numeric(value):
            raise ValueError(f"FieldStats.add needs a finite number, got {value!r}")
        x = float(value)
        count = state["count"] + 1
        delta = x - state["mean"]
        mean = state["mean"] + delta / count
        return {
            "count": count,
            "mean": mean,
            "m2": state["m2"] + delta * (x - mean),
            "min": x if state["min"] is None else min(state["min"], x),
            "max": x if state["max"] is None else max(state["max"], x),
            "sum": state["sum"] + x,
        }

    def add_many(self, state: FieldState, values: np.ndarray) -> FieldState:
        """Fold a burst of finite values in at once: the burst's own count, mean and squared deviations
        (two-pass, in numpy), merged with Chan's formula; equal to folding `add` value by value to
        rounding (tests/unit/test_batch.py)."""
        if not len(values):
            return state
        return self.merge(state, self.of_values(values))

    @staticmethod
    def of_values(values: np.ndarray) -> FieldState:
        """A burst's own state. Below SMALL_BURST values, plain floats: numpy's per-call cost (~3 µs a
        reduction, six of them) made a one-reading record cost 25 µs a field, several times over."""
        if len(values) <= SMALL_BURST:
            xs = values.tolist()
            total = sum(xs)
            mean = total / len(xs)
            return {"count": len(xs), "mean": mean, "m2": sum((x - mean) * (x - mean) for x in xs),
                    "min": min(xs), "max": max(xs), "sum": total}
        mean = float(values.mean())
        return {"count": int(len(values)), "mean": mean, "m2": float(np.square(values - mean).sum()),
                "min": float(values.min()), "max": float(values.max()), "sum": float(values.sum())}

    def merge(self, a: FieldState, b: FieldState) -> FieldState:
        """Combine two partial states (Chan et al.'s parallel formula), so
        window partials or per-partition partials can be added up."""
        if a["count"] == 0:
            return dict(b)
        if b["count"] == 0:
            return dict(a)
        count = a["count"] + b["count"]
        delta = b["mean"] - a["mean"]
        return {
            "count": count,
            "mean": a["mean"] + delta * b["count"] / count,
            "m2": a["m2"] + b["m2"] + delta * delta * a["count"] * b["count"] / count,
            "min": min(a["min"], b["min"]),
            "max": max(a["max"], b["max"]),
            "sum": a["sum"] + b["sum"],
        }

    def result(self, state: FieldState) -> FieldResult:
        """Public view: count, mean, min, max, sum and sample std."""
        count = state["count"]
        std = math.sqrt(max(state["m2"], 0.0) / (count - 1)) if count >= 2 else 0.0
        return {
            "count": count,
            "mean": state["mean"] if count else None,
            "min": state["min"],
            "max": state["max"],
            "sum": state["sum"],
            "std": std,
        }


_FIELD = FieldStats()


class RunStats:
    """Per-field FieldStats over whole reading dicts.

    Readings are heterogeneous (GPS, heart rate, ...), so fields are
    discovered as they arrive; non-numeric fields (ids, strings, bools) are
    skipped rather than rejected so one odd field never drops a reading.
    """

    def initial(self) -> RunState:
        """No fields seen yet."""
        return {}

    def add(self, state: RunState, reading: dict[str, Any]) -> RunState:
        """Fold every numeric field of ``reading`` into its FieldStats."""
        new = dict(state)
        for name, value in reading.items():
            if is_numeric(value):
                new[name] = _FIELD.add(new.get(name) or _FIELD.initial(), value)
        return new

    def add_columns(self, state: RunState, columns: Columns, start: int = 0, stop: int | None = None) -> RunState:
        """Fold the readings [start, stop) of a burst in, field by field (see `numeric_columns`)."""
        new = dict(state)
        for name, (rows, values) in columns.items():
            if start <= rows[0] and (stop is None or stop > rows[-1]):     # the whole column: no search
                a, b = 0, len(rows)
            else:
                a = int(np.searchsorted(rows, start))
                b = len(rows) if stop is None else int(np.searchsorted(rows, stop))
            if b > a:
                new[name] = _FIELD.add_many(new.get(name) or _FIELD.initial(), values[a:b])
        return new

    def merge(self, a: RunState, b: RunState) -> RunState:
        """Field-wise Chan merge of two partial states."""
        return {
            name: _FIELD.merge(a.get(name) or _FIELD.initial(), b.get(name) or _FIELD.initial())
            for name in a.keys() | b.keys()
        }

    def result(self, state: RunState) -> RunResult:
        """{field: {count, mean, min, max, sum, std}}."""
        return {name: _FIELD.result(fs) for name, fs in state.items()}

    @staticmethod
    def select(result: RunResult, agg_type: str) -> dict[str, Any]:
        """Project a result onto one aggregation, as a query asks for it;
        ``"all"`` keeps the full per-field dict."""
        if agg_type == "all":
            return {name: dict(fr) for name, fr in result.items()}
        try:
            key = AGG_TYPES[agg_type]
        except KeyError:
            allowed = ", ".join(AGG_CHOICES)
            raise ValueError(f"unknown agg_type {agg_type!r}; expected one of: {allowed}") from None
        return {name: fr[key] for name, fr in result.items()}


_RUN = RunStats()


def window_start(ts: float, size: float) -> float:
    """Start of the tumbling window holding ``ts``. Aligned to multiples of
    ``size`` since the epoch, so every partition and every restart agrees on
    the boundaries without sharing any state."""
    if not size > 0:
        raise ValueError(f"window size must be > 0, got {size!r}")
    return math.floor(ts / size) * size


class WindowBuffer:
    """Event-time tumbling windows whose size is chosen per run at run start.

    Faust's windowed tables fix the size at declaration; runs choose theirs at
    start, so this keeps its own windows in one plain-dict state::

        {"open": {str(window_start): {"start", "end", "count", "stats"}},
         "watermark": max event ts seen (None before the first reading),
         "closed_until": every window ending at or before this was emitted}

    The watermark is the maximum event time seen; a window is closed once
    ``end <= watermark - grace``, so readings up to ``grace`` seconds out of
    order still land in their own window. ``closed_until`` guarantees a window
    is emitted at most once, also after ``close_until``/``close_all`` flushed
    it ahead of the watermark.
    """

    def initial(self) -> dict[str, Any]:
        """No windows open, nothing seen."""
        return {"open": {}, "watermark": None, "closed_until": None}

    def add(
        self,
        state: dict[str, Any],
        ts: float,
        reading: dict[str, Any],
        size: float,
        grace: float,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        """Add one reading; returns (new_state, closed_windows, late).

        A late reading (its window already closed on arrival) is not added and
        the state is returned unchanged.
        """
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0, got {grace!r}")
        start = window_start(ts, size)
        end = start + size
        watermark, closed_until = state["watermark"], state["closed_until"]
        if (watermark is not None and end <= watermark - grace) or (
            closed_until is not None and end <= closed_until
        ):
            return state, [], True
        key = str(start)
        window = state["open"].get(key) or {"start": start, "end": end, "count": 0, "stats": _RUN.initial()}
        window = {**window, "count": window["count"] + 1, "stats": _RUN.add(window["stats"], reading)}
        watermark = ts if watermark is None else max(watermark, ts)
        new = {"open": {**state["open"], key: window}, "watermark": watermark, "closed_until": closed_until}
        new, closed = self.close_until(new, watermark - grace)
        return new, closed, False

    def add_burst(self, state: dict[str, Any], ts: np.ndarray, columns: Columns, size: float,
                  grace: float) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """Add a burst of readings at once: `ts` their event times in ascending order, `columns` their
        fields indexed by position in `ts`. Returns (new_state, closed_windows, late count), equal to
        calling `add` reading by reading (tests/unit/test_batch.py).

        In time order a reading can only be late against the watermark the burst started with (its
        own window ends after every earlier reading of the burst), so the late ones are a prefix and
        the rest fall into consecutive windows, each folded in with one `add_columns`."""
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0, got {grace!r}")
        if not size > 0:
            raise ValueError(f"window size must be > 0, got {size!r}")
        starts = np.floor(ts / size) * size
        ends = starts + size
        watermark, closed_until = state["watermark"], state["closed_until"]
        on_time = np.ones(len(ts), dtype=bool)
        if watermark is not None:
            on_time &= ends > watermark - grace
        if closed_until is not None:
            on_time &= ends > closed_until
        first = int(np.argmax(on_time)) if on_time.any() else len(ts)
        if first == len(ts):
            return state, [], first
        opened = dict(state["open"])
        bounds = [first, *(np.flatnonzero(np.diff(starts[first:])) + first + 1).tolist(), len(ts)]
        for a, b in zip(bounds, bounds[1:]):
            start = float(starts[a])
            key = str(start)
            window = opened.get(key) or {"start": start, "end": start + size, "count": 0, "stats": _RUN.initial()}
            opened[key] = {**window, "count": window["count"] + (b - a),
                           "stats": _RUN.add_columns(window["stats"], columns, a, b)}
        last = float(ts[-1])
        watermark = last if watermark is None else max(watermark, last)
        new, closed = self.close_until({"open": opened, "watermark": watermark, "closed_until": closed_until},
                                       watermark - grace)
        return new, closed, first

    def close_until(self, state: dict[str, Any], watermark: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Close every window ending at or before ``watermark``; also used with
        a wall-clock watermark when a run goes silent and no event time moves."""
        keep = {k: w for k, w in state["open"].items() if w["end"] > watermark}
        done = [w for k, w in state["open"].items() if k not in keep]
        closed_until = state["closed_until"]
        new = {
            "open": keep,
            "watermark": state["watermark"],
            "closed_until": watermark if closed_until is None else max(closed_until, watermark),
        }
        return new, _emit(done)

    def close_all(self, state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Flush every open window (run stopped or went silent)."""
        if not state["open"]:
            return state, []
        return self.close_until(state, max(w["end"] for w in state["open"].values()))


def _emit(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Closed windows in time order, in their published shape."""
    return [
        {"window_start": w["start"], "window_end": w["end"], "count": w["count"], "stats": _RUN.result(w["stats"])}
        for w in sorted(windows, key=lambda w: w["start"])
    ]
