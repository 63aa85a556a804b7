"""Workarounds for faust-streaming 0.15.3 bugs this project hits, each in one place.

Imported once by `sports_prophet.app`, before the app starts.
"""

from __future__ import annotations

from typing import Any, Mapping

from aiokafka import TopicPartition
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import IllegalStateError, UnknownTopicOrPartitionError
from faust.tables.base import Collection
from faust.transport.conductor import Conductor
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

_highwater = AIOKafkaConsumerThread.highwater


def _highwater_of_revoked_partition_is_unknown(self: AIOKafkaConsumerThread, tp: TP) -> int:
    """Faust's Consumer.getmany still yields records buffered for a partition that a subscription
    change has just revoked (`tp in self._buffered_partitions`, transport/consumer.py), and asks
    for its highwater, which aiokafka asserts is assigned: the AssertionError crashes the Fetcher
    and with it the worker. The highwater only feeds Faust's monitor, so report 0 instead. (A
    record applied twice across the rebalance is skipped by the run's last applied offset.)"""
    if not self._ensure_consumer()._subscription.is_assigned(tp):
        return 0
    return _highwater(self, tp)


AIOKafkaConsumerThread.highwater = _highwater_of_revoked_partition_is_unknown



_seek = AIOKafkaConsumerThread.seek


def _seek_of_revoked_partition_is_skipped(self: AIOKafkaConsumerThread, partition: TP, offset: int) -> None:
    """Faust's table Recovery seeks changelog partitions (`Recovery._seek_offsets`) while a new
    rebalance may already have reset the assignment; aiokafka then asserts ("assignment is None")
    and the Recovery service, and with it the worker, crashes (seen when new run topics arrived just
    after start-up). A partition no longer assigned needs no seek: the rebalance that took it
    starts a new recovery, which seeks again."""
    if not self._ensure_consumer()._subscription.is_assigned(partition):
        return
    _seek(self, partition, offset)


AIOKafkaConsumerThread.seek = _seek_of_revoked_partition_is_skipped

_seek_wait = AIOKafkaConsumerThread._seek_wait


async def _seek_wait_of_revoked_partitions_is_skipped(self: AIOKafkaConsumerThread, consumer: Any,
                                                      partitions: Mapping[TP, int]) -> None:
    """The same race through Recovery's other seek path (`Recovery._seek_offsets` → `seek_wait`),
    which calls aiokafka directly: seen crashing a worker that a second one joined mid-recovery."""
    assigned = {tp: offset for tp, offset in partitions.items() if consumer._subscription.is_assigned(tp)}
    try:
        await _seek_wait(self, consumer, assigned)
    except IllegalStateError:        # aiokafka's position(): a partition was taken while it waited
        if all(consumer._subscription.is_assigned(tp) for tp in assigned):
            raise


AIOKafkaConsumerThread._seek_wait = _seek_wait_of_revoked_partitions_is_skipped


async def _seek_to_committed_of_assigned_partitions(self: AIOKafkaConsumerThread) -> Mapping[TP, int]:
    return await self.call_thread(_seek_assigned_partitions_to_committed, self._ensure_consumer())


async def _seek_assigned_partitions_to_committed(consumer: Any) -> dict[TP, int | None]:
    """aiokafka's `seek_to_committed`, minus its crash when a rebalance moves the assignment mid-way.

    Recovery calls it (`Consumer.perform_seek`) after each rebalance. aiokafka asks the coordinator
    for each partition's committed offset in turn, and between two answers the next rebalance can
    reset the assignment (a run topic deleted, a new run topic subscribed): its `seek_to` then
    asserts "assignment is not None", Recovery crashes and the worker stops (reproduced by
    tests/integration/test_topic_churn.py: delete and re-stream runs while others stream). With no
    partition assigned at all it asserts as well. A partition no longer assigned needs no seek: the
    rebalance that took it starts a new recovery, which seeks again."""
    subscription = consumer._subscription
    committed: dict[TP, int | None] = {}
    for tp in subscription.assigned_partitions():
        offset = await consumer.committed(tp)
        if not subscription.is_assigned(tp):
            continue
        committed[tp] = offset
        if offset and offset > 0:
            consumer._fetcher.seek_to(tp, offset)
    return committed


AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_of_assigned_partitions


async def _seek_to_beginning_of_assigned_partitions(self: AIOKafkaConsumerThread, *partitions: TP) -> None:
    await self.call_thread(_seek_assigned_partitions_to_beginning, self._ensure_consumer(), partitions)


