"""Motion accuracy on real optical tracking: Hawk-Eye's 50 Hz samples (two minutes of a match, 44
player-minutes, from kloppy's source distribution: tests/kloppy_samples.py downloads them).

For every player-minute it compares distance and top speed with the figures of the raw positions
(consecutive differences), for: this project's streaming maths as a worker folds it (default run
config: `auto` takes optical at 50 Hz), the same maths forced to the GPS filter (what every run got
before), and independent offline references: scipy's Savitzky-Golay (order 2, 0.5 s) and a zero-phase
Butterworth low-pass (order 2, 3 Hz, filtfilt), a ~1 Hz one (order 2, 1 Hz, filtfilt), and thinning
to 1 Hz. Prints the range over the players of each method's error, the numbers docs/maths.md quotes.

No Kafka needed. Usage: .venv/bin/python bench/accuracy.py
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.signal import butter, filtfilt, savgol_filter

from agents.motion import motion_add_xy, motion_initial, motion_summary
from agents.motion_config import MotionConfig
from sports_prophet.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))        # the samples' download is shared with the tests
from tests.kloppy_samples import HAWKEYE, HAWKEYE_2ND_HALF, hawkeye_players, sample_files  # noqa: E402

T0 = 1_727_038_849.383
HZ = 50.0


def path_figures(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Distance and top speed of consecutive differences."""
    step = np.hypot(np.diff(x), np.diff(y))
    return float(step.sum()), float((step / np.diff(t)).max())


def streamed(track: np.ndarray, cfg: MotionConfig) -> tuple[float, float]:
    state = motion_initial(cfg)
    for t, x, y in track.tolist():
        state = motion_add_xy(state, T0 + t, x, y, cfg)
    summary = motion_summary(state, cfg)
    return summary["distance_m"], summary["top_speed_mps"]


def butterworth(track: np.ndarray, cutoff_hz: float) -> tuple[float, float]:
    b, a = butter(2, cutoff_hz / (HZ / 2))
    t, x, y = track.T
    return path_figures(t, filtfilt(b, a, x), filtfilt(b, a, y))


STREAMED = "this project, streamed (auto: optical)"
SAVGOL = "scipy Savitzky-Golay, order 2, 0.5 s"
METHODS = {
    STREAMED: lambda track: streamed(track, MotionConfig()),
    "this project's GPS filter (before)": lambda track: streamed(track, MotionConfig(source="gps")),
    SAVGOL: lambda track: path_figures(
        track[:, 0], savgol_filter(track[:, 1], 25, 2), savgol_filter(track[:, 2], 25, 2)),
    "Butterworth 3 Hz, zero-phase": lambda track: butterworth(track, 3.0),
    "Butterworth 1 Hz, zero-phase": lambda track: butterworth(track, 1.0),
    "thinned to 1 Hz": lambda track: path_figures(*track[::50].T),
}


def main() -> None:
    tracks = [track for files in (HAWKEYE, HAWKEYE_2ND_HALF)
              for track in hawkeye_players(sample_files(files)[2]).values()]
    raw = [path_figures(*track.T) for track in tracks]
    print(f"{len(tracks)} player-minutes of Hawk-Eye 50 Hz tracking; error against the raw positions' figures "
          f"(min .. max over the players)\n")
    print(f"{'method':42} {'distance':>18} {'top speed':>18}")
    figures = {}
    for name, method in METHODS.items():
        figures[name] = np.array([method(track) for track in tracks])
        errors = (figures[name] / np.array(raw) - 1) * 100
        print(f"{name:42} {errors[:, 0].min():+7.2f} .. {errors[:, 0].max():+6.2f} % "
              f"{errors[:, 1].min():+7.2f} .. {errors[:, 1].max():+6.2f} %")
    apart = np.abs(figures[STREAMED] / figures[SAVGOL] - 1).max(axis=0) * 100
    print(f"\nthis project, streamed, against scipy's Savitzky-Golay offline: at most {apart[0]:.3f} % apart in "
          f"distance and {apart[1]:.3f} % in top speed")


if __name__ == "__main__":
    main()
