"""`sports-prophet simulate`: stream simulated devices into a running Sports Prophet.

Modes:
- `match` (the default): a football match (simulator/match.py), 22 players, one run per player
  (`<match>_t<team>_<number>`) of device `gps_match`, fixes at `--rate` Hz, match time running
  `--speedup` times faster than real time. Beside them, time-aligned with the players, the
  match-event feed (device `match_events`, run `<match>`; `--no-events` to leave it out) and a
  weather station by the pitch (device `weather_<station>`, run `<match>`; `--no-weather`).
- `weather`: one weather station on its own.
- `phone`: a phone pushing Sensor Logger data to `/sensor-logger/{device}`.
- `example`: the old system's example client: device `gps_1`, runs `run_001`..`run_005`, a
  random walk on a small pitch, one fix every 0.5 s.

`--transport ws` (default) streams over one WebSocket per run, `--transport http` posts batches
to `/ingest`. Every mode registers its devices, prints progress and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable
from datetime import datetime, timezone

import aiohttp

from simulator.events import EVENT_SCHEMA, EVENTS_DEVICE, EventFeed
from simulator.match import MATCH_DURATION_S, Match
from simulator.phone import stream_phone
from simulator.pitch import Pitch
from simulator.transport import DEFAULT_URL, TRANSPORTS, Clock, Progress, positive, register, run_session
from simulator.weather import WEATHER_SCHEMA, WeatherStation, stream_weather, weather_device

GPS_SCHEMA = {"latitude": "float", "longitude": "float", "timestamp": "timestamp"}
EXAMPLE_SCHEMA = {"latitude": "float", "longitude": "float", "timestamp": "string"}
EXAMPLE_RUNS = [f"run_{i:03d}" for i in range(1, 6)]
EXAMPLE_BOX = (40.0, 40.0009, -75.0012, -75.0)          # the old example's pitch: lat min/max, lon min/max
MATCH_WEATHER_EVERY_S = 10.0                            # match seconds between the pitch-side station's readings


async def stream_match(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                       progress: Progress) -> None:
    """22 players, plus the event feed and the pitch-side weather, all stamped kickoff + match time."""
    try:
        match = Match(Pitch(centre_lat=args.lat, centre_lon=args.lon, orientation_deg=args.orientation),
                      seed=args.seed, rate_hz=args.rate)
    except ValueError as exc:
        raise SystemExit(f"simulate match: {exc}") from exc
    await register(http, args.url, args.device, GPS_SCHEMA)
    if args.events:
        await register(http, args.url, EVENTS_DEVICE, EVENT_SCHEMA)
    station_device = weather_device(args.station)
    if args.weather:
        await register(http, args.url, station_device, WEATHER_SCHEMA)
    # The feed always runs (it is cheap): it decides substitutions and red cards, so the players'
    # runs are the same for a seed whether or not the feed itself is streamed.
    feed = EventFeed(match, args.match, args.seed)
    kickoff = time.time()
    station = WeatherStation(args.seed, kickoff)
    next_weather = 0.0
    transport = TRANSPORTS[args.transport](http, args.url, progress)
    clock = Clock(0.0, args.speedup)
    extras = [name for name, on in (("the event feed", args.events), (f"weather {station_device}", args.weather)) if on]
    print(f"streaming 22 players of match {args.match!r} at {args.rate:g} Hz, {args.speedup:g}x real time "
          f"(device {args.device}, {args.transport}){', with ' + ' and '.join(extras) if extras else ''}")

    def feed_sends() -> list[Awaitable[None]]:
        """The feed's events since the last tick (always taken: the feed keeps the roster)."""
        events = feed.advance()
        if not (args.events and events):
            return []
        return [transport.send(EVENTS_DEVICE, args.match, [e.reading(kickoff) for e in events])]

    def tick_sends(t: float, fixes: list) -> list[Awaitable[None]]:
        nonlocal next_weather
        sends = feed_sends()
        if args.weather and t >= next_weather:
            sends.append(transport.send(station_device, args.match, [station.reading(kickoff + t)]))
            next_weather += MATCH_WEATHER_EVERY_S
        for slot, (_player, _x, _y, lat, lon) in enumerate(fixes):
            run = feed.run_of(slot)
            if run is not None:
                reading = {"latitude": round(lat, 8), "longitude": round(lon, 8), "timestamp": kickoff + t}
                sends.append(transport.send(args.device, run, [reading]))
        return sends

    try:
        for t, fixes in match.ticks(until_s=args.duration):
            if not await clock.wait_until(t, stop):
                break
            await asyncio.gather(*tick_sends(t, fixes))
        else:
            await asyncio.gather(*feed_sends())      # the last step's events, and full time if reached
    finally:
        await transport.close()


