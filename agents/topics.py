"""The topics every worker shares besides the run topics: run control, alerts, the run agent's
outputs for the archive sink, and run statuses. Every one is keyed `<device_id>/<run_id>`."""

from __future__ import annotations

from sports_prophet.app import app
from sports_prophet.config import settings

# The agent's own topic. The silence timer's checks travel here, keyed like the run, so they reach
# the worker that owns the run; a run's config and stop go into the run's own topic instead, where
# they are ordered with its readings.
# internal=True: Faust creates them (with our partition count); the broker never auto-creates topics.
control_topic = app.topic(f"{settings.app_id}-run-control", key_serializer="raw", value_serializer="json",
                          partitions=settings.topic_partitions, internal=True)
alerts_topic = app.topic(f"{settings.app_id}-alerts", key_serializer="raw", value_serializer="json",
                         partitions=settings.topic_partitions, internal=True)
# What the run agent derives, for the archive sink (agents/sink.py): closed windows, alerts and
# run summaries, keyed by run like everything else.
outputs_topic = app.topic(f"{settings.app_id}-run-outputs", key_serializer="raw", value_serializer="json",
                          partitions=settings.topic_partitions, internal=True)
# Which runs are finished, as every worker must see it to subscribe to the same topics: a compacted
# one-partition topic that each worker reads whole (not through the consumer group).
status_topic = app.topic(f"{settings.app_id}-run-status", key_serializer="raw", value_serializer="json",
                         partitions=1, internal=True, compacting=True)



async def declare_unconsumed_topics() -> None:
    """Create the topics no Faust agent consumes (Faust creates only those): alerts, outputs, statuses.
    Idempotent; called before the first use of any of them."""
    for topic in (alerts_topic, outputs_topic, status_topic):
        await topic.maybe_declare()
