"""Booking rules of 共享家 (pure, no I/O): the booking window, the one transition table, whether a
booking is overdue, and which return reminder is due.

Overdue is computed, not stored: a booking is overdue while the borrower still holds the thing
(an item picked up, a space or skill booking approved) after its end. Storing it would need a job
to flip the state at the right minute and would add a second "not returned yet" state from which
the owner confirms the return exactly as before; computing it from ``end_at`` and the status is
always right and leaves one way to ``returned``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from server.core import errors
from server.notify.models import Urgency
from server.sharing.models import BOOKING_STATUS_LABELS, BookingStatus, ResourceKind

S = BookingStatus
K = ResourceKind

# A phone's clock and a slow network may put "now" a little behind the server's: a booking that
# starts "now" on the phone must not be refused as being in the past.
START_GRACE = dt.timedelta(minutes=5)
BOOKING_HORIZON = dt.timedelta(days=90)  # 最多提前 90 天预约：清单上的东西会变
DEFAULT_LOAN_DAYS = 7
DEFAULT_BOOKING_HOURS = 4
MAX_LOAN_DAYS = 90
MAX_BOOKING_HOURS = 72

# Bookings that hold their time slot: no other active booking of the resource may overlap one.
ACTIVE_STATUSES = frozenset({S.REQUESTED, S.APPROVED, S.PICKED_UP})


class BookingAction(StrEnum):
    APPROVE = "approve"  # 物主同意
    REJECT = "reject"  # 物主不同意
    PICK_UP = "pick_up"  # 物主确认已交给借用人（仅物品）
    RETURN = "return"  # 物主确认已归还（场地、技能：已用完）
    CANCEL = "cancel"  # 借用人在开始前取消


class Actor(StrEnum):
    OWNER = "owner"  # the owner (or, for a local unit's resource, a secretary of the community)
    BORROWER = "borrower"


ACTION_LABELS: dict[BookingAction, str] = {
    BookingAction.APPROVE: "同意",
    BookingAction.REJECT: "拒绝",
    BookingAction.PICK_UP: "确认取用",
    BookingAction.RETURN: "确认归还",
    BookingAction.CANCEL: "取消",
}


@dataclass(frozen=True)
class Transition:
    sources: dict[ResourceKind, frozenset[BookingStatus]]
    target: BookingStatus
    actor: Actor


def _all(*sources: BookingStatus) -> dict[ResourceKind, frozenset[BookingStatus]]:
    return {kind: frozenset(sources) for kind in ResourceKind}


TRANSITIONS: dict[BookingAction, Transition] = {
    BookingAction.APPROVE: Transition(_all(S.REQUESTED), S.APPROVED, Actor.OWNER),
    BookingAction.REJECT: Transition(_all(S.REQUESTED), S.REJECTED, Actor.OWNER),
    # only an item changes hands; a space or a skill is used from approval on
    BookingAction.PICK_UP: Transition(
        {K.ITEM: frozenset({S.APPROVED}), K.SPACE: frozenset(), K.SKILL: frozenset()},
        S.PICKED_UP,
        Actor.OWNER,
    ),
    BookingAction.RETURN: Transition(
        {
            K.ITEM: frozenset({S.PICKED_UP}),
            K.SPACE: frozenset({S.APPROVED}),
            K.SKILL: frozenset({S.APPROVED}),
        },
        S.RETURNED,
        Actor.OWNER,
    ),
    BookingAction.CANCEL: Transition(_all(S.REQUESTED, S.APPROVED), S.CANCELLED, Actor.BORROWER),
}


class IllegalTransition(errors.Conflict):
    code = "illegal_transition"
    default_message = "当前状态下不能进行此操作"


class BookingStarted(errors.Conflict):
    code = "booking_started"
    default_message = "预约已开始，不能取消；请联系物主"


def next_status(
    action: BookingAction,
    *,
    kind: ResourceKind,
    current: BookingStatus,
    actors: frozenset[Actor],
    start_at: dt.datetime,
    now: dt.datetime,
) -> BookingStatus:
    """The status after ``action``: 409 with the current state when not allowed from here (or a
    cancellation after the start), 403 when allowed but not for these actors."""
    transition = TRANSITIONS[action]
    label = ACTION_LABELS[action]
    if current not in transition.sources[kind]:
        raise IllegalTransition(
            f"预约当前为“{BOOKING_STATUS_LABELS[current]}”，不能{label}",
            details={"status": current.value, "action": action.value},
        )
    if transition.actor not in actors:
        who = "借用人" if transition.actor is Actor.BORROWER else "物主"
        raise errors.PermissionDenied(f"只有{who}可以{label}", details={"action": action.value})
    if action is BookingAction.CANCEL and now >= start_at:
        raise BookingStarted(details={"status": current.value, "start_at": start_at.isoformat()})
    return transition.target


def check_window(
    *,
    kind: ResourceKind,
    start_at: dt.datetime,
    end_at: dt.datetime,
    now: dt.datetime,
    max_loan_days: int | None,
    max_booking_hours: int | None,
) -> None:
    """422 unless ``[start_at, end_at)`` is a bookable window of a resource with these limits."""
    if end_at <= start_at:
        raise errors.ValidationFailed("结束时间须晚于开始时间", details={"field": "end_at"})
    if start_at < now - START_GRACE:
        raise errors.ValidationFailed("开始时间不能早于现在", details={"field": "start_at"})
    if start_at > now + BOOKING_HORIZON:
        raise errors.ValidationFailed(
            f"最多可预约 {BOOKING_HORIZON.days} 天内的时段",
            details={"field": "start_at", "max_days_ahead": BOOKING_HORIZON.days},
        )
    length = end_at - start_at
    if kind is ResourceKind.ITEM:
        days = max_loan_days or DEFAULT_LOAN_DAYS
        if length > dt.timedelta(days=days):
            raise errors.ValidationFailed(
                f"该物品每次最多借 {days} 天", details={"field": "end_at", "max_loan_days": days}
            )
    else:
        hours = max_booking_hours or DEFAULT_BOOKING_HOURS
        if length > dt.timedelta(hours=hours):
            what = "场地" if kind is ResourceKind.SPACE else "技能服务"
            raise errors.ValidationFailed(
                f"该{what}每次最多预约 {hours} 小时",
                details={"field": "end_at", "max_booking_hours": hours},
            )


def in_hand(kind: ResourceKind, status: BookingStatus) -> bool:
    """Whether the borrower holds the thing now: an item picked up, a space or skill approved."""
    return status is (S.PICKED_UP if kind is ResourceKind.ITEM else S.APPROVED)


def is_overdue(
    kind: ResourceKind, status: BookingStatus, end_at: dt.datetime, now: dt.datetime
) -> bool:
    """Past its end and not returned (逾期未还)."""
    return in_hand(kind, status) and now >= end_at


# --- reminders (the bot's booking_reminders job) ---


class ReminderKind(StrEnum):
    RETURN = "return"  # 到期提醒 before the end, to the borrower
    OVERDUE = "overdue"  # 逾期提醒 after the end plus grace, to the borrower and the owner


# A loan longer than a day is reminded a day ahead (time to bring it back); shorter ones 2 hours.
LONG_LOAN = dt.timedelta(days=1)
LONG_LEAD = dt.timedelta(hours=24)
SHORT_LEAD = dt.timedelta(hours=2)
# Owners often confirm a return a little late: the overdue notice waits this long after the end.
OVERDUE_GRACE = dt.timedelta(hours=1)
# Overdue notices are still sent this long after the end (a bot that was down catches up); a
# booking forgotten longer than this is for the owner and the secretary to settle by hand.
OVERDUE_LOOKBACK = dt.timedelta(days=30)


def return_lead(start_at: dt.datetime, end_at: dt.datetime) -> dt.timedelta:
    """How long before the end the return reminder goes."""
    return LONG_LEAD if end_at - start_at > LONG_LOAN else SHORT_LEAD


def due_reminder(
    *, start_at: dt.datetime, end_at: dt.datetime, now: dt.datetime
) -> ReminderKind | None:
    """The reminder whose window holds ``now`` for a booking in the borrower's hands.

    The return reminder is due from ``end - lead`` (never before the start) until the end; the
    overdue notice from ``end + OVERDUE_GRACE`` for ``OVERDUE_LOOKBACK``. A bot that was down
    through the return window sends only the overdue notice: a "due soon" after the end is wrong.
    """
    if end_at + OVERDUE_GRACE <= now < end_at + OVERDUE_LOOKBACK:
        return ReminderKind.OVERDUE
    if max(end_at - return_lead(start_at, end_at), start_at) <= now < end_at:
        return ReminderKind.RETURN
    return None


# A return reminder must reach the borrower at least this long before the end: when quiet hours
# (22:00-07:00) would hold it later, it goes at once as urgent (a loan ending at 06:30 is reminded
# at 04:30 rather than at 07:00, after the end). Overdue notices may wait for the morning.
MIN_NOTICE = dt.timedelta(minutes=30)


def reminder_urgency(
    kind: ReminderKind, *, end_at: dt.datetime, now: dt.datetime, quiet_ends_at: dt.datetime | None
) -> Urgency:
    """Normal, unless quiet hours would hold a return reminder until too close to the end."""
    leaves_at = quiet_ends_at or now
    if kind is ReminderKind.RETURN and leaves_at > end_at - MIN_NOTICE:
        return Urgency.URGENT
    return Urgency.NORMAL


def return_text(kind: ResourceKind, *, title: str, when: str, owner: str) -> str:
    """The borrower's reminder before the end."""
    if kind is ResourceKind.ITEM:
        return f"您借用的“{title}”将于{when}到期，请按时归还给{owner}。"
    return f"您预约的“{title}”将于{when}结束，请按时结束使用并告知{owner}。"


def overdue_borrower_text(kind: ResourceKind, *, title: str, when: str, owner: str) -> str:
    """The borrower's overdue notice."""
    if kind is ResourceKind.ITEM:
        return f"您借用的“{title}”已于{when}到期，请尽快归还给{owner}。"
    return f"您预约的“{title}”已于{when}结束，请尽快联系{owner}确认。"


def overdue_owner_text(kind: ResourceKind, *, title: str, when: str, borrower: str) -> str:
    """The owner's overdue notice."""
    if kind is ResourceKind.ITEM:
        return (
            f"{borrower}借用的“{title}”已于{when}到期，仍未确认归还；如已归还，请在小程序中确认。"
        )
    return f"{borrower}预约的“{title}”已于{when}结束，仍未确认；如已结束，请在小程序中确认。"
