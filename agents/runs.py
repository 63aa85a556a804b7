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
from typing import Any, NamedTuple

from aiokafka import TopicPartition
from faust.types import EventT

from agents import run_state
from agents.discovery import subscription
from agents.statuses import run_statuses
from agents.topics import alerts_topic, control_topic, outputs_topic
from models.run import parse_run_topic, run_key, run_topic, split_run_key
from sports_prophet import metrics
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable, key_partition

log = logging.getLogger(__name__)


# Table keys are raw bytes (key_type=bytes selects Faust's raw codec): routing a query hashes the
# serialized key, which must hash to the partition the gateway's raw record key went to.
runs = app.Table("runs", default=None, key_type=bytes, partitions=settings.topic_partitions)
run_windows = app.Table("run-windows", default=list, key_type=bytes, partitions=settings.topic_partitions)
run_alerts = app.Table("run-alerts", default=list, key_type=bytes, partitions=settings.topic_partitions)


class OwnedRuns:
    """The latest state of each run this worker has processed, in memory.

    Views and the silence timer read here instead of decoding every state from RocksDB (which
    blocked the event loop for milliseconds). Cleared at every rebalance, since ownership may move;
    after that, states are read from the table and cached again.
    """

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.stale = True            # after a rebalance: load the recovered runs once

    def get(self, key: str) -> dict[str, Any] | None:
        state = self.states.get(key)
        if state is None:
            state = runs.get(key.encode())
            if state is not None:
                self.states[key] = state
        return state

    def put(self, key: str, state: dict[str, Any]) -> None:
        runs[key.encode()] = state
        self.states[key] = state

    def forget_all(self) -> None:
        self.states.clear()
        self.stale = True

    def load_all(self) -> None:
        """Cache every run in this worker's table partitions (runs recovered from changelogs)."""
        for raw_key, state in list(runs.items()):
            if state:
                self.states.setdefault(raw_key.decode() if isinstance(raw_key, bytes) else raw_key, state)
        self.stale = False


owned = OwnedRuns()


@app.on_partitions_revoked.connect
async def forget_owned_runs(app_, revoked, **kwargs) -> None:
    owned.forget_all()
    control_gaps.forget_all()
    _summarized_at.clear()          # runs that moved to another worker would stay here for good


def is_live(state: dict[str, Any] | None) -> bool:
    """A run to show: seen, and its topic not deleted since."""
    return bool(state) and state["status"] != "deleted"


def get_run(key: str) -> dict[str, Any] | None:
    state = owned.get(key)
    return state if is_live(state) else None


