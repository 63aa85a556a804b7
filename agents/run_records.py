"""The records the run agent applies (agents/runs.py), and which of them it may apply as one burst."""

from __future__ import annotations

from typing import Any, NamedTuple

from agents import matches


class Record(NamedTuple):
    """One record as the agent applies it: from Faust's stream, or read back from Kafka (`fill_gap`)."""

    topic: str
    partition: int
    offset: int
    timestamp: float          # when the producer wrote it, epoch seconds
    key: str
    value: dict[str, Any]
    last: int | None = None   # several readings records joined (`joined`): the offset of the last one

    @property
    def through(self) -> int:
        """The offset of the last record this one holds."""
        return self.offset if self.last is None else self.last


# Read-back records are applied joined, up to this many readings at once: a run the watchdog found
# behind is behind because each record costs the agent ~0.3 ms whatever its size, and the records of a
# WebSocket stream hold one or two readings (a 10x match: 860k readings in 476k records).
MAX_JOINED_READINGS = 500


def joinable(a: Record, b: Record) -> bool:
    """Whether `b` follows `a` in its partition as more readings of the same run, to apply as one burst
    (the run state is the same as applying them one by one, but for the order of readings whose times
    overlap across the two, which a burst sorts, and the forecasts issued at window closes: one per
    record that closes any. `fill_gap` does not join the records of a run with configured forecasts;
    a positional run's distance forecast is issued less often from joined records)."""
    return (b.offset == a.through + 1 and all(r.value.get("type", "readings") == "readings" for r in (a, b))
            and a.value.get("time_field") == b.value.get("time_field")
            and a.value.get("since") == b.value.get("since") and not matches.is_match_feed(a.key)
            and len(a.value["readings"]) + len(b.value["readings"]) <= MAX_JOINED_READINGS)


def joined(a: Record, b: Record) -> Record:
    return a._replace(value={**b.value, "readings": a.value["readings"] + b.value["readings"]}, last=b.through)


def written_before_deletion(state: dict[str, Any] | None, record: Record) -> bool:
    """A record of the run's deleted topic, still in flight (see `delete_runs`): dropped."""
    return state is not None and record.timestamp < state["since"]
