"""The runs this worker owns: their RocksDB-backed tables, and an in-memory copy of each run's state."""

from __future__ import annotations

from typing import Any

from sports_prophet.app import app
from sports_prophet.config import settings

# Table keys are raw bytes (key_type=bytes selects Faust's raw codec): routing a query hashes the
# serialized key, which must hash to the partition the gateway's raw record key went to.
runs = app.Table("runs", default=None, key_type=bytes, partitions=settings.topic_partitions)
run_windows = app.Table("run-windows", default=list, key_type=bytes, partitions=settings.topic_partitions)
run_alerts = app.Table("run-alerts", default=list, key_type=bytes, partitions=settings.topic_partitions)


class OwnedRuns:
    """The latest state of each run this worker owns, in memory.

    Views, the silence timer and the watchdog read here instead of decoding states from RocksDB
    (which blocked the event loop for milliseconds). Every change goes through `put`, so once
    `load_all` has read the table after a rebalance, memory holds every run of this worker's
    partitions: a run not here has no state, and is not looked up. That matters, because the
    RocksDB store looks a missing key up in every assigned partition, and the watchdog asks for
    every subscribed run each second. Cleared at every rebalance, since ownership may move; until
    reloaded (`stale`), a run not in memory is read from the table.
    """

    def __init__(self, table: Any) -> None:
        self.table = table            # the `runs` table (a Faust table with bytes keys)
        self.states: dict[str, dict[str, Any]] = {}
        self.stale = True            # after a rebalance: load the recovered runs once

    def get(self, key: str) -> dict[str, Any] | None:
        state = self.states.get(key)
        if state is None and self.stale:
            state = self.table.get(key.encode())
            if state is not None:
                self.states[key] = state
        return state

    def put(self, key: str, state: dict[str, Any]) -> None:
        self.table[key.encode()] = state
        self.states[key] = state

    def forget_all(self) -> None:
        self.states.clear()
        self.stale = True

    def load_all(self) -> None:
        """Cache every run in this worker's table partitions (runs recovered from changelogs)."""
        for raw_key, state in list(self.table.items()):
            if state:
                self.states.setdefault(raw_key.decode() if isinstance(raw_key, bytes) else raw_key, state)
        self.stale = False


owned = OwnedRuns(runs)


def is_live(state: dict[str, Any] | None) -> bool:
    """A run to show: seen, and its topic not deleted since."""
    return bool(state) and state["status"] != "deleted"


def get_run(key: str) -> dict[str, Any] | None:
    state = owned.get(key)
    return state if is_live(state) else None
