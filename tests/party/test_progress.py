"""双报到 progress, a pure function of the year, the day, the registration and the hours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.party.progress import ProgressStatus, behind_first, compute_progress

D = dt.date
S = ProgressStatus
TWELVE = Decimal(12)


@pytest.mark.parametrize(
    ("year", "as_of", "registered", "approved", "pending", "expected"),
    [
        # registered before the year, half-way through it (181 of 365 days)
        (2026, D(2026, 6, 30), D(2025, 3, 1), "3", "0", ("12.00", "5.95", "2.95", S.BEHIND)),
        (2026, D(2026, 6, 30), D(2025, 3, 1), "6", "0", ("12.00", "5.95", "0.00", S.ON_TRACK)),
        (2026, D(2026, 6, 30), D(2025, 3, 1), "12", "0", ("12.00", "5.95", "0.00", S.DONE)),
        # pending hours are shown but do not count
        (2026, D(2026, 12, 31), D(2025, 3, 1), "0", "10", ("12.00", "12.00", "12.00", S.BEHIND)),
        # registered on 1 July: owes the 184 days left, nothing due before
        (2026, D(2026, 6, 30), D(2026, 7, 1), "0", "0", ("6.05", "0.00", "0.00", S.NOT_STARTED)),
        (2026, D(2026, 7, 1), D(2026, 7, 1), "0", "0", ("6.05", "0.03", "0.03", S.BEHIND)),
        (2026, D(2026, 12, 31), D(2026, 7, 1), "6", "0", ("6.05", "6.05", "0.05", S.BEHIND)),
        (2026, D(2026, 12, 31), D(2026, 7, 1), "6.05", "0", ("6.05", "6.05", "0.00", S.DONE)),
        # a past year is over: everything was due
        (2025, D(2026, 3, 1), D(2024, 1, 1), "11", "0", ("12.00", "12.00", "1.00", S.BEHIND)),
        # a year to come, or a registration after the year: nothing due
        (2027, D(2026, 11, 30), D(2026, 1, 1), "0", "0", ("12.00", "0.00", "0.00", S.NOT_STARTED)),
        (2026, D(2026, 11, 30), D(2027, 1, 5), "0", "0", ("0.00", "0.00", "0.00", S.NOT_STARTED)),
        # a leap year has 366 days: 60 of them by 29 February
        (2028, D(2028, 2, 29), D(2027, 1, 1), "1", "0", ("12.00", "1.97", "0.97", S.BEHIND)),
    ],
)
def test_progress(
    year: int,
    as_of: dt.date,
    registered: dt.date,
    approved: str,
    pending: str,
    expected: tuple[str, str, str, ProgressStatus],
) -> None:
    progress = compute_progress(
        year=year,
        as_of=as_of,
        registered_on=registered,
        yearly_hours=TWELVE,
        approved=Decimal(approved),
        pending=Decimal(pending),
    )
    expected_year, to_date, behind, status = expected
    assert progress.expected_year == Decimal(expected_year)
    assert progress.expected_to_date == Decimal(to_date)
    assert progress.behind == Decimal(behind)
    assert progress.status is status
    assert progress.pending == Decimal(pending).quantize(Decimal("0.01"))
    assert progress.remaining == max(progress.expected_year - progress.approved, Decimal(0))


def test_furthest_behind_comes_first() -> None:
    def member(approved: str, registered: dt.date) -> object:
        return compute_progress(
            year=2026,
            as_of=D(2026, 9, 30),
            registered_on=registered,
            yearly_hours=TWELVE,
            approved=Decimal(approved),
            pending=Decimal(0),
        )

    members = {
        "nothing yet": member("0", D(2025, 1, 1)),
        "a little": member("2", D(2025, 1, 1)),
        "new this summer": member("0", D(2026, 8, 1)),
        "ahead": member("10", D(2025, 1, 1)),
        "done": member("12", D(2025, 1, 1)),
    }
    order = sorted(members, key=lambda name: behind_first(members[name]))  # type: ignore[arg-type]
    assert order == ["nothing yet", "a little", "new this summer", "ahead", "done"]
