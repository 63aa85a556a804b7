"""Simulated devices: the match-event feed, the weather station, the Sensor Logger phone, and the CLI."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from models.device import reading_validator
from models.run import stamp_readings
from models.sensor_logger import SensorLoggerPushSchema, map_entries
from agents.match_state import apply_events, new_match, summary
from models.match import SHOTS
from simulator.events import EVENT_KINDS, EVENT_SCHEMA, EventFeed, FeedEvent
from simulator.match import HALF_DURATION_S, MATCH_DURATION_S, Match, shot_xg
from simulator.phone import LAP_M, PHONE_SCHEMA, Phone, track_position
from simulator.pitch import Pitch
from simulator.stream import parser
from simulator.transport import HTTP_BATCH_READINGS, HTTP_FLUSH_EVERY_S, TRANSPORTS, HttpTransport, Progress
from simulator.weather import WEATHER_SCHEMA, WeatherStation

KICKOFF = 1_714_546_800.0


def run_feed(seed: int, until_s: float = MATCH_DURATION_S, rate_hz: float = 1.0) -> tuple[list[FeedEvent], EventFeed]:
    match = Match(Pitch(), seed=seed, rate_hz=rate_hz)
    feed = EventFeed(match, "m1", seed)
    events: list[FeedEvent] = []
    for _t, _fixes in match.ticks(until_s):
        events += feed.advance()
    events += feed.advance()
    return events, feed


@pytest.fixture(scope="module")
def full_feeds() -> dict[int, list[FeedEvent]]:
    return {seed: run_feed(seed)[0] for seed in (3, 8)}


# ------------------------------------------------------------------ the event feed


def test_feed_readings_fit_the_registered_schema(full_feeds):
    validator = reading_validator(EVENT_SCHEMA)
    for events in full_feeds.values():
        for event in events:
            reading = event.reading(KICKOFF)
            assert set(reading) == set(EVENT_SCHEMA) and not validator.validate(reading), reading
            assert reading["event"] in EVENT_KINDS
            assert reading["minute"] == pytest.approx(event.t / 60.0, abs=1e-3)


def test_feed_is_ordered_by_time_and_frames_the_match(full_feeds):
    for events in full_feeds.values():
        times = [e.t for e in events]
        assert times == sorted(times)
        kinds = [e.event for e in events]
        assert kinds[0] == "kickoff" and events[0].t == 0.0
        assert kinds[-1] == "full_time" and events[-1].t == MATCH_DURATION_S
        half_time = kinds.index("half_time")
        assert events[half_time].t == HALF_DURATION_S and kinds[half_time + 1] == "kickoff"
        assert Counter(kinds)["half_time"] == 1 and Counter(kinds)["full_time"] == 1


def test_score_in_details_equals_the_goals_counted(full_feeds):
    for events in full_feeds.values():
        score = [0, 0]
        for event in events:
            if event.event == "goal":
                score["home away".split().index(event.team)] += 1
                assert event.detail == f"{score[0]}-{score[1]}"
            elif event.event in ("half_time", "full_time"):
                assert event.detail == f"{score[0]}-{score[1]}"
        assert sum(score) == Counter(e.event for e in events)["goal"]
    goals = [Counter(e.event for e in events)["goal"] for events in full_feeds.values()]
    shots = [sum(e.event in SHOTS for e in events) for events in full_feeds.values()]
    assert all(g <= 10 for g in goals) and all(10 <= s <= 60 for s in shots)     # football, not basketball


def test_fields_follow_the_event_kind(full_feeds):
    for events in full_feeds.values():
        for e in events:
            if e.event in ("kickoff", "half_time", "full_time"):
                assert e.team == "" and e.player == ""
            else:
                assert e.team in ("home", "away")
                assert e.player.startswith(f"m1_t{'home away'.split().index(e.team)}_")   # a run of that team
            if e.event in SHOTS:
                assert 0.0 < e.xg < 1.0
            else:
                assert e.xg == 0.0
            if e.event == "substitution":
                off, on = e.detail.removeprefix("off ").split(" on ")
                assert on == e.player and off != on


def test_players_named_are_on_the_pitch_then(full_feeds):
    """Nobody acts after being substituted or sent off; substitutes act only after coming on."""
    for events in full_feeds.values():
        gone: set[str] = set()
        on_later = {e.player: e.t for e in events if e.event == "substitution"}
        for e in events:
            if e.event in ("pass", *SHOTS, "yellow_card"):
                assert e.player not in gone, e
                assert e.t >= on_later.get(e.player, 0.0), e
            if e.event == "substitution":
                gone.add(e.detail.split()[1])
            if e.event == "red_card":
                gone.add(e.player)


class FixedDraws:
    """Stands in for the feed's random stream: every draw is the same number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_a_second_yellow_is_a_red_and_ends_the_players_run():
    match = Match(Pitch(), seed=1, rate_hz=1.0)
    feed = EventFeed(match, "m1", seed=1)
    for _ in match.ticks(60.0):
        pass
    ball_event = next(e for e in match.take_events() if e.kind == "pass")
    feed.rng = FixedDraws(0.001)                     # a foul, not a straight red
    first, second = [], []
    feed.maybe_card(ball_event, first)
    feed.maybe_card(ball_event, second)
    player = first[0].player
    assert [(e.event, e.detail) for e in first] == [("yellow_card", "foul")]
    assert [(e.event, e.player, e.detail) for e in second] == [
        ("yellow_card", player, "second yellow"), ("red_card", player, "second yellow")]
    assert player not in {feed.run_of(slot) for slot in range(22)}
    assert first[0].team != "home away".split()[ball_event.team]     # the team without the ball fouls


