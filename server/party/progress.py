"""How far a registered party member is with the year's service hours (pure, no I/O).

The community expects ``yearly_hours`` a year. A member registered in the middle of the year owes
the share of the year left from the registration day. Expected-to-date grows day by day (pro
rata), so on 1 July about half the year's share is due. Approved hours count; pending hours are
shown beside them but do not make a member "on track" until the secretary approves them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

QUANTUM = Decimal("0.01")
ZERO = Decimal("0.00")


class ProgressStatus(StrEnum):
    DONE = "done"  # the year's share is served
    ON_TRACK = "on_track"  # at least what is due by today
    BEHIND = "behind"  # less than what is due by today
    NOT_STARTED = "not_started"  # the year (or the registration) has not begun


PROGRESS_LABELS: dict[ProgressStatus, str] = {
    ProgressStatus.DONE: "已完成",
    ProgressStatus.ON_TRACK: "进度正常",
    ProgressStatus.BEHIND: "进度落后",
    ProgressStatus.NOT_STARTED: "未开始",
}


@dataclass(frozen=True)
class Progress:
    year: int
    approved: Decimal  # approved hours served in the community this year
    pending: Decimal  # credited, still waiting for the secretary
    expected_year: Decimal  # the member's share of the year's expectation
    expected_to_date: Decimal  # of which due by ``as_of``
    behind: Decimal  # expected_to_date − approved, never below zero
    remaining: Decimal  # expected_year − approved, never below zero
    status: ProgressStatus

    @property
    def label(self) -> str:
        return PROGRESS_LABELS[self.status]


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def compute_progress(
    *,
    year: int,
    as_of: dt.date,
    registered_on: dt.date,
    yearly_hours: Decimal,
    approved: Decimal,
    pending: Decimal,
) -> Progress:
    """One member's progress in ``year`` as of the end of ``as_of`` (a local calendar date)."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days_in_year = (last - first).days + 1
    start = max(first, registered_on)
    if start > last:  # registered after this year
        share_days = 0
    else:
        share_days = (last - start).days + 1
    end = min(as_of, last)
    elapsed_days = max((end - start).days + 1, 0) if start <= last else 0
    expected_year = _q(yearly_hours * share_days / days_in_year)
    expected_to_date = _q(yearly_hours * elapsed_days / days_in_year)
    approved, pending = _q(approved), _q(pending)
    if expected_year > 0 and approved >= expected_year:
        status = ProgressStatus.DONE
    elif elapsed_days == 0:
        status = ProgressStatus.NOT_STARTED
    elif approved >= expected_to_date:
        status = ProgressStatus.ON_TRACK
    else:
        status = ProgressStatus.BEHIND
    return Progress(
        year=year,
        approved=approved,
        pending=pending,
        expected_year=expected_year,
        expected_to_date=expected_to_date,
        behind=max(expected_to_date - approved, ZERO),
        remaining=max(expected_year - approved, ZERO),
        status=status,
    )


def behind_first(progress: Progress) -> tuple[Decimal, Decimal]:
    """Sort key: furthest behind first, then the smallest share of the year done."""
    done_share = (
        progress.approved / progress.expected_year if progress.expected_year else Decimal(1)
    )
    return (-progress.behind, done_share)
