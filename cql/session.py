"""One Cassandra session per process, and an asyncio bridge for the driver's futures."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any, AsyncIterator

from cassandra import cqltypes
from cassandra.cluster import Cluster, NoHostAvailable, ResponseFuture, Session
from cassandra.marshal import int64_pack
from cassandra.policies import ExponentialReconnectionPolicy
from cassandra.query import PreparedStatement, Statement

from sports_prophet.config import settings

_serialize_timestamp = cqltypes.DateType.serialize


def serialize_timestamp(value: Any, protocol_version: int) -> bytes:
    """The driver's CQL timestamp serializer, epoch milliseconds first. The driver tries a datetime's
    methods before an int's, raising and catching two AttributeErrors per value: with three
    timestamps per `readings` row, half the archive's binding time (bench/cost.py: 19 -> 9.5 µs a
    row). The same bytes for every input (tests/unit/test_archive_rows.py)."""
    if type(value) is int:
        return int64_pack(value)
    return _serialize_timestamp(value, protocol_version)


cqltypes.DateType.serialize = staticmethod(serialize_timestamp)


class CassandraUnavailable(RuntimeError):
    """Cassandra could not be reached; the message says how to start it."""


@lru_cache(maxsize=1)
def session() -> Session:
    """Connect once per process: the driver's Session is thread-safe and pools connections."""
    # Reconnect within seconds of an outage ending (the driver's default back-off grows to 10 minutes).
    cluster = Cluster(settings.cassandra_contact_points, port=settings.cassandra_port,
                      connect_timeout=5, protocol_version=5,
                      reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=5.0))
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        raise CassandraUnavailable(
            f"Cassandra not reachable at {settings.cassandra_hosts}:{settings.cassandra_port} — "
            f"run `scripts/stack up` (or set SP_CASSANDRA_HOSTS / SP_CASSANDRA_PORT)") from exc


@lru_cache(maxsize=256)
def prepare(cql: str) -> PreparedStatement:
    """Prepare each statement once; `{ks}` in the text becomes the configured keyspace."""
    return session().prepare(cql.format(ks=settings.keyspace))


async def execute(cql: str, params: tuple | list = ()) -> Any:
    """Run a prepared statement without blocking the event loop; returns the driver's whole ResultSet."""
    return (await run(prepare(cql), params)).result()


async def run(statement: Statement | PreparedStatement, params: tuple | list | None = None,
              paging_state: bytes | None = None) -> ResponseFuture:
    """Execute any statement without blocking the event loop. Returns the settled future; its
    `result()` is a ResultSet whose `current_rows` and `paging_state` are one page."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    future: ResponseFuture = session().execute_async(statement, params, paging_state=paging_state)

    def on_result(_rows: Any) -> None:
        loop.call_soon_threadsafe(_settle, done, future, None)

    def on_error(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, done, future, exc)

    future.add_callbacks(on_result, on_error)
    return await done


def _settle(done: asyncio.Future, future: ResponseFuture, exc: BaseException | None) -> None:
    if done.cancelled():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(future)


async def pages(cql: str, params: tuple | list, page_size: int = 1000) -> AsyncIterator[list[Any]]:
    """The rows of a query one page at a time, each fetched without blocking the event loop,
    so a large result (a whole run's readings) is streamed instead of held in memory."""
    statement = prepare(cql).bind(params)
    statement.fetch_size = page_size
    state: bytes | None = None
    while True:
        page = (await run(statement, None, paging_state=state)).result()
        yield list(page.current_rows)      # this page only; iterating `page` would fetch the rest
        state = page.paging_state
        if not state:
            return
