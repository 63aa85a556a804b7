"""Silence and stalls: runs that went quiet, and runs whose records Faust dropped, checked every second."""

from __future__ import annotations

import time

from agents.owned import owned
from agents.topics import control_topic
from agents.watchdog import skipped
from sports_prophet.app import app
from sports_prophet.config import settings


@app.timer(interval=1.0)
async def watch_runs() -> None:
    """Runs that went quiet get their windows closed and a data-delay alert, through the control topic
    (tables are written only from the stream, in the partition of the record being processed); runs
    whose records Faust dropped are re-read. Checks the in-memory states; after a rebalance it first
    loads the runs recovered from changelogs, if `load_owned_runs` has not."""
    now = time.time()
    if owned.stale and not app.rebalancing and not app.tables.recovery.in_recovery:
        owned.load_all()
    # Not gated on app.rebalancing: Faust sometimes leaves that flag set after a rebalance ends,
    # and a seek of a partition being revoked is skipped safely (sports_prophet/faust_fixes.py).
    if not app.tables.recovery.in_recovery:
        await skipped.watch()
    for key, state in list(owned.states.items()):
        if state["status"] != "active" or not state["last_received_at"] or skipped.is_behind(key):
            continue                 # (a run Kafka has records for is not silent: they are read back first)
        quiet = now - state["last_received_at"]
        if (quiet >= settings.silence_seconds and not state["silent"]) or quiet >= settings.finish_after_seconds:
            await control_topic.send(key=key.encode(), value={"type": "silence", "checked_at": now})
