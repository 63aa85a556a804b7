"""Football tracking data through kloppy: every player is a run, positions x/y in metres.

Formats: Metrica Sports CSV (two files: the home team's and the away team's), TRACAB (metadata
XML or JSON, then raw data .dat or JSON), Hawk-Eye (per match minute a `.samples.ball` and a
`.samples.centroids` file, with or without the metadata JSON or XML), SkillCorner (match data
JSON, then tracking JSON or JSONL) and Second Spectrum (metadata XML or JSON, then tracking
JSONL). kloppy reads them into one model and converts coordinates to metres from the centre spot
(`secondspectrum` coordinates; Metrica's normalised coordinates are scaled to a 105 x 68 m
pitch). The worker's motion maths uses x/y in metres as they are (agents/motion.py), and each
run is configured as optical tracking (`motion.source`), so its positions get the light
smoothing of camera tracking, not the GPS filter.

kloppy stops at the first bad value with a bare Python error and no line number, so the
line-based files (Metrica CSV, TRACAB .dat) are checked line by line first: an error names
the file, line and column, or with --skip-bad the bad frames are left out (from both Metrica
files, which kloppy reads in step) before kloppy reads the rest.

A reading's time is the start (`--start`, else the file's own kickoff date, else now) plus the
frame's time since the first period started; ball tracks are not replayed (a ball moves faster
than the motion maths accepts for a player).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from kloppy import hawkeye, metrica, secondspectrum, skillcorner, tracab
from kloppy.domain import TrackingDataset

from simulator.replay.recording import TIME_FIELD, BadRows, Recording, ReplayError, Track, safe_id

TRACKING_SCHEMA = {"x": "float", "y": "float", TIME_FIELD: "timestamp"}
# Each run's /start-stream body: camera tracking, smoothed as such whatever its frame rate.
TRACKING_RUN_CONFIG = {"motion": {"source": "optical"}}
HAWKEYE_FEEDS = (".samples.ball", ".samples.centroids")
METRICA_HEADER = ["Period", "Frame", "Time [s]"]


def _float_or_nan(cell: str) -> bool:
    try:
        value = float(cell)
    except ValueError:
        return False
    return math.isfinite(value) or cell == "NaN"


@dataclass
class MetricaFile:
    """One Metrica team file: its three header lines and its data lines by frame id."""

    name: str
    header: list[bytes]
    frames: dict[int, tuple[int, bytes, list[str]]]   # frame -> (line number, line, cells)


def _check_metrica(path: Path, rows: BadRows) -> MetricaFile:
    name = path.name
    lines = path.read_bytes().splitlines()
    if len(lines) < 4:
        raise ReplayError(f"{name}: a Metrica tracking CSV has three header lines and then frames; "
                          f"this one has {len(lines)} line(s)")
    try:
        text = [line.decode("ascii") for line in lines]
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{name}: not ASCII text, so not a Metrica tracking CSV ({exc})") from exc
    teams, jerseys, header = (t.split(",") for t in text[:3])
    if header[:3] != METRICA_HEADER:
        raise ReplayError(f"{name} line 3: not a Metrica tracking header: it starts {','.join(header[:3])!r}, "
                          f"expected {','.join(METRICA_HEADER)!r}")
    numbers = jerseys[3:-2:2]
    for column, number in enumerate(numbers):
        if not number.isdigit():
            raise ReplayError(f"{name} line 2: column {4 + 2 * column}: jersey number {number!r} is not a number")
    if len(teams) < 4 or not teams[3]:
        raise ReplayError(f"{name} line 1: no team name in column 4")
    width = 3 + 2 * len(numbers) + 2
    labels = [f"{header[3 + 2 * (i // 2)]} {'xy'[i % 2]}" for i in range(2 * len(numbers))] + ["Ball x", "Ball y"]
    frames: dict[int, tuple[int, bytes, list[str]]] = {}
    last = None
    for number, (raw, line) in enumerate(zip(lines[3:], text[3:]), start=4):
        if not line.strip():
            continue
        cells = line.strip().split(",")
        if len(cells) != width:
            rows.bad(f"{name} line {number}: {len(cells)} columns, expected {width} "
                     f"(period, frame, time, x and y of {len(numbers)} players and of the ball)")
            continue
        if not (cells[0].isdigit() and cells[1].isdigit()):
            rows.bad(f"{name} line {number}: period {cells[0]!r} and frame {cells[1]!r} must be whole numbers")
            continue
        bad = next((i for i, cell in enumerate(cells[3:]) if not _float_or_nan(cell)), None)
        if bad is not None:
            rows.bad(f"{name} line {number}: column {bad + 4} ({labels[bad]}) is not a number: {cells[3 + bad]!r}")
            continue
        frame = int(cells[1])
        if last is not None and frame <= last:
            rows.bad(f"{name} line {number}: frame {frame} does not follow frame {last}")
            continue
        last = frame
        frames[frame] = (number, raw, cells)
    return MetricaFile(name, lines[:3], frames)


def _metrica_inputs(paths: list[Path], rows: BadRows) -> list[io.BytesIO]:
    """Check both files and keep the frames both have, with the same ball position (kloppy reads them in step)."""
    home, away = (_check_metrica(p, rows) for p in paths)
    keep = []
    for frame, (line, _raw, cells) in home.frames.items():
        other = away.frames.get(frame)
        if other is None:
            rows.bad(f"{away.name}: no frame {frame} ({home.name} line {line} has it)")
        elif other[2][-2:] != cells[-2:]:
            rows.bad(f"{home.name} line {line} and {away.name} line {other[0]}: the ball is in different places "
                     f"in frame {frame}; are both files from the same match?")
        else:
            keep.append(frame)
    for frame, (line, _raw, _cells) in away.frames.items():
        if frame not in home.frames:
            rows.bad(f"{home.name}: no frame {frame} ({away.name} line {line} has it)")
    if not keep:
        raise ReplayError(f"{home.name}, {away.name}: no frame is readable in both files")
    return [io.BytesIO(b"\n".join(f.header + [f.frames[frame][1] for frame in keep]) + b"\n") for f in (home, away)]


def _check_tracab_dat(path: Path, rows: BadRows) -> bytes:
    """TRACAB .dat: `frame:team,target,jersey,x,y,speed;...;:x,y,z,speed,owner,state;:` per line."""
    kept = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        line = raw.decode("ascii", errors="replace").strip()
        if not line:
            continue
        parts = line.split(":")
        problem = None
        if len(parts) < 3 or not parts[0].isdigit():
            problem = "not a TRACAB frame (frame:players:ball:)"
        else:
            for target, player in enumerate(parts[1].split(";")[:-1], start=1):
                cells = player.split(",")
                if len(cells) != 6 or not all(_float_or_nan(c) for c in cells):
                    problem = f"target {target} {player!r} is not six numbers (team,id,jersey,x,y,speed)"
                    break
            ball = parts[2].rstrip(";").split(",")
            if problem is None and (len(ball) < 6 or not all(_float_or_nan(c) for c in ball[:4])
                                    or ball[4] not in ("H", "A") or ball[5] not in ("Alive", "Dead")):
                problem = f"ball {parts[2]!r} is not x,y,z,speed,H|A,Alive|Dead"
        if problem:
            rows.bad(f"{path.name} line {number}: {problem}")
        else:
            kept.append(raw)
    if not kept:
        raise ReplayError(f"{path.name}: no readable frame")
    return b"\n".join(kept) + b"\n"


def _load_metrica(paths: list[Path], rows: BadRows) -> TrackingDataset:
    home, away = _metrica_inputs(paths, rows)
    with warnings.catch_warnings():            # "using default pitch dimensions (105 x 68)": documented above
        warnings.simplefilter("ignore")
        return metrica.load_tracking_csv(home, away, coordinates="secondspectrum")


def _load_tracab(paths: list[Path], rows: BadRows) -> TrackingDataset:
    meta, raw = paths
    data = raw.read_bytes()
    if not data.lstrip().startswith(b"{"):                     # JSON raw data is kloppy's to check
        data = _check_tracab_dat(raw, rows)
    return tracab.load(meta, io.BytesIO(data), coordinates="secondspectrum",
                       only_alive=False)


def hawkeye_feed(path: Path) -> tuple[str, str] | None:
    """(the minute's name, 'ball' or 'centroids') for a Hawk-Eye feed file, else None."""
    for suffix in HAWKEYE_FEEDS:
        if path.name.endswith(suffix):
            return path.name[:-len(suffix)], suffix.rsplit(".", 1)[1]
    return None


def _load_hawkeye(paths: list[Path], rows: BadRows) -> TrackingDataset:
    """Pair each minute's ball and centroids files by name (kloppy reads them pairwise); any
    other file is the metadata."""
    minutes: dict[str, dict[str, Path]] = {}
    meta = []
    for path in paths:
        feed = hawkeye_feed(path)
        if feed is None:
            meta.append(path)
        else:
            minutes.setdefault(feed[0], {})[feed[1]] = path
    if len(meta) > 1:
        raise ReplayError(f"hawkeye tracking takes one metadata file; got {', '.join(p.name for p in meta)}")
    for name, feeds in minutes.items():
        for kind in ("ball", "centroids"):
            if kind not in feeds:
                raise ReplayError(f"{name}: no {name}.samples.{kind} beside it (Hawk-Eye needs both feeds of a minute)")
    if not minutes:
        raise ReplayError(f"{', '.join(p.name for p in paths)}: no Hawk-Eye feed (*.samples.ball, *.samples.centroids)")
    order = sorted(minutes)
    with warnings.catch_warnings():            # "could not determine orientation": positions are kept as they are
        warnings.simplefilter("ignore")
        return hawkeye.load(ball_feeds=[minutes[m]["ball"] for m in order],
                            player_centroid_feeds=[minutes[m]["centroids"] for m in order],
                            meta_data=meta[0] if meta else None, coordinates="secondspectrum")


def _load_skillcorner(paths: list[Path], rows: BadRows) -> TrackingDataset:
    meta, raw = paths
    return skillcorner.load(meta_data=meta, raw_data=raw, coordinates="secondspectrum")


def _load_secondspectrum(paths: list[Path], rows: BadRows) -> TrackingDataset:
    meta, raw = paths
    return secondspectrum.load(meta_data=meta, raw_data=raw, coordinates="secondspectrum")


@dataclass(frozen=True)
class TrackingFormat:
    files: tuple[str, ...]            # what each FILE argument is; one entry for any number of files
    load: Callable[[list[Path], BadRows], TrackingDataset]
    any_number: bool = False


TRACKING_FORMATS = {
    "metrica": TrackingFormat(("the home team's CSV", "the away team's CSV"), _load_metrica),
    "tracab": TrackingFormat(("the metadata (XML or JSON)", "the raw data (.dat or JSON)"), _load_tracab),
    "hawkeye": TrackingFormat(("each minute's .samples.ball and .samples.centroids files, and the metadata "
                               "(JSON or XML) if you have it",), _load_hawkeye, any_number=True),
    "skillcorner": TrackingFormat(("the match data (JSON)", "the tracking data (JSON or JSONL)"), _load_skillcorner),
    "secondspectrum": TrackingFormat(("the metadata (XML or JSON)", "the tracking data (JSONL)"),
                                     _load_secondspectrum),
}


def load_tracking(fmt: str, paths: list[Path], run: str | None, start: float | None, now: float,
                  skip_bad: bool) -> Recording:
    spec = TRACKING_FORMATS[fmt]
    if not spec.any_number and len(paths) != len(spec.files):
        raise ReplayError(f"{fmt} tracking needs {len(spec.files)} files: {', then '.join(spec.files)}; "
                          f"got {len(paths)}")
    rows = BadRows(skip_bad)
    try:
        dataset = spec.load(paths, rows)
    except ReplayError:
        raise
    except Exception as exc:                    # kloppy's errors are of every kind: say whose and which files
        names = ", ".join(p.name for p in paths)
        raise ReplayError(f"{names}: kloppy cannot read this as {fmt} tracking data: "
                          f"{type(exc).__name__}: {exc}") from exc
    periods = dataset.metadata.periods
    if not dataset.records or not periods:
        raise ReplayError(f"{', '.join(p.name for p in paths)}: no frames inside the match's periods")
    kickoff = dataset.metadata.date.timestamp() if dataset.metadata.date else now
    origin = start if start is not None else kickoff
    # A period starts at a time since the match's start (most providers) or at a wall-clock time
    # (Hawk-Eye): either way its distance from the first period's start is a timedelta.
    since_first = {period.id: (period.start_timestamp - periods[0].start_timestamp) / timedelta(seconds=1)
                   for period in periods}
    by_player: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for frame in dataset.records:
        t = origin + since_first[frame.period.id] + frame.timestamp / timedelta(seconds=1)
        for player, data in frame.players_data.items():
            point = data.coordinates
            if point is None or math.isnan(point.x) or math.isnan(point.y):
                continue
            times, xs, ys = by_player.setdefault(f"{player.team.ground}_{player.jersey_no}", ([], [], []))
            times.append(t)
            xs.append(point.x)
            ys.append(point.y)
    if not by_player:
        raise ReplayError(f"{', '.join(p.name for p in paths)}: no player has a position in any frame")
    prefix = run or safe_id(paths[0].stem)
    tracks = [Track(f"{prefix}_{safe_id(player)}", np.array(times),
                    {"x": np.round(np.array(xs), 4), "y": np.round(np.array(ys), 4)})
              for player, (times, xs, ys) in by_player.items()]
    return Recording(schema=dict(TRACKING_SCHEMA), tracks=tracks, skipped=rows.skipped,
                     run_config=TRACKING_RUN_CONFIG)
