"""The archive sink: every reading, closed window, alert and run summary, written to Cassandra.

It runs in every worker beside the run agent but consumes with a consumer group of its own
(`<app id>-sink`), for two reasons:
- A Cassandra outage must not stop live processing. Inside the Faust agent's stream, a sink
  blocked on Cassandra would fill its buffer and stall every agent of the worker.
- Offsets must never be committed past what Cassandra has. This consumer commits a poll's offsets
  only after every row of that poll is written (`ArchiveWriter.write` retries until it is), so a
  crash or an outage at worst rewrites rows, and rewrites are idempotent (cql/archive.py).

It reads the same run topics as the run agent (the live subscription, `agents.discovery.subscription`)
and the agent's outputs topic. Once a finished run's last records are written, `archive_finished`
marks the run archived and it leaves both subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from agents.keeping_up import KeepingUp
from agents.discovery import subscription
from agents.statuses import run_statuses
from agents.topics import declare_unconsumed_topics, outputs_topic
from cql.archive import ArchiveWriter, Write, output_writes, reading_writes
from cql.forecasts import FORECAST_OUTPUTS, forecast_writes
from cql.matches import MATCH_OUTPUTS, match_output_writes
from models.run import parse_run_topic
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import CONSUMER_METADATA_MAX_AGE_MS

log = logging.getLogger(__name__)

SINK_GROUP = f"{settings.app_id}-sink"
OBSERVE_EVERY_S = 1.0          # how often the poll loop notes its progress in `keeping_up`
BEHIND_AFTER_S = 10.0          # records in Kafka this long and still unwritten make /health say the sink is behind
COMMITTED_TIMEOUT_S = 2.0      # how long the lag count waits for a partition's committed offset
# A poll of 200 records of 200 readings is 40,000 rows: building them in one go held the event loop
# for ~250 ms, starving the run agent (one record per loop turn) and the queries.
YIELD_EVERY_ROWS = 1000


def record_writes(topic: str, offset: int, value: dict[str, Any]) -> list[Write]:
    """The rows one record becomes: a run topic's readings (its config and stop records write
    nothing), or a row of the run agent's outputs (the match agent's among them)."""
    if parse_run_topic(topic) is not None:
        return reading_writes(value, offset) if value.get("type", "readings") == "readings" else []
    if value["type"] in FORECAST_OUTPUTS:
        return forecast_writes(value)
    return match_output_writes(value) if value["type"] in MATCH_OUTPUTS else output_writes(value)


class ArchiveSink:
    def __init__(self) -> None:
        self.writer = ArchiveWriter(concurrency=settings.sink_concurrency)
        self.consumer: AIOKafkaConsumer | None = None
        self.topics: set[str] = set()
        self.committed: dict[TopicPartition, int] = {}
        self.keeping_up = KeepingUp(time.time(), BEHIND_AFTER_S)
        self.observed_at = 0.0

    def wanted_topics(self) -> set[str]:
        return subscription.subscribed | {outputs_topic.get_topic_name()}

    async def run(self) -> None:
        await declare_unconsumed_topics()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=SINK_GROUP, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS)
        await self.consumer.start()
        try:
            while True:
                await self.poll_once()
        finally:
            await self.consumer.stop()

    async def poll_once(self) -> None:
        assert self.consumer is not None
        wanted = self.wanted_topics()
        if wanted != self.topics:
            self.consumer.subscribe(sorted(wanted))
            self.topics = wanted
            self.committed = {}
        polled = await self.consumer.getmany(timeout_ms=500, max_records=settings.sink_batch_records)
        now = time.time()
        if now - self.observed_at >= OBSERVE_EVERY_S:   # O(partitions): once a second, not per poll
            self.observed_at = now                       # and no round trip: partitions it has committed to
            self.keeping_up.observe(self.committed, {tp: end for tp, end in self.end_offsets().items()
                                                     if tp in self.committed}, now)
        if not polled:
            return
        writes: list[Write] = []
        since_yield = 0
        for tp, messages in polled.items():
            for message in messages:
                rows = record_writes(tp.topic, message.offset, orjson.loads(message.value))
                writes += rows
                since_yield += len(rows)
                if since_yield >= YIELD_EVERY_ROWS:       # the run agent and queries share this loop
                    since_yield = 0
                    await asyncio.sleep(0)
        await self.writer.write(writes)
        offsets = {tp: messages[-1].offset + 1 for tp, messages in polled.items()}
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
            self.committed.update(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced while we wrote: the partitions' new owner rewrites these rows
            # from the last commit (idempotently).
            log.info("sink commit skipped after a rebalance (%s); the new owner rewrites these rows", exc)

    def end_offsets(self) -> dict[TopicPartition, int]:
        """This worker's sink partitions and their end offsets, as of the consumer's last fetch."""
        if self.consumer is None:
            return {}
        ends: dict[TopicPartition, int] = {}
        for tp in list(self.consumer.assignment()):
            try:
                ends[tp] = self.consumer.highwater(tp) or 0
            except (AssertionError, KafkaError):     # revoked by a rebalance meanwhile: not ours to count
                continue
        return ends

    async def unwritten(self) -> int:
        """Records in this worker's sink partitions not yet written to Cassandra."""
        if self.consumer is None:
            return 0
        ends = self.end_offsets()
        for tp in [tp for tp in ends if tp not in self.committed]:
            try:
                self.committed[tp] = await asyncio.wait_for(self.consumer.committed(tp), COMMITTED_TIMEOUT_S) or 0
            except (AssertionError, KafkaError):     # revoked by a rebalance meanwhile: not ours to count
                del ends[tp]
            except asyncio.TimeoutError:
                # Kafka is away and aiokafka asks for ever: /health and /metrics answer without these.
                ends = {tp: end for tp, end in ends.items() if tp in self.committed}
                break
        # poll_once empties `committed` at a resubscription, which can happen during the awaits above:
        # a partition it no longer has is not counted (GET /health answered 500 with a KeyError).
        committed = self.committed
        self.keeping_up.observe(committed, ends, time.time())
        return sum(max(0, end - committed[tp]) for tp, end in ends.items() if tp in committed)

    async def health(self) -> dict[str, Any]:
        lag = await self.unwritten()
        behind = self.writer.health.failing_since is not None or self.keeping_up.behind(time.time())
        return {"behind": behind, "unwritten_records": lag, **self.writer.health.as_json()}


