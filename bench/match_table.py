"""What a match feed costs the match agent's tables over a whole simulated 90-minute match, kept two
ways: as before, the timeline and win-probability points inside the match's table value (the
baseline), and as chunked rows beside a value that counts them (agents/matches.py). For each event
record: the bytes written to RocksDB, which are also the bytes sent to the changelog topic, and the
CPU time of Faust's JSON table codec to read and write them; and for a query of the match's timeline,
the CPU time to read it. No Kafka or Cassandra: the tables are dicts of encoded values.

Usage: .venv/bin/python bench/match_table.py [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, NamedTuple

from faust.serializers.codecs import get_codec

from agents import matches
from agents.match_state import apply_events, new_match
from agents.owned import RunRows
from models.run import stamp_readings
from simulator.events import EVENT_SCHEMA, EventFeed
from simulator.match import Match
from simulator.pitch import Pitch
from sports_prophet.config import settings

CODEC = get_codec("json")          # the runs' and matches' table_value_serializer
KICKOFF = 1_767_225_600.0
KEY = matches.match_key("bench")


class EncodedTable(dict):
    """A table of encoded values, as RocksDB holds them: counts the bytes written and the codec's CPU time."""

    written = 0
    codec_s = 0.0

    def __getitem__(self, key: bytes) -> Any:
        raw = self.get(key)
        started = time.process_time()
        value = CODEC.loads(raw) if raw is not None else []
        self.codec_s += time.process_time() - started
        return value

    def __setitem__(self, key: bytes, value: Any) -> None:
        started = time.process_time()
        raw = CODEC.dumps(value)
        self.codec_s += time.process_time() - started
        self.written += len(raw)
        super().__setitem__(key, raw)


def feed_records(seed: int) -> list[list[dict[str, Any]]]:
    """A simulated match's event feed, one record per tick that had events, stamped as the gateway does."""
    match = Match(Pitch(centre_lat=51.5, centre_lon=-0.1, orientation_deg=0.0), seed=seed, rate_hz=2.0)
    feed = EventFeed(match, "bench", seed)
    records = []
    for _t, _fixes in match.ticks():
        events = feed.advance()
        if events:
            records.append(stamp_readings(EVENT_SCHEMA, [e.reading(KICKOFF) for e in events], KICKOFF)[0])
    last = feed.advance()                  # full time
    if last:
        records.append(stamp_readings(EVENT_SCHEMA, [e.reading(KICKOFF) for e in last], KICKOFF)[0])
    return records


class Cost(NamedTuple):
    written: int            # bytes, over every record
    codec_s: float          # CPU s, over every record
    query_s: float          # CPU s, one timeline query at the end


def in_value(records: list[list[dict[str, Any]]]) -> Cost:
    """The baseline: each event rewrites the match's value with both lists inside it."""
    table, history = EncodedTable(), settings.match_history
    table[KEY] = {"state": new_match("bench"), "timeline": [], "probabilities": []}
    for readings in records:
        kept = table[KEY]
        update = apply_events(kept["state"], readings)
        table[KEY] = {"state": update.state, "timeline": (kept["timeline"] + update.timeline)[-history:],
                      "probabilities": (kept["probabilities"] + update.points)[-history:]}
    written, codec_s = table.written, table.codec_s
    started = time.process_time()
    table[KEY]["timeline"]
    return Cost(written, codec_s, time.process_time() - started)


def chunked(records: list[list[dict[str, Any]]]) -> Cost:
    """As agents/matches.py keeps a match: the value counts the rows, the rows live in chunks."""
    values, chunks = EncodedTable(), EncodedTable()
    matches.match_rows = RunRows(chunks, settings.match_history)
    values[KEY] = {"state": new_match("bench"), matches.TIMELINE: 0, matches.POINTS: 0}
    for readings in records:
        kept = values[KEY]
        update = apply_events(kept["state"], readings)
        values[KEY] = {"state": update.state,
                       matches.TIMELINE: matches.appended(KEY, kept, matches.TIMELINE, update.timeline),
                       matches.POINTS: matches.appended(KEY, kept, matches.POINTS, update.points)}
    written, codec_s = values.written + chunks.written, values.codec_s + chunks.codec_s
    started = time.process_time()
    matches.match_list("bench", values[KEY], matches.TIMELINE)
    return Cost(written, codec_s, time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print("simulating a 90-minute match's event feed ...", flush=True)
    records = feed_records(args.seed)
    events = sum(len(r) for r in records)
    old, new = in_value(records), chunked(records)
    print(f"\n{events:,} events in {len(records):,} records (match_history {settings.match_history})")
    print(f"{'per event record':44} {'in the value (baseline)':>24} {'chunked rows':>14} {'ratio':>7}")
    print(f"{'bytes written (RocksDB and changelog)':44} {old.written / len(records):24,.0f} "
          f"{new.written / len(records):14,.0f} {new.written / old.written:7.3f}")
    print(f"{'CPU µs in the JSON codec':44} {old.codec_s / len(records) * 1e6:24,.0f} "
          f"{new.codec_s / len(records) * 1e6:14,.0f} {new.codec_s / old.codec_s:7.3f}")
    print(f"{'a timeline query at full time: CPU µs':44} {old.query_s * 1e6:24,.0f} {new.query_s * 1e6:14,.0f} "
          f"{new.query_s / old.query_s:7.3f}")


if __name__ == "__main__":
    main()
