"""The archive tables' writes: Kafka records in, idempotent CQL out, written with bounded concurrency.

Every row's primary key comes from the record itself (a reading's source offset and position, a
window's start, an alert's sequence number), so writing a record twice writes the same rows.
Summaries are upserts stamped `USING TIMESTAMP` with the time the run agent produced them, so a
replayed older summary can never overwrite a newer one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import orjson
from cassandra.query import BatchStatement, BatchType

from cql.session import prepare, run

log = logging.getLogger(__name__)

BUCKET_MS = 3_600_000                 # one `readings` partition per run and hour (cql/schema.cql)
MAX_BATCH_ROWS = 100                  # one partition's rows per unlogged batch ...
MAX_BATCH_BYTES = 32 * 1024           # ... staying under Cassandra's 50 KiB batch_size_fail_threshold

INSERT_READING = ("INSERT INTO {ks}.readings (device_id, run_id, bucket, t, source_offset, position, received_at, data) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_BUCKET = "INSERT INTO {ks}.reading_buckets (device_id, run_id, bucket) VALUES (?, ?, ?)"
INSERT_WINDOW = ("INSERT INTO {ks}.windows (device_id, run_id, window_start, window_end, count, stats) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
INSERT_ALERT = "INSERT INTO {ks}.alerts (device_id, run_id, seq, type, t, alert_json) VALUES (?, ?, ?, ?, ?, ?)"
UPSERT_SUMMARY = (
    "INSERT INTO {ks}.run_summaries (device_id, run_id, status, first_t, last_t, duration_s, readings, late_readings, "
    "alerts, distance_m, top_speed_mps, hsr_distance_m, sprints, accelerations, decelerations, rejected_fixes, "
    "zone_time_s, zone_distance_m, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "USING TIMESTAMP ?")
SEGMENT_COLUMNS = ("device_id, run_id, kind, number, label, start_t, end_t, duration_s, readings, distance_m, "
                   "hsr_distance_m, top_speed_mps, sprints, accelerations, decelerations, lap_time_s, zone_time_s, "
                   "zone_distance_m, segment_json")
INSERT_SEGMENT = f"INSERT INTO {{ks}}.run_segments ({SEGMENT_COLUMNS}) VALUES ({', '.join(['?'] * 19)})"
UPSERT_PEAK = f"{INSERT_SEGMENT} USING TIMESTAMP ?"
UPSERT_BY_DAY = ("INSERT INTO {ks}.runs_by_day (day, device_id, run_id, first_t, duration_s, distance_m, top_speed_mps, "
                 "sprints) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")


def ms(seconds: float | None) -> int | None:
    """Epoch seconds as the epoch milliseconds a CQL timestamp holds (the driver takes ints as ms)."""
    return None if seconds is None else round(seconds * 1000)


@dataclass(frozen=True)
class Write:
    """One row: its statement and values, the partition it lands in (rows of one partition batch
    together) and its primary key within that partition."""
    cql: str
    params: tuple
    partition: tuple
    row: tuple = ()
    size: int = 64


def reading_writes(value: dict[str, Any], source_offset: int) -> list[Write]:
    """The rows of one run-topic record: its readings, and the hour buckets they fall in."""
    device_id, run_id = value["device_id"], value["run_id"]
    received_at = ms(value["received_at"])
    writes, buckets = [], set()
    for position, reading in enumerate(value["readings"]):
        t = ms(reading["t"])
        bucket = t - t % BUCKET_MS
        buckets.add(bucket)
        data = orjson.dumps(reading["data"]).decode()
        writes.append(Write(INSERT_READING, (device_id, run_id, bucket, t, source_offset, position, received_at, data),
                            ("readings", device_id, run_id, bucket), (t, source_offset, position), len(data) + 64))
    writes += [Write(INSERT_BUCKET, (device_id, run_id, bucket), ("reading_buckets", device_id, run_id), (bucket,))
               for bucket in sorted(buckets)]
    return writes


def window_write(device_id: str, run_id: str, row: dict[str, Any]) -> Write:
    stats = {name: float(v) for name, v in row.items()
             if name not in WINDOW_KEYS and isinstance(v, (int, float)) and v == v}   # v == v: not NaN
    return Write(INSERT_WINDOW, (device_id, run_id, ms(row["window_start"]), ms(row["window_end"]), row["count"], stats),
                 ("windows", device_id, run_id), (ms(row["window_start"]),))


WINDOW_KEYS = {"window_start", "window_end", "timestamp", "count", "final"}


def alert_write(alert: dict[str, Any]) -> Write:
    return Write(INSERT_ALERT, (alert["device_id"], alert["run_id"], alert["seq"], alert["type"], ms(alert.get("t")),
                                json.dumps(alert)), ("alerts", alert["device_id"], alert["run_id"]), (alert["seq"],))


def summary_writes(summary: dict[str, Any], produced_at: float) -> list[Write]:
    """The run's summary row and its by-day row, stamped with when the summary was produced."""
    device_id, run_id = summary["device_id"], summary["run_id"]
    motion = summary.get("motion") or {}
    zones = motion.get("zones") or []
    stamp = round(produced_at * 1_000_000)
    writes = [Write(UPSERT_SUMMARY, (
        device_id, run_id, summary["status"], ms(summary["first_t"]), ms(summary["last_t"]), summary["duration_s"],
        summary["readings"], summary["late_readings"], summary["alerts"], motion.get("distance_m"),
        motion.get("top_speed_mps"), motion.get("hsr_distance_m"), motion.get("sprints"),
        motion.get("accelerations"), motion.get("decelerations"), motion.get("rejected"),
        [z["time_s"] for z in zones] or None, [z["distance_m"] for z in zones] or None,
        json.dumps(summary), stamp), ("run_summaries", device_id), (run_id,))]
    if summary["first_t"] is not None:
        day = datetime.fromtimestamp(summary["first_t"], timezone.utc).date()
        writes.append(Write(UPSERT_BY_DAY, (day, device_id, run_id, ms(summary["first_t"]), summary["duration_s"],
                                            motion.get("distance_m"), motion.get("top_speed_mps"),
                                            motion.get("sprints"), stamp), ("runs_by_day", day), (device_id, run_id)))
    return writes


