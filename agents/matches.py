"""The match agent: each match's live state, timeline and win-probability series in RocksDB tables.

A match feed is a run of the device `match_events` (run id = the match id), so the run agent
(agents/runs.py) already brings every record of it, exactly once and in order, to the worker that
owns the run's partition, and deletes and re-creations of the feed's topic too. It hands each such
record to `take`, which folds it into the match through the pure reducer (agents/match_state.py).
The table is keyed like the run (`match_events/<match>`), so a match lives in the run's partition and
a query about a match is routed like a query about the run.

The match state records the next source offset it has to apply, beside the run's own, so a record
is applied once to the match whatever happened to the run's table write of the same record.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from agents.match_state import MatchEventError, MatchUpdate, apply_events, apply_setup, new_match, reject, summary
from agents.owned import RunRows, list_rows_key
from agents.segments import whistle_markers
from agents.statuses import run_statuses
from agents.topics import outputs_topic
from models.match import EVENTS_DEVICE
from models.run import parse_run_topic, run_key, split_run_key
from sports_prophet.app import app, gateway
from sports_prophet.config import settings
from sports_prophet.kafka import KafkaUnavailable

log = logging.getLogger(__name__)

# Keys are raw bytes like the run tables' (agents/owned.py): a query is routed by the same hash.
# A value is {"state": the reducer's state, "timeline": n, "probabilities": m}: how many rows of each
# list the match ever appended to `match_rows`. Kept in the value itself, a match's 1,000 newest
# timeline events and points were decoded, rewritten and sent to the changelog with every event, a
# pass every few seconds, and decoded again by every query, the gateway's clock check of each event too.
matches = app.Table("matches", default=None, key_type=bytes, partitions=settings.topic_partitions)
# One chunk table for both lists: every table adds its changelog partitions to each rebalance's recovery.
match_row_chunks = app.Table("match-row-chunks", default=list, key_type=bytes, partitions=settings.topic_partitions)
match_rows = RunRows(match_row_chunks, settings.match_history)
TIMELINE, POINTS = "timeline", "probabilities"


def match_key(match_id: str) -> str:
    return run_key(EVENTS_DEVICE, match_id)


def is_match_feed(key: str) -> bool:
    return split_run_key(key)[0] == EVENTS_DEVICE


def get_match(match_id: str) -> dict[str, Any] | None:
    """The match's table value (its state, and how many rows of each list it has); None if unknown."""
    return matches.get(match_key(match_id).encode())


def match_list(match_id: str, value: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The match's newest rows of one list (TIMELINE or POINTS), oldest first."""
    count = value[kind]
    if isinstance(count, list):                      # a value written with the lists inside it
        return count
    return match_rows.read(list_rows_key(match_key(match_id), kind), count)


def appended(key: str, value: dict[str, Any], kind: str, rows: list[dict[str, Any]]) -> int:
    """Append rows to one of the match's lists; returns its new count. The lists of a value written
    with them inside it move to the chunk table first."""
    count = value[kind]
    if isinstance(count, list):
        rows, count = count + rows, 0
    return match_rows.append(list_rows_key(key, kind), count, rows) if rows else count


def local_matches() -> list[dict[str, Any]]:
    """Every match in this worker's table partitions, as list rows."""
    return [{"match_id": s["match_id"], "status": s["status"], "period": s["period"], "minute": s["minute"],
             "score": {t: side["goals"] for t, side in s["sides"].items()},
             "teams": {t: side["name"] for t, side in s["sides"].items()},
             "win_probability": s["win_probability"], "last_t": s["last_t"]}
            for s in (value["state"] for _, value in list(matches.items()) if value)]


def update_for(state: dict[str, Any], value: dict[str, Any]) -> MatchUpdate:
    """What one record of the feed's run topic does to the match: readings are events (a batch the
    reducer refuses is counted, not applied), a config may set the sides."""
    kind = value.get("type", "readings")
    if kind == "readings":
        try:
            return apply_events(state, value["readings"])
        except MatchEventError as exc:       # the gateway checked it; a concurrent writer got in between
            log.warning("match %s: batch refused at event %d: %s %s", state["match_id"], exc.index, exc.message,
                        exc.detail)
            return MatchUpdate(reject(state, exc))
    if kind == "config":
        return MatchUpdate(apply_setup(state, value["config"].get("match")))
    return MatchUpdate(state)


async def take(key: str, value: dict[str, Any], offset: int) -> None:
    """Apply one record of a match feed's run topic to its match (once: replays are skipped)."""
    raw_key = key.encode()
    kept = matches.get(raw_key) or {"state": new_match(split_run_key(key)[1]), TIMELINE: 0, POINTS: 0}
    if offset < kept["state"].get("source_next", 0):
        return
    update = update_for(kept["state"], value)
    new = {**update.state, "source_next": offset + 1}
    await mark_player_runs(new["match_id"], whistle_markers(update.timeline))
    # The rows first, the counts with the state after: a crash in between appends them again, in place.
    matches[raw_key] = {"state": new, TIMELINE: appended(key, kept, TIMELINE, update.timeline),
                        POINTS: appended(key, kept, POINTS, update.points)}
    for entry in update.timeline:
        await outputs_topic.send(key=raw_key, value={"type": "match_event", "match_id": new["match_id"],
                                                      "entry": entry})
    if update.points:
        await outputs_topic.send(key=raw_key, value={"type": "match_probabilities", "match_id": new["match_id"],
                                                      "points": update.points})
    await outputs_topic.send(key=raw_key, value={"type": "match", "summary": summary(new),
                                                  "produced_at": time.time()})


def is_player_run(run_id: str, match_id: str) -> bool:
    """A player's run of the match: `<match>_t<team>_<number>` (simulator/events.py names them so)."""
    return re.fullmatch(rf"{re.escape(match_id)}_t\d+_\d+", run_id) is not None


async def mark_player_runs(match_id: str, markers: list[dict[str, Any]]) -> None:
    """Send the whistles' period markers to the match's player runs, through each run's own topic (so
    each owner applies them in order with the run's readings). Sent before the match's own table write:
    a crash in between sends them again, and a run takes a marker once (agents/segments.py)."""
    if not markers:
        return
    try:
        for topic in await gateway.run_topics():
            device_id, run_id = parse_run_topic(topic)
            if is_player_run(run_id, match_id):
                since = run_statuses.deleted_since.get(run_key(device_id, run_id), 0.0)
                for marker in markers:
                    await gateway.write_control(device_id, run_id, {"type": "marker", **marker, "since": since})
    except KafkaUnavailable as exc:          # the match goes on; its players' runs miss these periods
        log.error("match %s: period markers not sent to its players' runs: %s", match_id, exc)


def forget(key: str) -> None:
    """The feed's topic was deleted: the match starts afresh when it is streamed again."""
    raw_key = key.encode()
    value = matches.get(raw_key)
    if value is None:
        return
    for kind in (TIMELINE, POINTS):
        if not isinstance(value[kind], list):
            match_rows.clear(list_rows_key(key, kind), value[kind])
    del matches[raw_key]
