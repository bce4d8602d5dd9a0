"""共享家: list shared items, spaces and skills, book them, and move bookings through their life.

Lock order: a new booking locks its resource's row (so two overlapping requests of one resource
queue up and the second sees the first); a status change or a reminder locks the booking's row.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role
from server.accounts.permissions import Principal, member_of, sees_community
from server.core import errors
from server.needs.media import PhotoStore
from server.needs.photos import check_own_photos
from server.notify import service as notify
from server.org.service import community_place
from server.sharing import schemas
from server.sharing.models import (
    BOOKING_STATUS_LABELS,
    Booking,
    BookingEvent,
    BookingStatus,
    ResourceKind,
    ResourceStatus,
    SharedResource,
)
from server.sharing.rules import (
    ACTIVE_STATUSES,
    DEFAULT_BOOKING_HOURS,
    DEFAULT_LOAN_DAYS,
    Actor,
    BookingAction,
    check_window,
    next_status,
)
from server.tasks.reminder_rules import local_when

PAGE_MAX = 100
# what the owner's and borrower's phones open
RESOURCE_LINK = "/pages/sharing/resource?id={id}"
BOOKING_LINK = "/pages/sharing/booking?id={id}"
# the subscribe template's 'phrase' (at most 5 Chinese characters) of each booking notification
PHRASES: dict[str, str] = {
    "booking_requested": "待您同意",
    "booking_created": "已被预约",
    "booking_approved": "已同意",
    "booking_rejected": "未同意",
    "booking_cancelled": "已取消",
}


class BookingConflict(errors.Conflict):
    code = "booking_conflict"
    default_message = "该时段已被他人预约，请选择其他时间"


class ResourceUnavailable(errors.Conflict):
    code = "resource_unavailable"
    default_message = "该共享暂停预约或已下架"


@dataclass(frozen=True)
class ResourceView:
    resource: SharedResource
    owner_name: str


@dataclass(frozen=True)
class BookingView:
    booking: Booking
    resource: SharedResource
    borrower_name: str


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


# --- who is who ---


def _secretary_of(principal: Principal, community_id: int) -> bool:
    return any(
        grant.role is Role.SECRETARY and grant.community_id == community_id
        for grant in principal.grants
    )


def _owns(principal: Principal, resource: SharedResource) -> bool:
    """The owner; a local unit's resource is also answered for by the community's secretaries."""
    return principal.person_id == resource.owner_id or (
        bool(resource.unit_name) and _secretary_of(principal, resource.community_id)
    )


async def _names(person_ids: set[int]) -> dict[int, str]:
    rows = await Person.filter(id__in=person_ids).values_list("id", "name")
    return {int(pid): str(name) for pid, name in rows}


async def _resource_and_place(resource_id: int, principal: Principal) -> SharedResource:
    """The resource if this person may see it; 404 otherwise (an outsider learns nothing)."""
    resource = await SharedResource.get_or_none(id=resource_id)
    if resource is None:
        raise errors.NotFound("找不到该共享")
    _, place = await community_place(community_id=resource.community_id)
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该共享")
    if resource.status is ResourceStatus.UNLISTED and not _owns(principal, resource):
        raise errors.NotFound("该共享已下架")
    return resource


def _encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":")
        if prefix != "id":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ValidationFailed("cursor 无效", details={"field": "cursor"}) from exc


# --- the resource list (共享清单) ---


def _limits(
    kind: ResourceKind, max_loan_days: int | None, max_booking_hours: int | None
) -> tuple[int | None, int | None]:
    """An item is lent by the day, a space or skill booked by the hour: the other limit is 422."""
    if kind is ResourceKind.ITEM:
        if max_booking_hours is not None:
            raise errors.ValidationFailed(
                "物品按天借用，请填写每次最多借几天（max_loan_days）",
                details={"field": "max_booking_hours"},
            )
        return max_loan_days or DEFAULT_LOAN_DAYS, None
    if max_loan_days is not None:
        raise errors.ValidationFailed(
            "场地和技能按小时预约，请填写每次最多几小时（max_booking_hours）",
            details={"field": "max_loan_days"},
        )
    return None, max_booking_hours or DEFAULT_BOOKING_HOURS


async def create_resource(
    *, principal: Principal, community_id: int, body: schemas.ResourceIn, store: PhotoStore
) -> ResourceView:
    """Put an item, space or skill on the community's shared list (a secretary may list one on
    behalf of a local unit, 驻地单位). Its photos must be the lister's own stored uploads
    (``check_own_photos``): the whole community gets links to them."""
    _, place = await community_place(community_id=community_id)
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该社区")
    if not member_of(principal, place):
        raise errors.PermissionDenied("只有本社区的居民、志愿者和工作人员可以发布共享")
    unit_name = body.unit_name.strip()
    if unit_name and not _secretary_of(principal, community_id):
        raise errors.PermissionDenied("只有社区书记可以代驻地单位发布共享")
    max_loan_days, max_booking_hours = _limits(
        body.kind, body.max_loan_days, body.max_booking_hours
    )
    await check_own_photos(person_id=principal.person_id, keys=body.photos, store=store)
    resource = await SharedResource.create(
        community_id=community_id,
        owner_id=principal.person_id,
        unit_name=unit_name,
        kind=body.kind,
        title=body.title.strip(),
        description=body.description.strip(),
        photos=body.photos,
        location=body.location.strip(),
        needs_approval=body.needs_approval,
        max_loan_days=max_loan_days,
        max_booking_hours=max_booking_hours,
        opening_hours=body.opening_hours.strip(),
        deposit_note=body.deposit_note.strip(),
    )
    names = await _names({principal.person_id})
    return ResourceView(resource, names.get(principal.person_id, ""))


async def list_resources(
    *,
    principal: Principal,
    community_id: int,
    kind: ResourceKind | None,
    text: str,
    mine: bool,
    cursor: str | None,
    limit: int,
) -> Page[ResourceView]:
    """The community's shared list, newest first: open and paused ones (or all of mine)."""
    _, place = await community_place(community_id=community_id)
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该社区")
    query = SharedResource.filter(community_id=community_id)
    if mine:
        query = query.filter(owner_id=principal.person_id)
    else:
        query = query.filter(status__in=[ResourceStatus.ACTIVE, ResourceStatus.PAUSED])
    if kind is not None:
        query = query.filter(kind=kind)
    if text.strip():
        words = text.strip()
        query = query.filter(
            Q(title__icontains=words)
            | Q(description__icontains=words)
            | Q(location__icontains=words)
            | Q(unit_name__icontains=words)
        )
    if cursor:
        query = query.filter(id__lt=_decode_cursor(cursor))
    limit = max(1, min(limit, PAGE_MAX))
    rows = await query.order_by("-id").limit(limit + 1)
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    names = await _names({r.owner_id for r in rows})
    return Page([ResourceView(r, names.get(r.owner_id, "")) for r in rows], next_cursor)


