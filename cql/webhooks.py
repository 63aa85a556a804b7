"""Webhook registrations and delivery state in Cassandra (tables in cql/schema.cql).

Registrations belong to the app (SP_APP_ID): every app reads every run topic, so an app that
delivered another's webhooks would send its alerts twice. They are read by every worker for each
alert, so each worker caches its app's list for `SP_REGISTRY_CACHE_SECONDS`, like the device registry. Delivery state is keyed by webhook and alert
(device, run, seq): every write is an idempotent upsert or delete, safe to repeat after a crash.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from cql.session import execute
from models.webhook import Webhook
from sports_prophet.config import settings

DELIVERED, DEAD = "delivered", "dead"
MAX_DEAD_LETTERS = 10_000        # answered by GET /webhooks/{id}/dead-letters


def _now() -> datetime:
    """Now, truncated to the millisecond Cassandra stores, so what we answer equals what we read back."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: its answer's status (None: no answer) and why it failed, if it did."""

    attempts: int
    status: int | None
    error: str | None


class WebhookStore:
    def __init__(self) -> None:
        self._cached: tuple[float, list[Webhook]] | None = None

    # ------------------------------------------------------------------ registrations

    async def register(self, url: str, device_id: str | None, kind: str | None, secret: str | None) -> Webhook:
        webhook = Webhook(uuid.uuid4().hex, url, device_id, kind, secret, _now())
        await execute("INSERT INTO {ks}.webhooks (app_id, webhook_id, url, device_id, kind, secret, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", (settings.app_id, webhook.webhook_id, url, device_id, kind,
                                                       secret, webhook.created_at))
        self._cached = None
        return webhook

    async def delete(self, webhook_id: str) -> bool:
        result = await execute("DELETE FROM {ks}.webhooks WHERE app_id = ? AND webhook_id = ? IF EXISTS",
                               (settings.app_id, webhook_id))
        self._cached = None
        return bool(result.one()[0])

    async def get(self, webhook_id: str) -> Webhook | None:
        row = (await execute("SELECT webhook_id, url, device_id, kind, secret, created_at FROM {ks}.webhooks "
                             "WHERE app_id = ? AND webhook_id = ?", (settings.app_id, webhook_id))).one()
        return None if row is None else _webhook(row)

    async def all(self, fresh: bool = False) -> list[Webhook]:
        """Every registration, from the cache when it is recent; when Cassandra is away, the last list read."""
        if self._cached and not fresh and time.monotonic() - self._cached[0] < settings.registry_cache_seconds:
            return self._cached[1]
        try:
            rows = await execute("SELECT webhook_id, url, device_id, kind, secret, created_at FROM {ks}.webhooks "
                                 "WHERE app_id = ?", (settings.app_id,))
        except Exception:
            if self._cached:
                return self._cached[1]
            raise
        webhooks = sorted((_webhook(row) for row in rows), key=lambda w: w.created_at)
        self._cached = (time.monotonic(), webhooks)
        return webhooks

    # ------------------------------------------------------------------ deliveries

    async def queue(self, partition: int, webhook_id: str, alert: dict[str, Any]) -> None:
        """Record a delivery as under way (before the alert's offset may be committed)."""
        await execute("INSERT INTO {ks}.webhook_outbox (app_id, alerts_partition, webhook_id, device_id, run_id, seq, "
                      "alert_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (settings.app_id, partition, webhook_id, alert["device_id"], alert["run_id"], alert["seq"],
                       orjson.dumps(alert).decode()))

    async def queued(self, partition: int) -> list[tuple[str, dict[str, Any]]]:
        """The deliveries under way of one alerts partition: (webhook id, alert)."""
        rows = await execute("SELECT webhook_id, alert_json FROM {ks}.webhook_outbox "
                             "WHERE app_id = ? AND alerts_partition = ?", (settings.app_id, partition))
        return [(row.webhook_id, orjson.loads(row.alert_json)) for row in rows]

    async def finished(self, webhook_id: str, alert: dict[str, Any]) -> bool:
        """Whether this alert's delivery to this webhook has an outcome already (delivered or dead)."""
        rows = await execute("SELECT outcome FROM {ks}.webhook_deliveries WHERE webhook_id = ? AND outcome IN ?"
                             " AND device_id = ? AND run_id = ? AND seq = ?",
                             (webhook_id, [DELIVERED, DEAD], alert["device_id"], alert["run_id"], alert["seq"]))
        return rows.one() is not None

    async def finish(self, partition: int, webhook_id: str, alert: dict[str, Any], outcome: Outcome | None) -> None:
        """Record the outcome (None: the webhook is gone, nothing to record), then end the delivery.
        A crash between the two leaves the outbox row, whose resumption finds the outcome and stops."""
        if outcome is not None:
            await execute(
                "INSERT INTO {ks}.webhook_deliveries (webhook_id, outcome, device_id, run_id, seq, attempts, "
                "last_status, last_error, alert_json, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (webhook_id, DELIVERED if outcome.error is None else DEAD, alert["device_id"], alert["run_id"],
                 alert["seq"], outcome.attempts, outcome.status, outcome.error, orjson.dumps(alert).decode(), _now()))
        await execute("DELETE FROM {ks}.webhook_outbox WHERE app_id = ? AND alerts_partition = ? AND webhook_id = ? "
                      "AND device_id = ? AND run_id = ? AND seq = ?",
                      (settings.app_id, partition, webhook_id, alert["device_id"], alert["run_id"], alert["seq"]))

    async def dead_letters(self, webhook_id: str) -> list[dict[str, Any]]:
        rows = await execute("SELECT device_id, run_id, seq, attempts, last_status, last_error, alert_json, "
                             "finished_at FROM {ks}.webhook_deliveries WHERE webhook_id = ? AND outcome = ? LIMIT ?",
                             (webhook_id, DEAD, MAX_DEAD_LETTERS))
        return [{"device_id": row.device_id, "run_id": row.run_id, "seq": row.seq, "attempts": row.attempts,
                 "last_status": row.last_status, "last_error": row.last_error,
                 "alert": orjson.loads(row.alert_json),
                 "dead_at": row.finished_at.replace(tzinfo=timezone.utc).isoformat()} for row in rows]


def _webhook(row: Any) -> Webhook:
    return Webhook(row.webhook_id, row.url, row.device_id, row.kind, row.secret,
                   row.created_at.replace(tzinfo=timezone.utc))


webhooks = WebhookStore()
