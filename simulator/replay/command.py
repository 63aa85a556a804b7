"""`sports-prophet replay FILE...`: stream a recorded file into a running Sports Prophet.

The file is read and checked whole first (a bad file streams nothing: exit code 2, naming the
line or element), then its readings go through the same ingest as live devices (`--transport
ws|http`) with the file's own timestamps, paced by them: `--speedup N` plays N file seconds a
second, `--as-fast-as-possible` does not wait. Runs are merged into one timeline, so players
of one match arrive together as they would live.

Formats (`--format`, else told from the files): gpx, csv, tracking data read by kloppy:
metrica (home CSV, away CSV), tracab (metadata, raw data), hawkeye (each minute's ball and
centroids feeds, and the metadata if there is one), skillcorner (match data, tracking data) and
secondspectrum (metadata, tracking data), each tracking run configured as optical tracking
(`/start-stream`) before its first reading; and event data read by kloppy: statsbomb (events JSON,
lineups JSON), streamed as the match-event feed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import numpy as np

from models.device import parse_instant
from models.match import EVENTS_DEVICE
from simulator.replay.events import load_statsbomb, looks_like_statsbomb
from simulator.replay.gpx import load_gpx
from simulator.replay.recording import Recording, ReplayError, check_ids, safe_id
from simulator.replay.table import TYPES, load_csv, parse_maps
from simulator.replay.tracking import METRICA_HEADER, TRACKING_FORMATS, hawkeye_feed, load_tracking
from simulator.transport import (DEFAULT_URL, TRANSPORTS, Clock, Progress, configure_run, positive, register,
                                 run_session)

FORMATS = ("gpx", "csv", *TRACKING_FORMATS, "statsbomb")
TIMED_FROM_KICKOFF = (*TRACKING_FORMATS, "statsbomb")
# Readings handed to the transport at once when not waiting: at most this many per run in one
# WebSocket frame or HTTP batch keeps frames far below the worker's 1 MiB limit.
CHUNK_READINGS = 2000
# What the first record of a provider's JSON tracking file has, and nobody else's.
JSON_TRACKING_KEYS = {b'"homePlayers"': "secondspectrum", b'"player_data"': "skillcorner",
                      b'"trackable_object"': "skillcorner"}


def detect_format(paths: list[Path]) -> str:
    """The format from the first file's name and, for CSV, its third line (Metrica's header)."""
    suffix = paths[0].suffix.lower()
    if suffix == ".gpx":
        return "gpx"
    if suffix == ".csv":
        with paths[0].open("rb") as f:
            third = [f.readline() for _ in range(3)][2]
        return "metrica" if third.split(b",")[:3] == [h.encode() for h in METRICA_HEADER] else "csv"
    if len(paths) == 2 and paths[1].suffix.lower() == ".dat":
        return "tracab"
    if suffix == ".json" and looks_like_statsbomb(paths[0]):
        return "statsbomb"
    if any(hawkeye_feed(path) for path in paths):
        return "hawkeye"
    if len(paths) == 2 and paths[1].suffix.lower() in (".json", ".jsonl"):
        with paths[1].open("rb") as f:
            head = f.read(4096)
        for key, fmt in JSON_TRACKING_KEYS.items():
            if key in head:
                return fmt
    raise ReplayError(f"{paths[0].name}: cannot tell the format from the file; pass --format {'|'.join(FORMATS)}")


def load(args: argparse.Namespace) -> tuple[Recording, str]:
    """Read and check the whole file: (the recording, the device to stream it as)."""
    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            raise ReplayError(f"{path}: no such file")
    fmt = args.format or detect_format(paths)
    if fmt not in TIMED_FROM_KICKOFF:
        if args.start is not None:
            raise ReplayError(f"--start is for tracking data and event data (times since kickoff); {fmt} has its own times")
        if len(paths) != 1:
            raise ReplayError(f"{fmt} replays one file at a time; got {len(paths)}")
    if args.map and fmt != "csv":
        raise ReplayError(f"--map is for csv files, not {fmt}")
    if fmt == "gpx":
        recording = load_gpx(paths[0], args.run, args.skip_bad)
        device = "gpx_replay" if "elevation" in recording.schema else "gpx_replay_2d"
    elif fmt == "csv":
        recording = load_csv(paths[0], parse_maps(args.map), args.run, args.skip_bad, args.delimiter)
        device = f"csv_{safe_id(paths[0].stem)}"
    else:
        start = None
        if args.start is not None:
            start = parse_instant(args.start)
            if start is None:
                raise ReplayError(f"--start {args.start!r} is not an ISO 8601 time or epoch seconds")
        if fmt == "statsbomb":
            recording, device = load_statsbomb(paths, args.run, start, time.time()), EVENTS_DEVICE
        else:
            recording, device = load_tracking(fmt, paths, args.run, start, time.time(), args.skip_bad), f"{fmt}_tracking"
    device = args.device or device
    check_ids(device, [track.run for track in recording.tracks])
    return recording, device


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(recording: Recording, device: str, args: argparse.Namespace) -> str:
    first = min(float(t.times.min()) for t in recording.tracks)
    last = max(float(t.times.max()) for t in recording.tracks)
    pace = "as fast as possible" if args.as_fast_as_possible else f"{args.speedup:g}x real time"
    runs = recording.tracks[0].run if len(recording.tracks) == 1 else f"{len(recording.tracks)} runs"
    return (f"replaying {', '.join(args.files)} as device {device} ({runs}): {recording.readings:,} readings "
            f"from {iso(first)} to {iso(last)}, {pace} over {args.transport}")


async def stream(http: aiohttp.ClientSession, recording: Recording, device: str, args: argparse.Namespace,
                 stop: asyncio.Event, progress: Progress) -> None:
    """Send every reading when its time is due, all runs merged into one timeline."""
    await register(http, args.url, device, recording.schema)
    if recording.run_config:
        await asyncio.gather(*(configure_run(http, args.url, device, track.run, recording.run_config)
                               for track in recording.tracks))
    # A time that goes back in a run is sent right after its predecessor (the worker counts it
    # as out of order): each run is ordered by its running maximum, so file order is kept.
    due = np.concatenate([np.maximum.accumulate(t.times) for t in recording.tracks])
    track_of = np.concatenate([np.full(len(t), i) for i, t in enumerate(recording.tracks)])
    row_of = np.concatenate([np.arange(len(t)) for t in recording.tracks])
    order = np.argsort(due, kind="stable")
    due, track_of, row_of = due[order], track_of[order], row_of[order]
    clock = Clock(float(due[0]), None if args.as_fast_as_possible else args.speedup)
    transport = TRANSPORTS[args.transport](http, args.url, progress)
    i = 0
    try:
        while i < len(due) and await clock.wait_until(float(due[i]), stop):
            j = min(max(i + 1, int(np.searchsorted(due, clock.now(), side="right"))), i + CHUNK_READINGS)
            tracks, rows = track_of[i:j], row_of[i:j]
            await asyncio.gather(*(
                transport.send(device, recording.tracks[k].run,
                               recording.tracks[k].readings(rows[tracks == k], recording.time_field))
                for k in dict.fromkeys(tracks.tolist())))
            i = j
    finally:
        await transport.close()
    if i < len(due):
        print(f"stopped after {i:,} of {len(due):,} readings")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sports-prophet replay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the recording (tracking formats take two files; "
                   "hawkeye takes each minute's two feeds and the metadata)")
    p.add_argument("--format", choices=FORMATS, help="default: told from the file")
    p.add_argument("--device", help="default: gpx_replay[_2d], csv_<file>, <format>_tracking, match_events")
    p.add_argument("--run", help="the run id (one track) or run prefix (several: <run>_<track>, "
                   "<run>_<home|away>_<jersey>); default: from the file name")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speedup", type=positive, default=1.0, help="file seconds per real second")
    pace.add_argument("--as-fast-as-possible", action="store_true", help="do not wait for the file's times")
    p.add_argument("--url", default=DEFAULT_URL, help="the Sports Prophet web views")
    p.add_argument("--transport", choices=tuple(TRANSPORTS), default="ws",
                   help="ws: a WebSocket per run; http: batches POSTed to /ingest")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN[:TYPE]",
                   help=f"csv: take device field FIELD from column COLUMN; TYPE one of {', '.join(TYPES)} "
                   "(default: inferred); repeat per field; without --map every column is a field")
    p.add_argument("--delimiter", default=",", help="csv: the cell separator")
    p.add_argument("--start", help="tracking and event data: the kickoff time (ISO 8601 or epoch seconds); "
                   "default: the file's own date, else now")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad rows or points (counted and reported) "
                   "instead of refusing the file")
    p.add_argument("--progress-every", type=positive, default=5.0, help="seconds between progress lines")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        recording, device = load(args)
    except ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    for note in recording.notes:
        print(f"note: {note}")
    if recording.skipped:
        print(f"skipped {len(recording.skipped)} bad rows; the first: {recording.skipped[0]}")
    print(describe(recording, device, args), flush=True)
    progress = asyncio.run(run_session(
        args.url, args.progress_every, lambda http, stop, progress: stream(http, recording, device, args, stop, progress)))
    if recording.skipped:
        print(f"skipped {len(recording.skipped)} bad rows (not sent)")
    return 1 if progress.errors else 0
