"""Replay of Hawk-Eye, SkillCorner and Second Spectrum tracking, each on the provider's sample file
from kloppy's source distribution (downloaded at test time: tests/kloppy_samples.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from simulator.replay.command import detect_format
from simulator.replay.recording import ReplayError
from simulator.replay.tracking import TRACKING_RUN_CONFIG, load_tracking
from tests.kloppy_samples import HAWKEYE_2ND_HALF, SECONDSPECTRUM, SKILLCORNER, hawkeye_players, sample_files

START = datetime(2024, 9, 22, 21, 0, 49, 383000, tzinfo=timezone.utc).timestamp()


def test_hawkeye_players_become_runs_at_50_hz_timed_from_the_first_half():
    files = sample_files(HAWKEYE_2ND_HALF)
    assert detect_format(files) == "hawkeye"
    rec = load_tracking("hawkeye", files, "m", START, now=0.0, skip_bad=False)
    raw = hawkeye_players(files[2])
    runs = {t.run: t for t in rec.tracks}
    assert set(runs) == {f"m_{player}" for player in raw} and len(runs) == 22        # referees left out
    assert rec.run_config == TRACKING_RUN_CONFIG == {"motion": {"source": "optical"}}
    keeper = runs["m_away_1"]
    # The second half kicked off 62:24.135 after the first (the feed's segments), so its minute 46
    # starts there; frames are 20 ms apart.
    assert keeper.times[0] == pytest.approx(START + 3744.135 + raw["away_1"][0, 0], abs=1e-5)
    assert np.median(np.diff(keeper.times)) == pytest.approx(0.02, abs=1e-6)
    assert len(keeper) >= len(raw["away_1"]) - 3                  # kloppy merges the odd frame it rounds together
    # Positions in metres from the centre spot, as Hawk-Eye gives them (kloppy may mirror the axes).
    first = np.array([keeper.columns["x"][0], keeper.columns["y"][0]])
    assert np.abs(first) == pytest.approx(np.abs(raw["away_1"][0, 1:]), abs=1e-3)


def test_hawkeye_needs_both_feeds_of_a_minute():
    meta, _ball, centroids = sample_files(HAWKEYE_2ND_HALF)
    with pytest.raises(ReplayError, match=r"^hawkeye_2_46.football: no hawkeye_2_46.football.samples.ball beside it"):
        load_tracking("hawkeye", [meta, centroids], None, START, 0.0, False)


def test_skillcorner_broadcast_tracking_players_become_runs():
    files = sample_files(SKILLCORNER)
    assert detect_format(files) == "skillcorner"
    rec = load_tracking("skillcorner", files, "sc", None, now=0.0, skip_bad=False)
    kickoff = datetime(2023, 8, 11, 18, 0, tzinfo=timezone.utc).timestamp()      # the match data's date
    runs = {t.run: t for t in rec.tracks}
    assert len(runs) == 31 and rec.readings == 132 and rec.run_config == TRACKING_RUN_CONFIG
    assert min(t.times[0] for t in rec.tracks) == pytest.approx(kickoff + 1.0)   # frame 10 at 10 fps
    assert all(abs(x) <= 60 and abs(y) <= 40 for t in rec.tracks for x, y in zip(t.columns["x"], t.columns["y"]))


def test_second_spectrum_players_become_runs():
    files = sample_files(SECONDSPECTRUM)
    assert detect_format(files) == "secondspectrum"
    rec = load_tracking("secondspectrum", files, "ss", START, now=0.0, skip_bad=False)
    runs = {t.run: t for t in rec.tracks}
    assert len(runs) == 29 and len(runs["ss_away_0"]) == 376 and rec.run_config == TRACKING_RUN_CONFIG
    assert runs["ss_away_0"].times[0] == START                    # the first frame, at the period's start
    assert (runs["ss_away_0"].columns["x"][0], runs["ss_away_0"].columns["y"][0]) == pytest.approx((-14.0937, 33.5579))
