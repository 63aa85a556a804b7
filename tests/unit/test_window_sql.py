"""The /get-latest-stats SQL sandbox."""

from __future__ import annotations

import pytest

from web.window_sql import QueryError, ResultTooLarge, query_windows

ROWS = [{"timestamp": float(i), "count": i, "lat_avg": i * 0.5, "final": True} for i in range(10)]
COLUMNS = ["timestamp", "count", "lat_avg", "final"]


async def test_select_over_the_run_table():
    result = await query_windows(ROWS, COLUMNS, "SELECT timestamp, lat_avg FROM {table} ORDER BY timestamp DESC LIMIT 1")
    assert result == {"columns": ["timestamp", "lat_avg"], "rows": [[9.0, 4.5]], "truncated": False}


@pytest.mark.parametrize("query, mentions", [
    ("DROP TABLE windows", "only SELECT"),
    ("SELECT 1; SELECT 2", "exactly one"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission"),
    ("INSTALL httpfs", "only SELECT"),
    ("SELEKT 1", "parse"),
    ("SELECT nope FROM {table}", "nope"),
    ("SELECT count(*) FROM range(100000000000) a, range(1000) b", "longer than"),
])
async def test_refused_queries_say_why(query, mentions):
    with pytest.raises(QueryError, match=mentions):
        await query_windows(ROWS, COLUMNS, query)


async def test_an_empty_run_still_has_the_table():
    result = await query_windows([], ["window_start", "timestamp", "count"], "SELECT count(*) FROM {table}")
    assert result["rows"] == [[0]]


async def test_a_result_over_the_byte_cap_is_refused_saying_how_to_narrow_it():
    with pytest.raises(ResultTooLarge, match="over 1048576 bytes.*LIMIT"):
        await query_windows(ROWS, COLUMNS, "SELECT repeat('x', 20000) FROM range(10000)")


async def test_each_query_gets_one_thread_and_a_memory_limit():
    result = await query_windows(ROWS, COLUMNS, "SELECT current_setting('threads'), current_setting('memory_limit')")
    threads, memory = result["rows"][0]
    assert threads == 1 and memory.endswith("MiB") and float(memory.split()[0]) < 300, result