async def _seek_assigned_partitions_to_beginning(consumer: Any, partitions: tuple[TP, ...]) -> None:
    """The same race through aiokafka's `seek_to_beginning`, which raises for a partition no longer
    assigned (and asserts when none is): seek only those still assigned, checked in the consumer's
    own thread, where no rebalance step runs between the check and the seek."""
    subscription = consumer._subscription
    assigned = [tp for tp in partitions or subscription.assigned_partitions() if subscription.is_assigned(tp)]
    if assigned:
        await consumer.seek_to_beginning(*assigned)


AIOKafkaConsumerThread.seek_to_beginning = _seek_to_beginning_of_assigned_partitions


_commit = AIOKafkaConsumerThread._commit


async def _commit_skipped_between_assignments(self: AIOKafkaConsumerThread, offsets: Mapping[TP, int]) -> bool:
    """A commit that lands between two generations of a rebalance (no subscription or no
    assignment yet) makes aiokafka raise IllegalStateError, and Faust answers that by crashing
    the consumer thread and the worker (seen: "No partitions assigned" in a two-worker test).
    There is nothing to commit then: the offsets are committed by whoever owns the partitions
    next, and every effect of re-reading a record is idempotent."""
    subscription = self._ensure_consumer()._subscription.subscription
    if subscription is None or subscription.assignment is None:
        return False
    return await _commit(self, offsets)


AIOKafkaConsumerThread._commit = _commit_skipped_between_assignments


def _message_handler_that_drops_records_of_unsubscribed_partitions(self: Conductor) -> Any:
    """Faust's handler looks up the callback of a fetched record's partition with `[]`; a record
    fetched just before a subscription change took its topic away (an archived run leaving the
    subscription) then raised KeyError in the Fetcher and stopped the worker (seen in CI). Such a
    record has no stream to go to: drop it. Nothing is lost: whoever consumes the topic again reads
    it from the committed offset, and the run agent's gap recovery (agents/runs.py) reads back any
    record its run has not applied."""
    callbacks = self._tp_to_callback          # mutated in place by Faust, never replaced
    lock = self._tp_to_callback_lock

    async def on_message(message: Any) -> Any:
        async with lock:
            callback = callbacks.get(message.tp)
        return None if callback is None else await callback(message)

    return on_message


Conductor._compile_message_handler = _message_handler_that_drops_records_of_unsubscribed_partitions


_do_commit_offsets = GroupCoordinator._do_commit_offsets


async def _commit_without_deleted_topics(self: GroupCoordinator, assignment: Any,
                                         offsets: Mapping[TopicPartition, Any]) -> None:
    """A commit that names a partition of a topic deleted meanwhile (DELETE /delete-topic, while the
    partition is still assigned) fails with UnknownTopicOrPartitionError, which aiokafka retries
    every 100 ms for as long as the group lasts: Faust's consumer thread stayed stuck in that loop
    for over a minute, missed the next rebalance and lost the group membership (seen in CI). Once
    fresh metadata confirms the topic is gone, commit the other partitions without it; there is
    nothing left to resume in a deleted topic."""
    try:
        await _do_commit_offsets(self, assignment, offsets)
    except UnknownTopicOrPartitionError:
        await self._client.force_metadata_update()
        existing = self._cluster.topics()
        kept = {tp: offset for tp, offset in offsets.items() if tp.topic in existing}
        if len(kept) == len(offsets):
            raise                       # not a deleted topic: aiokafka retries as it would
        await _do_commit_offsets(self, assignment, kept)


GroupCoordinator._do_commit_offsets = _commit_without_deleted_topics


_verify_source_topic_partitions = Collection._verify_source_topic_partitions


def _deleted_source_topic_is_no_mismatch(self: Collection, source_topic: str) -> None:
    """A table written while processing a record of a run topic checks, once per topic, that the
    topic has as many partitions as the table's changelog. A record of a run topic deleted a moment
    ago (DELETE /delete-topic, then the run streamed again) finds 0 partitions, and Faust raised
    PartitionsMismatch, which crashed the agent (seen in test_topic_churn under load). A deleted
    topic is no mismatch: skip it, uncached, so the re-created topic is checked when it exists."""
    if self.app.consumer.topic_partitions(source_topic) == 0:
        return
    _verify_source_topic_partitions(self, source_topic)


Collection._verify_source_topic_partitions = _deleted_source_topic_is_no_mismatch
