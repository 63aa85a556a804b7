"""Tests for the pitch projection and the football match motion model.

The full-match checks pin the physiological envelope analytics rely on
(distance covered, top speed, acceleration), not exact trajectories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from geopy.distance import geodesic
from numpy.lib.stride_tricks import sliding_window_view

from simulator.match import A_MAX, HALF_DURATION_S, MATCH_DURATION_S, Match, Role
from simulator.pitch import Pitch

RATE_HZ = 10.0
DT = 1.0 / RATE_HZ
SEED = 2024


# --------------------------------------------------------------------- pitch


@pytest.mark.parametrize("orientation", [0.0, 37.5, 90.0, 215.0])
@pytest.mark.parametrize("centre", [(40.4530, -3.6883), (-33.8914, 151.2246), (64.1, -21.9)])
def test_pitch_round_trip_within_1mm(orientation: float, centre: tuple[float, float]) -> None:
    pitch = Pitch(centre_lat=centre[0], centre_lon=centre[1], orientation_deg=orientation)
    rng = np.random.default_rng(0)
    x = rng.uniform(-60.0, 60.0, 500)
    y = rng.uniform(-40.0, 40.0, 500)
    lat, lon = pitch.to_latlon(x, y)
    x2, y2 = pitch.to_xy(lat, lon)
    assert np.max(np.hypot(x2 - x, y2 - y)) < 1e-3
    # Scalars work too and give the same answer.
    lat0, lon0 = pitch.to_latlon(float(x[0]), float(y[0]))
    assert (lat0, lon0) == pytest.approx((lat[0], lon[0]), abs=1e-12)


def test_orientation_0_is_north_east_and_90_swaps_axes() -> None:
    north_up = Pitch(orientation_deg=0.0)
    east_up = Pitch(orientation_deg=90.0)
    lat, lon = north_up.to_latlon(10.0, 0.0)
    assert lat > north_up.centre_lat and lon == pytest.approx(north_up.centre_lon, abs=1e-12)
    lat, lon = north_up.to_latlon(0.0, 10.0)
    assert lon > north_up.centre_lon and lat == pytest.approx(north_up.centre_lat, abs=1e-12)
    # Rotated 90 degrees: the long axis points east, the width axis south.
    lat, lon = east_up.to_latlon(10.0, 0.0)
    assert lon > east_up.centre_lon and lat == pytest.approx(east_up.centre_lat, abs=1e-12)
    lat, lon = east_up.to_latlon(0.0, 10.0)
    assert lat < east_up.centre_lat and lon == pytest.approx(east_up.centre_lon, abs=1e-12)
    for x, y in [(52.5, 0.0), (0.0, 34.0), (-20.0, 13.0)]:
        assert east_up.to_latlon(x, y) == pytest.approx(north_up.to_latlon(-y, x), abs=1e-12)


@pytest.mark.parametrize("orientation", [0.0, 90.0, 143.0])
@pytest.mark.parametrize("centre_lat", [40.4530, 0.0, 60.0])
def test_metre_scale_matches_geodesic(orientation: float, centre_lat: float) -> None:
    pitch = Pitch(centre_lat=centre_lat, orientation_deg=orientation)
    centre = (pitch.centre_lat, pitch.centre_lon)
    assert geodesic(centre, pitch.to_latlon(52.5, 0.0)).m == pytest.approx(52.5, abs=0.005)
    assert geodesic(centre, pitch.to_latlon(-52.5, 0.0)).m == pytest.approx(52.5, abs=0.005)
    assert geodesic(centre, pitch.to_latlon(0.0, 34.0)).m == pytest.approx(34.0, abs=0.005)
    corner_diag = math.hypot(52.5, 34.0)
    assert geodesic(centre, pitch.to_latlon(52.5, 34.0)).m == pytest.approx(corner_diag, abs=0.005)


def test_pitch_near_antimeridian_wraps_longitude() -> None:
    pitch = Pitch(centre_lat=-17.8, centre_lon=179.9999)
    lat, lon = pitch.to_latlon(0.0, 52.5)
    assert -180.0 <= lon < 180.0 and lon < 0.0
    assert pitch.to_xy(lat, lon) == pytest.approx((0.0, 52.5), abs=1e-3)


def test_contains() -> None:
    pitch = Pitch()
    assert pitch.contains(0.0, 0.0)
    assert pitch.contains(52.5, -34.0)
    assert not pitch.contains(52.6, 0.0)
    assert not pitch.contains(0.0, 34.1)


@pytest.mark.parametrize(
    "kwargs", [{"length_m": 0.0}, {"width_m": -1.0}, {"centre_lat": 90.0}, {"centre_lon": 181.0}]
)
def test_pitch_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Pitch(**kwargs)


# --------------------------------------------------------------------- match


@dataclass
class Run:
    match: Match
    t: np.ndarray  # (T,)
    xy: np.ndarray  # (T, 22, 2) true positions
    latlon: np.ndarray  # (T, 22, 2) reported positions


def simulate(seed: int, duration_s: float = MATCH_DURATION_S, gps_noise_m: float = 1.0) -> Run:
    match = Match(Pitch(), seed=seed, rate_hz=RATE_HZ, gps_noise_m=gps_noise_m)
    ts, xy, latlon = [], [], []
    for t, fixes in match.ticks(duration_s):
        ts.append(t)
        xy.append([(x, y) for _, x, y, _, _ in fixes])
        latlon.append([(lat, lon) for _, _, _, lat, lon in fixes])
        assert [f[0] for f in fixes] == match.players
    return Run(match, np.array(ts), np.array(xy), np.array(latlon))


@pytest.fixture(scope="module")
def full_match() -> Run:
    return simulate(SEED)


def halves(run: Run) -> list[np.ndarray]:
    """True positions split at the half-time restart (teams change ends there)."""
    split = int(np.searchsorted(run.t, HALF_DURATION_S - 1e-9))
    return [run.xy[:split], run.xy[split:]]


def step_speeds(xy: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(xy, axis=0), axis=2) / DT


def outfield_mask(match: Match) -> np.ndarray:
    return np.array([p.role is not Role.GK for p in match.players])


def test_squads_and_timeline(full_match: Run) -> None:
    players = full_match.match.players
    assert len(players) == 22
    for team in (0, 1):
        squad = [p for p in players if p.team == team]
        assert len(squad) == 11
        assert [p.role for p in squad].count(Role.GK) == 1
        assert len({p.number for p in squad}) == 11
    assert len(full_match.t) == int(MATCH_DURATION_S * RATE_HZ)
    assert full_match.t[0] == 0.0
    assert np.allclose(np.diff(full_match.t), DT)
    assert full_match.t[int(HALF_DURATION_S * RATE_HZ)] == pytest.approx(HALF_DURATION_S)


def test_distance_covered(full_match: Run) -> None:
    km = sum(step_speeds(h).sum(axis=0) * DT for h in halves(full_match)) / 1000.0
    outfield = outfield_mask(full_match.match)
    print(f"\noutfield km {km[outfield].min():.2f}-{km[outfield].max():.2f}, GK km {km[~outfield].round(2)}")
    assert np.all((km[outfield] >= 8.5) & (km[outfield] <= 13.5)), km
    assert np.all((km[~outfield] >= 3.0) & (km[~outfield] < 7.0)), km
    # Midfielders run the most, on average.
    mid = [i for i, p in enumerate(full_match.match.players) if p.role is Role.MID]
    defence = [i for i, p in enumerate(full_match.match.players) if p.role is Role.DEF]
    assert km[mid].mean() > km[defence].mean()


def test_top_speed(full_match: Run) -> None:
    window = int(round(RATE_HZ))  # a speed counts only if held for 1 s
    top = np.max(
        [sliding_window_view(step_speeds(h), window, axis=0).min(axis=-1).max(axis=0) for h in halves(full_match)],
        axis=0,
    )
    outfield = outfield_mask(full_match.match)
    print(f"\noutfield top speed {top[outfield].min():.2f}-{top[outfield].max():.2f} m/s")
    assert np.all((top[outfield] >= 7.0) & (top[outfield] <= 9.8)), top
    assert np.all(top <= full_match.match.max_speeds + 1e-9)


def test_acceleration_bounded(full_match: Run) -> None:
    acc = [np.linalg.norm(h[2:] - 2.0 * h[1:-1] + h[:-2], axis=2) / DT**2 for h in halves(full_match)]
    assert max(a.max() for a in acc) <= A_MAX + 1e-6


def test_everyone_stays_on_the_pitch(full_match: Run) -> None:
    pitch = full_match.match.pitch
    assert np.all(np.abs(full_match.xy[..., 0]) <= pitch.length_m / 2.0)
    assert np.all(np.abs(full_match.xy[..., 1]) <= pitch.width_m / 2.0)


def test_goalkeepers_stay_near_their_goal_and_teams_change_ends(full_match: Run) -> None:
    players = full_match.match.players
    first, second = halves(full_match)
    for i, p in enumerate(players):
        own_goal_side = -1.0 if p.team == 0 else 1.0  # team 0 attacks +x first
        if p.role is Role.GK:
            # Never further than 35 m out (the rare sweeping run), usually close to goal.
            from_goal_line = np.concatenate([52.5 - own_goal_side * first[:, i, 0], 52.5 + own_goal_side * second[:, i, 0]])
            assert from_goal_line.max() < 35.0
            assert from_goal_line.mean() < 12.0
        team_x_first = first[:, [j for j, q in enumerate(players) if q.team == p.team], 0].mean()
        team_x_second = second[:, [j for j, q in enumerate(players) if q.team == p.team], 0].mean()
        assert own_goal_side * team_x_first > 0 > own_goal_side * team_x_second


def test_same_seed_identical_different_seed_different(full_match: Run) -> None:
    again = simulate(SEED, duration_s=600.0)
    n = len(again.t)
    assert np.array_equal(again.t, full_match.t[:n])
    assert np.array_equal(again.xy, full_match.xy[:n])
    assert np.array_equal(again.latlon, full_match.latlon[:n])
    other = simulate(SEED + 1, duration_s=600.0)
    assert not np.array_equal(other.xy, again.xy)
    assert not np.array_equal(other.latlon, again.latlon)


def test_gps_noise_is_correlated_and_only_affects_reports(full_match: Run) -> None:
    pitch = full_match.match.pitch
    x, y = pitch.to_xy(full_match.latlon[..., 0], full_match.latlon[..., 1])
    err = np.stack([x, y], axis=-1) - full_match.xy  # (T, 22, 2)
    assert 0.8 < err.std() < 1.2
    lag1 = np.mean([np.corrcoef(err[:-1, i, k], err[1:, i, k])[0, 1] for i in range(22) for k in range(2)])
    assert lag1 > 0.95  # wanders like a real receiver, not white noise
    noiseless = simulate(SEED, duration_s=120.0, gps_noise_m=0.0)
    n = len(noiseless.t)
    assert np.array_equal(noiseless.xy, full_match.xy[:n])  # noise level does not change motion
    x0, y0 = pitch.to_xy(noiseless.latlon[..., 0], noiseless.latlon[..., 1])
    assert np.max(np.abs(np.stack([x0, y0], axis=-1) - noiseless.xy)) < 1e-6


def test_output_rate_does_not_change_the_motion() -> None:
    fast = simulate(SEED, duration_s=60.0)
    slow = Match(Pitch(), seed=SEED, rate_hz=2.0)
    ticks = list(slow.ticks(60.0))
    assert len(ticks) == 120
    slow_xy = np.array([[(x, y) for _, x, y, _, _ in fixes] for _, fixes in ticks])
    assert np.allclose(slow_xy, fast.xy[::5], atol=1e-9)


@pytest.mark.parametrize("rate", [0.0, 0.99, 50.01, 100.0, float("nan"), float("inf")])
def test_rejects_rates_outside_1_to_50_hz(rate: float) -> None:
    with pytest.raises(ValueError):
        Match(Pitch(), seed=1, rate_hz=rate)


@pytest.mark.parametrize("rate", [1.0, 50.0])
def test_accepts_rate_bounds(rate: float) -> None:
    match = Match(Pitch(), seed=1, rate_hz=rate)
    ticks = list(match.ticks(2.0))
    assert [t for t, _ in ticks] == pytest.approx([k / rate for k in range(int(2 * rate))])


def test_rejects_negative_gps_noise() -> None:
    with pytest.raises(ValueError):
        Match(Pitch(), seed=1, rate_hz=10.0, gps_noise_m=-0.5)


@pytest.mark.parametrize("size", [(40.0, 25.0), (130.0, 68.0), (105.0, 95.0)])
def test_rejects_pitches_outside_the_laws_of_the_game(size: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        Match(Pitch(length_m=size[0], width_m=size[1]), seed=1, rate_hz=10.0)


def test_smaller_rotated_pitch_scales_the_formation_and_keeps_players_on_it() -> None:
    pitch = Pitch(length_m=100.0, width_m=64.0, centre_lat=51.5549, centre_lon=-0.1084, orientation_deg=30.0)
    match = Match(pitch, seed=3, rate_hz=5.0)
    assert all(pitch.contains(p.home_x, p.home_y) for p in match.players)
    for _, fixes in match.ticks(900.0):
        assert all(pitch.contains(x, y) for _, x, y, _, _ in fixes)


def test_ticks_resume_where_they_stopped() -> None:
    match = Match(Pitch(), seed=SEED, rate_hz=RATE_HZ)
    first = [t for t, _ in match.ticks(30.0)]
    rest = [t for t, _ in match.ticks(60.0)]
    assert first[-1] == pytest.approx(29.9) and rest[0] == pytest.approx(30.0) and len(first) + len(rest) == 600
    with pytest.raises(ValueError):
        match.step(0.0)
