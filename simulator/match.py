"""Deterministic 22-player football match motion model.

Why not a random walk: downstream analytics (distance covered, speed zones,
sprint counts, heat maps) only make sense on data with football-like
statistics. The model therefore has three layers:

* a coarse ball/possession process that moves the ball up and down the pitch;
* a tactical target per player: formation home position shifted toward the
  ball by role-specific amounts (the team shape slides with the ball, pushes
  up in possession, compresses out of possession, nearest player presses);
* locomotion in bouts: each player repeatedly picks an intensity category
  (walk / jog / run / high-speed / sprint) with role-dependent odds and
  duration, heads for a waypoint near its target and follows it with bounded,
  speed-dependent acceleration, so speed ramps and turns are smooth.

All players are simulated together with numpy arrays so that a full match at
10 Hz takes seconds, and everything is driven by one seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Real
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from simulator.pitch import Pitch

HALF_DURATION_S = 45 * 60.0
MATCH_DURATION_S = 2 * HALF_DURATION_S
MIN_RATE_HZ = 1.0
MAX_RATE_HZ = 50.0
# Laws of the Game pitch size limits; roles, margins and speeds are tuned for
# a full-size pitch, so toy pitches are rejected rather than simulated badly.
PITCH_LENGTH_RANGE_M = (90.0, 120.0)
PITCH_WIDTH_RANGE_M = (45.0, 90.0)
# FORMATIONS are laid out on this pitch and scaled to the actual one.
REFERENCE_PITCH_M = (105.0, 68.0)
# Physics never integrates with steps longer than this, so 1 Hz output has
# the same smooth dynamics as 10 Hz output.
MAX_SUBSTEP_S = 0.1

# Locomotion limits (m/s^2). Speeding up is also limited by a ramp that
# shrinks as the player approaches his top speed (sprint acceleration decays
# with speed); braking and turning get the full A_MAX.
A_MAX = 4.0
A_RAMP_AT_VMAX = 0.5  # fraction of A_MAX still available at top speed
# Planned braking deceleration, well below A_MAX so the limiter can brake and
# turn at the same time.
A_BRAKE = 2.5
# Distance to a waypoint at which a player counts as arrived.
ARRIVE_M = 0.5
# Waypoints stay this far inside the lines; braking aims to stop EDGE_MARGIN_M
# inside them, which keeps players on the pitch without hard clamping.
WAYPOINT_MARGIN_M = 1.5
EDGE_MARGIN_M = 0.5

MAX_SPEED_RANGE_MPS = (7.5, 9.5)

# Intensity categories. Index order matters: higher index = more intense.
STAND, WALK, JOG, RUN, HSR, SPRINT = range(6)
# Speed bands (m/s) for STAND..HSR; SPRINT uses a fraction of the player's max.
_SPEED_LO = np.array([0.0, 0.8, 2.2, 4.2, 5.7, 0.0])
_SPEED_HI = np.array([0.4, 2.0, 3.8, 5.5, 7.0, 0.0])
_SPRINT_FRACTION = (0.93, 1.0)
# Typical acceleration along a speed-up ramp, used to budget bout time for it.
_MEAN_ACCEL_MPS2 = 3.0
# Bout durations (s); sprints are short, standing/walking bouts long.
_DUR_LO = np.array([2.0, 3.0, 3.0, 2.0, 1.5, 1.0])
_DUR_HI = np.array([8.0, 10.0, 8.0, 5.0, 4.0, 4.0])
# Players far from their tactical target must at least jog / run to get back.
_JOG_IF_FURTHER_M = 20.0
_RUN_IF_FURTHER_M = 35.0
# The pressing/receiving player runs if the ball is further than this.
_CHASER_RUN_IF_FURTHER_M = 10.0
# The team shape reacts to the ball and to possession changes with a lag,
# so targets move at a plausible speed instead of jumping with each pass.
_SHAPE_LAG_S = 4.0
# Random scatter of bout directions (m) so players roam around their target.
_BOUT_SCATTER_M = 6.0
# High-intensity bouts are mostly runs up the pitch in possession and recovery
# runs when defending, and need room to reach top speed (~13 m to accelerate,
# ~14 m to brake), so they lean along the pitch and may go further.
_INTENSE_RUN_BIAS_M = 15.0
_INTENSE_EXCURSION_FACTOR = 2.0
# Intensity of non-walking bouts decays linearly by this fraction over 90 min.
_FATIGUE_DROP = 0.10
_WORK_RATE_RANGE = (0.85, 1.15)

# Ball process: events (pass / turnover / end of attack) every few seconds.
_BALL_SPEED_MPS = 14.0
_BALL_EVENT_S = (1.5, 5.0)
_P_TURNOVER = 0.18
# Past this fraction of the half-length (about the edge of the box) an attack
# may end in a shot/cross; the other team then restarts deep in its own half.
_ATTACK_END_X_FRACTION = 0.69
_P_ATTACK_END = 0.35
_RESTART_X_FRACTION = (-0.91, -0.48)
_PASS_GAIN_M = (3.0, 12.0)  # mean, std of forward progress per pass
_PASS_LATERAL_SD_M = 14.0
# An attack that ends is a shot this often (else a cross or through ball that is cleared:
# a lost ball), ~25 shots a match. Its expected goals (xG) come from a logistic model of
# distance and the angle the goal mouth subtends (the shape of public xG models; these
# coefficients give ~0.12 from the penalty spot, ~0.03 from 20 m, ~0.01 from 30 m).
_P_SHOT = 0.35
_GOAL_WIDTH_M = 7.32
_XG_INTERCEPT, _XG_PER_RAD, _XG_PER_M = -1.7, 1.5, -0.12
# After a goal the ball goes back to the centre spot and, after the celebration and the
# walk back, the conceding team kicks off.
_GOAL_RESTART_S = (35.0, 60.0)

# GPS error: AR(1) (Gauss-Markov) per axis; real receiver errors wander
# slowly because they come from satellite geometry/multipath, not per-fix noise.
GPS_NOISE_TAU_S = 20.0


def shot_xg(distance_m: float, lateral_m: float) -> float:
    """Expected goals of a shot ``distance_m`` from the goal line, ``lateral_m`` off the goal's centre line."""
    half = _GOAL_WIDTH_M / 2.0
    angle = math.atan2(_GOAL_WIDTH_M * distance_m, distance_m**2 + lateral_m**2 - half**2)
    logit = _XG_INTERCEPT + _XG_PER_RAD * angle + _XG_PER_M * math.hypot(distance_m, lateral_m)
    return 1.0 / (1.0 + math.exp(-logit))


