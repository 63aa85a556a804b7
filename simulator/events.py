"""The match-event feed: device `match_events`, one run per match, derived from the match model.

Why derived and not invented: an analyst joins the feed with the players' GPS runs (who had
the ball, who shot, who came on), so every event names the player the motion model actually
put there. The model's ball process (simulator/match.py) says when the ball was passed, lost,
shot and scored, and where everyone stood at that moment; this feed names the players:

* the passer or shooter is the active player of the team on the ball nearest to the ball;
  the receiver, or the opponent who won a lost ball, the one nearest to where the ball went;
* cards go to the nearest opponent pressing the ball (about 3.5 yellows a match; a second
  yellow is a red); a sent-off player's run ends (`run_of` answers None from then on);
* three substitutions a team between 55' and 88': the player coming on is a new run
  `<match>_t<team>_<12..14>` that carries on the motion of the one going off.

Cards and substitutions draw from their own seeded stream, so they never change the motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.match import HALF_DURATION_S, MATCH_DURATION_S, BallEvent, Match, Role

from models.match import EVENT_KINDS, EVENT_SCHEMA, EVENTS_DEVICE, TEAMS  # noqa: F401  (the feed's shape)
_FEED_STREAM = 0xFEED                   # mixed into the seed: the feed's own random stream
_P_YELLOW = 0.0025                      # per pass: ~3.5 yellow cards a match
_P_STRAIGHT_RED = 0.00005               # per pass: one straight red in ~13 matches
# A shot that does not score is saved (on target) this often, else it misses or is blocked: about a
# third of all shots are on target in the big leagues, and about a tenth score.
_P_SAVED = 0.26
_SUBS_PER_TEAM = 3
_SUB_WINDOW_S = (55 * 60.0, 88 * 60.0)
_FIRST_SUB_NUMBER = 12


def player_run(match_id: str, team: int, number: int) -> str:
    """A player's GPS run id; the feed's `player` field uses the same ids."""
    return f"{match_id}_t{team}_{number}"


@dataclass(frozen=True)
class FeedEvent:
    """One event of the feed; `t` is match seconds, the reading's timestamp is kickoff + t."""

    t: float
    event: str
    team: str = ""
    player: str = ""
    xg: float = 0.0
    detail: str = ""

    def reading(self, kickoff_epoch: float) -> dict[str, object]:
        return {"timestamp": round(kickoff_epoch + self.t, 6), "minute": round(self.t / 60.0, 3),
                "event": self.event, "team": self.team, "player": self.player, "xg": round(self.xg, 4),
                "detail": self.detail}


