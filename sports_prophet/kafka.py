"""The gateway's side of Kafka: run topics, acknowledged writes, and reading a topic back.

The gateway owns its own aiokafka producer (acks=all, idempotent) rather than
Faust's, because an ingest request is acknowledged only once Kafka has the data,
and one request is written as one record so it lands all or nothing.
"""

from __future__ import annotations

import asyncio
import json
import time

import orjson
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from models.run import ReadingBatch, StampedReading, parse_run_topic, run_key, run_topic
from sports_prophet.config import settings

MAX_RECORD_BYTES = 4 * 1024 * 1024   # matches the broker's message.max.bytes set by scripts/stack
# How often consumers of run topics refresh their metadata (Kafka clients default to 5 minutes). A
# topic deleted and re-created under the same name between two discovery ticks never leaves the
# subscription, so nothing else makes a consumer notice it is back: until then no member is
# assigned its partitions ("Ignoring missing topic" in the log).
CONSUMER_METADATA_MAX_AGE_MS = 3000
READ_BACK_TIMEOUT_S = 30.0
# A write Kafka has not acknowledged by then fails (503 to the client, who retries) instead of
# holding the request for aiokafka's default 40 s while the broker is away.
WRITE_TIMEOUT_S = 10.0
END_OFFSETS_TIMEOUT_S = 5.0


class KafkaUnavailable(RuntimeError):
    """Kafka could not be reached; the message says how to start it."""


def unavailable(exc: BaseException) -> KafkaUnavailable:
    return KafkaUnavailable(
        f"Kafka not reachable at {settings.kafka_bootstrap} — run `scripts/stack up` "
        f"(or set SP_KAFKA_BOOTSTRAP) [{type(exc).__name__}: {exc}]")


class UnknownTopic(LookupError):
    """The topic does not exist (or was just deleted)."""


class TopicPartitionMismatch(RuntimeError):
    """A run topic exists with another partition count than the app's (DESIGN.md: enforce it)."""