def test_feed_is_deterministic_by_seed():
    a, _ = run_feed(5, until_s=20 * 60.0)
    b, _ = run_feed(5, until_s=20 * 60.0)
    c, _ = run_feed(6, until_s=20 * 60.0)
    assert a == b and a != c


def test_feed_and_gps_agree_on_who_is_on_the_pitch(full_feeds):
    events, feed = run_feed(3)
    assert events == full_feeds[3]
    on_pitch = {feed.run_of(slot) for slot in range(22)} - {None}
    for e in events:
        if e.event == "substitution":
            off, on = e.detail.removeprefix("off ").split(" on ")
            assert on in on_pitch and off not in on_pitch
        if e.event == "red_card":
            assert e.player not in on_pitch
    assert len(on_pitch) == 22 - sum(e.event == "red_card" for e in events)


def test_xg_falls_with_distance_and_angle():
    assert shot_xg(11.0, 0.0) == pytest.approx(0.11, abs=0.02)                # the penalty spot, open play
    assert shot_xg(6.0, 0.0) > shot_xg(11.0, 0.0) > shot_xg(20.0, 0.0) > shot_xg(30.0, 0.0)
    assert shot_xg(11.0, 15.0) < shot_xg(11.0, 0.0)


# ------------------------------------------------------------------ weather


def test_weather_is_plausible_and_slowly_varying():
    station = WeatherStation(seed=4, start_epoch=KICKOFF)
    readings = [station.reading(KICKOFF + 10.0 * i) for i in range(8640)]          # a day, every 10 s
    validator = reading_validator(WEATHER_SCHEMA)
    assert all(set(r) == set(WEATHER_SCHEMA) and not validator.validate(r) for r in readings[:50])
    column = {name: np.array([r[name] for r in readings]) for name in WEATHER_SCHEMA}
    assert -10 < column["temperature_c"].min() and column["temperature_c"].max() < 40
    assert 15 <= column["humidity_pct"].min() and column["humidity_pct"].max() <= 100
    assert 0 <= column["wind_speed_ms"].min() and column["wind_speed_ms"].max() < 20
    assert 0 <= column["wind_dir_deg"].min() and column["wind_dir_deg"].max() < 360
    assert 980 < column["pressure_hpa"].min() and column["pressure_hpa"].max() < 1045
    assert column["rain_mm"].min() >= 0 and column["rain_mm"].sum() < 60        # mm in a day
    assert np.abs(np.diff(column["temperature_c"])).max() < 0.5                 # per 10 s
    assert np.abs(np.diff(column["pressure_hpa"])).max() < 0.5
    assert column["temperature_c"].max() - column["temperature_c"].min() > 3    # day and night differ


def test_weather_is_deterministic_by_seed():
    def day(seed: int) -> list[dict]:
        station = WeatherStation(seed, KICKOFF)
        return [station.reading(KICKOFF + 60.0 * i) for i in range(100)]

    assert day(1) == day(1) and day(1) != day(2)


# ------------------------------------------------------------------ the phone


def test_the_track_is_a_closed_400_m_lap():
    assert LAP_M == pytest.approx(400.0, abs=0.1)
    steps = [track_position(s) for s in np.arange(0.0, LAP_M + 0.5, 0.5)]
    jumps = [math.dist(a[:2], b[:2]) for a, b in zip(steps, steps[1:])]
    assert max(jumps) < 0.51 and math.dist(steps[0][:2], track_position(LAP_M)[:2]) < 1e-9


def test_phone_pushes_fit_the_sensor_logger_route():
    phone = Phone(seed=2, lat=40.0, lon=-3.0, start_epoch=KICKOFF)
    entries = phone.entries(10.0, rate_hz=1.0, accel_hz=10.0)
    assert Counter(e["name"] for e in entries) == {"location": 10, "accelerometer": 100}
    times = [e["time"] for e in entries]
    assert times == sorted(times) and times[-1] == int(KICKOFF * 1e9) + 10 * 10**9
    push = SensorLoggerPushSchema().load({"messageId": 1, "sessionId": "s1", "deviceId": "p", "payload": entries})
    candidates, left_out = map_entries(PHONE_SCHEMA, push["payload"])
    readings, errors = stamp_readings(PHONE_SCHEMA, candidates, KICKOFF)
    assert not errors and len(readings) == 10 and left_out == {"accelerometer": 100}
    assert readings[0]["t"] == pytest.approx(KICKOFF + 1.0)
    speeds = [e["values"]["speed"] for e in entries if e["name"] == "location"]
    assert 1.5 < np.mean(speeds) < 4.5                                           # a jog


