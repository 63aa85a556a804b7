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
    """The latest state of each run this worker has processed, in memory.

    Views and the silence timer read here instead of decoding every state from RocksDB (which
    blocked the event loop for milliseconds). Cleared at every rebalance, since ownership may move;
    after that, states are read from the table and cached again.
    """

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.stale = True            # after a rebalance: load the recovered runs once

    def get(self, key: str) -> dict[str, Any] | None:
        state = self.states.get(key)
        if state is None:
            state = runs.get(key.encode())
            if state is not None:
                self.states[key] = state
        return state

    def put(self, key: str, state: dict[str, Any]) -> None:
        runs[key.encode()] = state
        self.states[key] = state

    def forget_all(self) -> None:
        self.states.clear()
        self.stale = True

    def load_all(self) -> None:
        """Cache every run in this worker's table partitions (runs recovered from changelogs)."""
        for raw_key, state in list(runs.items()):
            if state:
                self.states.setdefault(raw_key.decode() if isinstance(raw_key, bytes) else raw_key, state)
        self.stale = False


owned = OwnedRuns()


def is_live(state: dict[str, Any] | None) -> bool:
    """A run to show: seen, and its topic not deleted since."""
    return bool(state) and state["status"] != "deleted"


def get_run(key: str) -> dict[str, Any] | None:
    state = owned.get(key)
    return state if is_live(state) else None
