"""The run fold: what each event does to a run's state, without Kafka."""

from __future__ import annotations

import statistics

from agents import run_rows, run_state
from agents.motion import offline_summary

GRACE = 2.0


def track(n: int, speed: float = 5.0, hz: float = 10.0, t0: float = 1_767_225_600.0) -> list[dict]:
    return [{"t": t0 + i / hz, "data": {"latitude": 40.0 + speed * (i / hz) / 111_034.0, "longitude": -3.7,
                                        "timestamp": t0 + i / hz}} for i in range(n)]


def fold(readings: list[dict], batch: int = 50, state: dict | None = None, config: dict | None = None):
    state = state or run_state.new_run("gps", "r1", 5.0)
    if config:
        state, _ = run_state.apply_config(state, config)
    closed, alerts = [], []
    for offset, i in enumerate(range(0, len(readings), batch)):
        state, c, a = run_state.apply_readings(state, readings[i:i + batch], offset, 0.0, GRACE, "timestamp")
        closed += c
        alerts += a
    return state, closed, alerts


def test_motion_summary_equals_the_offline_fold_of_the_same_track():
    readings = track(301)
    state, _, _ = fold(readings)
    offline = offline_summary([(r["t"], r["data"]["latitude"], r["data"]["longitude"]) for r in readings])
    assert run_rows.summary(state)["motion"] == offline
    assert 148 < offline["distance_m"] < 150.5


def test_stats_leave_out_the_time_field_and_match_statistics():
    readings = track(100)
    state, _, _ = fold(readings)
    stats = run_rows.summary(state)["stats"]
    assert set(stats) == {"latitude", "longitude"}
    lats = [r["data"]["latitude"] for r in readings]
    assert abs(stats["latitude"]["mean"] - statistics.mean(lats)) < 1e-12
    assert abs(stats["latitude"]["std"] - statistics.stdev(lats)) < 1e-12


def test_a_replayed_record_is_skipped():
    readings = track(20)
    state, _, _ = fold(readings, batch=20)
    again, closed, alerts = run_state.apply_readings(state, readings, 0, 0.0, GRACE, "timestamp")
    assert again is state and not closed and not alerts


def test_out_of_order_batch_is_placed_by_event_time():
    readings = track(50)
    state, _, _ = fold(list(reversed(readings)), batch=50)
    assert state["motion"]["out_of_order"] == 0
    assert state["first_t"] == readings[0]["t"] and state["last_t"] == readings[-1]["t"]


def test_windows_close_by_event_time_even_when_readings_stop_passing_triggers():
    config = {"triggers": {"latitude": [39.0, 40.00002]}, "window_seconds": 2.0, "table_preappend": None,
              "motion": {}}
    state, closed, alerts = fold(track(100), config=config)        # 10 s at 10 Hz; passes for ~0.44 s
    assert [w["window_start"] for w in closed] == [1_767_225_600.0]
    assert closed[0]["count"] == 5
    assert len(alerts) == 1 and alerts[0]["field"] == "latitude"    # once per excursion, not per reading
    row = run_rows.window_row(closed[0])
    assert row["timestamp"] == row["window_end"] == 1_767_225_602.0 and "latitude_avg" in row


def test_alert_again_after_returning_inside_the_range():
    config = {"triggers": {"hr": [60.0, 180.0]}, "window_seconds": 5.0, "table_preappend": None, "motion": {}}
    values = [100, 190, 195, 120, 200, 150]
    readings = [{"t": float(i), "data": {"hr": v}} for i, v in enumerate(values)]
    _, _, alerts = fold(readings, batch=1, config=config)
    assert [a["value"] for a in alerts] == [190, 200]


def test_silence_closes_every_window_and_alerts_once():
    state, _, _ = fold(track(30))
    assert state["windows"]["open"]
    state, closed, alerts = run_state.apply_silence(state, now=100.0)
    assert closed and not state["windows"]["open"]
    assert alerts[0]["type"] == "data_delay"
    again, closed, alerts = run_state.apply_silence(state, now=200.0)
    assert not closed and not alerts


def test_stop_finishes_the_run_and_flushes_windows():
    state, _, _ = fold(track(30))
    state, closed = run_state.apply_stop(state)
    assert state["status"] == "finished" and closed


def status(name: str, at: float, **about: float) -> dict:
    return {"status": name, "at": at, "finish": {"last_offset": 0} if name == "finished" else None, **about}


def test_an_archived_status_archives_only_the_finished_record_that_is_current():
    finished = status("finished", 10.0)
    assert run_state.supersedes(finished, status("archived", 11.0, finished_at=10.0), 0.0)
    archived = status("archived", 11.0, finished_at=10.0)
    assert run_state.supersedes(archived, status("archived", 12.0, finished_at=10.0), 0.0)   # two sinks
    # The run was deleted and streamed again after the sink read 'finished': its 'archived' is stale.
    assert not run_state.supersedes(status("active", 12.0), status("archived", 13.0, finished_at=10.0), 12.0)
    assert not run_state.supersedes(status("finished", 20.0), status("archived", 21.0, finished_at=10.0), 12.0)
    assert run_state.supersedes(None, status("archived", 13.0, finished_at=10.0), 0.0)       # compacted away


def test_a_finished_status_of_a_run_from_before_its_topic_was_deleted_is_stale():
    assert run_state.supersedes(status("active", 5.0), status("finished", 6.0, since=0.0), 0.0)
    assert not run_state.supersedes(status("active", 9.0), status("finished", 10.0, since=0.0), 8.0)
    assert run_state.supersedes(status("active", 9.0), status("finished", 10.0, since=8.0), 8.0)
    assert run_state.supersedes(status("archived", 9.0), status("active", 10.0), 8.0)


def test_window_columns_are_the_keys_of_a_window_row_whatever_the_data():
    state, closed, _ = fold(track(100))
    row = run_rows.window_row(closed[0])
    assert run_rows.window_columns(["latitude", "longitude"]) == list(row)


def test_a_run_stored_before_motion_sources_existed_goes_on_as_it_was():
    readings = track(200)
    state, _, _ = fold(readings[:100])
    old_shape = {k: v for k, v in state["motion"].items() if k not in ("source", "held", "held_next", "smooth_t")}
    assert run_rows.summary({**state, "motion": old_shape})["motion"] == run_rows.summary(state)["motion"]
    whole, _, _ = fold(readings)
    for apply in (run_state.apply_readings, run_state.apply_burst):
        resumed, _, _ = apply({**state, "motion": old_shape}, readings[100:], 2, 0.0, GRACE, "timestamp")
        assert run_rows.summary(resumed)["motion"] == run_rows.summary(whole)["motion"]


def test_alerts_of_one_record_get_their_own_sequence_numbers():
    """The sequence number is an alert's key in Cassandra: two alerts of one record must not share it."""
    readings = [{"t": 1.0 + i, "data": {"hr": hr, "temp": temp}} for i, (hr, temp) in
                enumerate([(120, 20.0), (190, 45.0), (120, 20.0), (195, 20.0)])]
    state = run_state.new_run("band", "r1", 5.0)
    state["config"]["triggers"] = {"hr": [40.0, 180.0], "temp": [0.0, 40.0]}
    for apply in (run_state.apply_readings, run_state.apply_burst):
        _, _, first = apply(state, readings[:2], 0, 0.0, GRACE)
        after, _, more = apply(state, readings, 0, 0.0, GRACE)
        assert [a["seq"] for a in first] == [1, 2] and [a["field"] for a in first] == ["hr", "temp"]
        assert [a["seq"] for a in more] == [1, 2, 3] and after["alerts"] == 3
