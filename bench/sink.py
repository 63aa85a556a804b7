"""Archive sink throughput: `readings` rows/s the project's sink writes to Cassandra, against a plain
cassandra-driver concurrent insert of the same rows (one INSERT per row, a bounded number in flight,
into a copy of the `readings` table in a keyspace of its own) measured in the same run on the same
node: the baseline. The issue's target is sink >= 0.8 x baseline.

The sink is measured two ways, each on runs of its own (so no measurement overwrites another's rows):
- its writer alone: `ArchiveWriter.write` on rows built beforehand, one call per poll's worth of
  records (SP_SINK_BATCH_RECORDS), as agents/sink.py calls it: the Cassandra side only. It and the
  baseline run after an untimed warm-up, in two interleaved halves, so neither gets a colder node;
- end to end: a worker (run agent and sink) started first and idle, then the readings produced into
  new run topics; timed from the first record produced until the sink has committed the last (it
  commits only after Cassandra has the record's rows), so it includes run discovery.
Every measurement then counts its rows in Cassandra.

Run it with `scripts/bench sink` (a freshly formatted stack of its own). Starts its own worker.
Usage: .venv/bin/python bench/sink.py [--runs 12] [--readings-per-run 25000] [--baseline-concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from cassandra.concurrent import execute_concurrent_with_args

from cql.apply import CQL_DIR, statements
from cql.archive import BUCKET_MS, INSERT_READING, ArchiveWriter, Write, reading_writes
from cql.registry import DeviceRegistry
from cql.session import session
from process import RECORD_READINGS, SCHEMA, fix, load_topics      # bench/process.py: same readings, same loader
from sports_prophet.config import settings
from sports_prophet.ops.worker_process import WorkerProcess
from web.auth import new_ingest_token

BASELINE_KEYSPACE = "bench_baseline"
TARGET = 0.8
CATCH_UP_S = 600


def run_records(device: str, run: str, per_run: int) -> list[tuple[int, dict[str, Any]]]:
    """(offset, value) of each record a run topic holds after `load_topics`: the gateway's record shape."""
    readings = [fix(i) for i in range(per_run)]
    return [(offset, {"device_id": device, "run_id": run, "received_at": time.time(), "time_field": "timestamp",
                      "readings": readings[i:i + RECORD_READINGS]})
            for offset, i in enumerate(range(0, per_run, RECORD_READINGS))]


def reading_rows(records: list[tuple[int, dict[str, Any]]]) -> list[Write]:
    """The `readings` rows of these records, exactly as the sink builds them."""
    return [w for offset, value in records for w in reading_writes(value, offset) if w.cql == INSERT_READING]


def create_baseline_table() -> None:
    """The `readings` table of cql/schema.cql, in the baseline's own keyspace."""
    for statement in statements((CQL_DIR / "schema.cql").read_text()):
        if statement.startswith("CREATE KEYSPACE") or ".readings (" in statement:
            session().execute(re.sub(r"\bsports_prophet\b", BASELINE_KEYSPACE, statement), timeout=60)


