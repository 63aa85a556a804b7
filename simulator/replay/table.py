"""CSV with a header line: one run; columns map onto device fields with `--map FIELD=COLUMN[:TYPE]`.

Without `--map` every column is a field of the same name. A field's type is given after the
column (`hr=heart_rate:int`) or inferred: a field named `timestamp` or `time` is the event
time, otherwise the first non-empty value decides (a number: float; true/false: bool; else
string). Times are ISO 8601 (no zone: UTC) or epoch seconds (ms, µs and ns are told apart by
size, as the worker does). Every cell is checked; an error names the line and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from models.device import parse_instant
from simulator.replay.recording import BadRows, Recording, ReplayError, Track, check_field_name, safe_id

TYPES = ("float", "int", "bool", "string", "timestamp")
TIME_NAMES = ("timestamp", "time")


@dataclass(frozen=True)
class ColumnMap:
    """One device field taken from one CSV column; `kind` None means inferred."""

    field: str
    column: str
    kind: str | None = None


def parse_maps(specs: list[str]) -> list[ColumnMap]:
    """`--map FIELD=COLUMN[:TYPE]` options, checked before the file is opened."""
    maps = []
    for spec in specs:
        field, eq, rest = spec.partition("=")
        column, colon, kind = rest.rpartition(":") if ":" in rest else (rest, "", "")
        if not eq or not field or not column or (colon and kind not in TYPES):
            raise ReplayError(f"--map {spec!r}: use FIELD=COLUMN or FIELD=COLUMN:TYPE with TYPE one of {', '.join(TYPES)}")
        maps.append(ColumnMap(check_field_name(field, f"--map {spec!r}"), column, kind or None))
    fields = [m.field for m in maps]
    if len(set(fields)) != len(fields):
        raise ReplayError(f"--map: a field is mapped twice: {', '.join(sorted({f for f in fields if fields.count(f) > 1}))}")
    return maps


def _float(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


def _bool(cell: str) -> bool:
    lowered = cell.lower()
    if lowered not in ("true", "false"):
        raise ValueError(cell)
    return lowered == "true"


def _instant(cell: str) -> float:
    try:
        instant = parse_instant(float(cell))
    except ValueError:
        instant = parse_instant(cell)
    if instant is None:
        raise ValueError(cell)
    return instant


# type -> (parse a cell, what it is not, numpy dtype of its column)
CONVERTERS: dict[str, tuple[Callable[[str], Any], str, Any]] = {
    "float": (_float, "a number", np.float64),
    "int": (int, "an integer", np.int64),
    "bool": (_bool, "true or false", bool),
    "string": (str, "a string", object),
    "timestamp": (_instant, "a timestamp (ISO 8601 or epoch seconds)", np.float64),
}


def _infer(mapping: ColumnMap, values: list[str]) -> str:
    if mapping.kind:
        return mapping.kind
    if mapping.field in TIME_NAMES:
        return "timestamp"
    first = next((v for v in values if v != ""), "")
    for kind in ("float", "bool"):
        try:
            CONVERTERS[kind][0](first)
            return kind
        except ValueError:
            pass
    return "string"


def load_csv(path: Path, maps: list[ColumnMap], run: str | None, skip_bad: bool, delimiter: str = ",") -> Recording:
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            lines: list[tuple[int, list[str]]] = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{name}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise ReplayError(f"{name} line {reader.line_num}: {exc}") from exc
    if not header:
        raise ReplayError(f"{name}: empty file: a header line naming the columns comes first")
    header = [h.strip() for h in header]
    if not maps:
        maps = [ColumnMap(check_field_name(h, f"{name} header"), h) for h in header]
    missing = [m.column for m in maps if m.column not in header]
    if missing:
        raise ReplayError(f"{name}: no column {missing[0]!r} (the columns are: {', '.join(header)})")
    index = {m.field: header.index(m.column) for m in maps}
    width = len(header)
    kinds = {m.field: _infer(m, [row[index[m.field]].strip() for _, row in lines if len(row) == width])
             for m in maps}
    time_fields = [f for f, kind in kinds.items() if kind == "timestamp"]
    if len(time_fields) != 1:
        found = f"found {', '.join(time_fields)}" if time_fields else "found none"
        raise ReplayError(f"{name}: need exactly one timestamp column ({found}); "
                          f"map it, e.g. --map timestamp=time or --map t=time:timestamp")
    time_field = time_fields[0]

    rows = BadRows(skip_bad)
    values: dict[str, list[Any]] = {f: [] for f in kinds}
    for line, row in lines:
        if len(row) != width:
            rows.bad(f"{name} line {line}: {len(row)} cells, the header has {width}")
            continue
        parsed = {}
        for m in maps:
            cell = row[index[m.field]].strip()
            convert, what, _dtype = CONVERTERS[kinds[m.field]]
            if cell == "" and kinds[m.field] != "string":
                rows.bad(f"{name} line {line}: column {m.column!r} is empty")
                break
            try:
                parsed[m.field] = convert(cell)
            except ValueError:
                rows.bad(f"{name} line {line}: column {m.column!r} is not {what}: {cell!r}")
                break
        else:
            for f, value in parsed.items():
                values[f].append(value)
    if not values[time_field]:
        raise ReplayError(f"{name}: no readings: {'every row is bad' if rows.skipped else 'no rows after the header'}")
    times = np.array(values.pop(time_field), dtype=np.float64)
    columns = {f: np.array(v, dtype=CONVERTERS[kinds[f]][2]) for f, v in values.items()}
    schema = {f: kinds[f] for f in kinds}
    return Recording(schema=schema, tracks=[Track(run or safe_id(path.stem), times, columns)],
                     time_field=time_field, skipped=rows.skipped)