async def resource_detail(
    *, principal: Principal, resource_id: int, now: dt.datetime
) -> tuple[ResourceView, list[Booking]]:
    """A resource with the time slots still taken (for choosing a free one)."""
    resource = await _resource_and_place(resource_id, principal)
    busy = await Booking.filter(
        resource_id=resource.id, status__in=list(ACTIVE_STATUSES), end_at__gt=now
    ).order_by("start_at", "id")
    names = await _names({resource.owner_id})
    return ResourceView(resource, names.get(resource.owner_id, "")), busy


async def change_resource(
    *, principal: Principal, resource_id: int, body: schemas.ResourceChangeIn, store: PhotoStore
) -> ResourceView:
    """The owner pauses, unlists, reopens or edits a resource (bookings already made stand).
    New photos must be the editor's own stored uploads; the ones it had may stay."""
    resource = await _resource_and_place(resource_id, principal)
    if not _owns(principal, resource):
        raise errors.PermissionDenied("只有发布人可以修改这项共享")
    changes = body.model_dump(exclude_unset=True)
    if changes.get("photos") is not None:
        await check_own_photos(
            person_id=principal.person_id,
            keys=changes["photos"],
            store=store,
            kept=frozenset(resource.photos),
        )
    if "max_loan_days" in changes or "max_booking_hours" in changes:
        loan, hours = _limits(
            resource.kind, changes.get("max_loan_days"), changes.get("max_booking_hours")
        )
        changes["max_loan_days"], changes["max_booking_hours"] = loan, hours
    for name, value in changes.items():
        if value is None:
            if name in ("max_loan_days", "max_booking_hours"):
                continue
            raise errors.ValidationFailed(f"{name}：不能为空", details={"field": name})
        setattr(resource, name, value.strip() if isinstance(value, str) else value)
    await resource.save()
    names = await _names({resource.owner_id})
    return ResourceView(resource, names.get(resource.owner_id, ""))


# --- bookings ---


def _payload(
    booking: Booking, resource: SharedResource, kind: str, text: str, note: str = ""
) -> dict[str, object]:
    return {
        "text": text,
        "booking_id": booking.id,
        "resource_id": resource.id,
        "title": resource.title,
        "phrase": PHRASES.get(kind, BOOKING_STATUS_LABELS[booking.status]),
        "starts_at": booking.start_at.isoformat(),
        "ends_at": booking.end_at.isoformat(),
        "time": booking.start_at.isoformat(),
        "hint": note or "点击查看预约详情",
        "link": BOOKING_LINK.format(id=booking.id),
    }


