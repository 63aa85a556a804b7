"""The run agent: every per-run topic and the run-control topic feed one stream that keeps each
run's state in RocksDB-backed tables.

Keys are `<device_id>/<run_id>` everywhere and every topic has SP_TOPIC_PARTITIONS partitions, so
a run's readings, its control records and its table rows share one partition: the worker that owns
the partition owns the run, and a run's state is written where it is read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from faust.types import EventT

from agents import forecast, matches, run_rows, run_state, segments
from agents.acks import changelog_ebbed, flushed_acks
from agents.discovery import subscription
from agents.owned import list_rows_key, owned, run_alerts, run_segment_rows, run_windows
from agents.run_changes import run_changes
from agents.run_records import Record, joinable, joined, written_before_deletion
from agents.statuses import run_statuses
from agents.watchdog import skipped
from agents.topics import alerts_topic, control_topic, outputs_topic
from models.run import parse_run_topic, run_key, run_topic
from sports_prophet import metrics
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable

log = logging.getLogger(__name__)


@app.on_partitions_revoked.connect
async def forget_owned_runs(app_, revoked, **kwargs) -> None:
    owned.forget_all()
    control_gaps.forget_all()
    _summarized_at.clear()          # runs that moved to another worker would stay here for good


@app.on_rebalance_complete.connect
async def load_owned_runs(app_, **kwargs) -> None:
    """The tables now hold the recovered runs of the new assignment (Faust sends this once recovery
    has applied the changelogs): cache them all, so the watchdog's look at every run each second
    stops reaching RocksDB (`OwnedRuns.known`). Sent before `app.rebalancing` is cleared, which
    Faust sometimes leaves set (see `agents/silence.py: watch_runs`)."""
    owned.load_all()


SUMMARY_EVERY_S = 2.0
_summarized_at: dict[str, float] = {}


def summary_due(key: str) -> bool:
    """Archive a busy run's summary at least every SUMMARY_EVERY_S, even between window closes."""
    now = time.monotonic()
    if now - _summarized_at.get(key, 0.0) < SUMMARY_EVERY_S:
        return False
    _summarized_at[key] = now
    return True


async def handle(event: EventT) -> None:
    message = event.message
    key = message.key.decode() if isinstance(message.key, bytes) else str(message.key)
    record = Record(message.topic, message.partition, message.offset, message.timestamp, key, event.value)
    run = parse_run_topic(record.topic)
    if run:
        await follow_deletion(key, record.value)
    elif not await control_gaps.fill(record):
        return
    state = owned.get(key)
    if run and not written_before_deletion(state, record):
        await fill_gap(key, run, record.partition, record.offset, "gap")
    await apply(record)


class ControlGaps:
    """Control records Faust dropped, read back from Kafka. faust-streaming drops fetched records at
    rebalances (agents/watchdog.py), control records too: a catch-up lost that way left its run unread
    for a minute, in a loop while run topics were deleted and re-created (test_topic_churn.py). A
    control partition's offsets are contiguous, so a gap before a delivered record shows what was
    dropped; the watchdog's next catch-up is such a record. Kept in memory, per assignment."""

    def __init__(self) -> None:
        self.next: dict[int, int] = {}      # control partition → the next offset to apply

    def forget_all(self) -> None:
        self.next.clear()

    async def fill(self, record: Record) -> bool:
        """Apply the control records missing before this one; False for a record already applied."""
        expected = self.next.get(record.partition)
        if expected is not None and record.offset < expected:
            return False
        self.next[record.partition] = record.offset + 1
        if expected is None or record.offset == expected:
            return True
        log.info("%s[%d]: applying control records %d..%d from Kafka", record.topic, record.partition,
                 expected, record.offset - 1)
        try:
            async for missing in gateway.read_records(record.topic, record.partition, expected, record.offset):
                metrics.records_recovered.labels("control").inc()
                await apply(Record(record.topic, record.partition, missing.offset, missing.timestamp / 1000,
                                   missing.key.decode(), missing.value))
        except KafkaUnavailable as exc:
            log.error("%s", exc)
        return True


control_gaps = ControlGaps()


async def follow_deletion(key: str, value: dict[str, Any]) -> None:
    """A run-topic record that knows of a deletion of the run's topic newer than the run's state
    (stamped by the gateway, or seen in the run statuses): the run starts afresh, as if the 'deleted'
    control record had arrived, which Faust can drop at a rebalance like any other. Without this the
    old state took the re-created topic's offsets, restarting at 0, for replays."""
    deletion = max(value.get("since", 0.0), run_statuses.deleted_since.get(key, 0.0))
    state = owned.get(key)
    if state is not None and state.get("since", 0.0) < deletion:
        await forget_run(key, {"device_id": value["device_id"], "run_id": value["run_id"], "at": deletion})


