"""Distances on the Earth's surface, for scan locations and custody sites."""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_KM", "MAX_TRAVEL_KMH", "haversine_km"]

EARTH_RADIUS_KM = 6371.0088
"""The mean radius (IUGG): the sphere that best fits the ellipsoid for distances."""
MAX_TRAVEL_KMH = 900.0
"""About an airliner's cruising speed: nobody carries an item faster."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees.

    Within 0.5 % of the ellipsoidal distance: far finer than the 0.1° (about 11 km) to
    which scan locations are rounded.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # Rounding can push `a` a hair outside [0, 1] for antipodal or equal points.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))
