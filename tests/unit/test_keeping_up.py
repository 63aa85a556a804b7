"""The archive sink's 'behind' signal: a consumer that keeps up but is never exactly at lag 0."""

from __future__ import annotations

from agents.keeping_up import KeepingUp


def test_a_consumer_that_writes_what_kafka_had_keeps_up_though_new_records_keep_arriving() -> None:
    keeping_up = KeepingUp(now=0.0, behind_after_s=10.0)
    for second in range(60):              # 100 records/s arrive; each second it commits what was there a second ago
        keeping_up.observe({"p": second * 100}, {"p": (second + 1) * 100}, now=float(second))
        assert not keeping_up.behind(now=float(second))


def test_a_consumer_that_stops_committing_is_behind_after_the_threshold() -> None:
    keeping_up = KeepingUp(now=0.0, behind_after_s=10.0)
    keeping_up.observe({"p": 0}, {"p": 50}, now=0.0)        # checkpoint: 50 records to write
    keeping_up.observe({"p": 49}, {"p": 80}, now=9.0)
    assert not keeping_up.behind(now=9.5)
    assert keeping_up.behind(now=10.5)                    # record 49 in Kafka for over 10 s, unwritten
    keeping_up.observe({"p": 50}, {"p": 90}, now=11.0)    # reached it: keeping up again
    assert not keeping_up.behind(now=11.0)


def test_a_partition_revoked_from_the_consumer_is_not_waited_for() -> None:
    keeping_up = KeepingUp(now=0.0, behind_after_s=10.0)
    keeping_up.observe({}, {"a": 10, "b": 10}, now=0.0)
    keeping_up.observe({"a": 10, "b": 3}, {"a": 10}, now=5.0)    # b went to another worker
    assert not keeping_up.behind(now=14.0)
