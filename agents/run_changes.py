"""Wakes live views (web/live.py) when a run this worker owns changes, so they push instead of polling."""

from __future__ import annotations

import asyncio


class RunChanges:
    """One event per run a view waits on: `notify` sets it and drops it, so the next wait gets a new one."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait(self, key: str, timeout: float) -> None:
        event = self._events.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


run_changes = RunChanges()