def _aware(moment: dt.datetime, field: str) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.ValidationFailed(
            f"{field}：须带时区，如 2026-12-01T09:00:00+08:00", details={"field": field}
        )
    return moment.astimezone(dt.UTC)


async def book(
    *,
    principal: Principal,
    resource_id: int,
    body: schemas.BookingIn,
    now: dt.datetime,
    timezone: str,
) -> BookingView:
    """Book ``[start_at, end_at)``; 409 ``booking_conflict`` when an active booking overlaps.

    The resource's row is locked before the overlap check, so of N overlapping requests running
    at once exactly one is written (PostgreSQL; SQLite runs one write transaction at a time).
    """
    resource = await _resource_and_place(resource_id, principal)
    _, place = await community_place(community_id=resource.community_id)
    if not member_of(principal, place):
        raise errors.PermissionDenied("只有本社区的居民、志愿者和工作人员可以预约")
    if _owns(principal, resource):
        raise errors.PermissionDenied("不能预约自己发布的共享")
    start_at, end_at = _aware(body.start_at, "start_at"), _aware(body.end_at, "end_at")
    check_window(
        kind=resource.kind,
        start_at=start_at,
        end_at=end_at,
        now=now,
        max_loan_days=resource.max_loan_days,
        max_booking_hours=resource.max_booking_hours,
    )
    tz = ZoneInfo(timezone)
    async with in_transaction() as connection:
        locked = (
            await SharedResource.filter(id=resource.id)
            .select_for_update()
            .using_db(connection)
            .get()
        )
        if locked.status is not ResourceStatus.ACTIVE:
            raise ResourceUnavailable(details={"status": locked.status.value})
        clash = (
            await Booking.filter(
                resource_id=locked.id,
                status__in=list(ACTIVE_STATUSES),
                start_at__lt=end_at,
                end_at__gt=start_at,
            )
            .using_db(connection)
            .order_by("start_at")
            .first()
        )
        if clash is not None:
            raise BookingConflict(
                f"该时段已被预约（{local_when(clash.start_at, now=now, tz=tz)} 至 "
                f"{local_when(clash.end_at, now=now, tz=tz)}），请选择其他时间",
                details={
                    "start_at": clash.start_at.isoformat(),
                    "end_at": clash.end_at.isoformat(),
                },
            )
        status = BookingStatus.REQUESTED if locked.needs_approval else BookingStatus.APPROVED
        booking = await Booking.create(
            resource_id=locked.id,
            borrower_id=principal.person_id,
            start_at=start_at,
            end_at=end_at,
            status=status,
            note=body.note.strip(),
            using_db=connection,
        )
        await BookingEvent.create(
            booking_id=booking.id,
            actor_id=principal.person_id,
            action="book",
            from_status=None,
            to_status=status,
            note=body.note.strip(),
            using_db=connection,
        )
        borrower = (await _names({principal.person_id})).get(principal.person_id, "")
        when = local_when(start_at, now=now, tz=tz)
        kind = "booking_requested" if locked.needs_approval else "booking_created"
        text = (
            f"{borrower}想预约您共享的“{locked.title}”（{when}起），请同意或拒绝。"
            if locked.needs_approval
            else f"{borrower}预约了您共享的“{locked.title}”（{when}起）。"
        )
        await notify.enqueue(
            kind=kind,
            recipient_id=locked.owner_id,
            community_id=locked.community_id,
            payload=_payload(booking, locked, kind, text, body.note.strip()),
            dedupe_key=f"booking:{booking.id}:{kind}",
            using_db=connection,
        )
    return BookingView(booking, locked, borrower)


async def _visible_booking(principal: Principal, booking_id: int) -> tuple[Booking, SharedResource]:
    """The booking if this person is its borrower or answers for its resource; 404 otherwise."""
    booking = await Booking.get_or_none(id=booking_id)
    if booking is None:
        raise errors.NotFound("找不到该预约")
    resource = await SharedResource.get(id=booking.resource_id)
    if principal.person_id != booking.borrower_id and not _owns(principal, resource):
        raise errors.NotFound("找不到该预约")
    return booking, resource