async def stream_example(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                         progress: Progress) -> None:
    """The old example client: gps_1, five runs, a random walk every 0.5 s."""
    await register(http, args.url, "gps_1", EXAMPLE_SCHEMA)
    rng = random.Random(args.seed)
    lat_min, lat_max, lon_min, lon_max = EXAMPLE_BOX
    positions = {run: ((lat_min + lat_max) / 2, (lon_min + lon_max) / 2) for run in EXAMPLE_RUNS}
    transport = TRANSPORTS[args.transport](http, args.url, progress)
    print("streaming the old example: gps_1, runs run_001..run_005, every 0.5 s")
    started = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() - started < args.duration:
            for run, (lat, lon) in positions.items():
                lat = min(max(lat + rng.uniform(-1e-5, 1e-5), lat_min), lat_max)
                lon = min(max(lon + rng.uniform(-1.5e-5, 1.5e-5), lon_min), lon_max)
                positions[run] = (lat, lon)
                await transport.send("gps_1", run, [{
                    "latitude": round(lat, 6), "longitude": round(lon, 6),
                    "timestamp": datetime.now(timezone.utc).replace(tzinfo=None).isoformat()}])
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    finally:
        await transport.close()


MODES = {"match": stream_match, "weather": stream_weather, "phone": stream_phone, "example": stream_example}


def now_id(prefix: str) -> str:
    return f"{prefix}_{datetime.now(timezone.utc):%Y%m%d_%H%M%S}"


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help="the Sports Prophet web views")
    common.add_argument("--seed", type=int, default=7, help="same seed, same data")
    common.add_argument("--progress-every", type=positive, default=5.0, help="seconds between progress lines")
    transported = argparse.ArgumentParser(add_help=False)
    transported.add_argument("--transport", choices=tuple(TRANSPORTS), default="ws",
                             help="ws: a WebSocket per run; http: batches POSTed to /ingest")
    paced = argparse.ArgumentParser(add_help=False)
    paced.add_argument("--speedup", type=positive, default=1.0, help="simulated seconds per real second")

    p = argparse.ArgumentParser(prog="sports-prophet simulate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = p.add_subparsers(dest="mode", metavar="{match,weather,phone,example}")
    match = modes.add_parser("match", parents=[common, transported, paced], help="a football match (the default)")
    match.add_argument("--rate", type=positive, default=10.0, help="fixes per second per player (1-50)")
    match.add_argument("--duration", type=positive, default=MATCH_DURATION_S, help="match seconds to stream")
    match.add_argument("--match", default=now_id("match"), help="match id: the players' run prefix, "
                       "the event feed's and the weather's run")
    match.add_argument("--device", default="gps_match")
    match.add_argument("--lat", type=float, default=40.4530, help="pitch centre latitude")
    match.add_argument("--lon", type=float, default=-3.6883, help="pitch centre longitude")
    match.add_argument("--orientation", type=float, default=0.0, help="bearing of the pitch's long axis (degrees)")
    match.add_argument("--no-events", dest="events", action="store_false", help="do not stream the event feed")
    match.add_argument("--no-weather", dest="weather", action="store_false", help="no pitch-side weather station")
    match.add_argument("--station", default="pitch", help="the pitch-side station: device weather_<station>")

    weather = modes.add_parser("weather", parents=[common, transported, paced], help="a weather station")
    weather.add_argument("--station", default="station_1", help="device weather_<station>")
    weather.add_argument("--run", default=now_id("wx"))
    weather.add_argument("--rate", type=positive, default=0.1, help="readings per second (of station time)")
    weather.add_argument("--duration", type=positive, default=86400.0, help="station seconds to stream")

    phone = modes.add_parser("phone", parents=[common, paced], help="a phone pushing Sensor Logger data")
    phone.add_argument("--device", default="phone")
    phone.add_argument("--run", default=now_id("session"), help="the Sensor Logger sessionId: the run")
    phone.add_argument("--rate", type=positive, default=1.0, help="location fixes per second")
    phone.add_argument("--accel-rate", type=positive, default=10.0, help="accelerometer samples per second")
    phone.add_argument("--push-every", type=positive, default=1.0, help="seconds of data per push")
    phone.add_argument("--duration", type=positive, default=3600.0, help="phone seconds to stream")
    phone.add_argument("--lat", type=float, default=40.4530, help="the track's centre latitude")
    phone.add_argument("--lon", type=float, default=-3.6883, help="the track's centre longitude")

    example = modes.add_parser("example", parents=[common, transported], help="the old example client")
    example.add_argument("--duration", type=positive, default=MATCH_DURATION_S, help="seconds to stream")
    return p


def main(argv: list[str]) -> int:
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["match", *argv]                     # `simulate` alone, or with options only, is a match
    args = parser().parse_args(argv)
    progress = asyncio.run(run_session(args.url, args.progress_every,
                                       lambda http, stop, progress: MODES[args.mode](http, args, stop, progress)))
    return 1 if progress.errors else 0
