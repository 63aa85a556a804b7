"""The watchdog for records Faust skipped: it finds runs with records in Kafka they never applied
and asks the run agent to read them back."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import TopicPartition

from agents.discovery import queued_records, subscription
from agents.owned import owned
from agents.statuses import run_statuses
from agents.topics import control_topic
from models.run import parse_run_topic, run_key, split_run_key
from sports_prophet import metrics
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable, key_partition

log = logging.getLogger(__name__)


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
    # The same, while the agent's queue still holds records: Faust counts a record delivered once it
    # is queued, so under a backlog delivered records wait their turn there. Reading them back after
    # 2 s made a slow agent apply each record twice over (once read back, once skipped as a replay).
    QUEUED_STALL_S = 30.0
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
            state = owned.known(key)
            runs_here[TopicPartition(topic, partition)] = (key, state.get("source_next", 0) if state else 0)
        try:
            ends = await gateway.end_offsets(list(runs_here))
        except KafkaUnavailable as exc:          # a topic deleted meanwhile, or Kafka away: next second
            log.debug("%s", exc)
            return
        for tp in set(self.progress) - set(ends):
            del self.progress[tp]
        metrics.run_unapplied_records.clear()
        self.behind.clear()
        now = time.monotonic()
        queued = queued_records()
        for tp, end in ends.items():
            key, applied = runs_here[tp]
            metrics.run_unapplied_records.labels(tp.topic, str(tp.partition)).set(max(0, end - applied))
            if end <= applied:
                self.progress.pop(tp, None)
                continue
            self.behind.add(key)
            # Progress is the run applying records, or Faust delivering them (a backlog): a record
            # Faust skips while more follow shows up as a gap in `handle` instead.
            delivered = read_offsets.get(tp)
            mark = (applied, delivered)
            seen = self.progress.get(tp)
            if delivered is not None and delivered >= end - 1:
                stall = self.QUEUED_STALL_S if queued else self.DELIVERED_STALL_S
            else:
                stall = self.STALLED_AFTER_S
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
