"""One Cassandra session per process, and an asyncio bridge for the driver's futures."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from cassandra.cluster import Cluster, NoHostAvailable, ResponseFuture, Session
from cassandra.query import PreparedStatement

from sports_prophet.config import settings


class CassandraUnavailable(RuntimeError):
    """Cassandra could not be reached; the message says how to start it."""


@lru_cache(maxsize=1)
def session() -> Session:
    """Connect once per process: the driver's Session is thread-safe and pools connections."""
    cluster = Cluster(settings.cassandra_contact_points, port=settings.cassandra_port,
                      connect_timeout=5, protocol_version=5)
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
    """Run a prepared statement without blocking the event loop; returns the driver's ResultSet."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    future: ResponseFuture = session().execute_async(prepare(cql), params)

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
        # The callback saw only the first page; `result()` returns the whole ResultSet
        # (paging through later pages synchronously is fine for the small results we read this way).
        done.set_result(future.result())
