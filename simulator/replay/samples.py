"""Real StatsBomb open-data matches, fetched at test or benchmark time from kloppy's source
distribution on PyPI (its test files), never shipped in this repository.

Why there: the project reaches PyPI but not GitHub, where StatsBomb publishes its open data, and
kloppy's sdist carries three whole StatsBomb matches (events and lineups) as test files. The sdist
(~40 MB) is downloaded once with pip into the cache folder and only those files are extracted.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from sports_prophet.config import REPO_ROOT

CACHE = REPO_ROOT / ".cache" / "statsbomb"
# match name → (events file, lineups file) in kloppy's tests/files
MATCHES = {
    "3788741": ("statsbomb_3788741_event.json", "statsbomb_3788741_lineup.json"),   # Turkey 0-3 Italy, Euro 2020
    "15986": ("statsbomb_15986_event.json", "statsbomb_15986_lineup.json"),         # Barcelona 2-2 Girona
    "15946": ("statsbomb_event.json", "statsbomb_lineup.json"),                     # Barcelona v Alavés (as kloppy ships it)
}


def statsbomb_match(name: str, cache: Path = CACHE) -> tuple[Path, Path]:
    """The events and lineups files of one of `MATCHES`, downloading kloppy's sdist on first use."""
    events, lineups = MATCHES[name]
    wanted = [cache / events, cache / lineups]
    if not all(p.exists() for p in wanted):
        fetch_kloppy_files(cache)
    return wanted[0], wanted[1]


def fetch_kloppy_files(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    release = version("kloppy")
    subprocess.run([sys.executable, "-m", "pip", "download", f"kloppy=={release}", "--no-binary", ":all:",
                    "--no-deps", "-q", "-d", str(cache)], check=True, timeout=600)
    sdist = cache / f"kloppy-{release}.tar.gz"
    names = {name for pair in MATCHES.values() for name in pair}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if base in names and "/tests/files/" in member.name:
                member.name = base
                archive.extract(member, cache, filter="data")
    sdist.unlink()
