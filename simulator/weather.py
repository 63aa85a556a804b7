"""A weather station: device `weather_<station>`, plausible and slowly varying, deterministic by seed.

Why a model and not noise: weather joined with player load (heat and humidity against
distance covered) only means something when values drift like real weather. Each quantity
is a mean-reverting (Ornstein-Uhlenbeck) process with its own time scale, temperature follows
the time of day (warmest mid-afternoon UTC), humidity moves against temperature and rises
in rain, and rain comes in showers (a two-state wet/dry process) reported as the millimetres
fallen since the previous reading.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time

import aiohttp
import numpy as np

from simulator.transport import TRANSPORTS, Clock, Progress, register

WEATHER_SCHEMA = {"timestamp": "timestamp", "temperature_c": "float", "humidity_pct": "float",
                  "wind_speed_ms": "float", "wind_dir_deg": "float", "pressure_hpa": "float", "rain_mm": "float"}
_WEATHER_STREAM = 0x57A7                # mixed into the seed: the station's own random stream
_HOUR = 3600.0
# (standard deviation, time constant s) of each anomaly around its mean.
_TEMP_ANOMALY = (1.2, 2 * _HOUR)
_HUMIDITY_ANOMALY = (6.0, 1 * _HOUR)
_PRESSURE_ANOMALY = (6.0, 12 * _HOUR)
_PRESSURE_LAG_S = 1 * _HOUR             # pressure follows its wandering level smoothly (a barograph trace)
_WIND = (1.5, 0.25 * _HOUR)
_WIND_GUST_SD = 0.6                     # per reading, on top of the slow wind speed
_WIND_VEER_DEG_PER_SQRT_H = 25.0
_DIURNAL_C = 4.0                        # half the day/night swing
_WARMEST_HOUR_UTC = 15.0
_DRY_SPELL_S, _WET_SPELL_S = 3 * _HOUR, 0.5 * _HOUR
_RAIN_MM_PER_H = (0.5, 6.0)             # shower intensity range


def weather_device(station: str) -> str:
    return f"weather_{station}"


class WeatherStation:
    """Readings of one station at increasing epoch times; what it reports depends only on seed and times."""

    def __init__(self, seed: int, start_epoch: float) -> None:
        self.rng = np.random.default_rng([seed, _WEATHER_STREAM])
        self.t = start_epoch
        self.mean_temp = self.rng.uniform(6.0, 24.0)
        self.mean_humidity = self.rng.uniform(55.0, 80.0)
        self.mean_wind = self.rng.uniform(1.0, 6.0)
        self.temp_anomaly = self.rng.normal(0.0, _TEMP_ANOMALY[0])
        self.humidity_anomaly = self.rng.normal(0.0, _HUMIDITY_ANOMALY[0])
        self.pressure_level = self.rng.normal(0.0, _PRESSURE_ANOMALY[0])
        self.pressure_anomaly = self.pressure_level
        self.wind = self.mean_wind
        self.wind_dir = self.rng.uniform(0.0, 360.0)
        self.raining = bool(self.rng.random() < _WET_SPELL_S / (_WET_SPELL_S + _DRY_SPELL_S))
        self.rain_rate = self.rng.uniform(*_RAIN_MM_PER_H)

    def _revert(self, x: float, mean: float, sd_tau: tuple[float, float], dt: float) -> float:
        """One exact Ornstein-Uhlenbeck step: the variance stays sd^2 whatever the reading interval."""
        sd, tau = sd_tau
        keep = math.exp(-dt / tau)
        return mean + (x - mean) * keep + sd * math.sqrt(1.0 - keep * keep) * self.rng.normal()

    def reading(self, epoch: float) -> dict[str, float]:
        """Advance to `epoch` (not earlier than the last reading) and report."""
        dt = max(epoch - self.t, 0.0)
        self.t = epoch
        rain_mm = 0.0
        if dt > 0:
            if self.rng.random() < 1.0 - math.exp(-dt / (_WET_SPELL_S if self.raining else _DRY_SPELL_S)):
                self.raining = not self.raining
                self.rain_rate = self.rng.uniform(*_RAIN_MM_PER_H)
            rain_mm = self.rain_rate * dt / _HOUR if self.raining else 0.0
            self.temp_anomaly = self._revert(self.temp_anomaly, -1.5 if self.raining else 0.0, _TEMP_ANOMALY, dt)
            self.humidity_anomaly = self._revert(self.humidity_anomaly, 0.0, _HUMIDITY_ANOMALY, dt)
            self.pressure_level = self._revert(self.pressure_level, 0.0, _PRESSURE_ANOMALY, dt)
            self.pressure_anomaly += (self.pressure_level - self.pressure_anomaly) * (1 - math.exp(-dt / _PRESSURE_LAG_S))
            self.wind = self._revert(self.wind, self.mean_wind, _WIND, dt)
            self.wind_dir += _WIND_VEER_DEG_PER_SQRT_H * math.sqrt(dt / _HOUR) * self.rng.normal()
        hour = (epoch % 86400.0) / _HOUR
        temperature = (self.mean_temp + _DIURNAL_C * math.cos(2 * math.pi * (hour - _WARMEST_HOUR_UTC) / 24.0)
                       + self.temp_anomaly)
        humidity = self.mean_humidity - 2.5 * (temperature - self.mean_temp) + self.humidity_anomaly
        humidity = max(humidity, 92.0) if self.raining else humidity
        return {
            "timestamp": round(epoch, 6),
            "temperature_c": round(temperature, 2),
            "humidity_pct": round(min(max(humidity, 15.0), 100.0), 1),
            "wind_speed_ms": round(max(self.wind + _WIND_GUST_SD * self.rng.normal(), 0.0), 2),
            "wind_dir_deg": round(self.wind_dir % 360.0, 1) % 360.0,
            "pressure_hpa": round(1013.25 + self.pressure_anomaly, 2),
            "rain_mm": round(rain_mm, 3),
        }


async def stream_weather(http: aiohttp.ClientSession, args: argparse.Namespace, stop: asyncio.Event,
                         progress: Progress) -> None:
    """`simulate weather`: one station, a reading every 1/--rate station seconds, --speedup times real time."""
    device = weather_device(args.station)
    await register(http, args.url, device, WEATHER_SCHEMA)
    start = time.time()
    station = WeatherStation(args.seed, start)
    transport = TRANSPORTS[args.transport](http, args.url, progress)
    clock = Clock(0.0, args.speedup)
    print(f"streaming weather station {device}, run {args.run}: a reading every {1 / args.rate:g} s, "
          f"{args.speedup:g}x real time")
    try:
        for k in itertools.count():
            t = k / args.rate
            if t >= args.duration or not await clock.wait_until(t, stop):
                break
            await transport.send(device, args.run, [station.reading(start + t)])
    finally:
        await transport.close()