def key_partition(key: str, partitions: int) -> int:
    """The partition a record keyed `key` goes to: the default partitioner of Kafka's clients
    (murmur2), which the gateway's producer uses for every record of a run."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class KafkaGateway:
    """Producer, admin client and an offsets reader for one worker process."""

    def __init__(self) -> None:
        self.producer: AIOKafkaProducer | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.offsets: AIOKafkaConsumer | None = None     # group-less: only asks for end offsets
        self._known_topics: set[str] = set()
        self._topic_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()

    async def started(self) -> "KafkaGateway":
        """Start the clients on first use: ingest must not wait for the consumer group to form."""
        if self.admin is None:
            async with self._start_lock:
                if self.admin is None:
                    await self.start()
        return self

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
            linger_ms=1, max_request_size=MAX_RECORD_BYTES, value_serializer=_dumps,
            request_timeout_ms=int(WRITE_TIMEOUT_S * 1000),
            key_serializer=str.encode)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        offsets = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                   group_id=None, metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS)
        try:
            await producer.start()
            await admin.start()
            await offsets.start()
        except KafkaConnectionError as exc:
            await producer.stop()
            await offsets.stop()
            raise unavailable(exc) from exc
        self.producer, self.admin, self.offsets = producer, admin, offsets

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        if self.admin is not None:
            await self.admin.close()
        if self.offsets is not None:
            await self.offsets.stop()

    # ------------------------------------------------------------ topics

    async def ensure_run_topic(self, device_id: str, run_id: str) -> str:
        """Create the run's topic with the app's partition count on first use (never broker auto-create)."""
        topic = run_topic(device_id, run_id)
        if topic in self._known_topics:
            return topic
        await self.started()
        async with self._topic_lock:
            if topic in self._known_topics:
                return topic
            assert self.admin is not None
            try:
                await self.admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])
            except TopicAlreadyExistsError:
                pass
            partitions = await self._partition_count(topic)
            if partitions != settings.topic_partitions:
                raise TopicPartitionMismatch(
                    f"topic {topic} has {partitions} partitions but SP_TOPIC_PARTITIONS is "
                    f"{settings.topic_partitions}: delete the topic (DELETE /delete-topic/{device_id}/{run_id}) "
                    f"or run with the matching SP_TOPIC_PARTITIONS")
            self._known_topics.add(topic)
            return topic

    def forget_topic(self, topic: str) -> None:
        """Another worker deleted the topic: create it again before the next write to it."""
        self._known_topics.discard(topic)

    async def _partition_count(self, topic: str) -> int:
        for _ in range(50):   # metadata of a just-created topic takes a moment to propagate
            counts = await self.partition_counts([topic])
            if topic in counts:
                return counts[topic]
            await asyncio.sleep(0.1)
        raise KafkaUnavailable(f"topic {topic} was created but never appeared in the metadata")

    async def run_topics(self) -> list[str]:
        """Every run topic in the cluster, sorted (never Faust's internal or changelog topics)."""
        await self.started()
        assert self.admin is not None
        return sorted(t for t in await self.admin.list_topics() if parse_run_topic(t))

    async def partition_counts(self, topics: list[str]) -> dict[str, int]:
        """Partition counts of existing topics in one admin request; missing topics are left out.

        (The producer's partitions_for() can block for a minute on a topic its metadata lacks.)
        """
        await self.started()
        assert self.admin is not None
        described = await self.admin.describe_topics(topics)
        return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0 and d["partitions"]}

    async def delete_topics(self, topics: list[str]) -> None:
        """Delete run topics. Only names that parse as run topics are ever passed here."""
        await self.started()
        assert self.admin is not None
        if not all(parse_run_topic(t) for t in topics):
            raise ValueError("only readings.* run topics may be deleted")
        self._known_topics.difference_update(topics)
        if not topics:
            return
        await self.admin.delete_topics(topics)
        for _ in range(100):   # deletion is asynchronous in Kafka: return once the topics are gone
            if not set(topics) & set(await self.admin.list_topics()):
                return
            await asyncio.sleep(0.1)
        raise KafkaUnavailable(f"Kafka accepted the deletion of {len(topics)} topics but still lists them")

    # ------------------------------------------------------------ writing

    async def write_batch(self, device_id: str, run_id: str, readings: list[StampedReading],
                          time_field: str | None, since: float = 0.0) -> None:
        """Write one batch as one record and return once Kafka has acknowledged it. `since`: when
        the run's topic was last deleted, as far as this worker knows (see ReadingBatch)."""
        topic = await self.ensure_run_topic(device_id, run_id)
        batch: ReadingBatch = {"device_id": device_id, "run_id": run_id, "received_at": time.time(),
                               "time_field": time_field, "readings": readings, "since": since}
        assert self.producer is not None
        await self.producer.send_and_wait(topic, batch, key=run_key(device_id, run_id))

    async def write_control(self, device_id: str, run_id: str, message: dict[str, Any]) -> None:
        """Write a run's config or stop into its own topic, so it is ordered with the run's readings
        (records of two topics have no order between them)."""
        topic = await self.ensure_run_topic(device_id, run_id)
        assert self.producer is not None
        await self.producer.send_and_wait(topic, {"device_id": device_id, "run_id": run_id, **message},
                                          key=run_key(device_id, run_id))

    # ------------------------------------------------------------ reading back

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record written to each partition will get, in one request per broker
        (from Kafka itself, unlike a consumer's highwater, which is only as fresh as its last fetch).
        Raises KafkaUnavailable when Kafka does not answer, or knows no such partition (a deleted topic)."""
        await self.started()
        assert self.offsets is not None
        if not partitions:
            return {}
        return await bounded_offsets(self.offsets.end_offsets(partitions), f"end offsets of {len(partitions)} partitions")

    async def read_records(self, topic: str, partition: int, start: int, end: int
                           ) -> AsyncIterator[ConsumerRecord]:
        """Records start..end-1 of one partition, in order (from the oldest Kafka still has, when
        retention removed some). Values are decoded JSON."""
        tp = TopicPartition(topic, partition)
        async with reader() as consumer:
            consumer.assign([tp])
            first = await bounded_offsets(consumer.beginning_offsets([tp]), f"the first offset of {topic}[{partition}]")
            position = max(start, first[tp])
            consumer.seek(tp, position)
            deadline = time.monotonic() + READ_BACK_TIMEOUT_S
            while position < end:
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(f"{topic}[{partition}]: records {position}..{end - 1} could not be "
                                           f"read within {READ_BACK_TIMEOUT_S:.0f}s")
                for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if message.offset >= end:
                        return
                    position = message.offset + 1
                    yield message

    async def latest_readings(self, topic: str, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` readings of a run topic, newest first.

        Reads at most `limit` records back from the end of each partition: every record holds
        at least one reading, so that is always enough.
        """
        count = (await self.partition_counts([topic])).get(topic)
        if not count:
            raise UnknownTopic(topic)
        partitions = [TopicPartition(topic, p) for p in range(count)]
        async with reader() as consumer:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            wanted = {tp: end for tp, end in ends.items() if end > starts[tp]}
            for tp in wanted:
                consumer.seek(tp, max(starts[tp], ends[tp] - limit))
            records: list[tuple[float, int, int, ReadingBatch]] = []
            deadline = time.monotonic() + 10
            while wanted and time.monotonic() < deadline:
                fetched = await consumer.getmany(*wanted, timeout_ms=1000)
                for tp, messages in fetched.items():
                    for message in messages:
                        records.append((message.value.get("received_at", 0.0), tp.partition, message.offset,
                                        message.value))
                        if message.offset + 1 >= wanted.get(tp, 0):
                            wanted.pop(tp, None)
        records = [r for r in records if "readings" in r[3]]        # leave out config/stop records
        records.sort(key=lambda r: (r[0], r[2]), reverse=True)
        newest_first = [reading["data"] for *_, batch in records for reading in reversed(batch["readings"])]
        return newest_first[:limit]


async def bounded_offsets(request: Awaitable[dict[TopicPartition, int]], what: str) -> dict[TopicPartition, int]:
    """An offsets request that gives up after END_OFFSETS_TIMEOUT_S: aiokafka retries a partition of
    a deleted topic (StaleMetadata) for its whole 40 s request timeout, and then raises
    KafkaTimeoutError; the agent reading a run back must neither wait that long nor crash."""
    try:
        return await asyncio.wait_for(request, END_OFFSETS_TIMEOUT_S)
    except (asyncio.TimeoutError, KafkaError) as exc:
        raise KafkaUnavailable(f"{what} not read within {END_OFFSETS_TIMEOUT_S:.0f}s "
                               f"(Kafka away, or the topic deleted) [{type(exc).__name__}: {exc}]") from exc


@asynccontextmanager
async def reader() -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer for reading back a few records or offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                group_id=None, value_deserializer=json.loads)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


def _dumps(value: Any) -> bytes:
    """orjson on the hot path; json for what orjson refuses (an integer past 64 bits in a float field)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
