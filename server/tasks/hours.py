"""Service hours from check-in and check-out times (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import math

HOURS_STEP = 0.5  # 时间存折 counts half hours


def round_hours(hours: float) -> float:
    """Round to the nearest half hour, halves up: 1h14m → 1.0, 1h15m → 1.5, 10 min → 0.0."""
    steps = math.floor(hours / HOURS_STEP + 0.5 + 1e-9)
    return max(0.0, steps * HOURS_STEP)


def service_hours(checkin_at: dt.datetime, checkout_at: dt.datetime, *, cap: float) -> float:
    """Hours between check-in and check-out, rounded to half hours and capped at ``cap``."""
    seconds = max(0.0, (checkout_at - checkin_at).total_seconds())
    return min(round_hours(seconds / 3600), cap)


def is_valid_hours(hours: float) -> bool:
    """Whether a secretary's edited value is a whole number of half hours."""
    return hours >= 0 and math.isclose(hours / HOURS_STEP, round(hours / HOURS_STEP))
