"""What segment summaries cost the run fold: `run_state.apply_burst` over a player's 10 Hz GPS track in
records of 500 readings, with segments (5-minute intervals, a lap line, periods from markers, rolling
peaks) against the same fold with the segment calls left out (the baseline, in the same run).

No Kafka needed. Usage: .venv/bin/python bench/segments.py
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from unittest import mock

from agents import run_state, segments
from sports_prophet.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
T0 = 1_767_225_600.0
READINGS = 30_000                  # 50 minutes at 10 Hz
RECORD = 500
ROUNDS = 5


def track() -> list[dict]:
    """A player running laps of a 30 m circle at 3 to 7 m/s, with a heart rate."""
    out, arc = [], 0.0
    for i in range(READINGS):
        t = i / 10
        arc += 0.1 * (5.0 + 2.0 * math.sin(t / 20))
        angle = arc / 30.0
        out.append({"t": T0 + t, "data": {"latitude": 40.0 + 30.0 * math.sin(angle) / 111_034.0,
                                          "longitude": -3.7 + 30.0 * math.cos(angle) / 85_300.0,
                                          "hr": 120 + i % 40, "timestamp": T0 + t}})
    return out


def fold(readings: list[dict]) -> float:
    """Readings per CPU second of one whole fold, markers and closed segments handled as the agent does."""
    state = run_state.new_run("gps", "bench", 5.0)
    state["config"]["segments"] = {"interval_s": 300, "lap_line": [[40.0 - 40 / 111_034.0, -3.7],
                                                                   [40.0 - 20 / 111_034.0, -3.7]]}
    state = run_state.apply_marker(state, T0 + 60, "first")
    started = time.process_time()        # CPU time: the machine's other work does not count
    for offset, start in enumerate(range(0, len(readings), RECORD)):
        state, _, _ = run_state.apply_burst(state, readings[start:start + RECORD], offset, 0.0, 2.0, "timestamp")
        segs, _ = segments.take_closed(run_state.run_segments(state))
        state = {**state, "segments": segs}
    return len(readings) / (time.process_time() - started)


def without_segments():
    """The fold as it was before segments: the segment module's per-reading calls do nothing."""
    return mock.patch.multiple(segments, fold_reading=lambda state, *_: state, add_stats=lambda state, *_: state,
                               motion_step=lambda *_: None, with_lap_line=lambda state, *_: state)


def main() -> None:
    readings = track()
    best = {"baseline": 0.0, "segments": 0.0}
    for _ in range(ROUNDS):                       # interleaved, so a busy moment hits both alike
        for name, patch in (("baseline", without_segments), ("segments", nullcontext)):
            with patch():
                best[name] = max(best[name], fold(readings))
    print(f"run fold of {READINGS:,} readings in records of {RECORD} (best of {ROUNDS}):")
    print(f"  without segments (baseline): {best['baseline']:,.0f} readings per CPU second")
    print(f"  with segments:               {best['segments']:,.0f} readings per CPU second "
          f"({best['segments'] / best['baseline']:.2f}x the baseline)")


if __name__ == "__main__":
    main()