async def fill_gap(key: str, run: tuple[str, str], partition: int, end: int, how: str) -> None:
    """Apply the records of the run's topic partition that the run has not, up to `end`, reading
    them back from Kafka: Faust skipped them (see agents/watchdog.py)."""
    state = owned.get(key)
    start = state.get("source_next", 0) if state else 0
    if end <= start:
        return
    topic = run_topic(*run)
    if topic not in subscription.listed:          # deleted (maybe by another app): nothing to read back
        log.info("%s[%d]: records %d..%d not read back: the topic is gone", topic, partition, start, end - 1)
        return
    log.info("%s[%d]: applying records %d..%d from Kafka", topic, partition, start, end - 1)
    pending: Record | None = None
    try:
        async for missing in gateway.read_records(topic, partition, start, end):
            metrics.records_recovered.labels(how).inc()
            record = Record(topic, partition, missing.offset, missing.timestamp / 1000, key, missing.value)
            if pending is not None and joinable(pending, record) and not forecasts_configured(owned.get(key)):
                pending = joined(pending, record)
                continue
            if pending is not None:
                await apply_read_back(pending)
            pending = record
    except KafkaUnavailable as exc:               # the run goes on; `apply` logs the gap that is left
        log.error("%s", exc)
    if pending is not None:
        await apply_read_back(pending)


def forecasts_configured(state: dict[str, Any] | None) -> bool:
    """Whether the run's config asks for forecasts of its fields. A record that closes a window issues
    them once (run_state.issued_at_close), so records joined on reading back issued fewer than the same
    records live (tests/integration/test_forecasts.py counted 71 of ~100): such a run's records are
    read back one by one."""
    return bool(state) and bool(forecast.run_fields(state.get("config") or {})[0])


async def apply_read_back(record: Record) -> None:
    await follow_deletion(record.key, record.value)
    await apply(record)


async def apply(record: Record) -> None:
    """Apply one record (a batch of readings, or a control message) to its run."""
    key, value = record.key, record.value
    state = owned.get(key)
    was_finished = state is not None and state["status"] == "finished"
    kind = value.get("type", "readings")
    from_run_topic = parse_run_topic(record.topic) is not None
    if kind == "deleted":
        await forget_run(key, value)
        return
    if kind == "catch_up":                   # the watchdog (agents/watchdog.py): records Faust never delivered
        skipped.caught_up(key)
        await fill_gap(key, (value["device_id"], value["run_id"]), record.partition, value["end"], "watchdog")
        return
    if state is not None and state["status"] == "deleted":
        if not from_run_topic:
            return                                   # a silence check of the deleted run
        state = run_state.new_run(value["device_id"], value["run_id"], settings.default_window_seconds,
                                  state["since"])
    if from_run_topic:
        if written_before_deletion(state, record):
            return
        if matches.is_match_feed(key):              # the match agent keeps its own offsets: applied once
            await matches.take(key, value, record.offset)
        # A run topic holds one run, so its records' offsets are contiguous: apply each exactly once,
        # in order (state["source_next"] is the next offset to apply, kept with the state it made).
        expected = state.get("source_next", 0) if state else 0
        if record.offset < expected:
            return                                   # a replay of a record already applied
        if record.offset > expected:                 # fill_gap could not read them (retention took them)
            log.error("%s[%d]: records %d..%d could not be read back; continuing after the gap",
                      record.topic, record.partition, expected, record.offset - 1)
    if state is None and (kind in ("readings", "config") or from_run_topic):   # silence needs a run
        state = run_state.new_run(value["device_id"], value["run_id"], settings.default_window_seconds)
    closed: list[dict] = []
    alerts: list[dict] = []
    if kind == "readings":
        state, closed, alerts = run_state.apply_burst(state, value["readings"], record.through,
                                                         value["received_at"], settings.grace_seconds,
                                                         value.get("time_field"))
    elif kind == "config":
        state, closed = run_state.apply_config(state, value["config"])
    elif kind == "stop":
        state, closed = run_state.apply_stop(state)
    elif kind == "marker":
        state = run_state.apply_marker(state, value["t"], value["label"])
    elif kind == "silence" and state is not None:
        if ((state["last_received_at"] or 0) > value["checked_at"] - settings.silence_seconds
                or skipped.is_behind(key)):
            return                              # readings arrived after the check, or wait to be read back
        state, closed, alerts = run_state.apply_silence(state, value["checked_at"])
        if value["checked_at"] - (state["last_received_at"] or 0) >= settings.finish_after_seconds:
            state, more = run_state.apply_stop(state)
            closed += more
    elif not from_run_topic:
        return
    if from_run_topic:
        state = {**state, "source_next": record.through + 1}
    rows = [run_rows.window_row(w) for w in closed]
    if rows:
        state = {**state, "windows_closed": run_windows.append(key, state.get("windows_closed", 0), rows)}
    if alerts:
        run_alerts.append(key, state["alerts"] - len(alerts), alerts)
    state, segment_rows = store_segments(key, state)
    owned.put(key, state)
    metrics.records_processed.labels(kind).inc()
    run_changes.notify(key)
    finishing = state["status"] == "finished" and not was_finished
    if finishing:
        _summarized_at.pop(key, None)
    if rows:
        for row in rows:
            await outputs_topic.send(key=key.encode(), value={"type": "window", "device_id": state["device_id"],
                                                              "run_id": state["run_id"], "row": row})
    if alerts:
        for alert in alerts:
            await alerts_topic.send(key=key.encode(), value=alert)
            await outputs_topic.send(key=key.encode(), value={"type": "alert", "alert": alert})
    for row in segment_rows:
        await outputs_topic.send(key=key.encode(), value={"type": "segment", "device_id": state["device_id"],
                                                          "run_id": state["run_id"], "row": row})
    for row in state.get("forecast_rows", []) if kind == "readings" else []:   # issued or scored: cql/forecasts.py
        await outputs_topic.send(key=key.encode(), value={"type": "forecast", "device_id": state["device_id"],
                                                          "run_id": state["run_id"], "row": row})
    if closed or alerts or segment_rows or kind != "readings" or finishing or summary_due(key):
        # The archived summary (with the rolling peaks) follows the windows and segments; it is the
        # run's last output once it finishes.
        sent = await outputs_topic.send(key=key.encode(), value={
            "type": "summary", "summary": run_rows.summary(state), "produced_at": time.time(),
            "peaks": segments.peak_rows(run_state.run_segments(state))})
        if finishing:
            summary_at = await sent
            await run_statuses.publish(key, "finished", {
                "run_topic": run_topic(state["device_id"], state["run_id"]), "partition": record.partition,
                "last_offset": state["last_offset"], "outputs_partition": summary_at.partition,
                "outputs_offset": summary_at.offset}, since=state.get("since", 0.0))
    await changelog_ebbed()