class SkippedRecords:
    """Recovers records Faust skipped. faust-streaming can drop fetched records around a rebalance
    (transport/consumer.py marks a record read even when the rebalance's `suspend_flow` cut its
    delivery short, and the app clears its stream queues on revocation; faust issues 175, 523);
    seen here as records of a burst never reaching the agent, from one to dozens. Two signs give it
    away: a gap in a run topic's offsets (`fill_gap`), and records Kafka has that the run never
    applied while the run does not move (`watch`). Either way the missing records are read back
    from Kafka with a consumer of our own and applied in order. (Seeking Faust's consumer back
    instead raced with its fetcher thread: aiokafka's seek is not thread-safe, and a KeyError in
    `fetched_records` crashed the worker.)"""

    STALLED_AFTER_S = 10.0      # unapplied records and no progress this long: dropped records
    # Faust says it delivered every record (its read offset is at the end) yet the run has not applied
    # them, this long: dropped for sure. Seen after a topic was deleted and re-created under its name,
    # whose new offsets Faust takes for records it has already read (transport/consumer.py: "DROPPED
    # MESSAGE ROFF").
    DELIVERED_STALL_S = 2.0
    # A catch-up waits behind the records queued before it: the next one for the same run only once
    # the agent has handled it, or after this long (a control record can be dropped as well).
    CATCH_UP_PATIENCE_S = 60.0

    def __init__(self) -> None:
        self.progress: dict[TopicPartition, tuple[tuple[int, int | None], float]] = {}
        self.behind: set[str] = set()      # keys of runs Kafka has records for that they have not applied
        # run key → (when its catch-up was sent, where it landed in the control topic once known), until handled
        self.pending: dict[str, tuple[float, tuple[TopicPartition, int] | None]] = {}

    def caught_up(self, key: str) -> None:
        self.pending.pop(key, None)

    def is_behind(self, key: str) -> bool:
        """Kafka has records of this run it has not applied: not silent, only undelivered."""
        return key in self.behind

    async def watch(self) -> None:
        """Called each second: for every subscribed run this worker owns (its partition of the
        control topic, which its run topic and table rows share, is assigned here), compare what
        the run applied with the end of its topic partition in Kafka itself. Neither Faust's
        assignment of the run topic nor its highwater is trusted: both were seen missing or stale
        while records sat unconsumed (a highwater is only as fresh as the last fetch Faust made).
        A run with unapplied records where neither its applied offset nor Faust's delivery of the
        partition has moved for STALLED_AFTER_S is asked to read them back (a control record:
        tables are written only while the agent handles a record)."""
        try:
            assigned = app.consumer.assignment()
        except Exception:           # the consumer is between generations: next second
            return
        read_offsets = app.consumer._read_offset     # noqa: SLF001 — what Faust has delivered
        control = control_topic.get_topic_name()
        owned_partitions = {tp.partition for tp in assigned if tp.topic == control}
        runs_here: dict[TopicPartition, tuple[str, int]] = {}       # → (run key, offset applied)
        for topic in subscription.subscribed & subscription.listed:   # a deleted topic's offsets stall the request
            key = run_key(*parse_run_topic(topic))
            partition = key_partition(key, settings.topic_partitions)
            if partition not in owned_partitions:
                continue
            if run_statuses.status(key) == "deleted":
                continue        # its topic is being deleted; once written again, ingest marks it active
            state = owned.get(key)
            runs_here[TopicPartition(topic, partition)] = (key, state.get("source_next", 0) if state else 0)
        try:
            ends = await gateway.end_offsets(list(runs_here))
        except KafkaUnavailable as exc:          # a topic deleted meanwhile, or Kafka away: next second
            log.debug("%s", exc)
            return
        for tp in set(self.progress) - set(ends):
            del self.progress[tp]
        metrics.run_unapplied_records.clear()
        for tp, end in ends.items():
            metrics.run_unapplied_records.labels(tp.topic, str(tp.partition)).set(max(0, end - runs_here[tp][1]))
        self.behind.clear()
        now = time.monotonic()
        for tp, end in ends.items():
            key, applied = runs_here[tp]
            if end <= applied:
                self.progress.pop(tp, None)
                continue
            self.behind.add(key)
            # Progress is the run applying records, or Faust delivering them (a backlog): a record
            # Faust skips while more follow shows up as a gap in `handle` instead.
            delivered = read_offsets.get(tp)
            mark = (applied, delivered)
            seen = self.progress.get(tp)
            stall = self.DELIVERED_STALL_S if delivered is not None and delivered >= end - 1 else self.STALLED_AFTER_S
            if seen is None or seen[0] != mark:
                self.progress[tp] = (mark, now)
            elif now - seen[1] >= stall and self.may_catch_up(key, now, read_offsets):
                self.progress[tp] = (mark, now)
                log.warning("%s[%d]: records %d..%d were not delivered; reading them back",
                            tp.topic, tp.partition, applied, end - 1)
                device_id, run_id = split_run_key(key)
                self.pending[key] = (now, None)
                metrics.catch_ups_sent.inc()
                sent = await control_topic.send(key=key.encode(), value={
                    "type": "catch_up", "device_id": device_id, "run_id": run_id, "end": end})
                sent.add_done_callback(lambda acked, key=key, at=now: self.note_sent(key, at, acked))

    def note_sent(self, key: str, at: float, acked: asyncio.Future) -> None:
        """Where a catch-up landed, once Kafka has it (not awaited: the watch checks every run each second)."""
        if self.pending.get(key) == (at, None) and not acked.cancelled() and acked.exception() is None:
            meta = acked.result()
            self.pending[key] = (at, (TopicPartition(meta.topic, meta.partition), meta.offset))

    def may_catch_up(self, key: str, now: float, read_offsets: Any) -> bool:
        """One catch-up per run at a time: the next once the agent handled it, once Faust delivered
        past it without the agent seeing it (Faust drops control records at rebalances too), or
        after CATCH_UP_PATIENCE_S."""
        if key not in self.pending:
            return True
        sent_at, landed = self.pending[key]
        delivered = read_offsets.get(landed[0]) if landed else None
        dropped = delivered is not None and delivered > landed[1] and now - sent_at >= self.DELIVERED_STALL_S
        return dropped or now - sent_at >= self.CATCH_UP_PATIENCE_S

    def forget(self, topic: str) -> None:
        """A deleted topic: what was seen in it says nothing about a topic re-created under its name.
        Faust forgets its read offsets too: it would drop the new topic's records below them as
        already read (transport/consumer.py, "DROPPED MESSAGE ROFF")."""
        for tp in [tp for tp in self.progress if tp.topic == topic]:
            del self.progress[tp]
        read_offsets = app.consumer._read_offset     # noqa: SLF001
        for tp in [tp for tp in read_offsets if tp.topic == topic]:
            del read_offsets[tp]


