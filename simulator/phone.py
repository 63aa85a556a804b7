"""A phone running the Sensor Logger app, pushing to `/sensor-logger/{device}` like the real app.

Why: the push format (models/sensor_logger.py) is a separate ingest path with its own rules
(sessionId is the run, retried messageIds are written once, other sensors' entries are left
out), so it needs its own realistic client. The phone's owner jogs laps of a 400 m track at
about 3 m/s; each push carries the location fixes (`--rate` a second) and accelerometer
samples (`--accel-rate` a second) since the last push, times in nanoseconds. The device's
schema takes the location entries; the worker answers how many accelerometer entries it
left out, which the progress line shows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time
from typing import Any

import aiohttp
import numpy as np

from simulator.pitch import Pitch
from simulator.transport import Clock, Progress, register

PHONE_SCHEMA = {"timestamp": "timestamp", "latitude": "float", "longitude": "float", "altitude": "float",
                "speed": "float", "bearing": "float", "horizontalAccuracy": "float"}
_PHONE_STREAM = 0x9404
# A standard 400 m track, measured on lane 1's running line: two straights and two bends.
_STRAIGHT_M = 84.39
_BEND_RADIUS_M = 36.8
LAP_M = 2 * _STRAIGHT_M + 2 * math.pi * _BEND_RADIUS_M
_SPEED = (3.0, 0.4, 60.0)               # mean m/s, sd, time constant s
_GPS = (3.0, 15.0)                      # error sd m, time constant s
_CADENCE_HZ = 2.7                       # running steps a second
_ALTITUDE_M = 650.0


def track_position(s: float) -> tuple[float, float, float]:
    """(x, y, heading in radians from +x) at distance s along the lap; x along the straights."""
    s %= LAP_M
    half = _STRAIGHT_M / 2
    bend = math.pi * _BEND_RADIUS_M
    if s < _STRAIGHT_M:                                         # home straight, +x
        return -half + s, -_BEND_RADIUS_M, 0.0
    s -= _STRAIGHT_M
    if s < bend:                                                # bend at +x, turning left
        a = s / _BEND_RADIUS_M
        return half + _BEND_RADIUS_M * math.sin(a), -_BEND_RADIUS_M * math.cos(a), a
    s -= bend
    if s < _STRAIGHT_M:                                         # back straight, -x
        return half - s, _BEND_RADIUS_M, math.pi
    a = (s - _STRAIGHT_M) / _BEND_RADIUS_M                      # bend at -x
    return -half - _BEND_RADIUS_M * math.sin(a), _BEND_RADIUS_M * math.cos(a), math.pi + a


class Phone:
    """The jogger's phone: Sensor Logger payload entries for any span of time, deterministic by seed."""

    def __init__(self, seed: int, lat: float, lon: float, start_epoch: float) -> None:
        self.rng = np.random.default_rng([seed, _PHONE_STREAM])
        self.track = Pitch(centre_lat=lat, centre_lon=lon, orientation_deg=self.rng.uniform(0.0, 180.0))
        self.start = start_epoch
        self.t = 0.0
        self.s = 0.0
        self.speed = _SPEED[0]
        self.gps_error = self.rng.normal(0.0, _GPS[0], 2)

    def _advance_to(self, t: float) -> None:
        dt = t - self.t
        mean, sd, tau = _SPEED
        keep = math.exp(-dt / tau)
        self.speed = mean + (self.speed - mean) * keep + sd * math.sqrt(1 - keep * keep) * self.rng.normal()
        self.s += max(self.speed, 0.5) * dt
        keep = math.exp(-dt / _GPS[1])
        self.gps_error = keep * self.gps_error + _GPS[0] * math.sqrt(1 - keep * keep) * self.rng.normal(size=2)
        self.t = t

    def location(self) -> dict[str, Any]:
        x, y, heading = track_position(self.s)
        lat, lon = self.track.to_latlon(x + self.gps_error[0], y + self.gps_error[1])
        bearing = (self.track.orientation_deg + math.degrees(heading)) % 360.0
        return {"name": "location", "time": self.nanos(), "values": {
            "latitude": round(float(lat), 8), "longitude": round(float(lon), 8),
            "altitude": round(_ALTITUDE_M + self.rng.normal(0.0, 2.0), 1),
            "speed": round(max(self.speed + self.rng.normal(0.0, 0.2), 0.0), 2),
            "bearing": round(bearing, 1), "horizontalAccuracy": round(self.rng.uniform(3.0, 8.0), 1)}}

    def accelerometer(self) -> dict[str, Any]:
        phase = 2 * math.pi * _CADENCE_HZ * self.t
        noise = self.rng.normal(0.0, 0.3, 3)
        return {"name": "accelerometer", "time": self.nanos(), "accuracy": 3, "values": {
            "x": round(0.8 * math.sin(phase / 2) + noise[0], 4),
            "y": round(0.5 * math.sin(phase + 0.7) + noise[1], 4),
            "z": round(3.0 * math.sin(phase) + noise[2], 4)}}

    def nanos(self) -> int:
        return int(round((self.start + self.t) * 1e9))

    def entries(self, until: float, rate_hz: float, accel_hz: float) -> list[dict[str, Any]]:
        """Entries from the last call up to phone time `until`, oldest first, on both sensors' grids."""
        out: list[dict[str, Any]] = []
        while True:
            next_fix = math.floor(self.t * rate_hz + 1e-9) / rate_hz + 1 / rate_hz
            next_accel = math.floor(self.t * accel_hz + 1e-9) / accel_hz + 1 / accel_hz
            step_to = min(next_fix, next_accel)
            if step_to > until + 1e-9:
                return out
            self._advance_to(step_to)
            if abs(self.t * accel_hz - round(self.t * accel_hz)) < 1e-6:
                out.append(self.accelerometer())
            if abs(self.t * rate_hz - round(self.t * rate_hz)) < 1e-6:
                out.append(self.location())


