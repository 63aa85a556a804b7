"""The one Faust app and the clients it shares: agents and web views attach themselves to it by importing
`app` from here (registration flows one way; `sports_prophet.worker` imports them all).

Run several workers with the same SP_APP_ID (and their own SP_WEB_PORT and SP_DATA_DIR)
to scale out: Kafka assigns the partitions, tables follow them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading

import faust
import mode
from faust.web.drivers.aiohttp import Web as AiohttpWeb

import sports_prophet.faust_fixes  # noqa: F401  (patches Faust before the app exists)
import sports_prophet.rocksdb_memory  # noqa: F401  (one memory budget for every RocksDB table)
from cql.registry import DeviceRegistry
from sports_prophet import metrics
from sports_prophet.config import settings
from sports_prophet.kafka import CONSUMER_METADATA_MAX_AGE_MS, KafkaGateway
from web.auth import Guard
from web.cors import cors
from web.errors import json_errors
from web.timing import timed

MAX_REQUEST_LINE_BYTES = 64 * 1024
# Faust mounts its "production index" view at "/" as well. aiohttp serves the dashboard there (the
# route registered first), but the index replaced the dashboard in `app.web.views`, which
# /openapi.json is built from: leave it out.
AiohttpWeb.production_blueprints = []
registry = DeviceRegistry()
guard = Guard(registry, settings.admin_token, settings.read_token)
app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="rocksdb://",
    datadir=str(settings.data_dir),
    topic_partitions=settings.topic_partitions,
    topic_allow_declare=True,
    web_bind=settings.web_host,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    # Faust's own /router/ and /table/ views are off: nothing here uses them over HTTP (table_route
    # forwards to the owner's same route), they dump raw table state in their own error shape, and
    # GET /router/<unknown table>/ was a 500. Every route served is in /openapi.json.
    web_router_enabled=False,
    web_tables_enabled=False,
    web_application_options={
        # outermost first: CORS answers preflights; errors, auth's 401/403 included, become JSON
        "middlewares": [timed, cors(settings.cors_origin_set), json_errors, guard.middleware],
        "client_max_size": settings.max_message_bytes,
        # aiohttp refuses a request line over 8190 bytes with a plain-text 400 before any route sees it;
        # a valid /get-latest-stats query (4,000 characters, percent-encoded) takes up to ~48 KB.
        "handler_args": {"max_line_size": MAX_REQUEST_LINE_BYTES},
    },
    producer_max_request_size=4 * 1024 * 1024,
    table_standby_replicas=0,
    broker_session_timeout=10,     # a crashed worker's partitions move after 10 s, not Faust's 60
    broker_heartbeat_interval=3,
    table_key_serializer="raw",
    table_value_serializer="json",      # timers act on every run in the local store: keep only owned partitions
    consumer_max_fetch_size=4 * 1024 * 1024,
    consumer_metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS,
)

gateway = KafkaGateway()
log = logging.getLogger(__name__)
SHUTDOWN_DEADLINE_S = 20.0
CRASH_SHUTDOWN_DEADLINE_S = 3.0


@app.service
class GatewayService(mode.Service):
    """Stops the gateway's Kafka clients with the worker (they start on first use)."""

    async def on_stop(self) -> None:
        await gateway.stop()


@app.service
class ShutdownDeadline(mode.Service):
    """Ends the process when a stop hangs: with Kafka gone, Faust's consumer thread waits for it for
    ever and the worker never exits on SIGTERM (faust issues 484, 596); after a Faust service crashed
    (its consumer broken mid-rebalance), the stop hung the same way while every ingest answered 503.
    A crashed worker gets a short deadline: it exits non-zero at once, for its supervisor
    (`scripts/run`, docker compose's restart policy) to start it again. Exiting loses nothing:
    every state change is in Kafka before its offset is committed, and replays are skipped."""

    async def on_stop(self) -> None:
        if app.crash_reason is not None:
            log.error("a Faust service crashed (%r): the worker stops and exits non-zero, to be restarted",
                      app.crash_reason)
            seconds, why = CRASH_SHUTDOWN_DEADLINE_S, "after a crash"
        else:
            seconds, why = SHUTDOWN_DEADLINE_S, f"(is Kafka reachable at {settings.kafka_bootstrap}?)"
        deadline = threading.Timer(seconds, exit_now, (seconds, why))
        deadline.daemon = True          # a stop that completes ends the process without waiting for it
        deadline.start()


def exit_now(seconds: float, why: str) -> None:
    log.error("the worker did not stop within %.0fs %s; exiting now", seconds, why)
    logging.shutdown()
    os._exit(1)


GC_FREEZE_AFTER_S = 10.0


@app.task
async def freeze_startup_objects() -> None:
    """Take the objects that live as long as the worker (modules, the app, its clients: ~150k) out
    of the garbage collector's full passes, once start-up has settled. Each full pass traversed
    them all and paused the event loop for 40-70 ms, which was the whole of the live-query p99
    (bench/process.py: wrk p99 34 → 8 ms)."""
    await asyncio.sleep(GC_FREEZE_AFTER_S)
    gc.collect()
    gc.freeze()


LOOP_PROBE_S = 0.01


@app.task
async def measure_loop_lag() -> None:
    """Sample how long work holds the event loop (`sp_event_loop_lag_seconds`): the floor under every
    live query's latency, and the figure bench/process.py reports beside the query p99."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(LOOP_PROBE_S)
        metrics.loop_lag_seconds.observe(max(0.0, loop.time() - started - LOOP_PROBE_S))
