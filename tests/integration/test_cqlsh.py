"""cql/examples.cql through the real cqlsh against the real Cassandra node: every analyst query
answers what the API says about the same runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import cql.apply
from cql.apply import CQL_DIR, render, statements
from sports_prophet.config import settings
from tests.integration.conftest import TEST_ENV, register, unique, wait_for
from tests.integration.test_archive import WINDOW_S, archived
from tests.integration.test_live import GPS, T0, get, post, run_has, track

pytestmark = pytest.mark.integration

CQLSH = Path(sys.executable).parent / "cqlsh"
# The examples in file order, each with the table it reads: the test maps results by position.
EXAMPLES = [("player_runs", "run_summaries"), ("top_speeds", "runs_by_day"), ("fastest_of_day", "runs_by_day"),
            ("windows", "windows"), ("buckets", "reading_buckets"), ("readings", "readings"), ("alerts", "alerts"),
            ("intervals", "run_segments"), ("peaks", "run_segments")]
ROWS_LINE = re.compile(r"^\((\d+) rows\)$", re.M)
ROW_HEADER = re.compile(r"^@ Row \d+$", re.M)


def cql_time(epoch_s: float) -> str:
    return "'" + datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+0000") + "'"


def shown_time(value: str) -> float:
    """A timestamp as cqlsh shows it (its default time_format) as epoch seconds."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace the file's sample literals in one pass (a replacement is never replaced again)."""
    for sample in values:
        assert sample in text, f"cql/examples.cql no longer uses the sample value {sample}"
    return re.sub("|".join(map(re.escape, values)), lambda m: values[m.group(0)], text)


def expanded_results(output: str) -> list[list[dict[str, str]]]:
    """The rows of each SELECT in cqlsh's EXPAND ON output, in statement order. A row is a
    `@ Row n` block of ` column | value` lines (values may hold '|'; column names cannot), and
    `(n rows)` closes each statement's result."""
    parts = ROWS_LINE.split(output)
    results = []
    for text, count in zip(parts[0::2], parts[1::2]):
        rows = [dict((name.strip(), value.strip()) for name, value in
                     (line.split(" | ", 1) for line in chunk.splitlines() if " | " in line))
                for chunk in ROW_HEADER.split(text)[1:]]
        assert len(rows) == int(count), text
        results.append(rows)
    return results