async def post_push(http: aiohttp.ClientSession, url: str, device: str, push: dict[str, Any],
                    progress: Progress) -> None:
    """POST one push and count what the worker took (location fixes) and left out (other sensors)."""
    fixes = sum(1 for e in push["payload"] if e["name"] == "location")
    progress.sent += fixes
    try:
        async with http.post(f"{url}/sensor-logger/{device}", json=push) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, ValueError) as exc:
        progress.error(f"{device}/{push['sessionId']}", f"POST failed: {exc}", fixes)
        return
    if response.status != 200:
        progress.error(f"{device}/{push['sessionId']}", f"{response.status} {body.get('error')} "
                       f"{body.get('detail')}", fixes)
        return
    progress.acked += body["accepted"]
    for sensor, count in body["left_out"].items():
        progress.notes[f"left out ({sensor})"] += count


async def stream_phone(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                       progress: Progress) -> None:
    """`simulate phone`: a push every --push-every phone seconds, --speedup times real time."""
    await register(http, args.url, args.device, PHONE_SCHEMA)
    phone = Phone(args.seed, args.lat, args.lon, time.time())
    clock = Clock(0.0, args.speedup)
    print(f"pushing Sensor Logger data of device {args.device}, session {args.run}: location at {args.rate:g} Hz, "
          f"accelerometer at {args.accel_rate:g} Hz, a push every {args.push_every:g} s")
    for message_id in itertools.count(1):
        until = min(message_id * args.push_every, args.duration)
        if not await clock.wait_until(until, stop):
            break
        push = {"messageId": message_id, "sessionId": args.run, "deviceId": f"simulated-phone-{args.seed}",
                "payload": phone.entries(until, args.rate, args.accel_rate)}
        await post_push(http, args.url, args.device, push, progress)
        if until >= args.duration:
            break
