"""Forecast accuracy on real series: Holt's method as a run applies it (agents/forecast.py) against
the naive last-value forecast, MAE and 80 % / 95 % interval coverage at a few horizons.

Series:
- Hourly air temperatures of Seattle and San Francisco through 2010 (8,759 hours each), from the
  `vega_datasets` wheel on PyPI (downloaded at run time into .stack/cache), whole and with a third of
  the hours dropped at random (irregular spacing, as a station that misses reports).
- Players' cumulative distance in Hawk-Eye's 50 Hz tracking (44 player-minutes, kloppy's sdist:
  tests/kloppy_samples.py), derived fix by fix with the worker's motion maths and sampled once a
  second, as a positional run's `distance_m` is.

At every observation (after a warm-up: 48 hours, 10 seconds) a forecast is made for each horizon and scored against the
first observation at or after its target time, the rule the live scores use. The naive forecast's
intervals are a random walk's: the one-step errors' RMS times sqrt(horizon / mean interval).

No Kafka needed. Usage: .venv/bin/python bench/forecast.py
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from agents import forecast
from agents.motion import motion_add_xy, motion_initial
from agents.motion_config import MotionConfig
from sports_prophet.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))        # the tracking samples' download is shared with the tests
from tests.kloppy_samples import HAWKEYE, HAWKEYE_2ND_HALF, hawkeye_players, sample_files  # noqa: E402

VEGA = "vega_datasets==0.9.0"
CACHE = REPO_ROOT / ".stack" / "cache" / "vega_datasets-0.9.0"
WARM_UP = {"hourly": 48, "distance": 10}   # observations before forecasts are scored
DROP = 1 / 3                               # share of hours dropped for the irregular series


def vega_csv(name: str) -> list[dict[str, str]]:
    """A CSV the vega_datasets wheel bundles, downloaded once with pip."""
    path = CACHE / name
    if not path.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", VEGA, "--no-deps", "--only-binary", ":all:",
                            "--dest", tmp, "-q"], check=True, timeout=300)
            wheel = next(Path(tmp).glob("vega_datasets-*.whl"))
            CACHE.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as bundle:
                path.write_bytes(bundle.read(f"vega_datasets/_data/{name}"))
    return list(csv.DictReader(io.StringIO(path.read_text())))


def temperatures(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds and °C of an hourly temperature file (°F in the file; the date is local time,
    read as UTC: only the spacing matters here)."""
    rows = vega_csv(name)
    ts = np.array([datetime.strptime(r["date"][:16], "%Y/%m/%d %H:%M").replace(tzinfo=timezone.utc).timestamp()
                   for r in rows])
    ys = (np.array([float(r["temp"]) for r in rows]) - 32.0) * 5.0 / 9.0
    order = np.argsort(ts, kind="stable")
    return ts[order], ys[order]


def thinned(ts: np.ndarray, ys: np.ndarray, seed: int = 17) -> tuple[np.ndarray, np.ndarray]:
    keep = np.random.default_rng(seed).random(len(ts)) >= DROP
    return ts[keep], ys[keep]


def distances(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A player's cumulative distance, folded fix by fix as the run agent does, and sampled as its
    forecast is: at the first fix of each second."""
    cfg, state, out = MotionConfig(), motion_initial(MotionConfig()), []
    for t, x, y in track.tolist():
        state = motion_add_xy(state, 1_727_038_849.0 + t, x, y, cfg)
        out.append(state["distance_m"])
    ts = 1_727_038_849.0 + track[:, 0]
    due = forecast.distance_samples({}, ts)
    return ts[due], np.array(out)[due]


class Scores:
    """Absolute errors and interval hits of both forecasts at one horizon."""

    def __init__(self) -> None:
        self.holt: list[float] = []
        self.naive: list[float] = []
        self.hits = {("holt", p): 0 for p in forecast.Z} | {("naive", p): 0 for p in forecast.Z}

    def add(self, made: dict, naive_half: dict[str, float], truth: float) -> None:
        self.holt.append(abs(truth - made["forecast"]))
        self.naive.append(abs(truth - made["naive"]))
        for p in forecast.Z:
            self.hits["holt", p] += made[f"lower_{p}"] <= truth <= made[f"upper_{p}"]
            self.hits["naive", p] += abs(truth - made["naive"]) <= naive_half[p]


def evaluate(series: list[tuple[np.ndarray, np.ndarray]], horizons: list[float], warm_up: int) -> dict[float, Scores]:
    scores = {h: Scores() for h in horizons}
    for ts, ys in series:
        state = forecast.field_initial()
        naive_sq, naive_n = 0.0, 0
        for i, (t, y) in enumerate(zip(ts.tolist(), ys.tolist())):
            if i:
                naive_sq, naive_n = naive_sq + (y - ys[i - 1]) ** 2, naive_n + 1
            state, _ = forecast.field_add(state, t, y)
            if i < warm_up:
                continue
            step = forecast.mean_interval(state)
            for h in horizons:
                j = int(np.searchsorted(ts, t + h, side="left"))
                if j == len(ts):
                    continue
                made = forecast.forecast(state, h)
                spread = math.sqrt(naive_sq / naive_n * max(h / step, 1.0))
                scores[h].add(made, {p: z * spread for p, z in forecast.Z.items()}, float(ys[j]))
    return scores


def table(title: str, unit: str, scores: dict[float, Scores], label) -> None:
    print(f"\n{title}")
    print(f"| horizon | forecasts | Holt MAE ({unit}) | naive MAE ({unit}) | Holt / naive | Holt 80 % | Holt 95 % "
          f"| naive 80 % | naive 95 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for h, s in scores.items():
        n = len(s.holt)
        holt, naive = float(np.mean(s.holt)), float(np.mean(s.naive))
        cover = {k: f"{100 * v / n:.1f} %" for k, v in s.hits.items()}
        print(f"| {label(h)} | {n:,} | {holt:.3f} | {naive:.3f} | {holt / naive:.2f} | {cover['holt', '80']} | "
              f"{cover['holt', '95']} | {cover['naive', '80']} | {cover['naive', '95']} |")


def main() -> None:
    hours = [3600.0 * h for h in (1, 3, 6, 12)]
    in_hours = lambda h: f"{h / 3600:g} h"           # noqa: E731
    cities = [temperatures("seattle-temps.csv"), temperatures("sf-temps.csv")]
    table("Hourly temperatures, Seattle and San Francisco, 2010", "°C", evaluate(cities, hours, WARM_UP["hourly"]),
          in_hours)
    table(f"The same with {DROP:.0%} of the hours dropped at random (irregular spacing)", "°C",
          evaluate([thinned(*city) for city in cities], hours, WARM_UP["hourly"]), in_hours)
    tracks = [track for files in (HAWKEYE, HAWKEYE_2ND_HALF)
              for track in hawkeye_players(sample_files(files)[2]).values()]
    table(f"Players' cumulative distance, Hawk-Eye, {len(tracks)} player-minutes, once a second", "m",
          evaluate([distances(track) for track in tracks], [5.0, 10.0, 20.0, 30.0], WARM_UP["distance"]),
          lambda h: f"{h:g} s")


if __name__ == "__main__":
    main()