def store_segments(key: str, state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move the segments the record closed from the run's state to its segment rows, counted per kind
    in the state written in the same step (as windows are)."""
    if "segments" not in state:
        return state, []
    segs, rows = segments.take_closed(state["segments"])
    if not rows:
        return state, []
    counts = dict(state.get("segments_closed", {}))
    for kind in segments.KINDS:
        of_kind = [row for row in rows if row["kind"] == kind]
        if of_kind:
            counts[kind] = run_segment_rows.append(list_rows_key(key, kind), counts.get(kind, 0), of_kind)
    return {**state, "segments": segs, "segments_closed": counts}, rows


async def forget_run(key: str, deleted: dict[str, Any]) -> None:
    """The run's topic was deleted (`delete_runs`): drop its state, windows and alerts. A replayed
    deletion (after a crash or a rebalance) that the run has already followed changes nothing: the
    run may have been streamed again since."""
    state = owned.get(key)
    if state is not None and state.get("since", 0.0) >= deleted["at"]:
        return
    if state is not None:
        run_windows.clear(key, state.get("windows_closed", 0))
        run_alerts.clear(key, state.get("alerts", 0))
        for kind, count in state.get("segments_closed", {}).items():
            run_segment_rows.clear(list_rows_key(key, kind), count)
    owned.put(key, run_state.deleted_run(deleted["device_id"], deleted["run_id"], deleted["at"]))
    if matches.is_match_feed(key):
        matches.forget(key)
    skipped.forget(run_topic(deleted["device_id"], deleted["run_id"]))
    _summarized_at.pop(key, None)
    run_changes.notify(key)
    await app.producer.flush()


async def delete_runs(topics: list[str]) -> None:
    """Delete run topics and the runs' live state with them, so a run streamed again under the same
    id starts afresh. Each owner is told through the control topic when the deletion began: every
    record of the deleted topic was written before then, every record of a re-created one after.
    The archive in Cassandra keeps what it has."""
    at = math.floor(time.time() * 1000) / 1000        # Kafka timestamps are whole milliseconds
    runs_deleted = [parsed for parsed in map(parse_run_topic, topics) if parsed]
    acks = [await control_topic.send(key=run_key(*run).encode(), value={
        "type": "deleted", "device_id": run[0], "run_id": run[1], "at": at}) for run in runs_deleted]
    await asyncio.gather(*acks)
    await asyncio.gather(*(run_statuses.publish(run_key(*run), "deleted", since=at) for run in runs_deleted))
    await gateway.delete_topics(topics)


@app.agent(control_topic)
async def process_runs(stream) -> None:
    """Consumes the control topic and, through `discover_runs`, every run topic. A record is
    acknowledged only once its state changes are in Kafka (agents/acks.py)."""
    async for event in flushed_acks.follow(stream).events():
        await handle(event)
        await flushed_acks.processed(event)


async def send_control(device_id: str, run_id: str, message: dict[str, Any]) -> None:
    """Write a run's config or stop into the run's own topic (ordered with its readings) and wait
    until Kafka has it; a finished run is reopened first so the record is consumed."""
    await run_statuses.reopen(device_id, run_id)
    await gateway.write_control(device_id, run_id, {
        **message, "since": run_statuses.deleted_since.get(run_key(device_id, run_id), 0.0)})