class EventFeed:
    """Turns a running Match's ball events into feed events and keeps who is on the pitch.

    Call `advance()` after the match has stepped: it returns the events up to the match's
    current time, in time order. `run_of(slot)` is the run now wearing the slot's GPS unit.
    """

    def __init__(self, match: Match, match_id: str, seed: int) -> None:
        self.match, self.match_id = match, match_id
        self.rng = np.random.default_rng([seed, _FEED_STREAM])
        self.numbers: list[int | None] = [p.number for p in match.players]   # None: sent off
        self.team_of = np.array([p.team for p in match.players])
        self.keeper = np.array([p.role is Role.GK for p in match.players])
        self.score = [0, 0]
        self.booked: set[str] = set()
        self.next_number = [_FIRST_SUB_NUMBER, _FIRST_SUB_NUMBER]
        sub_times = self.rng.uniform(*_SUB_WINDOW_S, (2, _SUBS_PER_TEAM))
        self.subs_due = sorted((float(t), team) for team in (0, 1) for t in sub_times[team])
        self.half_time_done = False
        self.full_time_done = False

    def run_of(self, slot: int) -> str | None:
        number = self.numbers[slot]
        return None if number is None else player_run(self.match_id, int(self.team_of[slot]), number)

    def advance(self) -> list[FeedEvent]:
        """Feed events from the last call up to the match's current time."""
        out: list[FeedEvent] = []
        for ball_event in self.match.take_events():
            self.due_substitutions(ball_event.t, out)
            if not self.half_time_done and ball_event.t >= HALF_DURATION_S:
                self.half_time_done = True
                out.append(FeedEvent(HALF_DURATION_S, "half_time", detail=self.score_text()))
            self.name(ball_event, out)
        self.due_substitutions(self.match.t, out)
        if not self.full_time_done and self.match.t >= MATCH_DURATION_S:
            self.full_time_done = True
            out.append(FeedEvent(MATCH_DURATION_S, "full_time", detail=self.score_text()))
        return out

    # ------------------------------------------------------------ internal

    def score_text(self) -> str:
        return f"{self.score[0]}-{self.score[1]}"

    def nearest(self, positions: np.ndarray, point: tuple[float, float], team: int,
                exclude: int | None = None, outfield: bool = False) -> int:
        """Slot of the active player of `team` nearest to `point`."""
        candidates = [i for i, number in enumerate(self.numbers)
                      if number is not None and self.team_of[i] == team and i != exclude
                      and not (outfield and self.keeper[i])]
        d2 = ((positions[candidates] - np.asarray(point)) ** 2).sum(axis=1)
        return candidates[int(np.argmin(d2))]

    def name(self, ev: BallEvent, out: list[FeedEvent]) -> None:
        team = TEAMS[ev.team]
        if ev.kind == "kickoff":
            half = "1st half" if ev.t < HALF_DURATION_S else "2nd half"
            detail = f"{half}, {self.score_text()}" if ev.t not in (0.0, HALF_DURATION_S) else half
            out.append(FeedEvent(ev.t, "kickoff", detail=detail))
            return
        actor = self.nearest(ev.positions, ev.ball, ev.team)
        if ev.kind == "shot":
            distance = self.distance_to_goal(ev)
            if ev.goal:
                self.score[ev.team] += 1
                out.append(FeedEvent(ev.t, "goal", team, self.run_of(actor), ev.xg, self.score_text()))
            else:
                kind = "shot_saved" if self.rng.random() < _P_SAVED else "shot"
                out.append(FeedEvent(ev.t, kind, team, self.run_of(actor), ev.xg, f"{distance:.0f} m out"))
            return
        if ev.kind == "turnover":
            winner = self.nearest(ev.positions, ev.target, 1 - ev.team)
            out.append(FeedEvent(ev.t, "pass", team, self.run_of(actor), 0.0, f"lost to {self.run_of(winner)}"))
        else:
            receiver = self.nearest(ev.positions, ev.target, ev.team, exclude=actor)
            out.append(FeedEvent(ev.t, "pass", team, self.run_of(actor), 0.0, f"to {self.run_of(receiver)}"))
        self.maybe_card(ev, out)

    def distance_to_goal(self, ev: BallEvent) -> float:
        """Metres from the ball to the centre of the goal the shooting team attacks."""
        first_half = ev.t < HALF_DURATION_S
        sign = 1.0 if (ev.team == 0) == first_half else -1.0
        return math.hypot(sign * self.match.pitch.length_m / 2.0 - ev.ball[0], ev.ball[1])

    def maybe_card(self, ev: BallEvent, out: list[FeedEvent]) -> None:
        """A foul by the opponent pressing the ball: a yellow, a second yellow (then red), or a straight red."""
        r = self.rng.random()
        if r >= _P_YELLOW + _P_STRAIGHT_RED:
            return
        slot = self.nearest(ev.positions, ev.ball, 1 - ev.team, outfield=True)
        run, team = self.run_of(slot) or "", TEAMS[1 - ev.team]
        if r < _P_STRAIGHT_RED:
            out.append(FeedEvent(ev.t, "red_card", team, run, 0.0, "serious foul play"))
        elif run in self.booked:
            out.append(FeedEvent(ev.t, "yellow_card", team, run, 0.0, "second yellow"))
            out.append(FeedEvent(ev.t, "red_card", team, run, 0.0, "second yellow"))
        else:
            self.booked.add(run)
            out.append(FeedEvent(ev.t, "yellow_card", team, run, 0.0, "foul"))
            return
        self.numbers[slot] = None

    def due_substitutions(self, until: float, out: list[FeedEvent]) -> None:
        while self.subs_due and self.subs_due[0][0] <= until:
            t, team = self.subs_due.pop(0)
            # Starters still on the pitch, not keepers (a keeper change is rare enough to leave out).
            starters = [i for i, number in enumerate(self.numbers) if number is not None
                        and number < _FIRST_SUB_NUMBER and self.team_of[i] == team and not self.keeper[i]]
            if not starters:
                continue
            slot = starters[int(self.rng.integers(len(starters)))]
            going = self.run_of(slot)
            self.numbers[slot] = self.next_number[team]
            self.next_number[team] += 1
            coming = self.run_of(slot) or ""
            out.append(FeedEvent(t, "substitution", TEAMS[team], coming, 0.0, f"off {going} on {coming}"))

