"""Read-only SQL over one run's window rows, for /get-latest-stats (the old Spark SQL route).

Each query gets a fresh in-memory DuckDB holding only that run's rows as table `windows`
(`{table}` in the query names it). Only one SELECT is allowed; file, network and extension
access are switched off and the configuration locked before the query runs; a query that
runs past `QUERY_TIMEOUT_S` is interrupted; at most `MAX_ROWS` rows come back.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import duckdb

QUERY_TIMEOUT_S = 2.0
MAX_ROWS = 10_000
MAX_QUERY_CHARS = 4_000
TABLE = "windows"


class QueryError(ValueError):
    """A query we refuse or DuckDB rejected; the message says why."""


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


def load(rows: list[dict[str, Any]], columns: list[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the rows as `windows`, sandboxed before any user SQL runs."""
    con = duckdb.connect(":memory:")
    types = {c: _column_type([r.get(c) for r in rows]) for c in columns}
    con.execute(f"CREATE TABLE {TABLE} ({', '.join(f'{_quote(c)} {types[c]}' for c in columns)})")
    if rows:
        con.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' for _ in columns)})",
                        [[r.get(c) for c in columns] for r in rows])
    for setting in ("enable_external_access = false", "autoload_known_extensions = false",
                    "autoinstall_known_extensions = false", "lock_configuration = true"):
        con.execute(f"SET {setting}")
    return con


def run(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    try:
        result = con.execute(sql)
        names = [d[0] for d in result.description]
        fetched = result.fetchmany(MAX_ROWS + 1)
    except duckdb.InterruptException as exc:
        raise QueryError(f"the query ran longer than {QUERY_TIMEOUT_S}s and was stopped") from exc
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from exc
    return {"columns": names, "rows": [[_json_value(v) for v in row] for row in fetched[:MAX_ROWS]],
            "truncated": len(fetched) > MAX_ROWS}


async def query_windows(rows: list[dict[str, Any]], columns: list[str], query: str) -> dict[str, Any]:
    """Run the query in a thread; past the time limit DuckDB's interrupt stops it."""
    sql = prepare(query)
    loop = asyncio.get_running_loop()
    con = await loop.run_in_executor(None, load, rows, columns)
    task = loop.run_in_executor(None, run, con, sql)
    try:
        done, _ = await asyncio.wait({task}, timeout=QUERY_TIMEOUT_S)
        if not done:
            con.interrupt()
        return await task
    finally:
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
