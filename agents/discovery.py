"""Run discovery: new run topics join the run agent's subscription while the workers run, and
archived or deleted ones leave it."""

from __future__ import annotations

import asyncio
import logging
import time

from agents.statuses import run_statuses
from agents.topics import control_topic
from models.run import parse_run_topic
from sports_prophet.app import app, gateway
from sports_prophet.config import settings

log = logging.getLogger(__name__)


def _live_topic():
    """The agent's own subscribed topic object, whose queue the run topics share (DESIGN.md)."""
    return next(t for t in app.topics if control_topic.get_topic_name() in t.topics)


def queued_records() -> int:
    """Records Faust has delivered into the run agent's queue that the agent has not taken yet."""
    try:
        return _live_topic().queue.qsize()
    except StopIteration:           # the agent is not subscribed yet
        return 0


class RunSubscription:
    """Adds new run topics to the running agent's subscription.

    faust-streaming 0.15.3 cannot subscribe by pattern (faust issue 62, "XXX pattern does not
    work" in drivers/aiokafka.py), so this lists the cluster's topics and adds the new ones as one
    topic object sharing the agent's queue. Each change is a full rebalance: new topics are added
    in one batch per tick, and every worker ticks on the same wall-clock boundary so they
    subscribe to the same set together. Archived runs' topics leave together, on the first tick
    of each REMOVAL_BATCH_S of wall clock (or with a new run's topic); deleted topics at once.
    """

    def __init__(self) -> None:
        self.subscribed: set[str] = set()
        self.current = None
        self.mismatch_seen = False
        self.busy_since: float | None = None
        self.refused: set[str] = set()
        self.changed_in_slot = 0
        self.listed: set[str] = set()        # every run topic the cluster had at the last tick

    async def tick(self) -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            # Stacking a subscription change onto a rebalance in progress is what trips Faust's own
            # assertions (seeks and highwater of just-revoked partitions): wait for it to settle,
            # but not for ever: Faust sometimes leaves these flags set after a rebalance ends.
            self.busy_since = self.busy_since or time.monotonic()
            if time.monotonic() - self.busy_since < MAX_REBALANCE_WAIT_S:
                self.mismatch_seen = False
                return
            log.warning("Faust has reported a rebalance for %.0fs; updating the subscription anyway",
                        time.monotonic() - self.busy_since)
        self.busy_since = None
        self.reflag_if_dropped()
        listed = self.listed = set(await gateway.run_topics())
        found = {t for t in listed if not run_statuses.is_archived(t)}
        new = sorted(found - self.subscribed)
        usable = set(self.usable(await gateway.partition_counts(new))) if new else set()
        wanted = (self.subscribed & found) | usable          # deleted and archived topics leave it
        if wanted == self.subscribed:
            return
        slot = int(time.time() // REMOVAL_BATCH_S)       # wall clock: every worker removes on the same tick
        if not usable and self.subscribed <= listed and slot == self.changed_in_slot:
            return          # only archived runs leave: they wait to go together, or with the next new run
        live = _live_topic()
        replacement = (app.topic(*sorted(wanted), key_serializer="raw", value_serializer="json")
                       .clone_using_queue(live.queue) if wanted else None)
        if self.current is not None:
            app.topics.discard(self.current)
        if replacement is not None:
            app.topics.add(replacement)
        log.info("run topics: %d added, %d gone or finished, %d subscribed", len(usable),
                 len(self.subscribed - found), len(wanted))
        self.current, self.subscribed = replacement, wanted
        self.changed_in_slot = slot

    def reflag_if_dropped(self) -> None:
        """Faust's conductor drops a subscription change flagged while the app is rebalancing
        (transport/conductor.py: `if self.app.rebalancing: ev.clear()`), and nothing flags it again:
        compare what the consumer subscribed to with what we asked for, and ask again."""
        subscribed = {t for t in app.topics._topic_name_index if parse_run_topic(t)}
        mismatch = subscribed != self.subscribed
        if mismatch and self.mismatch_seen:
            log.warning("re-requesting a subscription change Faust dropped (%d asked, %d subscribed; "
                        "missing %s, extra %s)", len(self.subscribed), len(subscribed),
                        sorted(self.subscribed - subscribed)[:3], sorted(subscribed - self.subscribed)[:3])
            app.topics._flag_changes()
        self.mismatch_seen = mismatch

    def usable(self, counts: dict[str, int]) -> list[str]:
        """Refuse a topic whose partition count differs: its state would land in partitions another
        worker owns (Faust checks this only on the group leader; DESIGN.md). Topics not yet
        described are retried on the next tick; a refused topic is logged once."""
        for topic, count in counts.items():
            if count != settings.topic_partitions and topic not in self.refused:
                self.refused.add(topic)
                log.error("not consuming %s: it has %d partitions, SP_TOPIC_PARTITIONS is %d",
                          topic, count, settings.topic_partitions)
        return [t for t, count in counts.items() if count == settings.topic_partitions]


subscription = RunSubscription()
DISCOVERY_INTERVAL_S = 1.0
DISCOVERY_TIMEOUT_S = 3.0
MAX_REBALANCE_WAIT_S = 5.0
# Every subscription change is a rebalance of the whole group, and faust-streaming drops fetched
# records at each one (agents/watchdog.py reads them back): archived runs leave
# the subscription in batches, at most this often; a new run joins within a tick, taking them along.
# (A deleted topic leaves at once: consuming or committing a topic that is gone only fails.)
REMOVAL_BATCH_S = 10.0


@app.task
async def discover_runs() -> None:
    # A resubscription normally waits 45 s to batch changes; ours are batched per tick already.
    app.topics._resubscribe_sleep_lock_seconds = 0.1
    await run_statuses.caught_up.wait()      # never subscribe to runs we do not yet know are finished
    while True:
        await asyncio.sleep(DISCOVERY_INTERVAL_S - time.time() % DISCOVERY_INTERVAL_S)
        started = time.monotonic()
        try:
            await asyncio.wait_for(subscription.tick(), DISCOVERY_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("run discovery took over %.0fs; retrying on the next tick", DISCOVERY_TIMEOUT_S)
        except Exception:
            log.exception("run discovery failed; retrying on the next tick")
        if time.monotonic() - started > DISCOVERY_INTERVAL_S:
            log.warning("run discovery tick took %.1fs", time.monotonic() - started)

