"""Records acknowledged once the state changes they made are in Kafka, many at a time.

faust-streaming commits a record's offset without flushing the table changelog writes its
processing made (DESIGN.md, "Exactly once, without trusting Faust's transactions"): a worker killed
in between lost those state updates for good (seen: 40 of 600 readings after one kill -9). So the
run agent reads its stream without Faust's automatic acks, and a record is acknowledged (its offset
made committable) only after a producer flush that followed its processing.

Flushing after every record made the agent wait one Kafka round trip per record: on a loaded
machine (round trips of 50-150 ms) the agent applied 7 records a second while the gateway accepted
hundreds. Here the agent goes on to the next record at once; one flush covers every record
processed meanwhile, flushed by a background loop every FLUSH_EVERY_S, or by the agent itself when
MAX_UNFLUSHED records wait. Live queries read the in-memory state, so nothing waits for the flush
but the commit. Flushing inside Faust's commit instead stalled rebalances, which commit too.
"""

from __future__ import annotations

import asyncio
import logging

from faust.types import EventT, StreamT

from sports_prophet.app import app

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.02
MAX_UNFLUSHED = 500


class FlushedAcks:
    def __init__(self) -> None:
        self.stream: StreamT | None = None
        self.pending: list[EventT] = []

    def follow(self, stream: StreamT) -> StreamT:
        """The stream to iterate: `stream` without automatic acks, acknowledged here instead."""
        self.stream = stream.noack()
        self.pending = []
        return self.stream

    async def processed(self, event: EventT) -> None:
        """Note a processed record; past MAX_UNFLUSHED waiting, flush them before going on."""
        self.pending.append(event)
        if len(self.pending) >= MAX_UNFLUSHED:
            await self.flush()

    async def flush(self) -> None:
        """Flush the producer, then acknowledge every record processed before the flush began."""
        if not self.pending or self.stream is None:
            return
        stream, done, self.pending = self.stream, self.pending, []
        try:
            await app.producer.flush()
        except BaseException:
            if stream is self.stream:
                self.pending = done + self.pending      # still unacknowledged: the next flush takes them
            raise
        for event in done:
            await stream.ack(event)


flushed_acks = FlushedAcks()

MAX_BUFFERED = 100


async def changelog_ebbed() -> None:
    """Wait while Faust's producer buffer holds more than MAX_BUFFERED table writes. Each holds the
    state it wrote until it is sent, and Faust sends one per loop turn; its own wait (its conductor's,
    before each record it delivers) sends 100 and goes on, and records read back from Kafka
    (`runs.fill_gap`) had none. A worker behind a 10x match held thousands: 1.7 GB
    (docs/performance.md). Nothing sent for 0.1 s (Kafka away) ends the wait: nothing is
    acknowledged before a flush anyway."""
    buffer = app.producer.buffer
    while buffer.size > MAX_BUFFERED:
        if not await buffer.flush_atmost(buffer.size - MAX_BUFFERED):
            return


@app.task
async def flush_processed() -> None:
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        try:
            await flushed_acks.flush()
        except Exception as exc:           # Kafka away: nothing is acknowledged until a flush succeeds
            log.warning("flushing the run agent's state changes failed (%s); retrying", exc)
            await asyncio.sleep(1)
