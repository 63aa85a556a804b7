"""A match's timeline and win-probability points kept as chunked rows (agents/matches.py), on a stand-in table."""

from __future__ import annotations

import pytest

from agents import matches
from agents.owned import CHUNK_ROWS, RunRows
from tests.unit.test_run_rows import ListTable


def stand_in(monkeypatch, keep: int = 120) -> ListTable:
    table = ListTable()
    monkeypatch.setattr(matches, "match_rows", RunRows(table, keep))
    return table


@pytest.mark.parametrize("keep, records", [(120, 300), (1000, 1000)])
def test_each_list_reads_back_its_newest_rows_and_an_event_rewrites_one_chunk(monkeypatch, keep, records) -> None:
    table = stand_in(monkeypatch, keep)
    key, value = matches.match_key("m1"), {"state": {}, matches.TIMELINE: 0, matches.POINTS: 0}
    events, points = [], []
    for i in range(records):                          # a pass each record, a point every third
        new_events, new_points = [{"e": i}], [{"p": i}] if i % 3 == 0 else []
        value = {"state": {}, matches.TIMELINE: matches.appended(key, value, matches.TIMELINE, new_events),
                 matches.POINTS: matches.appended(key, value, matches.POINTS, new_points)}
        events, points = events + new_events, points + new_points
        assert matches.match_list("m1", value, matches.TIMELINE) == events[-keep:]
        assert matches.match_list("m1", value, matches.POINTS) == points[-keep:]
    # Kept in the match's value, each record rewrote both lists whole (1,000 records: 667,000 rows);
    # in chunks, a record writes at most one chunk of each.
    in_value = sum(min(i + 1, keep) + min(i // 3 + 1, keep) for i in range(records))
    assert table.writes <= (records + records // 3 + 1) * CHUNK_ROWS < in_value


def test_a_value_written_with_its_lists_inside_reads_as_before_and_moves_them_at_its_next_event(monkeypatch) -> None:
    stand_in(monkeypatch)
    key = matches.match_key("m2")
    old = {"state": {}, matches.TIMELINE: [{"e": 0}, {"e": 1}], matches.POINTS: [{"p": 0}]}
    assert matches.match_list("m2", old, matches.TIMELINE) == [{"e": 0}, {"e": 1}]
    new = {"state": {}, matches.TIMELINE: matches.appended(key, old, matches.TIMELINE, [{"e": 2}]),
           matches.POINTS: matches.appended(key, old, matches.POINTS, [])}
    assert new[matches.TIMELINE] == 3 and new[matches.POINTS] == 1
    assert matches.match_list("m2", new, matches.TIMELINE) == [{"e": 0}, {"e": 1}, {"e": 2}]
    assert matches.match_list("m2", new, matches.POINTS) == [{"p": 0}]


def test_an_event_applied_again_after_a_crash_rewrites_its_rows_in_place(monkeypatch) -> None:
    """The rows are written before the value that counts them: a crash in between replays the record
    against the old count, which must not add the rows twice."""
    stand_in(monkeypatch)
    key, value = matches.match_key("m3"), {"state": {}, matches.TIMELINE: 0, matches.POINTS: 0}
    value = {**value, matches.TIMELINE: matches.appended(key, value, matches.TIMELINE, [{"e": 0}])}
    matches.appended(key, value, matches.TIMELINE, [{"e": 1}])              # written, then the crash
    value = {**value, matches.TIMELINE: matches.appended(key, value, matches.TIMELINE, [{"e": 1}])}
    assert matches.match_list("m3", value, matches.TIMELINE) == [{"e": 0}, {"e": 1}]
