"""The runs this worker owns: their RocksDB-backed tables, and an in-memory copy of each run's state."""

from __future__ import annotations

from typing import Any

from sports_prophet.app import app
from sports_prophet.config import settings

# Table keys are raw bytes (key_type=bytes selects Faust's raw codec): routing a query hashes the
# serialized key, which must hash to the partition the gateway's raw record key went to.
runs = app.Table("runs", default=None, key_type=bytes, partitions=settings.topic_partitions)
window_chunks = app.Table("run-window-chunks", default=list, key_type=bytes, partitions=settings.topic_partitions)
alert_chunks = app.Table("run-alert-chunks", default=list, key_type=bytes, partitions=settings.topic_partitions)
segment_chunks = app.Table("run-segment-chunks", default=list, key_type=bytes, partitions=settings.topic_partitions)

CHUNK_ROWS = 50


class RunRows:
    """A run's newest rows (closed windows, alerts), oldest first, in a table as chunks of CHUNK_ROWS:
    row i of the run is in chunk i // CHUNK_ROWS, under the key `<run key>#<chunk>`. Appending rewrites
    the last chunk only: kept as one list per run, a 90-minute run's 1,080 windows (400 kB) were
    serialised, written to RocksDB and sent to the changelog again at every record that closed one.
    The run's state holds how many rows were ever appended (`count`), written in the same step."""

    def __init__(self, table: Any, keep: int) -> None:
        self.table = table
        self.keep = keep

    @staticmethod
    def chunk_key(key: str, chunk: int) -> bytes:
        return f"{key}#{chunk}".encode()

    def append(self, key: str, count: int, rows: list[dict[str, Any]]) -> int:
        """Add rows after the run's first `count`; drop the chunks all older than the last `keep`.
        Returns the new count."""
        total = count + len(rows)
        done = 0
        while done < len(rows):
            chunk, at = divmod(count + done, CHUNK_ROWS)
            take = rows[done:done + CHUNK_ROWS - at]
            self.table[self.chunk_key(key, chunk)] = (self.table[self.chunk_key(key, chunk)][:at] if at else []) + take
            done += len(take)
        self._drop(key, max(0, count - self.keep) // CHUNK_ROWS, max(0, total - self.keep) // CHUNK_ROWS)
        return total

    def read(self, key: str, count: int) -> list[dict[str, Any]]:
        """The last `keep` of the run's `count` rows."""
        first = max(0, count - self.keep)
        rows: list[dict[str, Any]] = []
        for chunk in range(first // CHUNK_ROWS, (count + CHUNK_ROWS - 1) // CHUNK_ROWS):
            rows += self.table[self.chunk_key(key, chunk)]
        return rows[first % CHUNK_ROWS:]

    def clear(self, key: str, count: int) -> None:
        self._drop(key, max(0, count - self.keep) // CHUNK_ROWS, (count + CHUNK_ROWS - 1) // CHUNK_ROWS)

    def _drop(self, key: str, first: int, stop: int) -> None:
        for chunk in range(first, stop):
            if self.chunk_key(key, chunk) in self.table:
                del self.table[self.chunk_key(key, chunk)]


run_windows = RunRows(window_chunks, settings.window_history)
run_alerts = RunRows(alert_chunks, settings.alert_history)
run_segment_rows = RunRows(segment_chunks, settings.segment_history)


def list_rows_key(key: str, kind: str) -> str:
    """Where a run's rows of one kind live when it keeps several lists: its closed segments of each
    kind (agents/segments.py), a match's timeline and win-probability points (agents/matches.py)."""
    return f"{key}@{kind}"


class OwnedRuns:
    """The latest state of each run this worker owns, in memory.

    Views and the silence timer read here instead of decoding every state from RocksDB (which
    blocked the event loop for milliseconds). Cleared at every rebalance, since ownership may move;
    until Faust's recovery completes, states are read from the table uncached, and then `load_all`
    caches every run of the new assignment.
    """

    def __init__(self, table: Any) -> None:
        self.table = table            # the `runs` table (a Faust table with bytes keys)
        self.states: dict[str, dict[str, Any]] = {}
        self.stale = True            # after a rebalance: load the recovered runs once

    def get(self, key: str) -> dict[str, Any] | None:
        state = self.states.get(key)
        if state is None:
            state = self.table.get(key.encode())
            if state is not None and not self.stale:
                # Not while stale: Faust may still be applying the changelog (a query during the
                # recovery read a run's state from before the worker stopped), and a state cached
                # then was served for good (tests/integration/test_topic_churn.py).
                self.states[key] = state
        return state

    def known(self, key: str) -> dict[str, Any] | None:
        """The state from memory alone once loaded: for the watchdog, which looks at every subscribed
        run each second. Every change goes through `put`, so a run missing here has no state; and a
        missing key costs RocksDB a look-up in every assigned partition. Should a run be missing that
        the table has, the watchdog asks the agent to read it back, which finds it applied (`get`)."""
        return self.get(key) if self.stale else self.states.get(key)

    def put(self, key: str, state: dict[str, Any]) -> None:
        self.table[key.encode()] = state
        self.states[key] = state

    def forget_all(self) -> None:
        self.states.clear()
        self.stale = True

    def load_all(self) -> None:
        """Cache every run in this worker's table partitions (runs recovered from changelogs). The table
        is the truth: every `put` since the rebalance wrote it as well."""
        self.states = {raw_key.decode() if isinstance(raw_key, bytes) else raw_key: state
                       for raw_key, state in list(self.table.items()) if state}
        self.stale = False


owned = OwnedRuns(runs)


def is_live(state: dict[str, Any] | None) -> bool:
    """A run to show: seen, and its topic not deleted since."""
    return bool(state) and state["status"] != "deleted"


def get_run(key: str) -> dict[str, Any] | None:
    state = owned.get(key)
    return state if is_live(state) else None
