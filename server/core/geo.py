"""Distances on the earth's surface (pure)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_000.0
METERS_PER_DEGREE_LAT = 111_320.0


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) enclosing the circle, for an indexed pre-filter."""
    d_lat = radius_m / METERS_PER_DEGREE_LAT
    d_lng = radius_m / (METERS_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 1e-6))
    return lat - d_lat, lat + d_lat, lng - d_lng, lng + d_lng