def baseline(records: list[tuple[int, dict[str, Any]]], concurrency: int) -> float:
    """Seconds the driver's own concurrent executor takes to write the records' readings rows,
    one prepared INSERT per row."""
    insert = session().prepare(INSERT_READING.format(ks=BASELINE_KEYSPACE))
    params = [row.params for row in reading_rows(records)]
    chunk = max(1, len(params) // 5)
    started = time.perf_counter()
    for i in range(0, len(params), chunk):
        execute_concurrent_with_args(session(), insert, params[i:i + chunk], concurrency=concurrency,
                                     raise_on_first_error=True)
        progress("baseline", i + len(params[i:i + chunk]), len(params), started)
    return time.perf_counter() - started


async def sink_writer(records: list[tuple[int, dict[str, Any]]]) -> float:
    """Seconds ArchiveWriter.write takes for the records' rows (built beforehand), called per poll's
    worth of records as agents/sink.py calls it."""
    polls = [[w for offset, value in records[i:i + settings.sink_batch_records] for w in reading_writes(value, offset)]
             for i in range(0, len(records), settings.sink_batch_records)]
    total = sum(len(value["readings"]) for _, value in records)
    writer = ArchiveWriter(concurrency=settings.sink_concurrency)
    written = 0
    started = time.perf_counter()
    for poll in polls:
        await writer.write(poll)
        written += sum(1 for w in poll if w.cql == INSERT_READING)
        progress("ArchiveWriter.write", written, total, started)
    return time.perf_counter() - started


async def committed_records(admin: AIOKafkaAdminClient, group: str, ends: dict[TopicPartition, int]) -> int:
    """Records of these partitions the group has committed (0 before the group exists)."""
    try:
        committed = await admin.list_consumer_group_offsets(group)
    except KafkaError:                       # no coordinator yet: the group has not joined
        return 0
    return sum(min(meta.offset, ends[tp]) for tp, meta in committed.items() if tp in ends and meta.offset > 0)


def check_alive(worker: WorkerProcess) -> None:
    """Fail, with the worker's log, instead of waiting forever for a worker that died."""
    if worker.proc is None or worker.proc.poll() is not None:
        raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")


async def caught_up(admin: AIOKafkaAdminClient, groups: list[str], ends: dict[TopicPartition, int]) -> bool:
    """Whether every group has committed every record of these partitions."""
    for group in groups:
        if await committed_records(admin, group, ends) < sum(ends.values()):
            return False
    return True


async def run_topic_ends(consumer: AIOKafkaConsumer, topics: set[str] | None = None) -> dict[TopicPartition, int]:
    """End offsets of the cluster's run topics (or of those of `topics` that exist yet); every run
    topic has SP_TOPIC_PARTITIONS partitions."""
    names = [t for t in await consumer.topics() if t.startswith("readings.") and (topics is None or t in topics)]
    partitions = [TopicPartition(t, p) for t in names for p in range(settings.topic_partitions)]
    return await consumer.end_offsets(partitions) if partitions else {}


async def end_to_end(folder: Path, device: str, runs: list[str], per_run: int) -> float:
    """rows/s from the first record produced until the sink of a running worker has committed the last.
    The worker is started first and left to archive whatever the cluster already holds (a fresh app
    id replays every run topic), so it is warm and idle when the timed readings arrive."""
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(folder, "bench-sink", {"SP_APP_ID": app_id})
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        print(f"  starting a worker (log {worker.log_path}) ...", flush=True)
        worker.start()
        earlier = await run_topic_ends(consumer)
        deadline = time.perf_counter() + CATCH_UP_S
        while not await caught_up(admin, [app_id, f"{app_id}-sink"], earlier):
            check_alive(worker)
            if time.perf_counter() > deadline:
                print(f"  WARNING: the worker has not caught up with the earlier run topics after {CATCH_UP_S} s: "
                      "the figure below is low", flush=True)
                break
            await asyncio.sleep(1)
        print(f"  the worker is idle ({sum(earlier.values()):,} earlier records in {len({tp.topic for tp in earlier})} "
              f"run topics processed and archived); producing the readings ...", flush=True)
        topics = {f"readings.{device}.{run}" for run in runs}
        total = len(runs) * per_run
        started = last_print = time.perf_counter()
        load = asyncio.create_task(load_topics(device, runs, per_run))
        while True:
            check_alive(worker)
            ends = await run_topic_ends(consumer, topics)
            done = await committed_records(admin, f"{app_id}-sink", ends) * RECORD_READINGS
            if load.done():
                load.result()                # raises if loading failed
                if done >= total:
                    return total / (time.perf_counter() - started)
            if time.perf_counter() - last_print >= 3:
                progress("end to end", done, total, started)
                last_print = time.perf_counter()
            await asyncio.sleep(0.2)
    finally:
        worker.stop()
        await consumer.stop()
        await admin.close()


def progress(what: str, done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"  {what}: {done:,}/{total:,} rows, {elapsed:5.1f} s, {done / max(elapsed, 1e-9):,.0f} rows/s", flush=True)


def stored_rows(keyspace: str, device: str, runs: list[str], per_run: int) -> int:
    """Count the runs' rows in Cassandra (every reading of a run is in the buckets its times fall in)."""
    buckets = sorted({fix(i)["t"] * 1000 // BUCKET_MS * BUCKET_MS for i in range(per_run)})
    query = session().prepare(f"SELECT count(*) FROM {keyspace}.readings WHERE device_id = ? AND run_id = ? "
                              f"AND bucket = ?")
    return sum(session().execute(query, (device, run, int(bucket)), timeout=120).one()[0]
               for run in runs for bucket in buckets)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--readings-per-run", type=int, default=25_000)
    parser.add_argument("--baseline-concurrency", type=int, default=100,
                        help="statements the baseline keeps in flight (the driver's default)")
    args = parser.parse_args()
    per_run, total = args.readings_per_run, args.runs * args.readings_per_run
    device = f"bench_{uuid.uuid4().hex[:8]}"
    await DeviceRegistry().register(device, SCHEMA, new_ingest_token()[1])
    direct_runs, e2e_runs = ([f"{kind}_{i}" for i in range(args.runs)] for kind in ("direct", "e2e"))

    create_baseline_table()
    print("warming up Cassandra, both ways, one run each (not timed: a fresh node is several times slower) ...",
          flush=True)
    warm_up = run_records(device, "warm_up", per_run)
    baseline(warm_up, args.baseline_concurrency)
    await sink_writer(warm_up)
    # Interleaved halves, in alternating order, so the node warming up further favours neither.
    print(f"baseline: cassandra-driver execute_concurrent_with_args into {BASELINE_KEYSPACE}.readings; "
          f"sink writer: ArchiveWriter.write into {settings.keyspace}.readings; {total:,} rows each ...", flush=True)
    seconds = {"baseline": 0.0, "writer": 0.0}
    for half, order in enumerate((("baseline", "writer"), ("writer", "baseline"))):
        records = [record for run in direct_runs[half::2] for record in run_records(device, run, per_run)]
        for name in order:
            seconds[name] += baseline(records, args.baseline_concurrency) if name == "baseline" \
                else await sink_writer(records)
    base, direct = total / seconds["baseline"], total / seconds["writer"]

    print(f"end to end: {total:,} readings produced into {args.runs} run topics, archived by a worker ...",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        e2e = await end_to_end(Path(folder), device, e2e_runs, per_run)

    print("counting the rows in Cassandra ...", flush=True)
    for name, keyspace, runs in (("baseline", BASELINE_KEYSPACE, direct_runs), ("writer", settings.keyspace, direct_runs),
                                 ("end to end", settings.keyspace, e2e_runs)):
        stored = stored_rows(keyspace, device, runs, per_run)
        assert stored == total, f"{name}: {stored:,} rows in Cassandra, expected {total:,}"

    print(f"\n{'what (' + f'{total:,}' + ' readings rows each, all counted in Cassandra)':66} {'rows/s':>9} "
          f"{'vs baseline':>12}")
    for name, rate in (
            (f"cassandra-driver execute_concurrent, 1 INSERT/row, {args.baseline_concurrency} in flight (baseline)",
             base),
            (f"sink: ArchiveWriter.write, rows prebuilt, {settings.sink_concurrency} in flight", direct),
            ("sink: end to end, produced -> worker's sink committed", e2e)):
        print(f"{name:66} {rate:9,.0f} {rate / base:11.2f}x")
    for name, rate in (("writer", direct), ("end to end", e2e)):
        print(f"target sink >= {TARGET} x baseline, {name}: {'met' if rate >= TARGET * base else 'NOT met'}")
    print("(end to end shares the worker's CPU with its run agent and includes run discovery and Kafka)")


if __name__ == "__main__":
    asyncio.run(main())
