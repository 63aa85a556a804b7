"""Per-device ingest rate limits: one token bucket per device in each worker (SP_DEVICE_RATE_LIMIT).

A device that sends faster than its limit gets 429 with Retry-After over HTTP; a WebSocket is slowed
instead (the reader waits, so TCP pushes back on the client), which loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

BURST_SECONDS = 2.0


class DeviceRateLimits:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.capacity = rate * BURST_SECONDS
        self.buckets: dict[str, tuple[float, float]] = {}       # device → (tokens, when counted)

    def take(self, device_id: str, readings: int) -> float:
        """Take `readings` tokens and return 0, or return how many seconds until they would be there.
        A batch bigger than the burst passes once the bucket is full, leaving it in debt."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, then = self.buckets.get(device_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        needed = min(readings, self.capacity)
        if tokens < needed - 1e-9:          # (clock arithmetic rounds)
            self.buckets[device_id] = (tokens, now)
            return (needed - tokens) / self.rate
        self.buckets[device_id] = (tokens - readings, now)
        return 0.0
