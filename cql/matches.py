"""The match archive: the match agent's outputs as idempotent CQL rows, and the reads of the
match history routes (tables: cql/schema.cql).

Keys come from the records (the match id, a timeline entry's or probability point's sequence
number), so a replayed output rewrites the same rows; summaries are stamped `USING TIMESTAMP`
with the time the agent produced them, so an older one never overwrites a newer one.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from cql.archive import Write, ms
from cql.history import epoch_s
from cql.session import execute

MATCH_OUTPUTS = ("match", "match_event", "match_probabilities")

UPSERT_MATCH = ("INSERT INTO {ks}.matches (match_id, status, first_t, last_t, home_team, away_team, home_goals, "
                "away_goals, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
UPSERT_MATCH_BY_DAY = ("INSERT INTO {ks}.matches_by_day (day, match_id, first_t, status, home_team, away_team, "
                       "home_goals, away_goals) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
INSERT_TIMELINE = ("INSERT INTO {ks}.match_timeline (match_id, seq, t, minute, event, team, entry_json) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)")
INSERT_PROBABILITY = ("INSERT INTO {ks}.match_probabilities (match_id, seq, minute, period, home, draw, away) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)")


def summary_writes(summary: dict[str, Any], produced_at: float) -> list[Write]:
    match_id, teams, score = summary["match_id"], summary["teams"], summary["score"]
    stamp = round(produced_at * 1_000_000)
    common = (summary["status"], teams["home"]["name"], teams["away"]["name"], score["home"], score["away"])
    writes = [Write(UPSERT_MATCH, (match_id, summary["status"], ms(summary["first_t"]), ms(summary["last_t"]),
                                   *common[1:], json.dumps(summary), stamp), ("matches", match_id), ())]
    if summary["first_t"] is not None:
        day = datetime.fromtimestamp(summary["first_t"], timezone.utc).date()
        writes.append(Write(UPSERT_MATCH_BY_DAY, (day, match_id, ms(summary["first_t"]), *common, stamp),
                            ("matches_by_day", day), (match_id,)))
    return writes


def match_output_writes(value: dict[str, Any]) -> list[Write]:
    """The rows of one match record of the run agent's outputs topic."""
    kind = value["type"]
    if kind == "match":
        return summary_writes(value["summary"], value["produced_at"])
    match_id = value["match_id"]
    if kind == "match_event":
        e = value["entry"]
        return [Write(INSERT_TIMELINE, (match_id, e["seq"], ms(e["t"]), e["minute"], e["event"], e["team"],
                                        json.dumps(e)), ("match_timeline", match_id), (e["seq"],))]
    if kind == "match_probabilities":
        return [Write(INSERT_PROBABILITY, (match_id, p["seq"], p["minute"], p["period"], p["home"], p["draw"],
                                           p["away"]), ("match_probabilities", match_id), (p["seq"],))
                for p in value["points"]]
    raise ValueError(f"unknown match output record type {kind!r}")


async def match_summary(match_id: str) -> dict[str, Any] | None:
    row = (await execute("SELECT summary_json FROM {ks}.matches WHERE match_id = ?", (match_id,))).one()
    return None if row is None else json.loads(row.summary_json)


async def matches_on(day: date) -> list[dict[str, Any]]:
    rows = await execute("SELECT match_id, first_t, status, home_team, away_team, home_goals, away_goals "
                         "FROM {ks}.matches_by_day WHERE day = ?", (day,))
    return [{"day": day.isoformat(), "match_id": r.match_id, "first_t": epoch_s(r.first_t), "status": r.status,
             "teams": {"home": r.home_team, "away": r.away_team},
             "score": {"home": r.home_goals, "away": r.away_goals}} for r in rows]


async def timeline(match_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await execute("SELECT entry_json FROM {ks}.match_timeline WHERE match_id = ? LIMIT ?", (match_id, limit))
    return [json.loads(r.entry_json) for r in rows]


async def probabilities(match_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await execute("SELECT seq, minute, period, home, draw, away FROM {ks}.match_probabilities "
                         "WHERE match_id = ? LIMIT ?", (match_id, limit))
    return [{"seq": r.seq, "minute": r.minute, "period": r.period, "home": r.home, "draw": r.draw, "away": r.away}
            for r in rows]
