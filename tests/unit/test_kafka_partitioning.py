"""The watchdog finds a run's partition by hashing its key as the producer does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from models.run import run_key
from sports_prophet.kafka import key_partition


def test_key_partition_is_where_the_default_partitioner_puts_the_key():
    partitions = list(range(8))
    keys = [run_key(f"gps_{i}", f"run_{j:03d}") for i in range(20) for j in range(10)]
    placed = [key_partition(key, 8) for key in keys]
    assert placed == [DefaultPartitioner()(key.encode(), partitions, partitions) for key in keys]
    assert set(placed) == set(partitions)          # and the keys do spread over every partition
