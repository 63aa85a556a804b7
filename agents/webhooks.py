"""Alert delivery to webhooks: an agent on the alerts topic hands each alert to the deliverer once
per webhook that wants it; the deliverer POSTs it with retries, back-off and a dead-letter record.

Effectively once: at least once, with a key. Each delivery is recorded in Cassandra's outbox
(cql/webhooks.py) before the agent moves on, so before the alert's offset can be committed; its
outcome (delivered, or dead) is recorded before the outbox row is deleted. A worker that takes an
alerts partition over resumes that partition's outbox, skipping deliveries with an outcome, and a
replayed alert finds its outcome too. The one resend left is an attempt whose answer was not yet
recorded when its worker died (or lost the partition mid-attempt): it goes out again with the same
`Idempotency-Key`, by which the receiver drops it (docs/operations.md).

A receiver that is down does not hold up the alerts partition: each webhook has its own bounded
queue and SP_WEBHOOK_CONCURRENCY senders; the agent waits only when that webhook's queue is full.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

import aiohttp
import mode

from agents.topics import alerts_topic
from agents.webhook_policy import accepted, backoff_seconds, body, delivery_key, headers, retryable, wants
from cql.webhooks import Outcome, webhooks
from models.webhook import Webhook
from sports_prophet import metrics
from sports_prophet.app import app
from sports_prophet.config import settings

log = logging.getLogger(__name__)
T = TypeVar("T")
CASSANDRA_RETRY_MAX_S = 5.0


async def persist(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a Cassandra call until it succeeds: delivery state must be recorded, so an outage waits."""
    backoff = 0.1
    while True:
        try:
            return await call()
        except Exception as exc:                  # Cassandra down, overloaded, timing out: wait, retry
            log.warning("webhooks: could not %s (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, CASSANDRA_RETRY_MAX_S)


@dataclass(frozen=True)
class Delivery:
    """One alert for one webhook; `partition` is the alerts partition the alert came from."""

    partition: int
    webhook_id: str
    alert: dict[str, Any]


class Deliverer:
    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[Delivery]] = {}
        self.tasks: list[asyncio.Task] = []            # the senders and outbox resumptions: cancelled at stop
        self.pending: set[tuple[str, str]] = set()     # (webhook id, alert key): queued or being sent here
        self.partitions: set[int] = set()              # the alerts partitions this worker owns
        self._session: aiohttp.ClientSession | None = None

    async def take(self, partition: int, alert: dict[str, Any], produced_at: float) -> None:
        """Record and queue the alert's delivery to each webhook that wants it."""
        self.partitions.add(partition)
        for webhook in await persist(webhooks.all, "read the webhooks"):
            if wants(webhook, alert, produced_at):
                await persist(lambda: webhooks.queue(partition, webhook.webhook_id, alert), "record a delivery")
                await self.submit(Delivery(partition, webhook.webhook_id, alert))

    async def resume(self, partitions: set[int]) -> None:
        """The new assignment's alerts partitions: only their deliveries are sent from here on, and
        their outbox (deliveries another worker, or this one before a restart, left unfinished) is resumed."""
        self.partitions = partitions
        for partition in sorted(partitions):
            for webhook_id, alert in await persist(lambda: webhooks.queued(partition), "read the outbox"):
                await self.submit(Delivery(partition, webhook_id, alert))

    async def submit(self, delivery: Delivery) -> None:
        ident = (delivery.webhook_id, delivery_key(delivery.alert))
        if ident in self.pending:
            return
        self.pending.add(ident)
        await self._queue(delivery.webhook_id).put(delivery)

    def _queue(self, webhook_id: str) -> asyncio.Queue[Delivery]:
        queue = self.queues.get(webhook_id)
        if queue is None:
            queue = self.queues[webhook_id] = asyncio.Queue(settings.webhook_queue_size)
            for _ in range(settings.webhook_concurrency):
                self.spawn(self._send_from(queue))
        return queue

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run in the background until done or stopped (finished tasks are let go)."""
        self.tasks = [task for task in self.tasks if not task.done()] + [asyncio.ensure_future(work)]

    async def _send_from(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self.deliver(delivery)
            except Exception:            # a bug: the outbox keeps the delivery for the next assignment
                log.exception("webhook %s: delivery of %s failed", delivery.webhook_id, delivery_key(delivery.alert))
            finally:
                self.pending.discard((delivery.webhook_id, delivery_key(delivery.alert)))

    async def deliver(self, delivery: Delivery) -> None:
        """Send one delivery to the end, unless it has an outcome already or its webhook is gone."""
        webhook = next((w for w in await persist(webhooks.all, "read the webhooks")
                        if w.webhook_id == delivery.webhook_id), None)
        if webhook is None or await persist(lambda: webhooks.finished(delivery.webhook_id, delivery.alert),
                                            "read a delivery's outcome"):
            await persist(lambda: webhooks.finish(delivery.partition, delivery.webhook_id, delivery.alert, None),
                          "end a delivery")
            return
        outcome = await self.attempts(webhook, delivery)
        if outcome is None:
            return                      # the partition moved on: its new owner resumes the delivery
        await persist(lambda: webhooks.finish(delivery.partition, delivery.webhook_id, delivery.alert, outcome),
                      "record a delivery's outcome")
        metrics.webhook_deliveries.labels("delivered" if outcome.error is None else "dead").inc()
        if outcome.error is not None:
            log.warning("webhook %s: alert %s dead-lettered after %d attempts: %s", delivery.webhook_id,
                        delivery_key(delivery.alert), outcome.attempts, outcome.error)

    async def attempts(self, webhook: Webhook, delivery: Delivery) -> Outcome | None:
        """Attempt until a 2xx, a refusal that retrying cannot change, or the last attempt; None when
        the alert's partition is no longer this worker's."""
        payload = body(webhook.webhook_id, delivery.alert)
        for attempt in range(1, settings.webhook_max_attempts + 1):
            if delivery.partition not in self.partitions:
                return None
            status, error = await self.attempt(webhook, delivery.alert, payload, attempt)
            metrics.webhook_attempts.labels("accepted" if error is None else "failed").inc()
            if error is None or not retryable(status) or attempt == settings.webhook_max_attempts:
                return Outcome(attempt, status, error)
            await asyncio.sleep(backoff_seconds(attempt, settings.webhook_base_delay_seconds,
                                                settings.webhook_max_delay_seconds, random.random()))
        raise AssertionError("unreachable: the last attempt returns")

    async def attempt(self, webhook: Webhook, alert: dict[str, Any], payload: bytes,
                      attempt: int) -> tuple[int | None, str | None]:
        """One POST: its status (None: no answer) and why it failed (None: accepted)."""
        try:
            async with self.session().post(webhook.url, data=payload, headers=headers(webhook, alert, payload, attempt),
                                           allow_redirects=False) as response:
                return response.status, None if accepted(response.status) else f"answered HTTP {response.status}"
        except asyncio.TimeoutError:
            return None, f"no answer within {settings.webhook_timeout_seconds}s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def session(self) -> aiohttp.ClientSession:
        """One client session (and its connection pool) for every delivery of this worker."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=settings.webhook_timeout_seconds))
        return self._session

    async def stop(self) -> None:
        """Unfinished deliveries stay in the outbox, for whoever owns their partition next."""
        for task in self.tasks:
            task.cancel()
        if self._session is not None:
            await self._session.close()


deliverer = Deliverer()


@app.agent(alerts_topic)
async def deliver_alerts(stream) -> None:
    """Every alert the run agent raises, to the webhooks that want it (see the module's docstring)."""
    async for event in stream.events():
        await deliverer.take(event.message.partition, event.value, event.message.timestamp)


@app.on_partitions_assigned.connect
async def resume_deliveries(app_, assigned, **kwargs) -> None:
    """Resume the new assignment's outbox in the background: the rebalance does not wait on Cassandra."""
    alerts = alerts_topic.get_topic_name()
    deliverer.spawn(deliverer.resume({tp.partition for tp in assigned if tp.topic == alerts}))


@app.service
class DelivererService(mode.Service):
    """Stops the deliverer's senders and closes its client session with the worker."""

    async def on_stop(self) -> None:
        await deliverer.stop()
