"""A run's window and alert history kept in chunks (agents/owned.py RunRows), on a stand-in table."""

from __future__ import annotations

import pytest

from agents.owned import CHUNK_ROWS, RunRows


class ListTable(dict):
    """Like a Faust table declared with default=list: a missing key reads as [] and is not stored."""

    writes = 0

    def __missing__(self, key: bytes) -> list:
        return []

    def __setitem__(self, key: bytes, value: list) -> None:
        self.writes += len(value)
        super().__setitem__(key, value)


@pytest.mark.parametrize("batches", [[1] * 130, [7, 50, 3, 120, 1, 49, 51], [400], [0, 2, 0]])
def test_rows_read_back_as_the_last_keep_of_everything_appended(batches):
    table, keep = ListTable(), 120
    rows_of_run, count = RunRows(table, keep), 0
    appended: list[dict] = []
    for size in batches:
        new = [{"i": len(appended) + j} for j in range(size)]
        count = rows_of_run.append("d/r", count, new)
        appended += new
        assert rows_of_run.read("d/r", count) == appended[-keep:]
    # Only the chunks that hold kept rows stay in the table.
    assert len(table) <= keep // CHUNK_ROWS + 2
    rows_of_run.clear("d/r", count)
    assert table == {} and rows_of_run.read("d/r", 0) == []


def test_appending_rewrites_one_chunk_not_the_history():
    table = ListTable()
    rows_of_run, count = RunRows(table, 2000), 0
    for i in range(1000):
        count = rows_of_run.append("d/r", count, [{"i": i}])
    # Kept as one list, the 1000 appends would have written 500,500 rows; in chunks, at most 50 each.
    assert table.writes <= 1000 * CHUNK_ROWS // 2 + 1000
    assert [row["i"] for row in rows_of_run.read("d/r", count)] == list(range(1000))
