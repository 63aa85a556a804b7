"""faust_fixes.py's guard on a table's source-topic check, on a stand-in table (no Kafka)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.exceptions import PartitionsMismatch
from faust.tables.base import Collection

import sports_prophet.faust_fixes  # noqa: F401  (the patch under test)


def stand_in(partitions: dict[str, int]) -> SimpleNamespace:
    """What the check reads of a table: its app's partition counts, changelog name and cache."""
    consumer = SimpleNamespace(topic_partitions=partitions.get)
    return SimpleNamespace(app=SimpleNamespace(consumer=consumer), changelog_topic_name="t-changelog",
                           name="t", _verified_source_topics_for_partitions=set())


def test_a_deleted_source_topic_is_no_mismatch_and_is_checked_again_once_recreated():
    table = stand_in({"readings.d.r": 0, "t-changelog": 8})
    Collection._verify_source_topic_partitions(table, "readings.d.r")          # deleted: no error
    assert "readings.d.r" not in table._verified_source_topics_for_partitions
    table.app.consumer.topic_partitions = {"readings.d.r": 3, "t-changelog": 8}.get
    with pytest.raises(PartitionsMismatch):                                     # a real mismatch still fails
        Collection._verify_source_topic_partitions(table, "readings.d.r")
