"""What every file format is read into before anything is streamed.

Why read it all first: a bad file must fail before its first reading is sent (no half-streamed
runs), and pacing by the file's own timestamps needs every run's times up front to merge the
runs into one timeline. A recording is one device schema and a track per run, stored by column
(numpy arrays for numbers) so a whole match of tracking data stays small in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.device import FIELD_NAME, FIELD_NAME_RULE, IDENTIFIER, IDENTIFIER_RULE

TIME_FIELD = "timestamp"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class ReplayError(Exception):
    """A file that cannot be replayed; the message names the file and the line or element."""


@dataclass
class Track:
    """One run: its event times (epoch seconds) and a column per other field, all in file order."""

    run: str
    times: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    def readings(self, rows: np.ndarray, time_field: str) -> list[dict[str, Any]]:
        """The readings at `rows`, as JSON-ready dicts (numpy values become plain Python values)."""
        values = {name: column[rows].tolist() for name, column in self.columns.items()}
        values[time_field] = np.round(self.times[rows], 6).tolist()
        names = list(values)
        return [dict(zip(names, row)) for row in zip(*values.values())]


@dataclass
class Recording:
    """A file's readings: the device schema they fit, one track per run, and the bad rows skipped."""

    schema: dict[str, str]
    tracks: list[Track]
    time_field: str = TIME_FIELD
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_config: dict[str, Any] = field(default_factory=dict)    # each run's /start-stream body (sent first), if any

    @property
    def readings(self) -> int:
        return sum(len(t) for t in self.tracks)


class BadRows:
    """Where a format reader reports a bad row: fail on the first, or with `skip`, collect and go on."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.skipped: list[str] = []

    def bad(self, message: str) -> None:
        if not self.skip:
            raise ReplayError(message)
        self.skipped.append(message)


def safe_id(text: str, limit: int = 40) -> str:
    """A device or run id from free text (a file name, a player id): unsafe characters become `_`."""
    cleaned = _UNSAFE.sub("_", text).strip("_")[:limit].strip("_")
    return cleaned or "replay"


def check_ids(device: str, runs: list[str]) -> None:
    """Fail before streaming when a given --device or --run makes an id the worker would refuse."""
    for what, value in [("--device", device), *(("run id", run) for run in runs)]:
        if not IDENTIFIER.fullmatch(value):
            raise ReplayError(f"{what} {value!r} must match {IDENTIFIER_RULE}")


def check_field_name(name: str, where: str) -> str:
    if not FIELD_NAME.fullmatch(name):
        raise ReplayError(f"{where}: field name {name!r} must match {FIELD_NAME_RULE}; rename it with --map")
    return name
