"""What one reading costs in the worker's Python, stage by stage: CPU time (time.process_time, so
other processes on the machine do not count), on one core, with no Kafka in the way. It says how
many readings a second one Python process can carry through the whole path, whatever the machine's
load, and which stage to speed up next.

- gateway: parse an HTTP batch body and validate it against the device's schema (web/ingest.py);
- gateway, marshmallow alone: the same validation as before the compiled check (the baseline);
- agent: apply a record's readings to its run (run_state.apply_burst: stats, windows, triggers,
  motion), and the per-reading reference (apply_readings); and records of 2 readings, as a
  WebSocket stream's hold, against the numpy path alone (apply_columns), which took them all before;
- archive: turn a record into its Cassandra rows and bind them into unlogged batches (cql/archive.py),
  against binding one INSERT per row, as the plain driver baseline of bench/sink.py does.
The archive rows need a Cassandra to prepare their statements against (`scripts/bench cost`).

Usage: .venv/bin/python bench/cost.py [--readings 20000] [--batch 200]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import orjson

from agents import run_state
from cql.archive import batches, reading_writes, statement
from cql.session import prepare
from models.device import reading_validator
from models.run import stamp_readings
from process import SCHEMA, T0, fix            # bench/process.py: the same 10 Hz track
from web.ingest import parse_batch


def cpu_us_per_reading(work: Callable[[], object], readings: int, repeat: int = 3) -> float:
    """The least CPU time of `repeat` runs of `work`, in µs per reading."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / readings * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200, help="readings per request and per record")
    args = parser.parse_args()
    n, size = args.readings, args.batch
    stamped = [fix(i) for i in range(n)]
    bodies = [orjson.dumps([r["data"] for r in stamped[i:i + size]]) for i in range(0, n, size)]
    records = [{"device_id": "d", "run_id": "r", "received_at": T0, "time_field": "timestamp",
                "readings": stamped[i:i + size], "since": 0.0} for i in range(0, n, size)]
    validator = reading_validator(SCHEMA)

    def gateway() -> None:
        for body in bodies:
            stamp_readings(SCHEMA, parse_batch(body, "application/json"), T0)

    def marshmallow() -> None:
        for body in bodies:
            for reading in orjson.loads(body):
                validator.validate(reading)

    def agent(apply: Callable, per_record: int = size) -> Callable[[], None]:
        def run() -> None:
            state = run_state.new_run("d", "r", 10.0)
            for offset, start in enumerate(range(0, n, per_record)):
                state, _, _ = apply(state, stamped[start:start + per_record], offset, T0, 5.0, "timestamp")
        return run

    def archive() -> None:
        for offset, record in enumerate(records):
            for batch in batches(reading_writes(record, offset)):
                statement(batch)

    def one_insert_per_row() -> None:
        for offset, record in enumerate(records):
            for write in reading_writes(record, offset):
                prepare(write.cql).bind(write.params)

    rows = [
        ("gateway: parse + validate (compiled check)", cpu_us_per_reading(gateway, n)),
        ("gateway: validate with marshmallow alone (baseline)", cpu_us_per_reading(marshmallow, n)),
        ("agent: apply_burst (stats, windows, triggers, motion)", cpu_us_per_reading(agent(run_state.apply_burst), n)),
        ("agent: apply_readings, per reading (reference)", cpu_us_per_reading(agent(run_state.apply_readings), n)),
        ("agent: records of 2 readings (a WebSocket stream's)", cpu_us_per_reading(agent(run_state.apply_burst, 2), n)),
        ("agent: the same in numpy (apply_columns: the baseline)",
         cpu_us_per_reading(agent(run_state.apply_columns, 2), n)),
        ("archive: rows + unlogged batches bound", cpu_us_per_reading(archive, n)),
        ("archive: one INSERT bound per row (baseline)", cpu_us_per_reading(one_insert_per_row, n)),
    ]
    print(f"\n{'stage (' + str(size) + ' readings per request/record)':58} {'CPU µs/reading':>15} {'readings/s/core':>16}")
    for name, us in rows:
        print(f"{name:58} {us:15.1f} {1e6 / us:16,.0f}")
    path = rows[0][1] + rows[2][1] + rows[6][1]
    print(f"{'whole path: gateway + apply_burst + archive':58} {path:15.1f} {1e6 / path:16,.0f}")
    print("(CPU time of this process only; Faust's per-record cost, Kafka's and Cassandra's own are not in it)")


if __name__ == "__main__":
    main()
