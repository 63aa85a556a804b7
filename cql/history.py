"""Reads of the archive tables for the history API and exports (the tables: cql/schema.cql)."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, AsyncIterator

from cql.archive import BUCKET_MS
from cql.session import execute, pages


def epoch_ms(value: datetime) -> int:
    """A CQL timestamp (the driver's naive UTC datetime) as the exact epoch milliseconds stored."""
    return calendar.timegm(value.utctimetuple()) * 1000 + value.microsecond // 1000


def epoch_s(value: datetime | None) -> float | None:
    return None if value is None else epoch_ms(value) / 1000


@dataclass(frozen=True)
class Cursor:
    """Where a page of readings ended: the next page starts after this row (stable across writes)."""
    bucket: int
    t: int
    source_offset: int
    position: int

    def encode(self) -> str:
        return f"{self.bucket}.{self.t}.{self.source_offset}.{self.position}"

    @classmethod
    def decode(cls, raw: str) -> "Cursor":
        parts = raw.split(".")
        if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
            raise ValueError("a cursor is the `next` value of a previous page")
        return cls(*(int(p) for p in parts))


async def summary(device_id: str, run_id: str) -> dict[str, Any] | None:
    row = (await execute("SELECT summary_json FROM {ks}.run_summaries WHERE device_id = ? AND run_id = ?",
                         (device_id, run_id))).one()
    return None if row is None else json.loads(row.summary_json)


async def device_runs(device_id: str) -> list[dict[str, Any]]:
    rows = await execute("SELECT summary_json FROM {ks}.run_summaries WHERE device_id = ?", (device_id,))
    return [json.loads(row.summary_json) for row in rows]


async def runs_on(day: date) -> list[dict[str, Any]]:
    rows = await execute("SELECT device_id, run_id, first_t, duration_s, distance_m, top_speed_mps, sprints "
                         "FROM {ks}.runs_by_day WHERE day = ?", (day,))
    return [{"day": day.isoformat(), "device_id": r.device_id, "run_id": r.run_id, "first_t": epoch_s(r.first_t),
             "duration_s": r.duration_s, "distance_m": r.distance_m, "top_speed_mps": r.top_speed_mps,
             "sprints": r.sprints} for r in rows]


async def buckets(device_id: str, run_id: str) -> list[int]:
    rows = await execute("SELECT bucket FROM {ks}.reading_buckets WHERE device_id = ? AND run_id = ?",
                         (device_id, run_id))
    return [epoch_ms(r.bucket) for r in rows]


READINGS_AFTER = ("SELECT bucket, t, source_offset, position, received_at, data FROM {ks}.readings "
                  "WHERE device_id = ? AND run_id = ? AND bucket = ? "
                  "AND (t, source_offset, position) > (?, ?, ?) AND (t) <= (?) LIMIT ?")


def reading_json(row: Any) -> dict[str, Any]:
    return {"t": epoch_s(row.t), "received_at": epoch_s(row.received_at), "data": json.loads(row.data)}


async def readings_page(device_id: str, run_id: str, from_ms: int, to_ms: int, limit: int,
                        after: Cursor | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """Up to `limit` readings with from_ms <= t <= to_ms in (t, source offset, position) order,
    after the cursor; and the cursor of the next page (None when there is none)."""
    start = after or Cursor(from_ms - from_ms % BUCKET_MS, from_ms, -1, -1)
    found: list[Any] = []
    for bucket in await buckets(device_id, run_id):
        if bucket < start.bucket or bucket > to_ms:
            continue
        lower = (start.t, start.source_offset, start.position) if bucket == start.bucket else (from_ms, -1, -1)
        rows = await execute(READINGS_AFTER, (device_id, run_id, bucket, *lower, to_ms, limit + 1 - len(found)))
        found += list(rows)
        if len(found) > limit:
            break
    page = found[:limit]
    more = len(found) > limit
    last = page[-1] if page else None
    cursor = Cursor(epoch_ms(last.bucket), epoch_ms(last.t), last.source_offset, last.position) if more and last else None
    return [reading_json(row) for row in page], cursor


async def all_readings(device_id: str, run_id: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every reading of a run in order, a page at a time (for exports: never the whole run in memory)."""
    for bucket in await buckets(device_id, run_id):
        async for rows in pages("SELECT t, received_at, data FROM {ks}.readings "
                                "WHERE device_id = ? AND run_id = ? AND bucket = ?", (device_id, run_id, bucket)):
            if rows:
                yield [reading_json(row) for row in rows]


async def windows(device_id: str, run_id: str, from_ms: int, to_ms: int, limit: int) -> list[dict[str, Any]]:
    rows = await execute("SELECT window_start, window_end, count, stats FROM {ks}.windows "
                         "WHERE device_id = ? AND run_id = ? AND window_start >= ? AND window_start <= ? LIMIT ?",
                         (device_id, run_id, from_ms, to_ms, limit))
    return [{"window_start": epoch_s(r.window_start), "window_end": epoch_s(r.window_end),
             "timestamp": epoch_s(r.window_end), "count": r.count, **dict(sorted((r.stats or {}).items()))}
            for r in rows]


async def segments(device_id: str, run_id: str, kind: str, limit: int) -> list[dict[str, Any]]:
    """The run's archived segments of one kind (agents/segments.py's rows), in order."""
    rows = await execute("SELECT segment_json FROM {ks}.run_segments WHERE device_id = ? AND run_id = ? AND kind = ? "
                         "LIMIT ?", (device_id, run_id, kind, limit))
    return [json.loads(r.segment_json) for r in rows]


async def alerts(device_id: str, run_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await execute("SELECT alert_json FROM {ks}.alerts WHERE device_id = ? AND run_id = ? LIMIT ?",
                         (device_id, run_id, limit))
    return [json.loads(r.alert_json) for r in rows]
