"""The one clock of the application (UTC, aware), so tests and jobs agree on "now"."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
