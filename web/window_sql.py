"""Read-only SQL over one run's window rows, for /get-latest-stats (the old Spark SQL route).

Each query gets a fresh in-memory DuckDB holding only that run's rows as table `windows`
(`{table}` in the query names it). Only one SELECT is allowed; file, network and extension
access are switched off and the configuration locked before the query runs. Queries run in a
bounded pool of threads with one DuckDB thread and `MEMORY_LIMIT` each; one still running past
`QUERY_TIMEOUT_S` is answered as too slow at once and interrupted from outside. At most `MAX_ROWS`
rows and `settings.sql_max_result_bytes` bytes of rows come back.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb

from models.queries import MAX_QUERY_CHARS
from sports_prophet.config import settings

QUERY_TIMEOUT_S = 2.0
MAX_ROWS = 10_000
TABLE = "windows"
MEMORY_LIMIT = "256MB"            # per query: each has its own in-memory database
FETCH_ROWS = 64                   # rows fetched and converted at a time, so the byte cap stops early
# Queries running at once in a worker. A query past its limit keeps its thread until DuckDB notices
# the interrupt, so later queries may wait; their wait counts towards their own limit.
POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="window-sql")


class QueryError(ValueError):
    """A query we refuse or DuckDB rejected; the message says why."""


class ResultTooLarge(QueryError):
    """The query's rows, as JSON, are over settings.sql_max_result_bytes."""


def prepare(query: str) -> str:
    """The query with `{table}` filled in, or a QueryError naming what is not allowed."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    sql = query.replace("{table}", TABLE)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(f"send exactly one statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError(f"only SELECT is allowed, not {statements[0].type.name}")
    return sql


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present) and present:
        return "BOOLEAN"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present) and present:
        return "BIGINT"
    return "DOUBLE"


def load(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Fill the connection's `windows` table with the rows, and sandbox it before any user SQL runs."""
    types = {c: _column_type([r.get(c) for r in rows]) for c in columns}
    con.execute(f"CREATE TABLE {TABLE} ({', '.join(f'{_quote(c)} {types[c]}' for c in columns)})")
    if rows:
        con.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' for _ in columns)})",
                        [[r.get(c) for c in columns] for r in rows])
    for setting in ("enable_external_access = false", "autoload_known_extensions = false",
                    "autoinstall_known_extensions = false", "lock_configuration = true"):
        con.execute(f"SET {setting}")


class WindowQuery:
    """One query, run in a pool thread, that the event loop can stop from outside when it is late.

    DuckDB checks for an interrupt between chunks of work; the row conversion here checks `stopped`
    between fetches. The lock makes sure the connection is interrupted only while it is open.
    """

    def __init__(self, rows: list[dict[str, Any]], columns: list[str], sql: str) -> None:
        self.rows, self.columns, self.sql = rows, columns, sql
        self.lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.stopped = False

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            if self.con is not None:
                self.con.interrupt()

    def run(self) -> dict[str, Any]:
        con = duckdb.connect(":memory:", config={"threads": 1, "memory_limit": MEMORY_LIMIT})
        try:
            with self.lock:
                if self.stopped:
                    raise too_slow()
                self.con = con
            load(con, self.rows, self.columns)
            return self.answer(con.execute(self.sql))
        except duckdb.InterruptException as exc:
            raise too_slow() from exc
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc
        finally:
            with self.lock:
                self.con = None
                con.close()

    def answer(self, result: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        """The rows as JSON values, converted a few at a time so that an oversized result stops at
        the byte cap (settings.sql_max_result_bytes) instead of being built first."""
        names = [d[0] for d in result.description]
        budget = settings.sql_max_result_bytes - len(json.dumps(names))
        rows: list[list[Any]] = []
        while len(rows) < MAX_ROWS and (fetched := result.fetchmany(min(FETCH_ROWS, MAX_ROWS - len(rows)))):
            if self.stopped:
                raise too_slow()
            for row in fetched:
                converted = [_json_value(v) for v in row]
                budget -= len(json.dumps(converted)) + 1
                if budget < 0:
                    raise ResultTooLarge(f"the result is over {settings.sql_max_result_bytes} bytes; narrow the "
                                         "query: fewer columns, a WHERE, a LIMIT or an aggregate")
                rows.append(converted)
        return {"columns": names, "rows": rows, "truncated": len(rows) == MAX_ROWS and bool(result.fetchmany(1))}


def too_slow() -> QueryError:
    return QueryError(f"the query ran longer than {QUERY_TIMEOUT_S}s and was stopped")


async def query_windows(rows: list[dict[str, Any]], columns: list[str], query: str) -> dict[str, Any]:
    """Run the query in the SQL pool; past the time limit (counted from now, so waiting for a free
    thread counts too) it is answered as too slow at once, and stopped."""
    job = WindowQuery(rows, columns, prepare(query))
    future = asyncio.wrap_future(POOL.submit(job.run))
    done, _ = await asyncio.wait({future}, timeout=QUERY_TIMEOUT_S)
    if not done:
        future.cancel()             # a query still waiting for a thread never starts
        job.stop()                  # a running one stops at DuckDB's next check, or at its next fetch
        raise too_slow()
    return future.result()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
