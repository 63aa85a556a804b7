"""Stream simulated devices into a running Sports Prophet over its WebSocket ingest.

Modes:
- `match`: a football match (simulator/match.py), 22 players, one run per player
  (`<match>_t<team>_<number>`) of device `gps_match`, fixes at `--rate` Hz, match time running
  `--speedup` times faster than real time.
- `example`: the old system's example client: device `gps_1`, runs `run_001`..`run_005`, a random
  walk on a small pitch, one fix every 0.5 s.

Every run is one WebSocket; frames are pipelined (acks are cumulative and read in the background).
Shows progress every few seconds; Ctrl-C stops cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp

from simulator.match import Match
from simulator.pitch import Pitch

GPS_SCHEMA = {"latitude": "float", "longitude": "float", "timestamp": "timestamp"}
EXAMPLE_SCHEMA = {"latitude": "float", "longitude": "float", "timestamp": "string"}
EXAMPLE_RUNS = [f"run_{i:03d}" for i in range(1, 6)]
EXAMPLE_BOX = (40.0, 40.0009, -75.0012, -75.0)          # the old example's pitch: lat min/max, lon min/max


@dataclass
class Progress:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (f"sent {self.sent:,} readings ({self.sent / elapsed:,.0f}/s), acked {self.acked:,}, "
                f"errors {self.errors}")


class RunStream:
    """One run's WebSocket: send frames without waiting, count acks and error frames as they come."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, device: str, run: str,
                 progress: Progress) -> None:
        self.http, self.url, self.progress = http, f"{base_url.replace('http', 'ws', 1)}/send-stream/{device}/{run}", progress
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task | None = None
        self.readings_acked = 0

    async def open(self) -> None:
        self.ws = await self.http.ws_connect(self.url, heartbeat=30)
        self.reader = asyncio.create_task(self.read_replies())

    async def read_replies(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            reply = json.loads(message.data)
            if "error" in reply:
                self.progress.errors += 1
                print(f"  error from {self.url.rsplit('/', 2)[-1]}: {reply['error']} {reply.get('detail')}")
            else:
                self.progress.acked += reply["readings"] - self.readings_acked
                self.readings_acked = reply["readings"]

    async def send(self, reading: dict) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(reading))
        self.progress.sent += 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


async def register(http: aiohttp.ClientSession, base_url: str, device: str, schema: dict[str, str]) -> None:
    """Register the device, or accept it as it is when it exists with the same schema."""
    async with http.post(f"{base_url}/register-device", json={"device_name": device, "schema": schema}) as r:
        if r.status == 201:
            return
        if r.status != 409:
            raise SystemExit(f"cannot register {device}: {r.status} {await r.text()}")
    async with http.get(f"{base_url}/device/{device}") as r:
        existing = (await r.json())["schema"]
    if existing != schema:
        raise SystemExit(f"device {device} exists with another schema {existing}; delete it or use --device")


async def stream_match(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                       progress: Progress) -> None:
    await register(http, args.url, args.device, GPS_SCHEMA)
    match = Match(Pitch(centre_lat=args.lat, centre_lon=args.lon, orientation_deg=args.orientation),
                  seed=args.seed, rate_hz=args.rate)
    runs = {id(p): f"{args.match}_t{p.team}_{p.number}" for p in match.players}
    streams = {key: RunStream(http, args.url, args.device, run, progress) for key, run in runs.items()}
    await asyncio.gather(*(s.open() for s in streams.values()))
    print(f"streaming {len(streams)} players of match {args.match!r} at {args.rate:g} Hz, "
          f"{args.speedup:g}x real time (device {args.device})")
    kickoff = time.time()
    try:
        for t_match, fixes in match.ticks(until_s=args.duration):
            due = kickoff + t_match / args.speedup
            if (wait := due - time.time()) > 0:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            if stop.is_set():
                break
            stamp = kickoff + t_match
            await asyncio.gather(*(streams[id(player)].send(
                {"latitude": round(lat, 8), "longitude": round(lon, 8), "timestamp": stamp})
                for player, _x, _y, lat, lon in fixes))
    finally:
        await asyncio.gather(*(s.close() for s in streams.values()))


async def stream_example(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                         progress: Progress) -> None:
    """The old example client: gps_1, five runs, a random walk every 0.5 s."""
    await register(http, args.url, "gps_1", EXAMPLE_SCHEMA)
    rng = random.Random(args.seed)
    lat_min, lat_max, lon_min, lon_max = EXAMPLE_BOX
    positions = {run: ((lat_min + lat_max) / 2, (lon_min + lon_max) / 2) for run in EXAMPLE_RUNS}
    streams = {run: RunStream(http, args.url, "gps_1", run, progress) for run in EXAMPLE_RUNS}
    await asyncio.gather(*(s.open() for s in streams.values()))
    print("streaming the old example: gps_1, runs run_001..run_005, every 0.5 s")
    started = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() - started < args.duration:
            for run, (lat, lon) in positions.items():
                lat = min(max(lat + rng.uniform(-1e-5, 1e-5), lat_min), lat_max)
                lon = min(max(lon + rng.uniform(-1.5e-5, 1.5e-5), lon_min), lon_max)
                positions[run] = (lat, lon)
                await streams[run].send({"latitude": round(lat, 6), "longitude": round(lon, 6),
                                         "timestamp": datetime.now(timezone.utc).replace(tzinfo=None).isoformat()})
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    finally:
        await asyncio.gather(*(s.close() for s in streams.values()))


async def run(args: argparse.Namespace) -> Progress:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    progress = Progress()

    async def report() -> None:
        while not stop.is_set():
            await asyncio.sleep(args.progress_every)
            print(progress.line(), flush=True)

    reporter = asyncio.create_task(report())
    try:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"{args.url}/health") as r:
                    await r.read()
            except aiohttp.ClientError as exc:
                raise SystemExit(f"Sports Prophet not reachable at {args.url} — run `scripts/run` first ({exc})")
            await (stream_match if args.mode == "match" else stream_example)(http, args, stop, progress)
    finally:
        stop.set()
        reporter.cancel()
    print(f"done: {progress.line()}")
    return progress


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sports-prophet simulate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", choices=("match", "example"), default="match")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the Sports Prophet web views")
    p.add_argument("--rate", type=float, default=10.0, help="fixes per second per player (1-50)")
    p.add_argument("--speedup", type=float, default=1.0, help="match seconds per real second")
    p.add_argument("--duration", type=float, default=90 * 60.0, help="match seconds to stream")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--match", default=f"match_{datetime.now(timezone.utc):%Y%m%d_%H%M%S}", help="match id")
    p.add_argument("--device", default="gps_match")
    p.add_argument("--lat", type=float, default=40.4530, help="pitch centre latitude")
    p.add_argument("--lon", type=float, default=-3.6883, help="pitch centre longitude")
    p.add_argument("--orientation", type=float, default=0.0, help="bearing of the pitch's long axis (degrees)")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    asyncio.run(run(args))
    return 0