class Role(str, Enum):
    """Playing role; decides how a player follows the ball and how hard he works."""

    GK = "GK"
    DEF = "DEF"
    MID = "MID"
    FWD = "FWD"


@dataclass(frozen=True)
class _RoleModel:
    """How a role follows the ball and how hard it works."""

    kx: float  # fraction of the ball's x the player's target follows
    ky: float  # fraction of the ball's y the player's target follows
    push_in: float  # extra x (towards goal) when the team has the ball
    push_out: float  # extra x when defending
    excursion_m: float  # furthest a bout may take the player from his target
    time_fraction: tuple[float, float, float, float, float, float]  # STAND..SPRINT


_ROLE_MODELS: dict[Role, _RoleModel] = {
    Role.GK: _RoleModel(0.08, 0.15, 3.0, 0.0, 7.0, (0.30, 0.50, 0.17, 0.025, 0.004, 0.001)),
    Role.DEF: _RoleModel(0.42, 0.30, 6.0, -3.0, 20.0, (0.20, 0.46, 0.22, 0.075, 0.025, 0.010)),
    Role.MID: _RoleModel(0.55, 0.40, 6.0, -4.0, 25.0, (0.17, 0.46, 0.25, 0.080, 0.025, 0.010)),
    Role.FWD: _RoleModel(0.55, 0.35, 8.0, -6.0, 25.0, (0.27, 0.49, 0.13, 0.055, 0.030, 0.015)),
}
_WIDTH_IN_POSSESSION = 1.1
_WIDTH_OUT_OF_POSSESSION = 0.8

