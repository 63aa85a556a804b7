"""Records read back from Kafka are applied joined (agents/runs.py): the state is the one applying
them one by one gives, and only runs of consecutive readings records of one run are joined."""

from __future__ import annotations

from agents import run_rows, run_state
from agents.run_records import MAX_JOINED_READINGS, Record, joinable, joined

T0 = 1_767_225_600.0


def record(offset: int, readings: int, **value: object) -> Record:
    first = offset * readings
    return Record("readings.gps.r1", 0, offset, T0, "gps/r1", {
        "device_id": "gps", "run_id": "r1", "received_at": T0 + offset, "time_field": "timestamp", **value,
        "readings": [{"t": T0 + 0.1 * i, "data": {"x": 0.7 * i, "y": 0.0, "hr": 100 + i % 30,
                                                  "timestamp": T0 + 0.1 * i}} for i in range(first, first + readings)]})


def test_joined_records_make_the_state_applying_them_one_by_one_makes():
    records = [record(offset, 2) for offset in range(40)]
    one_by_one = run_state.new_run("gps", "r1", 1.0)
    for r in records:
        one_by_one, _, _ = run_state.apply_burst(one_by_one, r.value["readings"], r.offset, r.value["received_at"],
                                                 2.0, "timestamp")
    together = records[0]
    for r in records[1:]:
        assert joinable(together, r)
        together = joined(together, r)
    assert (together.offset, together.through, len(together.value["readings"])) == (0, 39, 80)
    state, _, _ = run_state.apply_burst(run_state.new_run("gps", "r1", 1.0), together.value["readings"],
                                        together.through, together.value["received_at"], 2.0, "timestamp")
    assert state["last_offset"] == one_by_one["last_offset"] == 39
    assert state["readings"] == one_by_one["readings"] == 80
    a, b = run_rows.summary(state), run_rows.summary(one_by_one)
    assert abs(a["motion"]["distance_m"] - b["motion"]["distance_m"]) < 1e-9 and a["motion"]["distance_m"] > 50
    assert a["stats"]["hr"]["count"] == b["stats"]["hr"]["count"] == 80


def test_only_consecutive_readings_records_of_one_stream_join():
    first = record(0, 2)
    assert not joinable(first, record(2, 2))                                  # a gap
    assert not joinable(first, record(1, 2, type="config"))                  # a control record
    assert not joinable(first, record(1, 2, since=5.0))                      # after a deletion of the topic
    assert not joinable(first, record(1, 2, time_field="t2"))
    assert not joinable(first, record(1, MAX_JOINED_READINGS - 1))           # too many readings at once
    match_feed = Record("readings.match_events.m1", 0, 0, T0, "match_events/m1", first.value)
    assert not joinable(match_feed, match_feed._replace(offset=1))          # the match agent keeps its own offsets