async def list_bookings(
    *,
    principal: Principal,
    role: str,
    status: BookingStatus | None,
    cursor: str | None,
    limit: int,
) -> Page[BookingView]:
    """My bookings (borrower), or bookings of what I share (owner), newest first."""
    if role == "owner":
        secretary_of = [
            g.community_id
            for g in principal.grants
            if g.role is Role.SECRETARY and g.community_id is not None
        ]
        mine = Q(resource__owner_id=principal.person_id)
        if secretary_of:
            mine |= Q(resource__community_id__in=secretary_of) & ~Q(resource__unit_name="")
        query = Booking.filter(mine)
    else:
        query = Booking.filter(borrower_id=principal.person_id)
    if status is not None:
        query = query.filter(status=status)
    if cursor:
        query = query.filter(id__lt=_decode_cursor(cursor))
    limit = max(1, min(limit, PAGE_MAX))
    rows = await query.order_by("-id").limit(limit + 1)
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    resources = {r.id: r for r in await SharedResource.filter(id__in={b.resource_id for b in rows})}
    names = await _names({b.borrower_id for b in rows})
    views = [BookingView(b, resources[b.resource_id], names.get(b.borrower_id, "")) for b in rows]
    return Page(views, next_cursor)


async def booking_detail(
    *, principal: Principal, booking_id: int
) -> tuple[BookingView, list[tuple[BookingEvent, str | None]]]:
    """A booking with its status history."""
    booking, resource = await _visible_booking(principal, booking_id)
    events = await BookingEvent.filter(booking_id=booking.id).order_by("created_at", "id")
    people = {booking.borrower_id} | {e.actor_id for e in events if e.actor_id is not None}
    names = await _names(people)
    view = BookingView(booking, resource, names.get(booking.borrower_id, ""))
    return view, [(e, names.get(e.actor_id) if e.actor_id else None) for e in events]


async def _apply(
    *,
    booking: Booking,
    resource: SharedResource,
    action: BookingAction,
    actors: frozenset[Actor],
    actor_id: int,
    note: str,
    now: dt.datetime,
    connection: BaseDBAsyncClient,
) -> None:
    """The one place a booking's status changes: check the table, write the audit row."""
    target = next_status(
        action,
        kind=resource.kind,
        current=booking.status,
        actors=actors,
        start_at=booking.start_at,
        now=now,
    )
    event = BookingEvent(
        booking_id=booking.id,
        actor_id=actor_id,
        action=action.value,
        from_status=booking.status,
        to_status=target,
        note=note.strip(),
    )
    booking.status = target
    await booking.save(using_db=connection)
    await event.save(using_db=connection)


async def transition(
    *,
    principal: Principal,
    booking_id: int,
    action: BookingAction,
    note: str,
    now: dt.datetime,
    timezone: str,
) -> BookingView:
    """Approve, reject, hand over, take back or cancel a booking (with the audit row and the
    notification in the same transaction)."""
    _, resource = await _visible_booking(principal, booking_id)
    tz = ZoneInfo(timezone)
    async with in_transaction() as connection:
        booking = await Booking.filter(id=booking_id).select_for_update().using_db(connection).get()
        actors = set()
        if _owns(principal, resource):
            actors.add(Actor.OWNER)
        if principal.person_id == booking.borrower_id:
            actors.add(Actor.BORROWER)
        await _apply(
            booking=booking,
            resource=resource,
            action=action,
            actors=frozenset(actors),
            actor_id=principal.person_id,
            note=note,
            now=now,
            connection=connection,
        )
        when = local_when(booking.start_at, now=now, tz=tz)
        reason = f"：{note.strip()}" if note.strip() else "。"
        message: tuple[str, int, str] | None = None
        if action is BookingAction.APPROVE:
            text = f"您预约的“{resource.title}”（{when}起）物主已同意" + (
                f"，请到{resource.location}取用。" if resource.location else "。"
            )
            message = ("booking_approved", booking.borrower_id, text)
        elif action is BookingAction.REJECT:
            text = f"您预约的“{resource.title}”（{when}起）物主未同意{reason}"
            message = ("booking_rejected", booking.borrower_id, text)
        elif action is BookingAction.CANCEL:
            borrower = (await _names({booking.borrower_id})).get(booking.borrower_id, "")
            text = f"{borrower}取消了“{resource.title}”（{when}起）的预约{reason}"
            message = ("booking_cancelled", resource.owner_id, text)
        if message is not None:
            kind, recipient, text = message
            await notify.enqueue(
                kind=kind,
                recipient_id=recipient,
                community_id=resource.community_id,
                payload=_payload(booking, resource, kind, text, note.strip()),
                dedupe_key=f"booking:{booking.id}:{kind}",
                using_db=connection,
            )
    names = await _names({booking.borrower_id})
    return BookingView(booking, resource, names.get(booking.borrower_id, ""))