# Home positions in the team frame: metres from the centre spot, the team
# attacking towards +x, ball at the centre.
FORMATIONS: dict[str, tuple[tuple[Role, float, float], ...]] = {
    "4-4-2": (
        (Role.GK, -47.0, 0.0),
        (Role.DEF, -30.0, -24.0), (Role.DEF, -32.0, -8.0), (Role.DEF, -32.0, 8.0), (Role.DEF, -30.0, 24.0),
        (Role.MID, -14.0, -22.0), (Role.MID, -16.0, -7.0), (Role.MID, -16.0, 7.0), (Role.MID, -14.0, 22.0),
        (Role.FWD, -3.0, -9.0), (Role.FWD, -3.0, 9.0),
    ),
    "4-3-3": (
        (Role.GK, -47.0, 0.0),
        (Role.DEF, -30.0, -24.0), (Role.DEF, -32.0, -8.0), (Role.DEF, -32.0, 8.0), (Role.DEF, -30.0, 24.0),
        (Role.MID, -17.0, -14.0), (Role.MID, -20.0, 0.0), (Role.MID, -17.0, 14.0),
        (Role.FWD, -4.0, -22.0), (Role.FWD, -2.0, 0.0), (Role.FWD, -4.0, 22.0),
    ),
}


@dataclass(frozen=True)
class Player:
    """A player; ``home_x``/``home_y`` (metres from the centre spot) are in his
    team's frame, attacking towards +x, so they stay valid when ends change."""

    team: int
    number: int
    role: Role
    home_x: float
    home_y: float


PlayerFix = tuple[Player, float, float, float, float]


@dataclass(frozen=True)
class BallEvent:
    """What the ball process did, for the match-event feed (simulator/events.py) to name.

    ``kind``: "kickoff", "pass", "turnover" (the pass was lost) or "shot". ``team`` had the
    ball when it happened. ``ball`` and ``target`` are pitch-frame metres: where the ball was
    and where it goes next; ``positions`` are every player's true positions at that moment
    (``players`` order), so the feed names the players the motion actually put there.
    """

    t: float
    kind: str
    team: int
    ball: tuple[float, float]
    target: tuple[float, float]
    positions: npt.NDArray[np.float64]
    xg: float = 0.0
    goal: bool = False


