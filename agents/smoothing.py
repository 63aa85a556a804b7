"""Position smoothing before speeds are derived, chosen by where the fixes come from.

GPS (1-18 Hz, metres of correlated noise) needs real noise handling: raw differences of its
fixes inflate distance and top speed. Optical and radio tracking (25-50 Hz, centimetres, often
smoothed by the provider already) needs little: a GPS-strength filter there cuts corners and
peaks, and reads distance and top speed low (measured on Hawk-Eye's 50 Hz sample: docs/maths.md).

- ``gps``: a causal one-pole low-pass (EMA) with its cut-off in Hz, ``alpha`` from each fix's
  real time step, so it follows the sampling rate and lags positions but not speeds.
- ``optical``: Savitzky-Golay, order 2, over a window in seconds: the least-squares quadratic
  through the fixes within half a window of each fix, evaluated at that fix. On evenly spaced
  fixes this is exactly scipy's ``savgol_filter`` (checked in the tests); fitted on the real
  times it also stays right where a frame is missing, where a filter over sample indices would
  read a 40 ms gap as 20 ms and make a speed spike. It is centred, so a fix is smoothed once the
  fixes half a window after it have arrived (0.25 s with the default 0.5 s window).

scipy is not used at run time: its filters take evenly spaced arrays, and the closed form below
costs ~8 us a fix in plain Python against ~85 us for a numpy least-squares call on 25 points.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Sequence

SOURCES = ("auto", "gps", "optical")
# `auto` on x/y fixes: optical when the stamps say at least this rate. GNSS units for sport
# report at most 18 Hz; optical tracking runs at 25 Hz (TRACAB, Second Spectrum) or 50 Hz (Hawk-Eye).
OPTICAL_MIN_HZ = 20.0
# How many time steps `auto` measures before it chooses (held back meanwhile, then smoothed).
RATE_STEPS = 4
# Sensor timestamps are floats (e.g. 0.1 s steps summed, or epoch seconds rounded to µs): window
# edges and effort durations compare with this tolerance.
TIME_EPS_S = 1e-6

Fix = Sequence[float]        # (t, x, y): epoch seconds, metres


def sampling_rate_hz(times: Sequence[float]) -> float | None:
    """Fixes per second from the median time step (robust to a dropped frame or a late fix)."""
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return 1.0 / median(steps) if steps else None


def source_for(rate_hz: float | None, geographic: bool) -> str:
    """The `auto` choice: lat/lon fixes come from GNSS; x/y fixes by their rate."""
    if geographic or rate_hz is None or rate_hz < OPTICAL_MIN_HZ:
        return "gps"
    return "optical"


def ema_position(sx: float, sy: float, x: float, y: float, dt: float, cutoff_hz: float) -> tuple[float, float]:
    """One step of the GPS low-pass: ``alpha = dt / (dt + 1/(2*pi*fc))`` from the real time step."""
    alpha = dt / (dt + 1.0 / (2.0 * math.pi * cutoff_hz))
    return sx + alpha * (x - sx), sy + alpha * (y - sy)


def quadratic_fit_at(fixes: Sequence[Fix], tc: float) -> tuple[float, float]:
    """x and y at ``tc`` of the least-squares quadratics through ``fixes`` (Savitzky-Golay's
    estimate on real times): the first row of the inverted 3x3 normal equations, in closed
    form. Falls back to a straight line for two distinct times and to the mean for one."""
    s0 = s1 = s2 = s3 = s4 = 0.0
    x0 = x1 = x2 = y0 = y1 = y2 = 0.0
    for t, x, y in fixes:
        u = t - tc
        u2 = u * u
        s0 += 1.0
        s1 += u
        s2 += u2
        s3 += u2 * u
        s4 += u2 * u2
        x0 += x
        x1 += u * x
        x2 += u2 * x
        y0 += y
        y1 += u * y
        y2 += u2 * y
    c0, c1, c2 = s2 * s4 - s3 * s3, s2 * s3 - s1 * s4, s1 * s3 - s2 * s2
    det = s0 * c0 + s1 * c1 + s2 * c2
    if det > 1e-9 * s0 * s2 * s4:
        return (c0 * x0 + c1 * x1 + c2 * x2) / det, (c0 * y0 + c1 * y1 + c2 * y2) / det
    line = s0 * s2 - s1 * s1
    if line > 1e-9 * s0 * s2:
        return (s2 * x0 - s1 * x1) / line, (s2 * y0 - s1 * y1) / line
    return x0 / s0, y0 / s0


def savgol_at(fixes: Sequence[Fix], index: int, half_window_s: float) -> tuple[float, float]:
    """The smoothed position of ``fixes[index]`` from the fixes within ``half_window_s`` of it
    (``fixes`` ordered by time; at the ends of a run the window holds what there is)."""
    tc = fixes[index][0]
    lo = index
    while lo > 0 and tc - fixes[lo - 1][0] <= half_window_s + TIME_EPS_S:
        lo -= 1
    hi = index + 1
    while hi < len(fixes) and fixes[hi][0] - tc <= half_window_s + TIME_EPS_S:
        hi += 1
    return quadratic_fit_at(fixes[lo:hi], tc)
