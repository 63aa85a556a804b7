"""Remembering pushes already written, so a client's retry of the same message id is not written twice.

A push claims its id with a lightweight transaction before the Kafka write and marks
it done after Kafka acknowledged. A claim left `pending` by a worker that died
mid-write is taken over after `STALE_CLAIM_SECONDS`, so a crash never loses a push
(at worst it is written twice, which the run's sequence-keyed rows absorb).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum

from cql.session import execute
from sports_prophet.config import settings

STALE_CLAIM_SECONDS = 30


class Claim(Enum):
    CLAIMED = "claimed"        # write it, then call `finish`
    DONE = "done"              # already written: answer as before, write nothing
    IN_FLIGHT = "in_flight"    # another request is writing it right now


async def claim(device_id: str, message_id: str) -> Claim:
    now = datetime.now(timezone.utc)
    row = (await execute(
        "INSERT INTO {ks}.ingest_dedup (device_id, message_id, state, claimed_at) VALUES (?, ?, 'pending', ?) "
        "IF NOT EXISTS USING TTL ?", (device_id, message_id, now, settings.dedup_ttl_seconds))).one()
    if row.applied:
        return Claim.CLAIMED
    if row.state == "done":
        return Claim.DONE
    claimed_at = row.claimed_at.replace(tzinfo=timezone.utc)
    if now - claimed_at < timedelta(seconds=STALE_CLAIM_SECONDS):
        return Claim.IN_FLIGHT
    taken = (await execute(
        "UPDATE {ks}.ingest_dedup USING TTL ? SET claimed_at = ? WHERE device_id = ? AND message_id = ? "
        "IF state = 'pending' AND claimed_at = ?",
        (settings.dedup_ttl_seconds, now, device_id, message_id, row.claimed_at))).one()
    return Claim.CLAIMED if taken.applied else Claim.IN_FLIGHT


async def finish(device_id: str, message_id: str, readings: int) -> None:
    await execute(
        "UPDATE {ks}.ingest_dedup USING TTL ? SET state = 'done', readings = ? WHERE device_id = ? AND message_id = ?",
        (settings.dedup_ttl_seconds, readings, device_id, message_id))


async def release(device_id: str, message_id: str) -> None:
    """Forget a claim whose write failed, so the client's retry is written."""
    await execute("DELETE FROM {ks}.ingest_dedup WHERE device_id = ? AND message_id = ?", (device_id, message_id))