class Match:
    """A 90-minute match producing per-tick positions of all 22 players.

    ``ticks()`` yields ``(t_match_s, [(player, x, y, lat, lon), ...])`` where
    ``x``/``y`` are the true pitch-frame metres and ``lat``/``lon`` what a
    GPS unit would report (true position plus correlated noise).
    """

    def __init__(
        self,
        pitch: Pitch,
        seed: int,
        rate_hz: float,
        gps_noise_m: float = 1.0,
        formations: tuple[str, str] = ("4-4-2", "4-3-3"),
    ) -> None:
        if not (isinstance(rate_hz, Real) and MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ):
            raise ValueError(f"rate_hz must be within [{MIN_RATE_HZ}, {MAX_RATE_HZ}], got {rate_hz!r}")
        if not (
            PITCH_LENGTH_RANGE_M[0] <= pitch.length_m <= PITCH_LENGTH_RANGE_M[1]
            and PITCH_WIDTH_RANGE_M[0] <= pitch.width_m <= PITCH_WIDTH_RANGE_M[1]
        ):
            raise ValueError(
                f"pitch must be {PITCH_LENGTH_RANGE_M} m long and {PITCH_WIDTH_RANGE_M} m wide, "
                f"got {pitch.length_m} x {pitch.width_m}"
            )
        if not (math.isfinite(gps_noise_m) and gps_noise_m >= 0.0):
            raise ValueError(f"gps_noise_m must be a finite non-negative number, got {gps_noise_m!r}")
        unknown = [f for f in formations if f not in FORMATIONS]
        if len(formations) != 2 or unknown:
            raise ValueError(f"need two formations out of {sorted(FORMATIONS)}, got {formations!r}")
        self.pitch = pitch
        self.rate_hz = float(rate_hz)
        self.gps_noise_m = float(gps_noise_m)
        # Separate streams: changing the GPS noise level must not change the motion, and
        # drawing shot outcomes must not shift the motion's own draws.
        motion_seed, noise_seed, shot_seed = np.random.SeedSequence(seed).spawn(3)
        self._rng = np.random.default_rng(motion_seed)
        self._noise_rng = np.random.default_rng(noise_seed)
        self._shot_rng = np.random.default_rng(shot_seed)

        sx = pitch.length_m / REFERENCE_PITCH_M[0]
        sy = pitch.width_m / REFERENCE_PITCH_M[1]
        self.players: list[Player] = [
            Player(team, number, role, hx * sx, hy * sy)
            for team, name in enumerate(formations)
            for number, (role, hx, hy) in enumerate(FORMATIONS[name], start=1)
        ]
        n = len(self.players)
        models = [_ROLE_MODELS[p.role] for p in self.players]
        self._team = np.array([p.team for p in self.players])
        self._outfield = np.array([p.role is not Role.GK for p in self.players])
        self._home = np.array([[p.home_x, p.home_y] for p in self.players])
        self._kx = np.array([m.kx for m in models])
        self._ky = np.array([m.ky for m in models])
        self._push_in = np.array([m.push_in for m in models])
        self._push_out = np.array([m.push_out for m in models])
        self._excursion = np.array([m.excursion_m for m in models])
        # Bout-choice weights: time fraction / mean duration = bouts per second.
        self._bout_weight = np.array([m.time_fraction for m in models]) / ((_DUR_LO + _DUR_HI) / 2.0)
        self._vmax = self._rng.uniform(*MAX_SPEED_RANGE_MPS, n)
        self._work_rate = self._rng.uniform(*_WORK_RATE_RANGE, n)

        self._half_len = pitch.length_m / 2.0
        self._half_wid = pitch.width_m / 2.0
        self._t = 0.0
        self._half = 1
        self._pos = np.zeros((n, 2))
        self._vel = np.zeros((n, 2))
        self._bout_left = np.zeros(n)
        self._bout_speed = np.zeros(n)
        self._bout_offset = np.zeros((n, 2))
        self._ball = np.zeros(2)
        self._ball_target = np.zeros(2)
        self._ball_timer = 0.0
        self._possession = 0
        # Lagged ball position and per-team share of possession the shape reacts to.
        self._shape_ball = np.zeros(2)
        self._shape_possession = np.zeros(2)
        self._chasers = np.zeros(n, dtype=bool)
        self._noise = self._noise_rng.normal(0.0, self.gps_noise_m, (n, 2))
        self._events: list[BallEvent] = []
        self._clock = 0.0  # match time of the current substep, so events get their own time
        self._kickoff_due = False  # after a goal: the next ball event is the restart
        self._kickoff()

    # ----------------------------------------------------------------- public

    @property
    def t(self) -> float:
        """Match time in seconds."""
        return self._t

    @property
    def positions(self) -> npt.NDArray[np.float64]:
        """True (noise-free) pitch-frame positions, shape (22, 2), in ``players`` order."""
        return self._pos.copy()

    @property
    def max_speeds(self) -> npt.NDArray[np.float64]:
        """Each player's individual top speed (m/s), in ``players`` order."""
        return self._vmax.copy()

    def take_events(self) -> list[BallEvent]:
        """The ball events since the last call, oldest first (handed over, not kept: a match has ~2,000)."""
        events, self._events = self._events, []
        return events

    def ticks(self, until_s: float = MATCH_DURATION_S) -> Iterator[tuple[float, list[PlayerFix]]]:
        """Yield the state every 1/rate_hz s of match time, from the current time until
        match time ``until_s`` (exclusive; capped at full time)."""
        dt = 1.0 / self.rate_hz
        end = min(until_s, MATCH_DURATION_S)
        while self._t < end - 1e-9:
            yield self._t, self._snapshot()
            self.step(dt)

    def step(self, dt: float) -> None:
        """Advance the model by ``dt`` s (internal; use ``ticks``). Handles the half-time restart."""
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt!r}")
        n_sub = max(1, math.ceil(dt / MAX_SUBSTEP_S - 1e-9))
        h = dt / n_sub
        for i in range(n_sub):
            self._clock = self._t + i * h
            self._substep(h)
        self._advance_noise(dt)
        # Integer tick counts would be exact, but dt may be any float; round
        # away accumulated float error so half-time lands on the right tick.
        self._t = round(self._t + dt, 9)
        if self._half == 1 and self._t >= HALF_DURATION_S:
            self._half = 2
            self._kickoff()

    # --------------------------------------------------------------- internal

    def _attack_sign(self) -> npt.NDArray[np.float64]:
        """+1 for players attacking towards +x this half, else -1 (ends swap at half-time)."""
        first = np.where(self._team == 0, 1.0, -1.0)
        return first if self._half == 1 else -first

    def _possession_sign(self) -> float:
        """+1 if the team on the ball attacks towards +x this half, else -1."""
        return 1.0 if (self._possession == 0) == (self._half == 1) else -1.0

    def _kickoff(self) -> None:
        """Put both teams in their own halves at rest, ball on the spot."""
        sign = self._attack_sign()
        kick_x = np.minimum(self._home[:, 0], -1.0)
        self._pos = sign[:, None] * np.column_stack([kick_x, self._home[:, 1]])
        self._vel[:] = 0.0
        self._bout_speed[:] = 0.0
        self._bout_offset[:] = 0.0
        self._bout_left = self._rng.uniform(0.0, 2.0, len(self.players))
        self._possession = 0 if self._half == 1 else 1
        self._ball[:] = 0.0
        self._ball_target = np.array([-8.0 * self._possession_sign(), 0.0])  # first pass goes back
        self._ball_timer = 1.0
        self._shape_ball[:] = 0.0
        self._shape_possession = np.array([1.0, 0.0]) if self._possession == 0 else np.array([0.0, 1.0])
        self._clock = self._t
        self._record("kickoff", self._possession)

    def _substep(self, h: float) -> None:
        self._advance_ball(h)
        alpha = h / _SHAPE_LAG_S
        self._shape_ball += alpha * (self._ball - self._shape_ball)
        has_ball = np.array([self._possession == 0, self._possession == 1], dtype=float)
        self._shape_possession += alpha * (has_ball - self._shape_possession)
        targets = self._targets()
        self._bout_left -= h
        renew = self._bout_left <= 0.0
        if renew.any():
            self._new_bouts(renew, targets)
        self._move_players(targets, h)

    def _advance_ball(self, h: float) -> None:
        self._ball_timer -= h
        if self._ball_timer <= 0.0:
            self._ball_event()
        gap = self._ball_target - self._ball
        dist = float(np.hypot(*gap))
        move = _BALL_SPEED_MPS * h
        self._ball = self._ball_target.copy() if dist <= move else self._ball + gap * (move / dist)

    def _ball_event(self) -> None:
        """Pass forward/back, lose the ball, or end an attack with a shot (a goal restarts at the
        centre spot, anything else with the other team deep in its own half)."""
        rng = self._rng
        team = self._possession
        team_sign = self._possession_sign()
        bx, by = team_sign * self._ball
        r = rng.random()
        if self._kickoff_due:
            self._kickoff_due = False
            self._ball_target = np.array([-8.0 * team_sign, 0.0])  # the kickoff goes back
            self._ball_timer = rng.uniform(*_BALL_EVENT_S)
            self._record("kickoff", team)
            return
        if bx > _ATTACK_END_X_FRACTION * self._half_len and r < _P_ATTACK_END:
            self._possession = 1 - self._possession
            shot = bool(self._shot_rng.random() < _P_SHOT)
            xg = shot_xg(self._half_len - bx, by) if shot else 0.0
            if shot and self._shot_rng.random() < xg:
                self._ball_target = np.zeros(2)
                self._ball_timer = self._shot_rng.uniform(*_GOAL_RESTART_S)
                self._kickoff_due = True
                self._record("shot", team, xg=xg, goal=True)
                return
            # New team restarts deep in its own half (goal kick / keeper / recovery).
            restart_x = rng.uniform(*_RESTART_X_FRACTION) * self._half_len
            target = -team_sign * np.array([restart_x, rng.normal(0.0, 12.0)])
            kind = "shot" if shot else "turnover"
        elif r < _P_TURNOVER:
            self._possession = 1 - self._possession
            target = self._ball + rng.normal(0.0, 4.0, 2)
            kind, xg = "turnover", 0.0
        else:
            gain = rng.normal(*_PASS_GAIN_M)
            target = team_sign * np.array([bx + gain, 0.5 * by + rng.normal(0.0, _PASS_LATERAL_SD_M)])
            kind, xg = "pass", 0.0
        ball_lim = np.array([self._half_len - 2.0, self._half_wid - 1.0])
        self._ball_target = np.clip(target, -ball_lim, ball_lim)
        self._ball_timer = rng.uniform(*_BALL_EVENT_S)
        self._record(kind, team, xg=xg)

    def _record(self, kind: str, team: int, xg: float = 0.0, goal: bool = False) -> None:
        self._events.append(BallEvent(
            t=round(self._clock, 9), kind=kind, team=team, ball=(float(self._ball[0]), float(self._ball[1])),
            target=(float(self._ball_target[0]), float(self._ball_target[1])), positions=self._pos.copy(),
            xg=xg, goal=goal))

    def _targets(self) -> npt.NDArray[np.float64]:
        """Tactical target of every player: home shifted with the ball; nearest outfielder per team goes to the ball."""
        sign = self._attack_sign()
        ball_t = sign[:, None] * self._shape_ball  # lagged ball in each player's team frame
        in_pos = self._shape_possession[self._team]
        tx = self._home[:, 0] + self._kx * ball_t[:, 0] + self._push_out + in_pos * (self._push_in - self._push_out)
        width = _WIDTH_OUT_OF_POSSESSION + in_pos * (_WIDTH_IN_POSSESSION - _WIDTH_OUT_OF_POSSESSION)
        ty = self._home[:, 1] * width + self._ky * ball_t[:, 1]
        tx = np.clip(tx, -self._half_len + 2.0, self._half_len - 6.0)
        ty = np.clip(ty, -self._half_wid + 2.0, self._half_wid - 2.0)
        targets = sign[:, None] * np.column_stack([tx, ty])

        d2 = np.where(self._outfield, ((self._pos - self._ball) ** 2).sum(axis=1), np.inf)
        self._chasers[:] = False
        for team in (0, 1):
            self._chasers[np.argmin(np.where(self._team == team, d2, np.inf))] = True
        targets[self._chasers] = self._ball
        return targets

    def _new_bouts(self, renew: npt.NDArray[np.bool_], targets: npt.NDArray[np.float64]) -> None:
        """Start a new locomotion bout (intensity, duration, speed, waypoint) for the given players."""
        rng = self._rng
        idx = np.flatnonzero(renew)
        k = idx.size
        weights = self._bout_weight[idx].copy()
        fatigue = 1.0 - _FATIGUE_DROP * min(self._t / MATCH_DURATION_S, 1.0)
        weights[:, JOG:] *= (self._work_rate[idx] * fatigue)[:, None]
        cum = np.cumsum(weights, axis=1)
        u = rng.random(k) * cum[:, -1]
        cat = np.minimum((u[:, None] > cum).sum(axis=1), SPRINT)

        gap = targets[idx] - self._pos[idx]
        gap_m = np.hypot(gap[:, 0], gap[:, 1])
        need = np.where(gap_m > _RUN_IF_FURTHER_M, RUN, np.where(gap_m > _JOG_IF_FURTHER_M, JOG, STAND))
        chaser_need = np.where(gap_m > _CHASER_RUN_IF_FURTHER_M, RUN, JOG)
        need = np.where(self._chasers[idx], np.maximum(need, chaser_need), need)
        cat = np.maximum(cat, need)

        vmax = self._vmax[idx]
        sprint = cat == SPRINT
        lo = np.where(sprint, _SPRINT_FRACTION[0] * vmax, _SPEED_LO[cat])
        hi = np.where(sprint, _SPRINT_FRACTION[1] * vmax, _SPEED_HI[cat])
        speed = np.minimum(rng.uniform(lo, hi), vmax)
        # Durations are time spent at the chosen intensity (as analytics count
        # sprints); the time needed to accelerate to it comes on top.
        current = np.hypot(self._vel[idx, 0], self._vel[idx, 1])
        duration = rng.uniform(_DUR_LO[cat], _DUR_HI[cat]) + np.maximum(speed - current, 0.0) / _MEAN_ACCEL_MPS2

        intense = cat >= HSR
        forward = np.where(self._team[idx] == self._possession, 1.0, -1.0) * self._attack_sign()[idx]
        heading = gap + rng.normal(0.0, _BOUT_SCATTER_M, (k, 2))
        heading[:, 0] += np.where(intense, _INTENSE_RUN_BIAS_M * forward, 0.0)
        heading /= np.maximum(np.hypot(heading[:, 0], heading[:, 1]), 1e-9)[:, None]
        offset = self._pos[idx] + heading * (speed * duration)[:, None] - targets[idx]
        offset_m = np.hypot(offset[:, 0], offset[:, 1])
        excursion = self._excursion[idx] * np.where(intense, _INTENSE_EXCURSION_FACTOR, 1.0)
        offset *= np.minimum(1.0, excursion / np.maximum(offset_m, 1e-9))[:, None]

        self._bout_left[idx] = duration
        self._bout_speed[idx] = speed
        # The waypoint is kept relative to the (moving) target so the player
        # follows the team shape during the bout.
        self._bout_offset[idx] = offset

    def _move_players(self, targets: npt.NDArray[np.float64], h: float) -> None:
        """Steer toward the waypoint with arrival/touchline braking and bounded acceleration."""
        lim = np.array([self._half_len, self._half_wid])
        waypoint = np.clip(targets + self._bout_offset, -lim + WAYPOINT_MARGIN_M, lim - WAYPOINT_MARGIN_M)
        gap = waypoint - self._pos
        dist = np.hypot(gap[:, 0], gap[:, 1])
        speed_des = np.minimum(self._bout_speed, np.sqrt(2.0 * A_BRAKE * np.maximum(dist - ARRIVE_M, 0.0)))
        v_des = gap * (speed_des / np.maximum(dist, 1e-9))[:, None]
        # Never approach a line faster than one can stop before it; look one
        # step ahead to cover the lag of the discrete update.
        ahead = self._pos + self._vel * h
        room_hi = np.sqrt(2.0 * A_BRAKE * np.maximum(lim - EDGE_MARGIN_M - ahead, 0.0))
        room_lo = np.sqrt(2.0 * A_BRAKE * np.maximum(lim - EDGE_MARGIN_M + ahead, 0.0))
        v_des = np.clip(v_des, -room_lo, room_hi)

        # Braking for a line gets the acceleration budget first; steering
        # toward the waypoint gets what is left.
        budget = A_MAX * h
        dv_wall = np.clip(self._vel, -room_lo, room_hi) - self._vel
        dv_wall *= np.minimum(1.0, budget / np.maximum(np.hypot(dv_wall[:, 0], dv_wall[:, 1]), 1e-12))[:, None]
        budget_left = budget - np.hypot(dv_wall[:, 0], dv_wall[:, 1])

        dv = v_des - (self._vel + dv_wall)
        speed = np.hypot(self._vel[:, 0], self._vel[:, 1])
        along_dir = self._vel / np.maximum(speed, 1e-9)[:, None]
        along = (dv * along_dir).sum(axis=1)
        ramp = A_MAX * (1.0 - (1.0 - A_RAMP_AT_VMAX) * (speed / self._vmax) ** 2) * h
        dv -= (np.maximum(along - ramp, 0.0))[:, None] * along_dir
        dv *= np.minimum(1.0, budget_left / np.maximum(np.hypot(dv[:, 0], dv[:, 1]), 1e-12))[:, None]
        self._vel += dv_wall + dv
        self._pos += self._vel * h
        # Safety net only: braking above keeps this from binding in practice.
        outside = np.abs(self._pos) > lim
        self._pos = np.clip(self._pos, -lim, lim)
        self._vel[outside] = 0.0

    def _advance_noise(self, dt: float) -> None:
        rho = math.exp(-dt / GPS_NOISE_TAU_S)
        innovation_sd = self.gps_noise_m * math.sqrt(1.0 - rho * rho)  # keeps the std at gps_noise_m
        self._noise = rho * self._noise + self._noise_rng.normal(0.0, innovation_sd, self._noise.shape)

    def _snapshot(self) -> list[PlayerFix]:
        x, y = self._pos[:, 0], self._pos[:, 1]
        lat, lon = self.pitch.to_latlon(x + self._noise[:, 0], y + self._noise[:, 1])
        return list(zip(self.players, x.tolist(), y.tolist(), lat.tolist(), lon.tolist()))