skipped = SkippedRecords()


class RunChanges:
    """Wakes live views when a run this worker owns changes, so they push instead of polling."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait(self, key: str, timeout: float) -> None:
        event = self._events.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


run_changes = RunChanges()


SUMMARY_EVERY_S = 2.0
_summarized_at: dict[str, float] = {}


def summary_due(key: str) -> bool:
    """Archive a busy run's summary at least every SUMMARY_EVERY_S, even between window closes."""
    now = time.monotonic()
    if now - _summarized_at.get(key, 0.0) < SUMMARY_EVERY_S:
        return False
    _summarized_at[key] = now
    return True


class Record(NamedTuple):
    """One record as the agent applies it: from Faust's stream, or read back from Kafka (`fill_gap`)."""

    topic: str
    partition: int
    offset: int
    timestamp: float          # when the producer wrote it, epoch seconds
    key: str
    value: dict[str, Any]


def written_before_deletion(state: dict[str, Any] | None, record: Record) -> bool:
    """A record of the run's deleted topic, still in flight (see `delete_runs`): dropped."""
    return state is not None and record.timestamp < state["since"]


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
    rebalances (SkippedRecords), control records too: a catch-up lost that way left its run unread
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
    them back from Kafka: Faust skipped them (see SkippedRecords)."""
    state = owned.get(key)
    start = state.get("source_next", 0) if state else 0
    if end <= start:
        return
    topic = run_topic(*run)
    if topic not in subscription.listed:          # deleted (maybe by another app): nothing to read back
        log.info("%s[%d]: records %d..%d not read back: the topic is gone", topic, partition, start, end - 1)
        return
    log.info("%s[%d]: applying records %d..%d from Kafka", topic, partition, start, end - 1)
    try:
        async for missing in gateway.read_records(topic, partition, start, end):
            metrics.records_recovered.labels(how).inc()
            await apply(Record(topic, partition, missing.offset, missing.timestamp / 1000, key, missing.value))
    except KafkaUnavailable as exc:               # the run goes on; `apply` logs the gap that is left
        log.error("%s", exc)


async def apply(record: Record) -> None:
    """Apply one record (a batch of readings, or a control message) to its run."""
    key, value = record.key, record.value
    from_run_topic = parse_run_topic(record.topic) is not None
    if from_run_topic:
        await follow_deletion(key, value)
    state = owned.get(key)
    was_finished = state is not None and state["status"] == "finished"
    kind = value.get("type", "readings")
    if kind == "deleted":
        await forget_run(key, value)
        return
    if kind == "catch_up":                   # SkippedRecords.watch: records Faust never delivered
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
        state, closed, alerts = run_state.apply_readings(state, value["readings"], record.offset,
                                                         value["received_at"], settings.grace_seconds,
                                                         value.get("time_field"))
    elif kind == "config":
        state, closed = run_state.apply_config(state, value["config"])
    elif kind == "stop":
        state, closed = run_state.apply_stop(state)
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
        state = {**state, "source_next": record.offset + 1}
    owned.put(key, state)
    metrics.records_processed.labels(kind).inc()
    run_changes.notify(key)
    finishing = state["status"] == "finished" and not was_finished
    if finishing:
        _summarized_at.pop(key, None)
    if closed:
        rows = [run_state.window_row(w) for w in closed]
        run_windows[key.encode()] = (run_windows[key.encode()] + rows)[-settings.window_history:]
        for row in rows:
            await outputs_topic.send(key=key.encode(), value={"type": "window", "device_id": state["device_id"],
                                                              "run_id": state["run_id"], "row": row})
    if alerts:
        run_alerts[key.encode()] = (run_alerts[key.encode()] + alerts)[-settings.alert_history:]
        for alert in alerts:
            await alerts_topic.send(key=key.encode(), value=alert)
            await outputs_topic.send(key=key.encode(), value={"type": "alert", "alert": alert})
    if closed or alerts or kind != "readings" or finishing or summary_due(key):
        # The archived summary follows the windows; it is the run's last output once it finishes.
        sent = await outputs_topic.send(key=key.encode(), value={
            "type": "summary", "summary": run_state.summary(state), "produced_at": time.time()})
        if finishing:
            summary_at = await sent
            await run_statuses.publish(key, "finished", {
                "run_topic": run_topic(state["device_id"], state["run_id"]), "partition": record.partition,
                "last_offset": state["last_offset"], "outputs_partition": summary_at.partition,
                "outputs_offset": summary_at.offset}, since=state.get("since", 0.0))
    # faust-streaming commits a record's offset without flushing the table changelog writes its
    # processing made (DESIGN.md, "Exactly once, without trusting Faust's transactions"): a worker
    # killed in between lost those state updates for good (seen: 40 of 600 readings after one
    # kill -9). Flushing here, before the agent moves on (and so before the offset can be
    # committed), puts every state change in Kafka first. Flushing inside Faust's commit instead
    # stalled rebalances, which commit too.
    await app.producer.flush()


async def forget_run(key: str, deleted: dict[str, Any]) -> None:
    """The run's topic was deleted (`delete_runs`): drop its state, windows and alerts. A replayed
    deletion (after a crash or a rebalance) that the run has already followed changes nothing: the
    run may have been streamed again since."""
    state = owned.get(key)
    if state is not None and state.get("since", 0.0) >= deleted["at"]:
        return
    owned.put(key, run_state.deleted_run(deleted["device_id"], deleted["run_id"], deleted["at"]))
    run_windows[key.encode()] = []
    run_alerts[key.encode()] = []
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
    """Consumes the control topic and, through `discover_runs`, every run topic."""
    async for event in stream.events():
        await handle(event)


# ------------------------------------------------------------------ silence and stalls

@app.timer(interval=1.0)
async def watch_runs() -> None:
    """Runs that went quiet get their windows closed and a data-delay alert, through the control topic
    (tables are written only from the stream, in the partition of the record being processed); runs
    whose records Faust dropped are re-read. Checks the in-memory states; after a rebalance it first
    loads the runs recovered from changelogs."""
    now = time.time()
    if owned.stale and not app.rebalancing and not app.tables.recovery.in_recovery:
        owned.load_all()
    # Not gated on app.rebalancing: Faust sometimes leaves that flag set after a rebalance ends,
    # and a seek of a partition being revoked is skipped safely (sports_prophet/faust_fixes.py).
    if not app.tables.recovery.in_recovery:
        await skipped.watch()
    for key, state in list(owned.states.items()):
        if state["status"] != "active" or not state["last_received_at"] or skipped.is_behind(key):
            continue                 # (a run Kafka has records for is not silent: they are read back first)
        quiet = now - state["last_received_at"]
        if (quiet >= settings.silence_seconds and not state["silent"]) or quiet >= settings.finish_after_seconds:
            await control_topic.send(key=key.encode(), value={"type": "silence", "checked_at": now})


async def send_control(device_id: str, run_id: str, message: dict[str, Any]) -> None:
    """Write a run's config or stop into the run's own topic (ordered with its readings) and wait
    until Kafka has it; a finished run is reopened first so the record is consumed."""
    await run_statuses.reopen(device_id, run_id)
    await gateway.write_control(device_id, run_id, {
        **message, "since": run_statuses.deleted_since.get(run_key(device_id, run_id), 0.0)})