def segment_write(device_id: str, run_id: str, row: dict[str, Any], stamp: int | None = None) -> Write:
    """A closed segment (interval, lap, period) under (kind, number): rewriting it writes the same row.
    A rolling peak changes as the run goes on: upserted with its summary's `stamp`, like the summary."""
    if row["kind"] == "peaks":
        values = (row["window_s"], None, ms(row["distance_end_t"] and row["distance_end_t"] - row["window_s"]),
                  ms(row["distance_end_t"]), float(row["window_s"]), None, row["distance_m"], row["hsr_distance_m"],
                  None, None, None, None, None, None, None)
    else:
        values = (row["index"], row["label"], ms(row["start_t"]), ms(row["end_t"]), row["duration_s"], row["readings"],
                  row["distance_m"], row["hsr_distance_m"], row["top_speed_mps"], row["sprints"],
                  row["accelerations"], row["decelerations"], row.get("lap_time_s"), row["zone_time_s"],
                  row["zone_distance_m"])
    params = (device_id, run_id, row["kind"], *values, json.dumps(row))
    return Write(INSERT_SEGMENT if stamp is None else UPSERT_PEAK, params if stamp is None else (*params, stamp),
                 ("run_segments", device_id, run_id), (row["kind"], values[0]))


def output_writes(value: dict[str, Any]) -> list[Write]:
    """The rows of one record of the run agent's outputs topic (a closed window, an alert, a summary)."""
    kind = value["type"]
    if kind == "window":
        return [window_write(value["device_id"], value["run_id"], value["row"])]
    if kind == "alert":
        return [alert_write(value["alert"])]
    if kind == "segment":
        return [segment_write(value["device_id"], value["run_id"], value["row"])]
    if kind == "summary":
        summary, stamp = value["summary"], round(value["produced_at"] * 1_000_000)
        return summary_writes(summary, value["produced_at"]) + [
            segment_write(summary["device_id"], summary["run_id"], peak, stamp) for peak in value.get("peaks", [])
            if peak["distance_end_t"] is not None]
    raise ValueError(f"unknown output record type {kind!r}")


def batches(writes: Iterable[Write]) -> list[list[Write]]:
    """Rows grouped by partition into unlogged batches small enough for Cassandra's batch limits.
    A row written twice in one call (a run's summary, updated several times) keeps only its last
    version: concurrent statements could otherwise land in either order."""
    by_partition: dict[tuple, dict[tuple, Write]] = defaultdict(dict)
    for write in writes:
        rows = by_partition[write.partition]
        rows.pop(write.row, None)
        rows[write.row] = write
    grouped: list[list[Write]] = []
    for rows in by_partition.values():
        current: list[Write] = []
        size = 0
        for write in rows.values():
            if current and (len(current) >= MAX_BATCH_ROWS or size + write.size > MAX_BATCH_BYTES):
                grouped.append(current)
                current, size = [], 0
            current.append(write)
            size += write.size
        grouped.append(current)
    return grouped


def statement(batch: list[Write]):
    if len(batch) == 1:
        return prepare(batch[0].cql).bind(batch[0].params)
    unlogged = BatchStatement(batch_type=BatchType.UNLOGGED)
    for write in batch:
        unlogged.add(prepare(write.cql), write.params)
    return unlogged


@dataclass
class WriterHealth:
    """What /health reports about the archive writes."""
    rows_written: int = 0
    failing_since: float | None = None
    last_error: str | None = None
    last_written_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"rows_written": self.rows_written, "last_written_at": self.last_written_at,
                "failing_for_s": None if self.failing_since is None else round(time.time() - self.failing_since, 1),
                "last_error": self.last_error}


@dataclass
class ArchiveWriter:
    """Writes rows with at most `concurrency` statements in flight; a failed statement is retried
    with exponential back-off until it succeeds, so `write` returns only once every row is stored."""
    concurrency: int = 32
    max_backoff_s: float = 5.0
    health: WriterHealth = field(default_factory=WriterHealth)

    async def write(self, writes: list[Write]) -> int:
        grouped = batches(writes)
        slots = asyncio.Semaphore(self.concurrency)

        async def one(batch: list[Write]) -> None:
            async with slots:
                await self._until_written(batch)

        await asyncio.gather(*(one(batch) for batch in grouped))
        rows = sum(len(batch) for batch in grouped)
        self.health.rows_written += rows
        self.health.last_written_at = time.time()
        return rows

    async def _until_written(self, batch: list[Write]) -> None:
        backoff = 0.1
        while True:
            try:
                await run(statement(batch))
                if self.health.failing_since is not None:
                    log.info("Cassandra writes succeed again after %.1fs", time.time() - self.health.failing_since)
                    self.health.failing_since = None
                return
            except Exception as exc:                  # Cassandra down, overloaded, timing out: wait, retry
                if self.health.failing_since is None:
                    self.health.failing_since = time.time()
                    log.warning("Cassandra write failed (%s: %s); retrying with back-off until it succeeds",
                                type(exc).__name__, exc)
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
