"""A run's Kafka topic, key and record shape.

One run (a device's session) is one topic, `readings.<device_id>.<run_id>`, every
record keyed `<device_id>/<run_id>`. A record carries a batch of readings, not one:
Faust's cost is per record, so packing is what lets one worker process thousands
of readings a second (see DESIGN.md, measured facts).
"""

from __future__ import annotations

from typing import Any, TypedDict

from models.device import check_identifier, event_time, plain_reading_time, reading_validator, time_field

RUN_TOPIC_PREFIX = "readings."


class StampedReading(TypedDict):
    t: float                 # event time, epoch seconds (the reading's own time, else its arrival)
    data: dict[str, Any]     # the reading exactly as the device sent it, validated


class ReadingBatch(TypedDict):
    """The JSON value of one record in a run topic."""

    device_id: str
    run_id: str
    received_at: float       # when the gateway accepted the batch, epoch seconds
    time_field: str | None   # the field holding event time (not a measurement: left out of stats)
    readings: list[StampedReading]
    # When the run's topic was last deleted, as the writing gateway knew it: the run agent starts the
    # run afresh on the first record of a newer deletion, even if it missed the deletion itself.
    since: float


def run_topic(device_id: str, run_id: str) -> str:
    return f"{RUN_TOPIC_PREFIX}{check_identifier(device_id, 'device_id')}.{check_identifier(run_id, 'run_id')}"


def run_key(device_id: str, run_id: str) -> str:
    return f"{device_id}/{run_id}"


def split_run_key(key: str) -> tuple[str, str]:
    device_id, _, run_id = key.partition("/")
    return device_id, run_id


def parse_run_topic(topic: str) -> tuple[str, str] | None:
    """(device_id, run_id) for a run topic name, None for any other topic (Faust's own, changelogs...)."""
    if not topic.startswith(RUN_TOPIC_PREFIX):
        return None
    device_id, dot, run_id = topic[len(RUN_TOPIC_PREFIX):].partition(".")
    try:
        return (check_identifier(device_id, "device_id"), check_identifier(run_id, "run_id")) if dot else None
    except ValueError:
        return None


def stamp_readings(device_schema: dict[str, str], items: list[Any], arrival: float
                   ) -> tuple[list[StampedReading], dict[int, Any]]:
    """Validate readings against a device's schema and attach each one's event time.

    Returns (the stamped readings, {index: marshmallow's error messages}); callers accept
    a batch only when the error dict is empty, so a batch lands all or nothing.
    """
    plain_time = plain_reading_time(device_schema)
    validator = reading_validator(device_schema)
    time_key = time_field(device_schema)
    stamped: list[StampedReading] = []
    errors: dict[int, Any] = {}
    for index, item in enumerate(items):
        t = plain_time(item, arrival)
        if t is not None:
            stamped.append({"t": t, "data": item})
            continue
        if not isinstance(item, dict):
            errors[index] = {"_reading": [f"a reading is a JSON object, not {type(item).__name__}"]}
            continue
        problems = validator.validate(item)
        if problems:
            errors[index] = problems
        else:
            stamped.append({"t": event_time(item, time_key, arrival), "data": item})
    return stamped, errors
