"""Run statuses (active → finished → archived, or deleted), as every worker must see them to
subscribe to the same run topics: a compacted status topic each worker reads whole."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from agents.run_state import supersedes
from agents.topics import declare_unconsumed_topics, status_topic
from models.run import parse_run_topic, run_key, run_topic, split_run_key
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import WRITE_TIMEOUT_S, KafkaUnavailable


class RunStatuses:
    """Every worker's view of each run's status, read whole from the compacted status topic.

    active → finished (stop-stream or long silence; the record says where the run's last records
    are) → archived (the sink has written those records to Cassandra: agents/sink.py). An archived
    run's topic leaves the live subscription, so the subscription (and the cost of each rebalance)
    stays bounded however many runs the system has seen. Writing to a finished or archived run
    reopens it first (see `reopen`), so its new readings are consumed again. Any status → deleted
    (`delete_runs`): its topic is gone, and writing to the run again reopens it as a new run.

    Workers publish statuses concurrently, each from its own view, so a record can be stale when it
    lands: an 'archived' for a run deleted and streamed again meanwhile took the new run out of
    every subscription, and its readings were never consumed (tests/integration/test_topic_churn.py).
    `supersedes` drops such records the same way on every worker, since all read one log in order.
    """

    def __init__(self) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.deleted_since: dict[str, float] = {}     # run key → when its topic was last deleted
        self.caught_up = asyncio.Event()

    def take(self, key: str, record: dict[str, Any]) -> None:
        """Apply a status record read from the topic (or just published), unless it is stale."""
        if not supersedes(self.statuses.get(key), record, self.deleted_since.get(key, 0.0)):
            return
        self.statuses[key] = record
        if record["status"] == "deleted":
            self.deleted_since[key] = max(self.deleted_since.get(key, 0.0), record.get("since", 0.0))

    async def follow(self) -> None:
        await declare_unconsumed_topics()
        consumer = AIOKafkaConsumer(status_topic.get_topic_name(), bootstrap_servers=settings.kafka_bootstrap,
                                    group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for message in messages:
                        key, record = message.key.decode(), json.loads(message.value)
                        self.take(key, record)
                        if record["status"] == "deleted":      # other workers deleted its topic
                            gateway.forget_topic(run_topic(*split_run_key(key)))
                if not batches:
                    self.caught_up.set()
        finally:
            await consumer.stop()

    async def publish(self, key: str, status: str, finish: dict[str, Any] | None = None, **about: float) -> None:
        """`about`: `since` (deleted: when the deletion began; finished: the deletion the finished run
        followed), `finished_at` (archived: the `at` of the finished record it archives)."""
        record = {"status": status, "at": time.time(), "finish": finish, **about}
        acked = await status_topic.send(key=key.encode(), value=record)
        await acked
        self.take(key, record)

    async def reopen(self, device_id: str, run_id: str) -> None:
        """Before writing to a finished run: mark it active, so every worker subscribes to it again.
        (Should a sink archive it in the instant between, the next write reopens it again.)"""
        key = run_key(device_id, run_id)
        if self.status(key) != "active":
            # Faust's producer waits for ever while Kafka is away: the request gets a 503 instead of hanging.
            try:
                await asyncio.wait_for(self.publish(key, "active"), WRITE_TIMEOUT_S)
            except asyncio.TimeoutError as exc:
                raise KafkaUnavailable(f"the run's status was not written within {WRITE_TIMEOUT_S:.0f}s") from exc

    def status(self, key: str) -> str:
        return self.statuses.get(key, {}).get("status", "active")

    def is_archived(self, topic: str) -> bool:
        parsed = parse_run_topic(topic)
        return parsed is not None and self.status(run_key(*parsed)) == "archived"

    def pending_archive(self) -> dict[str, dict[str, Any]]:
        """The status records of finished runs not yet archived (`finish`: where their last records are)."""
        return {key: record for key, record in self.statuses.items()
                if record["status"] == "finished" and record.get("finish")}


run_statuses = RunStatuses()


@app.task
async def follow_run_statuses() -> None:
    await run_statuses.follow()
