"""Tracking providers' sample files, from kloppy's source distribution on PyPI (kloppy/tests/files).

They are real (Hawk-Eye's: a minute of a match at 50 Hz) and too big to commit (Hawk-Eye's first
minute is 73 MB), so they are downloaded at test time with pip, once, into `.stack/cache/`. The
version is the installed kloppy's, so the samples match the loaders that read them. No network
means a failed test that says so, never a skipped one.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sports_prophet.config import REPO_ROOT

KLOPPY_VERSION = importlib.metadata.version("kloppy")
CACHE = REPO_ROOT / ".stack" / "cache" / f"kloppy-{KLOPPY_VERSION}-samples"
HAWKEYE = ("hawkeye_meta.json", "hawkeye_1_1.football.samples.ball", "hawkeye_1_1.football.samples.centroids")
HAWKEYE_2ND_HALF = ("hawkeye_meta.json", "hawkeye_2_46.football.samples.ball",
                    "hawkeye_2_46.football.samples.centroids")
SKILLCORNER = ("skillcorner_meta_data.json", "skillcorner_v3_raw_data.jsonl")
SECONDSPECTRUM = ("second_spectrum_fake_metadata.xml", "second_spectrum_fake_data.jsonl")
SAMPLES = sorted({*HAWKEYE, *HAWKEYE_2ND_HALF, *SKILLCORNER, *SECONDSPECTRUM})


def sample_files(names: tuple[str, ...]) -> list[Path]:
    """The named sample files, downloaded first if this machine has not got them yet."""
    if not all((CACHE / name).is_file() for name in SAMPLES):
        _download()
    return [CACHE / name for name in names]


def _download() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-m", "pip", "download", f"kloppy=={KLOPPY_VERSION}",
                                 "--no-binary", ":all:", "--no-deps", "--dest", tmp],
                                capture_output=True, text=True, timeout=900)
        sdists = list(Path(tmp).glob("kloppy-*.tar.gz"))
        if result.returncode != 0 or not sdists:
            pytest.fail(f"could not download kloppy=={KLOPPY_VERSION}'s source distribution from PyPI, whose "
                        f"kloppy/tests/files are these tests' tracking samples: is PyPI reachable?\n"
                        f"{result.stdout[-1500:]}{result.stderr[-1500:]}", pytrace=False)
        CACHE.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdists[0]) as sdist:
            for name in SAMPLES:
                member = sdist.getmember(f"kloppy-{KLOPPY_VERSION}/kloppy/tests/files/{name}")
                partial = CACHE / f"{name}.partial"
                with sdist.extractfile(member) as source, partial.open("wb") as target:
                    target.write(source.read())
                partial.rename(CACHE / name)          # whole or absent: an interrupted run downloads again


@lru_cache(maxsize=4)
def hawkeye_players(centroids: Path) -> dict[str, np.ndarray]:
    """Each player's raw positions, read from Hawk-Eye's JSON without kloppy or the project's code:
    {"home_4": array of (t, x, y)} with t in seconds into the minute, ordered, one row per time."""
    feed: dict[str, Any] = json.loads(centroids.read_bytes())
    details = feed["details"]
    ground = {team["id"]["heId"]: "home" if team["home"] else "away" for team in details["teams"]}
    players = {p["id"]["heId"]: f"{ground[p['teamId']['heId']]}_{p['jerseyNumber']}" for p in details["players"]}
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for person in feed["samples"]["people"]:
        if person["role"]["name"] not in ("Outfielder", "Goalkeeper"):       # referees are not replayed
            continue
        name = players[person["personId"]["heId"]]
        rows.setdefault(name, []).extend((c["time"], c["pos"][0], c["pos"][1]) for c in person["centroid"])
    tracks = {}
    for name, fixes in rows.items():
        track = np.array(sorted(fixes))
        tracks[name] = track[np.concatenate([[True], np.diff(track[:, 0]) > 0])]
    return tracks