async def cqlsh_file(script: Path, rc_file: Path) -> str:
    """Run a CQL file with the real cqlsh (`-f`, as an analyst would) and return what it printed."""
    proc = await asyncio.create_subprocess_exec(
        str(CQLSH), settings.cassandra_contact_points[0], str(settings.cassandra_port), "--no-color",
        "--cqlshrc", str(rc_file), "-f", str(script),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0 and not err.strip(), (proc.returncode, err.decode(), out.decode()[-2000:])
    return out.decode()


async def archived_run(http, worker, device: str, run: str, fixes: list[dict]) -> None:
    """Stream the fixes into the run, stop it, and wait until its final summary is in Cassandra.
    (Not test_live.stream: its 30 s wait is too short while a new session's worker first re-reads
    every older run topic of a shared stack.)"""
    for i in range(0, len(fixes), 100):
        await post(http, worker, f"/ingest/{device}/{run}", fixes[i:i + 100])
    await wait_for(lambda: run_has(http, worker, device, run, len(fixes)), timeout=120, what=f"{run} processed")
    await post(http, worker, f"/stop-stream/{device}/{run}", {})
    await wait_for(lambda: archived(http, worker, device, run, len(fixes)), timeout=120, what=f"{run} archived")


async def archive_complete(http, worker, device: str, runs: list[str], first: date, last: date) -> bool:
    """Cassandra (read through the history routes) has both runs by day and every window and alert
    the live tables have: what the examples read is all written."""
    by_day = await get(http, worker, f"/history/runs?from={first}&to={last}")
    if sorted(r["run_id"] for r in by_day["runs"]) != sorted(runs):
        return False
    for run in runs:
        for live, stored, key in ((f"/runs/{device}/{run}/windows?last=2000", f"/history/{device}/{run}/windows",
                                   "windows"), (f"/alerts/{device}/{run}", f"/history/{device}/{run}/alerts", "alerts")):
            if len((await get(http, worker, live))[key]) != len((await get(http, worker, stored))[key]):
                return False
    return True


async def test_every_example_query_answers_what_the_api_says(http, worker, tmp_path, monkeypatch):
    # Two runs of one player on days no other test uses (shifted by whole days, so the time of
    # day is T0's): run A with triggers (windows, one alert) and a sprint, run B a day later, jogging.
    shift = random.randrange(1_000, 20_000) * 86_400
    device, run_a, run_b = await register(http, worker, GPS), unique("run"), unique("run")
    fixes_a = [{**f, "timestamp": f["timestamp"] + shift} for f in track(300)]
    fixes_b = [{**f, "timestamp": f["timestamp"] + shift + 86_400} for f in track(90)]
    for fix in fixes_a[100:110]:
        fix["hr"] = 190                                     # one excursion: one alert
    await post(http, worker, f"/start-stream/{device}/{run_a}",
               {"triggers": {"hr": [100, 150]}, "window_seconds": WINDOW_S, "table_preappend": "t"})
    await archived_run(http, worker, device, run_a, fixes_a)
    await archived_run(http, worker, device, run_b, fixes_b)
    day = datetime.fromtimestamp(T0 + shift, timezone.utc).date()
    await wait_for(lambda: archive_complete(http, worker, device, [run_a, run_b], day, day + timedelta(days=2)),
                   timeout=120, what="every window, alert and by-day row in Cassandra")

    # The file as analysts run it, in the test keyspace, the samples replaced by these runs.
    monkeypatch.setattr(cql.apply, "settings", dataclasses.replace(settings, keyspace=TEST_ENV["SP_KEYSPACE"]))
    text = (CQL_DIR / "examples.cql").read_text()
    assert [re.search(r"FROM\s+\w+\.(\w+)", s).group(1) for s in statements(text)] == [t for _, t in EXAMPLES]
    script = tmp_path / "examples.cql"
    script.write_text("EXPAND ON;\n" + substitute(render(text), {
        "'gps_1'": f"'{device}'", "'run_001'": f"'{run_a}'",
        **{f"'2026-01-0{n + 1}'": f"'{day + timedelta(days=n)}'" for n in range(3)},
        "'2026-01-01 00:00:00+0000'": cql_time(T0 + shift),
        "'2026-01-01 00:00:10+0000'": cql_time(T0 + shift + 10), "'2026-01-01 00:00:20+0000'": cql_time(T0 + shift + 20),
    }))
    rc_file = tmp_path / "cqlshrc"
    rc_file.write_text("[ui]\ndouble_precision = 17\n")     # doubles shown exactly (cqlsh's default: 5 decimals)
    results = dict(zip([name for name, _ in EXAMPLES], expanded_results(await cqlsh_file(script, rc_file)), strict=True))

    summaries = {run: await get(http, worker, f"/runs/{device}/{run}") for run in (run_a, run_b)}
    runs = {row["run_id"]: row for row in results["player_runs"]}
    assert sorted(runs) == sorted(summaries)
    for run, summary in summaries.items():
        assert runs[run]["status"] == "finished" and int(runs[run]["readings"]) == summary["readings"]
        assert float(runs[run]["distance_m"]) == summary["motion"]["distance_m"]
        assert float(runs[run]["top_speed_mps"]) == summary["motion"]["top_speed_mps"]
        assert shown_time(runs[run]["first_t"]) == pytest.approx(summary["first_t"], abs=1e-3)

    top = sorted(results["top_speeds"], key=lambda row: row["day"])      # IN gives no order across partitions
    assert [(row["day"], row["device_id"], row["run_id"]) for row in top] == \
        [(str(day), device, run_a), (str(day + timedelta(days=1)), device, run_b)]
    assert [float(row["top_speed_mps"]) for row in top] == [summaries[r]["motion"]["top_speed_mps"]
                                                            for r in (run_a, run_b)]
    assert summaries[run_a]["motion"]["sprints"] == 1 and int(top[0]["sprints"]) == 1
    assert results["fastest_of_day"] == [{"top_speed_mps": top[0]["top_speed_mps"], "runs": "1"}]

    windows = (await get(http, worker, f"/runs/{device}/{run_a}/windows?last=2000"))["windows"]
    assert len(results["windows"]) == len(windows) > 0
    assert [(shown_time(w["window_start"]), int(w["count"])) for w in results["windows"]] == \
        [(w["window_start"], w["count"]) for w in windows]                  # in time order, as the API's

    assert [shown_time(row["bucket"]) for row in results["buckets"]] == [T0 + shift]
    readings = results["readings"]
    assert [json.loads(row["data"]) for row in readings] == fixes_a[100:200]
    assert [shown_time(row["t"]) for row in readings] == pytest.approx([f["timestamp"] for f in fixes_a[100:200]],
                                                                       abs=1e-3)

    alerts = (await get(http, worker, f"/alerts/{device}/{run_a}"))["alerts"]
    assert [(int(row["seq"]), row["type"]) for row in results["alerts"]] == [(a["seq"], a["type"]) for a in alerts]
    assert results["alerts"][0]["type"] == "threshold"       # the excursion; a data-delay alert may follow (2 s)
    assert [json.loads(row["alert_json"]) for row in results["alerts"]] == alerts

    intervals = (await get(http, worker, f"/runs/{device}/{run_a}/segments?kind=interval"))["segments"]
    assert [(int(row["number"]), float(row["distance_m"]), float(row["top_speed_mps"]))
            for row in results["intervals"]] == [(i["index"], i["distance_m"], i["top_speed_mps"]) for i in intervals]
    assert intervals != []
    peaks = (await get(http, worker, f"/runs/{device}/{run_a}/segments?kind=peaks"))["segments"]
    assert [(int(row["window_s"]), float(row["distance_m"]), float(row["hsr_distance_m"]))
            for row in results["peaks"]] == [(p["window_s"], p["distance_m"], p["hsr_distance_m"]) for p in peaks]
