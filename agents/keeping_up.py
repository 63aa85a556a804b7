"""Whether a consumer keeps up with what it consumes, when it is never exactly caught up."""

from __future__ import annotations

from collections.abc import Hashable, Mapping


class KeepingUp:
    """Keeping up: within `behind_after_s` the consumer has committed every record that was in
    Kafka at the previous checkpoint. While devices stream, records not yet committed always exist
    (a lag of exactly 0 is rare), so catching up is measured against a snapshot of the end offsets
    taken each time the previous one is reached."""

    def __init__(self, now: float, behind_after_s: float) -> None:
        self.behind_after_s = behind_after_s
        self.target: dict[Hashable, int] = {}
        self.reached_at = now

    def observe(self, committed: Mapping[Hashable, int], ends: Mapping[Hashable, int],
                now: float) -> None:
        """Note the consumer's committed offsets and the partitions' end offsets; partitions no
        longer assigned (`ends` lacks them) are not waited for."""
        if all(committed.get(tp, 0) >= end for tp, end in self.target.items() if tp in ends):
            self.reached_at = now
            self.target = dict(ends)

    def behind(self, now: float) -> bool:
        return now - self.reached_at > self.behind_after_s
