"""GPX: each <trk> becomes a run; fields latitude, longitude, elevation (when every point has one), timestamp.

gpxpy parses the file, but it turns an unreadable <time> into None silently and reports a
bad number without saying which point it was in. So every <trkpt> is checked first, by its
number in the file, and a bad one is an error naming it, or with --skip-bad, is cut out
of the document before gpxpy sees it.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import gpxpy
import gpxpy.gpx
import gpxpy.gpxfield
import numpy as np

from simulator.replay.recording import TIME_FIELD, BadRows, Recording, ReplayError, Track, safe_id


def _local(tag: str) -> str:
    """An element's name without its namespace (GPX 1.0 and 1.1 use different ones)."""
    return tag.rsplit("}", 1)[-1]


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def point_problem(point: ET.Element) -> str | None:
    """What is wrong with a <trkpt>, or None."""
    for name, limit in (("lat", 90.0), ("lon", 180.0)):
        raw = point.get(name)
        if raw is None:
            return f"has no {name}"
        value = _number(raw)
        if value is None:
            return f"{name} {raw!r} is not a number"
        if abs(value) > limit:
            return f"{name} {raw} is outside [-{limit:g}, {limit:g}]"
    children = {_local(child.tag): (child.text or "").strip() for child in point}
    if not children.get("time"):
        return "has no <time>"
    try:
        gpxpy.gpxfield.parse_time(children["time"])
    except gpxpy.gpx.GPXException:
        return f"<time> {children['time']!r} is not a time"
    if "ele" in children and _number(children["ele"]) is None:
        return f"<ele> {children['ele']!r} is not a number"
    return None


def _epoch(moment: datetime) -> float:
    """A GPX time without a zone is UTC, as the worker reads one."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _without_bad_points(data: bytes, root: ET.Element, bad: set[ET.Element]) -> bytes:
    """The document with the bad points cut out, keeping its namespace prefixes (gpxpy needs them)."""
    for prefix, uri in (v for _, v in ET.iterparse(io.BytesIO(data), events=("start-ns",))):
        ET.register_namespace(prefix, uri)
    for segment in list(root.iter()):
        for point in [p for p in segment if p in bad]:
            segment.remove(point)
    return ET.tostring(root, encoding="utf-8")


def load_gpx(path: Path, run: str | None, skip_bad: bool) -> Recording:
    name = path.name
    data = path.read_bytes()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ReplayError(f"{name}: not well-formed XML: {exc}") from exc
    if _local(root.tag) != "gpx":
        raise ReplayError(f"{name}: not a GPX file: the root element is <{_local(root.tag)}>, not <gpx>")
    rows = BadRows(skip_bad)
    points = [p for trk in root if _local(trk.tag) == "trk"
              for seg in trk if _local(seg.tag) == "trkseg"
              for p in seg if _local(p.tag) == "trkpt"]
    if not points:
        raise ReplayError(f"{name}: no <trkpt> in any <trk>: nothing to replay (routes and waypoints are not tracks)")
    bad: set[ET.Element] = set()
    for number, point in enumerate(points, start=1):
        problem = point_problem(point)
        if problem:
            rows.bad(f"{name}: <trkpt> {number} {problem}")
            bad.add(point)
    if len(bad) == len(points):
        raise ReplayError(f"{name}: every <trkpt> is bad; the first: {rows.skipped[0]}")
    try:
        gpx = gpxpy.parse(_without_bad_points(data, root, bad) if bad else data)
    except gpxpy.gpx.GPXException as exc:
        raise ReplayError(f"{name}: gpxpy cannot read it: {exc}") from exc

    tracks = [[p for seg in trk.segments for p in seg.points] for trk in gpx.tracks]
    numbered = [(i, pts) for i, pts in enumerate(tracks, start=1) if pts]
    with_elevation = all(p.elevation is not None for _, pts in numbered for p in pts)
    prefix = run or safe_id(path.stem)
    result = Recording(schema={"latitude": "float", "longitude": "float", TIME_FIELD: "timestamp"},
                       tracks=[], skipped=rows.skipped)
    if with_elevation:
        result.schema["elevation"] = "float"
    else:
        missing = sum(p.elevation is None for _, pts in numbered for p in pts)
        result.notes.append(f"{name}: {missing} of {sum(len(pts) for _, pts in numbered)} points have no <ele>: "
                            "elevation left out")
    for index, pts in numbered:
        columns = {"latitude": np.array([p.latitude for p in pts]), "longitude": np.array([p.longitude for p in pts])}
        if with_elevation:
            columns["elevation"] = np.array([p.elevation for p in pts])
        result.tracks.append(Track(prefix if len(numbered) == 1 else f"{prefix}_{index}",
                                   np.array([_epoch(p.time) for p in pts]), columns))
    return result
