"""Football pitch geometry: pitch-local metres <-> WGS-84 latitude/longitude.

The simulator moves players in a flat pitch frame (metres from the centre
spot) because that is where the motion model is simple; sensors report
WGS-84, so we project through a local tangent plane anchored at the centre
spot. Over a ~100 m pitch the flat-earth error of this projection is far below
GPS noise, while using the ellipsoid's radii of curvature keeps the metre
scale correct at any latitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

# A scalar or an array of coordinates; all conversions broadcast with numpy so
# the simulator can convert all players in one call.
Coord = float | npt.NDArray[np.float64]


def _wrap_deg(angle: Coord) -> Coord:
    """Wrap degrees into [-180, 180) so pitches near the antimeridian work."""
    return (angle + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class Pitch:
    """A pitch placed on the earth.

    Pitch frame: origin at the centre spot, ``x`` along the long axis (towards
    the bearing ``orientation_deg``), ``y`` along the width, 90 degrees
    clockwise from ``x`` (so with orientation 0, ``x`` points north and ``y``
    east; with orientation 90, ``x`` points east and ``y`` south).
    """

    length_m: float = 105.0
    width_m: float = 68.0
    # Default: Santiago Bernabeu, Madrid (centre spot, approximate).
    centre_lat: float = 40.4530
    centre_lon: float = -3.6883
    orientation_deg: float = 0.0
    _m_per_deg_lat: float = field(init=False, repr=False, compare=False)
    _m_per_deg_lon: float = field(init=False, repr=False, compare=False)
    _cos_o: float = field(init=False, repr=False, compare=False)
    _sin_o: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.length_m > 0 and self.width_m > 0):
            raise ValueError("pitch length and width must be positive")
        if not -89.0 <= self.centre_lat <= 89.0:
            # The east-west scale 1/cos(lat) blows up at the poles.
            raise ValueError("centre_lat must be within [-89, 89] degrees")
        if not -180.0 <= self.centre_lon <= 180.0:
            raise ValueError("centre_lon must be within [-180, 180] degrees")
        phi = math.radians(self.centre_lat)
        w = math.sqrt(1.0 - WGS84_E2 * math.sin(phi) ** 2)
        meridian_r = WGS84_A_M * (1.0 - WGS84_E2) / w**3
        prime_vertical_r = WGS84_A_M / w
        theta = math.radians(self.orientation_deg)
        object.__setattr__(self, "_m_per_deg_lat", math.radians(meridian_r))
        object.__setattr__(self, "_m_per_deg_lon", math.radians(prime_vertical_r * math.cos(phi)))
        object.__setattr__(self, "_cos_o", math.cos(theta))
        object.__setattr__(self, "_sin_o", math.sin(theta))

    def to_latlon(self, x: Coord, y: Coord) -> tuple[Coord, Coord]:
        """Pitch metres -> (latitude, longitude) in degrees."""
        north = x * self._cos_o - y * self._sin_o
        east = x * self._sin_o + y * self._cos_o
        lat = self.centre_lat + north / self._m_per_deg_lat
        lon = _wrap_deg(self.centre_lon + east / self._m_per_deg_lon)
        return lat, lon

    def to_xy(self, lat: Coord, lon: Coord) -> tuple[Coord, Coord]:
        """(latitude, longitude) in degrees -> pitch metres (exact inverse of ``to_latlon``)."""
        north = (lat - self.centre_lat) * self._m_per_deg_lat
        east = _wrap_deg(lon - self.centre_lon) * self._m_per_deg_lon
        x = north * self._cos_o + east * self._sin_o
        y = -north * self._sin_o + east * self._cos_o
        return x, y

    def contains(self, x: float, y: float) -> bool:
        """True if the point is on the field of play (lines included)."""
        return abs(x) <= self.length_m / 2.0 and abs(y) <= self.width_m / 2.0
