"""A run's motion thresholds and smoothing options (its /start-stream `motion` config)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from agents.smoothing import SOURCES

GPS_TOP_SPEED_HOLD_S = 0.5
MAX_SMOOTHING_WINDOW_S = 2.0

MotionState = dict[str, Any]


@dataclass(frozen=True)
class MotionConfig:
    """Thresholds for football motion metrics; defaults follow common
    practice (5.5 m/s HSR, 7 m/s sprint, 3 m/s^2 efforts).

    ``source`` says how positions are smoothed before speeds are derived
    (agents/smoothing.py): ``gps`` by a causal low-pass at ``smoothing_hz``,
    ``optical`` by Savitzky-Golay over ``smoothing_window_s``; ``auto`` takes
    gps for lat/lon and, for x/y, measures the first steps' rate (optical from
    20 Hz). ``top_speed_hold_s`` None means the source's own: 0.5 s for GPS
    (one noisy step must not set the top speed), 0 for optical (the smoothing
    window already averages half a second).
    """

    max_speed_mps: float = 12.0
    position_error_m: float = 5.0   # GPS error allowed on top of max_speed*dt before a jump is "impossible"
    zone_edges_mps: tuple[float, ...] = (2.0, 4.0, 5.5, 7.0)
    hsr_mps: float = 5.5
    sprint_mps: float = 7.0
    sprint_exit_mps: float = 6.5
    sprint_min_s: float = 1.0
    accel_mps2: float = 3.0
    accel_min_s: float = 0.5
    top_speed_hold_s: float | None = None
    source: str = "auto"
    smoothing_hz: float = 1.0
    smoothing_window_s: float = 0.5

    def __post_init__(self) -> None:
        """Fail at run start, not mid-match, on inconsistent thresholds."""
        object.__setattr__(self, "zone_edges_mps", tuple(float(e) for e in self.zone_edges_mps))
        edges = self.zone_edges_mps
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
            raise ValueError(f"zone_edges_mps must be positive and strictly increasing, got {edges}")
        if not 0 < self.sprint_exit_mps <= self.sprint_mps:
            raise ValueError("sprint_exit_mps must be in (0, sprint_mps] for hysteresis")
        for name in ("max_speed_mps", "hsr_mps", "sprint_mps", "accel_mps2", "smoothing_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("sprint_min_s", "accel_min_s", "position_error_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.top_speed_hold_s is not None and not self.top_speed_hold_s >= 0:
            raise ValueError(f"top_speed_hold_s must be >= 0 (or null: the source's own), got {self.top_speed_hold_s!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        # The window's fixes live in the run's state until smoothed: bounded, and at most 2 s of lag.
        if not 0 < self.smoothing_window_s <= MAX_SMOOTHING_WINDOW_S:
            raise ValueError(f"smoothing_window_s must be in (0, {MAX_SMOOTHING_WINDOW_S:g}], "
                             f"got {self.smoothing_window_s!r}")

    def hold_s(self, source: str) -> float:
        """How long a speed must be held to count as the top speed, for fixes from ``source``."""
        if self.top_speed_hold_s is not None:
            return self.top_speed_hold_s
        return GPS_TOP_SPEED_HOLD_S if source == "gps" else 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MotionConfig:
        """Build from a run's JSON options: None means "use the default"; an
        unknown key is a typo that would otherwise be silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown motion config keys {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if v is not None})