def test_phone_entries_continue_where_the_last_push_stopped():
    phone = Phone(seed=2, lat=40.0, lon=-3.0, start_epoch=KICKOFF)
    first, second = phone.entries(1.0, 1.0, 5.0), phone.entries(2.0, 1.0, 5.0)
    assert len(first) == len(second) == 6 and first[-1]["time"] < second[0]["time"]


# ------------------------------------------------------------------ the command line


def test_simulate_modes_and_defaults():
    p = parser()
    match = p.parse_args(["match", "--transport", "http", "--no-events"])
    assert (match.mode, match.transport, match.events, match.weather, match.station) == \
        ("match", "http", False, True, "pitch")
    assert p.parse_args(["weather"]).rate == 0.1 and p.parse_args(["phone"]).device == "phone"
    with pytest.raises(SystemExit):
        p.parse_args(["match", "--speedup", "0"])


# ------------------------------------------------------------------ the shared transport layer


RECEIVED = web.AppKey("received", list)


def fake_worker(ingest_delay_s: float = 0.0) -> web.Application:
    """The worker's ingest protocol, no more: acks frames cumulatively, rejects readings marked bad."""
    app = web.Application()
    app[RECEIVED] = []

    async def send_stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        frames = readings = 0
        async for message in ws:
            frames += 1
            items = json.loads(message.data)
            items = items if isinstance(items, list) else [items]
            if any(item.get("bad") for item in items):
                await ws.send_json({"error": "invalid reading", "detail": {}, "frame": frames})
                continue
            readings += len(items)
            app[RECEIVED].append((request.match_info["run"], items))
            await ws.send_json({"ack": frames, "readings": readings})
        return ws

    async def ingest(request: web.Request) -> web.Response:
        items = await request.json()
        await asyncio.sleep(ingest_delay_s)
        if any(item.get("bad") for item in items):
            return web.json_response({"error": "1 of 1 readings are invalid", "detail": {}}, status=422)
        app[RECEIVED].append((request.match_info["run"], items))
        return web.json_response({"accepted": len(items)})

    app.router.add_get("/send-stream/{device}/{run}", send_stream)
    app.router.add_post("/ingest/{device}/{run}", ingest)
    return app


@pytest.mark.parametrize("kind", ["ws", "http"])
async def test_transports_deliver_every_reading_in_order_and_count_rejections(kind):
    app = fake_worker()
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        progress = Progress()
        transport = TRANSPORTS[kind](http, str(server.make_url("")).rstrip("/"), progress)
        for i in range(1200):
            await transport.send("dev", f"run_{i % 3}", [{"i": i}])
        await transport.send("dev", "run_bad", [{"i": -1, "bad": True}])
        await transport.close()
    assert (progress.sent, progress.acked, progress.errors) == (1201, 1200, 1)
    for run in ("run_0", "run_1", "run_2"):
        got = [item["i"] for r, items in app[RECEIVED] if r == run for item in items]
        assert got == list(range(int(run[-1]), 1200, 3))
    if kind == "http":
        assert max(len(items) for _, items in app[RECEIVED]) <= HTTP_BATCH_READINGS


async def test_http_close_waits_for_the_batches_the_periodic_flush_has_in_flight():
    """Closing while the periodic flush is posting (a simulator's end, a Ctrl-C) loses nothing."""
    app = fake_worker(ingest_delay_s=0.5)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        progress = Progress()
        transport = HttpTransport(http, str(server.make_url("")).rstrip("/"), progress)
        for i in range(30):
            await transport.send("dev", f"run_{i % 3}", [{"i": i}])

        async def flusher_took_the_buffers() -> None:     # its POSTs are now in flight (0.5 s each)
            while any(transport.buffers.values()):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(flusher_took_the_buffers(), 5 * HTTP_FLUSH_EVERY_S)
        await transport.close()
    assert (progress.sent, progress.acked, progress.errors) == (30, 30, 0)
    assert sorted(item["i"] for _, items in app[RECEIVED] for item in items) == list(range(30))
    assert "unacknowledged" not in progress.final_line()


def test_the_match_reducer_takes_every_simulated_feed(full_feeds):
    """The simulator's feeds are valid match feeds: the reducer takes each whole, its score is the
    feed's final score and some shots are on target without scoring."""
    for events in full_feeds.values():
        readings = [{"t": e.t, "data": e.reading(0.0)} for e in events]
        final = summary(apply_events(new_match("m1"), readings).state)
        assert final["status"] == "finished"
        assert f"{final['score']['home']}-{final['score']['away']}" == events[-1].detail
        assert sum(side["shots_on_target"] - side["goals"] for side in final["teams"].values()) > 0
