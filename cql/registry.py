"""The device registry, kept in Cassandra so every worker sees one registry that survives restarts.

Writes are lightweight transactions (`IF NOT EXISTS` / `IF EXISTS`): two workers
registering one name at once get exactly one winner, and a registration is a
single row written whole, so no failure leaves a half-registered device.
Reads are cached per process for `SP_REGISTRY_CACHE_SECONDS`, since every ingest
request needs the schema and the ingest token's hash: a rotated token is refused by every
worker within that time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from cql.session import execute
from sports_prophet.config import settings


@dataclass(frozen=True)
class Device:
    device_id: str
    schema: dict[str, str]
    created_at: datetime
    updated_at: datetime
    ingest_token_sha256: str | None = None     # never answered: the token is shown once, when issued

    def as_json(self) -> dict:
        return {"device_name": self.device_id, "schema": self.schema,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


def _now() -> datetime:
    """Now, truncated to the millisecond Cassandra stores, so what we return equals what we read back."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def _applied(result) -> bool:
    return bool(result.one()[0])


class DeviceRegistry:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, Device | None]] = {}

    async def register(self, device_id: str, schema: dict[str, str], token_sha256: str) -> Device | None:
        """The stored device, or None when the name is taken. Device and token are one row, written whole."""
        now = _now()
        result = await execute(
            "INSERT INTO {ks}.devices (device_id, schema_json, created_at, updated_at, ingest_token_sha256) "
            "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS", (device_id, json.dumps(schema), now, now, token_sha256))
        if not _applied(result):
            return None
        return self._remember(Device(device_id, schema, now, now, token_sha256))

    async def rotate_token(self, device_id: str, token_sha256: str) -> bool:
        """Replace the device's ingest token; False when it is not registered."""
        result = await execute(
            "UPDATE {ks}.devices SET ingest_token_sha256 = ? WHERE device_id = ? IF EXISTS", (token_sha256, device_id))
        self._cache.pop(device_id, None)
        return _applied(result)

    async def update(self, device_id: str, schema: dict[str, str]) -> Device | None:
        """The updated device, or None when it is not registered."""
        now = _now()
        result = await execute(
            "UPDATE {ks}.devices SET schema_json = ?, updated_at = ? WHERE device_id = ? IF EXISTS",
            (json.dumps(schema), now, device_id))
        if not _applied(result):
            return None
        self._cache.pop(device_id, None)
        return await self.get(device_id, fresh=True)

    async def delete(self, device_id: str) -> bool:
        result = await execute("DELETE FROM {ks}.devices WHERE device_id = ? IF EXISTS", (device_id,))
        self._cache.pop(device_id, None)
        return _applied(result)

    async def get(self, device_id: str, fresh: bool = False) -> Device | None:
        cached = self._cache.get(device_id)
        if cached and not fresh and time.monotonic() - cached[0] < settings.registry_cache_seconds:
            return cached[1]
        try:
            row = (await execute(
                "SELECT device_id, schema_json, created_at, updated_at, ingest_token_sha256 FROM {ks}.devices "
                "WHERE device_id = ?",
                (device_id,))).one()
        except Exception:
            if cached:      # Cassandra unreachable: keep serving a device we knew, so ingest and live queries go on
                return cached[1]
            raise
        device = None if row is None else Device(
            row.device_id, json.loads(row.schema_json),
            row.created_at.replace(tzinfo=timezone.utc), row.updated_at.replace(tzinfo=timezone.utc),
            row.ingest_token_sha256)
        self._cache[device_id] = (time.monotonic(), device)
        return device

    async def names(self) -> list[str]:
        rows = await execute("SELECT device_id FROM {ks}.devices")
        return sorted(row.device_id for row in rows)

    def _remember(self, device: Device) -> Device:
        self._cache[device.device_id] = (time.monotonic(), device)
        return device
