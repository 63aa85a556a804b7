"""The watchdog checks every subscribed run each second: from memory, not RocksDB, once the table is loaded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from agents import watchdog
from agents.owned import OwnedRuns
from agents.topics import control_topic
from models.run import run_key, run_topic
from sports_prophet.config import settings
from sports_prophet.kafka import key_partition


class CountingTable(dict):
    """What OwnedRuns uses of a Faust table (get, items, assignment), counting the reads that would
    reach RocksDB. A key missing from Faust's RocksDB store is looked up in every assigned partition."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads = 0

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_once_loaded_the_watchdogs_view_answers_from_memory_and_the_agents_still_asks_the_table() -> None:
    table = CountingTable({b"gps/r1": {"source_next": 7}})
    runs = OwnedRuns(table)
    assert runs.known("gps/r1") == {"source_next": 7} and runs.known("gps/none") is None
    assert table.reads == 2                         # stale (as after a rebalance): the table answers
    runs.load_all()
    for _ in range(100):
        assert runs.known("gps/none") is None and runs.known("gps/r1") == {"source_next": 7}
    assert table.reads == 2
    runs.put("gps/r2", {"source_next": 1})
    assert runs.known("gps/r2") == {"source_next": 1} and table[b"gps/r2"] == {"source_next": 1}
    assert runs.get("gps/none") is None and table.reads == 3     # the agent's look-up of a new run: the table
    runs.forget_all()                                # the next rebalance: ownership may have moved
    assert runs.known("gps/r2") == {"source_next": 1} and table.reads == 4


def test_the_watchdog_reads_no_run_from_the_table_once_the_cache_is_loaded(monkeypatch) -> None:
    """1,000 subscribed runs on this worker, half never applied a record: each watch asked RocksDB
    for those 500 every second (a miss, so every assigned partition's store); now it asks nothing."""
    keys = [run_key("gps", f"r{i}") for i in range(1000)]
    topics = {run_topic("gps", f"r{i}") for i in range(1000)}
    table = CountingTable({key.encode(): {"status": "active", "source_next": 3} for key in keys[:500]})
    runs = OwnedRuns(table)
    ends = {TopicPartition(run_topic(*key.split("/")), key_partition(key, settings.topic_partitions)): 0
            for key in keys[500:]}
    ends.update({TopicPartition(run_topic(*key.split("/")), key_partition(key, settings.topic_partitions)): 3
                 for key in keys[:500]})

    async def end_offsets(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: ends[tp] for tp in tps}

    assigned = {TopicPartition(control_topic.get_topic_name(), p) for p in range(settings.topic_partitions)}
    monkeypatch.setattr(watchdog, "app", SimpleNamespace(consumer=SimpleNamespace(
        assignment=lambda: assigned, _read_offset={})))
    monkeypatch.setattr(watchdog, "gateway", SimpleNamespace(end_offsets=end_offsets))
    monkeypatch.setattr(watchdog, "subscription", SimpleNamespace(subscribed=topics, listed=topics))
    monkeypatch.setattr(watchdog, "owned", runs)
    skipped = watchdog.SkippedRecords()

    asyncio.run(skipped.watch())
    assert table.reads == 1000                       # stale: the table is asked, as before
    runs.load_all()
    table.reads = 0
    for _ in range(5):
        asyncio.run(skipped.watch())
    assert table.reads == 0
    assert not skipped.behind                        # and every run is judged as before: none is behind


def test_a_state_read_while_the_changelog_is_still_being_applied_is_not_served_after_the_recovery() -> None:
    """A worker back from a stop answered a query mid-recovery with the run's state from before it
    stopped; that state stayed cached, and the worker served it for good."""
    table = CountingTable({b"gps/r1": {"readings": 1000}})
    runs = OwnedRuns(table)
    runs.forget_all()                                # a rebalance: Faust starts applying the changelog
    assert runs.get("gps/r1") == {"readings": 1000}  # a query meanwhile sees the local store as it is
    table[b"gps/r1"] = {"readings": 3000}            # the changelog's newer state lands
    assert runs.get("gps/r1") == {"readings": 3000}
    runs.load_all()                                  # recovery complete
    assert runs.get("gps/r1") == runs.known("gps/r1") == {"readings": 3000}
    del table[b"gps/r1"]                             # the table is the truth once loaded, too
    table[b"gps/r2"] = {"readings": 5}
    runs.load_all()
    assert runs.known("gps/r1") is None and runs.known("gps/r2") == {"readings": 5}