sink = ArchiveSink()


@app.task
async def archive_to_cassandra() -> None:
    await run_statuses.caught_up.wait()       # the subscription is known only after the statuses are
    while True:
        try:
            await sink.run()
        except KafkaError as exc:
            log.warning("archive sink lost Kafka (%s); restarting it", exc)
            await asyncio.sleep(1)


@app.timer(interval=1.0)
async def archive_finished() -> None:
    """Mark finished runs archived once the sink has committed past their last records: the last
    readings record in the run topic and the final summary in the outputs topic. Archived runs
    leave the live subscription (and the sink's)."""
    pending = run_statuses.pending_archive()
    if not pending:
        return
    assert gateway.admin is not None
    committed = {tp: meta.offset for tp, meta in
                 (await gateway.admin.list_consumer_group_offsets(SINK_GROUP)).items()}
    outputs = outputs_topic.get_topic_name()
    for key, status in pending.items():
        finish = status["finish"]
        readings_done = finish["last_offset"] is None or \
            committed.get(TopicPartition(finish["run_topic"], finish["partition"]), -1) > finish["last_offset"]
        outputs_done = committed.get(TopicPartition(outputs, finish["outputs_partition"]), -1) > finish["outputs_offset"]
        if readings_done and outputs_done:
            await run_statuses.publish(key, "archived", finish, finished_at=status["at"])
