"""Workarounds for faust-streaming 0.15.3 bugs this project hits, each in one place.

Imported once by `sports_prophet.app`, before the app starts.
"""

from __future__ import annotations

from typing import Iterable

from faust.exceptions import ProducerSendError
from faust.transport.consumer import Consumer
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


async def _commit_tps_after_changelog_flush(self: Consumer, tps: Iterable[TP], start_new_transaction: bool) -> bool:
    """Consumer._commit_tps, but the table writes are flushed to Kafka before the offsets are committed.

    faust-streaming commits a record's offset without flushing the producer buffer that holds the
    table changelog writes its processing made (DESIGN.md, "Exactly once, without trusting Faust's
    transactions"): a worker killed between the commit and the flush loses those state updates,
    and their records are never read again (seen: 40 of 600 readings lost to one kill -9). The
    offsets are chosen first, then everything buffered so far (which includes the writes of every
    record up to those offsets) is flushed, then exactly those offsets are committed.
    """
    commit_offsets = self._filter_committable_offsets(tps)
    if not commit_offsets:
        return False
    await self.app.producer.flush()
    try:
        await self._handle_attached(commit_offsets)
    except ProducerSendError as exc:
        await self.crash(exc)
        return False
    return await self._commit_offsets(commit_offsets, start_new_transaction=start_new_transaction)


Consumer._commit_tps = _commit_tps_after_changelog_flush
