"""The position smoothers against the libraries they stand in for (scipy, numpy), and the source choice."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import polynomial
from scipy.signal import savgol_filter

from agents.smoothing import (
    OPTICAL_MIN_HZ,
    quadratic_fit_at,
    sampling_rate_hz,
    savgol_at,
    source_for,
)

T0 = 1_727_038_849.383
# Epoch seconds as floats resolve ~0.2 us, so times within a window are off by ~1e-5 of a 20 ms step:
# positions agree to a tenth of a millimetre, not to the last bit.
MM_TENTH = 1e-4
RNG = np.random.default_rng(7)


def test_on_evenly_spaced_fixes_it_is_scipys_savitzky_golay() -> None:
    t = T0 + np.arange(200) / 50.0
    x = np.cumsum(RNG.normal(0, 0.1, t.size))
    y = np.sin(t - T0) * 10 + RNG.normal(0, 0.05, t.size)
    fixes = np.column_stack([t, x, y]).tolist()
    sx, sy = savgol_filter(x, 25, 2), savgol_filter(y, 25, 2)     # 25 samples at 50 Hz: a 0.5 s window
    for i in range(12, 188):                                      # where scipy's window is whole
        assert savgol_at(fixes, i, 0.25) == pytest.approx((sx[i], sy[i]), abs=MM_TENTH)


def test_on_irregular_times_it_is_the_least_squares_quadratic_on_those_times() -> None:
    t = T0 + np.delete(np.arange(40) / 50.0, [17, 18, 25])       # dropped frames
    x, y = RNG.normal(0, 1, t.size), RNG.normal(0, 1, t.size)
    fixes = np.column_stack([t, x, y]).tolist()
    for i in range(t.size):
        near = np.abs(t - t[i]) <= 0.25 + 1e-6
        expected = polynomial.polyfit(t[near] - t[i], np.column_stack([x[near], y[near]]), 2)[0]
        assert savgol_at(fixes, i, 0.25) == pytest.approx(tuple(expected), abs=MM_TENTH)


def test_a_missing_frame_is_not_read_as_a_faster_step() -> None:
    """Hawk-Eye's sample drops a frame now and then: a filter over sample indices reads the 40 ms
    step as 20 ms (a speed spike); fitted on the real times, a steady 6 m/s stays 6 m/s."""
    t = np.delete(np.arange(50) / 50.0, 25)
    fixes = [[T0 + ti, 6.0 * ti, 0.0] for ti in t]
    smoothed = [savgol_at(fixes, i, 0.25)[0] for i in range(len(fixes))]
    speeds = np.diff(smoothed) / np.diff(t)
    assert speeds == pytest.approx(np.full(len(speeds), 6.0), rel=1e-4)


def test_fewer_than_three_times_fit_a_line_or_return_the_fix() -> None:
    assert quadratic_fit_at([[T0, 1.0, 2.0], [T0 + 0.1, 2.0, 4.0]], T0 + 0.05) == pytest.approx((1.5, 3.0))
    assert quadratic_fit_at([[T0, 1.0, 2.0]], T0) == (1.0, 2.0)


def test_the_rate_is_the_median_step_so_a_gap_or_a_duplicate_does_not_move_it() -> None:
    assert sampling_rate_hz([0.0, 0.02, 0.04, 0.08, 0.10, 0.10, 0.12]) == pytest.approx(50.0)
    assert sampling_rate_hz([5.0]) is None


def test_auto_takes_gps_for_lat_lon_and_for_slow_x_y_and_optical_for_fast_x_y() -> None:
    assert source_for(50.0, geographic=True) == "gps"
    assert source_for(10.0, geographic=False) == "gps"
    assert source_for(OPTICAL_MIN_HZ, geographic=False) == "optical"
    assert source_for(None, geographic=False) == "gps"
