"""Workarounds for faust-streaming 0.15.3 bugs this project hits, each in one place.

Imported once by `sports_prophet.app`, before the app starts.
"""

from __future__ import annotations

from typing import Any, Mapping

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
    await _seek_wait(self, consumer, assigned)


AIOKafkaConsumerThread._seek_wait = _seek_wait_of_revoked_partitions_is_skipped


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
