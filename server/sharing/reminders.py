"""Booking reminders (到期提醒 / 逾期提醒): before the end to the borrower, after it to both.

The bot's ``booking_reminders`` job calls ``send_due_reminders`` every few minutes. Each reminder
is a ``BookingReminder`` row written in the same transaction as its outbox rows, with the
booking's row locked, so it is written once per booking and kind whatever the number of bot
processes, manual runs and catch-ups (the unique (booking, kind) pair backs this up). A run that
finds nothing new writes nothing, so a bot that was down simply sends what is still due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.accounts.models import Person
from server.core.config import Settings
from server.notify.policy import QuietHours
from server.notify.service import enqueue
from server.sharing.models import (
    Booking,
    BookingReminder,
    BookingStatus,
    ResourceKind,
    SharedResource,
)
from server.sharing.rules import (
    LONG_LEAD,
    OVERDUE_LOOKBACK,
    ReminderKind,
    due_reminder,
    in_hand,
    overdue_borrower_text,
    overdue_owner_text,
    reminder_urgency,
    return_text,
)
from server.sharing.service import BOOKING_LINK
from server.tasks.reminder_rules import local_when

RETURN_KIND = "booking_return_reminder"  # outbox kind of the borrower's reminder before the end
OVERDUE_KIND = "booking_overdue"  # outbox kind of the overdue notice (borrower and owner)
PHRASES = {ReminderKind.RETURN: "即将到期", ReminderKind.OVERDUE: "已逾期"}


@dataclass
class ReminderScan:
    """What one run wrote."""

    returns: int = 0  # reminders before the end
    overdue: int = 0  # overdue notices (each to the borrower and the owner)
    skipped: int = 0  # written by another process meanwhile, or no longer due

    @property
    def written(self) -> int:
        return self.returns + self.overdue


def _in_hand_filter() -> Q:
    """Bookings the borrower holds (server/sharing/rules.py ``in_hand``), as a query."""
    item = Q(resource__kind=ResourceKind.ITEM)
    return (item & Q(status=BookingStatus.PICKED_UP)) | (~item & Q(status=BookingStatus.APPROVED))


async def _write_reminder(
    booking_id: int, *, now: dt.datetime, settings: Settings
) -> ReminderKind | None:
    """Write one booking's due reminder and its outbox rows (not when written or not due)."""
    tz = ZoneInfo(settings.timezone)
    async with in_transaction() as connection:
        booking = (
            await Booking.filter(id=booking_id).select_for_update().using_db(connection).first()
        )
        if booking is None:
            return None
        resource = await SharedResource.get(id=booking.resource_id, using_db=connection)
        if not in_hand(resource.kind, booking.status):
            return None  # returned, cancelled or not handed over since the scan
        kind = due_reminder(start_at=booking.start_at, end_at=booking.end_at, now=now)
        if kind is None:
            return None
        done = BookingReminder.filter(booking_id=booking.id, kind=kind.value).using_db(connection)
        if await done.exists():
            return None
        quiet = QuietHours.from_settings(
            settings.notify_quiet_start, settings.notify_quiet_end, settings.timezone
        )
        urgency = reminder_urgency(
            kind, end_at=booking.end_at, now=now, quiet_ends_at=quiet.ends_at(now)
        )
        await BookingReminder.create(
            booking_id=booking.id, kind=kind.value, end_at=booking.end_at, using_db=connection
        )
        people = {
            p.id: p.name
            for p in await Person.filter(id__in=[booking.borrower_id, resource.owner_id]).using_db(
                connection
            )
        }
        owner = resource.unit_name or people.get(resource.owner_id, "物主")
        borrower = people.get(booking.borrower_id, "借用人")
        when = local_when(booking.end_at, now=now, tz=tz)
        common: dict[str, object] = {
            "booking_id": booking.id,
            "resource_id": resource.id,
            "title": resource.title,
            "reminder": kind.value,
            "phrase": PHRASES[kind],
            "starts_at": booking.start_at.isoformat(),
            "ends_at": booking.end_at.isoformat(),
            "time": booking.end_at.isoformat(),
            "when": when,
            "link": BOOKING_LINK.format(id=booking.id),
        }
        args = {"title": resource.title, "when": when}
        if kind is ReminderKind.RETURN:
            await enqueue(
                kind=RETURN_KIND,
                payload={
                    "text": return_text(resource.kind, owner=owner, **args),
                    **common,
                    "hint": f"请按时归还给{owner}"[:20],
                },
                recipient_id=booking.borrower_id,
                community_id=resource.community_id,
                urgency=urgency,
                dedupe_key=f"booking:{booking.id}:remind:return",
                using_db=connection,
            )
            return kind
        await enqueue(
            kind=OVERDUE_KIND,
            payload={
                "text": overdue_borrower_text(resource.kind, owner=owner, **args),
                **common,
                "to": "borrower",
                "hint": "请尽快归还",
            },
            recipient_id=booking.borrower_id,
            community_id=resource.community_id,
            dedupe_key=f"booking:{booking.id}:remind:overdue:borrower",
            using_db=connection,
        )
        await enqueue(
            kind=OVERDUE_KIND,
            payload={
                "text": overdue_owner_text(resource.kind, borrower=borrower, **args),
                **common,
                "to": "owner",
                "hint": f"{borrower}尚未归还"[:20],
            },
            recipient_id=resource.owner_id,
            community_id=resource.community_id,
            dedupe_key=f"booking:{booking.id}:remind:overdue:owner",
            using_db=connection,
        )
        return kind


async def send_due_reminders(*, now: dt.datetime, settings: Settings) -> ReminderScan:
    """到期提醒 and 逾期提醒: write every booking reminder due at ``now`` not written before."""
    rows = await Booking.filter(
        _in_hand_filter(),
        end_at__gt=now - OVERDUE_LOOKBACK,
        end_at__lte=now + LONG_LEAD,
    ).values("id", "start_at", "end_at")
    if not rows:
        return ReminderScan()
    written = await BookingReminder.filter(booking_id__in=[row["id"] for row in rows]).values_list(
        "booking_id", "kind"
    )
    done = {(int(booking_id), str(kind)) for booking_id, kind in written}
    scan = ReminderScan()
    for row in sorted(rows, key=lambda r: (r["end_at"], r["id"])):
        kind = due_reminder(start_at=row["start_at"], end_at=row["end_at"], now=now)
        if kind is None or (int(row["id"]), kind.value) in done:
            continue
        try:
            wrote = await _write_reminder(int(row["id"]), now=now, settings=settings)
        except IntegrityError:  # another process wrote the same reminder at the same moment
            wrote = None
        if wrote is ReminderKind.RETURN:
            scan.returns += 1
        elif wrote is ReminderKind.OVERDUE:
            scan.overdue += 1
        else:
            scan.skipped += 1
    return scan
