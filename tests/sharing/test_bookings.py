"""Bookings over HTTP: validation, the flow with and without approval, cancellations, illegal
transitions, the audit trail, the notifications, and the overlap race on the real database."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient

from server.accounts.service import load_principal
from server.core.clock import utcnow
from server.notify.models import OutboxMessage
from server.sharing import schemas, service
from server.sharing.models import Booking, BookingEvent, BookingStatus
from server.sharing.rules import BookingAction, BookingStarted
from tests.conftest import ON_POSTGRES
from tests.sharing.conftest import DAY, HALL, HOUR, World, act, book, error_of, shared, window

MINUTE = dt.timedelta(minutes=1)


async def booked(client: TestClient, world: World, resource: int, **kwargs: object) -> dict:
    response = await book(client, world, resource, **kwargs)  # type: ignore[arg-type]
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def outbox() -> list[tuple[str, int | None]]:
    rows = await OutboxMessage.filter(kind__startswith="booking_").order_by("id")
    return [(row.kind, row.recipient_id) for row in rows]


async def events(booking_id: int) -> list[tuple[str, str | None, str]]:
    rows = await BookingEvent.filter(booking_id=booking_id).order_by("id")
    return [
        (e.action, e.from_status.value if e.from_status else None, e.to_status.value) for e in rows
    ]


@pytest.mark.parametrize(
    ("start_in", "length", "field", "message"),
    [
        (DAY, dt.timedelta(0), "end_at", "结束时间须晚于开始时间"),
        (DAY, -HOUR, "end_at", "结束时间须晚于开始时间"),
        (-HOUR, 2 * HOUR, "start_at", "开始时间不能早于现在"),
        (DAY, 3 * DAY + MINUTE, "end_at", "该物品每次最多借 3 天"),
        (dt.timedelta(days=91), DAY, "start_at", "最多可预约 90 天内的时段"),
    ],
)
async def test_bad_windows_are_refused_with_422(
    client: TestClient,
    world: World,
    start_in: dt.timedelta,
    length: dt.timedelta,
    field: str,
    message: str,
) -> None:
    resource = await shared(client, world)
    response = await book(client, world, resource, start_in=start_in, length=length)
    assert response.status == 422
    error = await error_of(response)
    assert (error["code"], error["message"], error["details"]["field"]) == (
        "validation_error",
        message,
        field,
    )
    assert await Booking.all().count() == 0


async def test_window_rules_of_spaces_times_without_zone_and_a_start_just_now(
    client: TestClient, world: World
) -> None:
    hall = await shared(client, world, "secretary", **HALL)
    response = await book(client, world, hall, length=3 * HOUR + MINUTE)
    assert response.status == 422
    assert (await error_of(response))["message"] == "该场地每次最多预约 3 小时"

    naive = {"start_at": "2026-12-20T09:00:00", "end_at": "2026-12-20T10:00:00"}
    response = await client.post(
        f"/api/v1/shared-resources/{hall}/bookings", json=naive, headers=world.h("neighbour")
    )
    assert response.status == 422
    assert "须带时区" in (await error_of(response))["message"]

    # a phone a minute behind the server books "now": inside the grace, accepted
    assert (await book(client, world, hall, start_in=-MINUTE, length=HOUR)).status == 201


async def test_nobody_books_their_own_resource(client: TestClient, world: World) -> None:
    resource = await shared(client, world)
    response = await book(client, world, resource, "resident")
    assert response.status == 403
    assert (await error_of(response))["message"] == "不能预约自己发布的共享"
    # a local unit's resource is answered for by every secretary of the community
    hall = await shared(client, world, "secretary", **HALL)
    assert (await book(client, world, hall, "secretary", length=HOUR)).status == 403


async def test_an_item_with_approval_goes_requested_approved_picked_up_returned(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world)
    body = await booked(client, world, resource)
    booking = body["id"]
    assert (body["status"], body["status_label"], body["overdue"]) == ("requested", "待同意", False)
    assert await outbox() == [("booking_requested", world.ids["resident"])]
    row = await OutboxMessage.get(kind="booking_requested")
    assert row.payload["text"].startswith("neighbour想预约您共享的“铝合金折叠梯”")
    assert row.payload["link"] == f"/pages/sharing/booking?id={booking}"

    # only the owner answers; the borrower cannot approve their own request
    response = await act(client, world, "neighbour", booking, "approve")
    assert response.status == 403
    assert (await error_of(response))["message"] == "只有物主可以同意"
    response = await act(client, world, "resident", booking, "approve")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "approved"
    assert (await outbox())[-1] == ("booking_approved", world.ids["neighbour"])
    approved = await OutboxMessage.get(kind="booking_approved")
    assert approved.payload["text"].endswith("物主已同意，请到阳光小区3号楼2单元502取用。")

    for action, status in (("pick_up", "picked_up"), ("return", "returned")):
        response = await act(client, world, "resident", booking, action)
        assert response.status == 200, await response.text()
        assert (await response.json())["status"] == status
    assert await events(booking) == [
        ("book", None, "requested"),
        ("approve", "requested", "approved"),
        ("pick_up", "approved", "picked_up"),
        ("return", "picked_up", "returned"),
    ]
    # hand-over and return are the owner's own acts: nobody else needs a message
    assert len(await outbox()) == 2

    response = await client.get(f"/api/v1/bookings/{booking}", headers=world.h("neighbour"))
    detail = await response.json()
    assert [e["action"] for e in detail["events"]] == ["book", "approve", "pick_up", "return"]
    assert detail["events"][1]["actor_name"] == "resident"
    for who in ("third", "outsider", "secretary"):  # not theirs: they learn nothing
        response = await client.get(f"/api/v1/bookings/{booking}", headers=world.h(who))
        assert response.status == 404


async def test_a_space_without_approval_is_booked_at_once_and_its_unit_hears_of_it(
    client: TestClient, world: World
) -> None:
    hall = await shared(client, world, "secretary", **HALL)
    body = await booked(client, world, hall, length=2 * HOUR)
    assert body["status"] == "approved"
    assert await outbox() == [("booking_created", world.ids["secretary"])]
    assert await events(body["id"]) == [("book", None, "approved")]

    # a space is not handed over: picking it up is illegal, returning ends the booking
    response = await act(client, world, "secretary", body["id"], "pick_up")
    assert response.status == 409
    error = await error_of(response)
    assert error["code"] == "illegal_transition"
    assert error["details"] == {"status": "approved", "action": "pick_up"}
    response = await act(client, world, "secretary", body["id"], "return")
    assert (await response.json())["status"] == "returned"

    response = await client.get(
        "/api/v1/bookings", params={"role": "owner"}, headers=world.h("secretary")
    )
    assert [b["id"] for b in (await response.json())["items"]] == [body["id"]]


async def test_illegal_transitions_answer_409_with_the_current_state(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world)
    booking = (await booked(client, world, resource))["id"]
    response = await act(client, world, "resident", booking, "pick_up")
    assert response.status == 409
    error = await error_of(response)
    assert error["message"] == "预约当前为“待同意”，不能确认取用"
    assert error["details"] == {"status": "requested", "action": "pick_up"}

    assert (await act(client, world, "resident", booking, "reject", "这几天自己要用")).status == 200
    rejected = await OutboxMessage.get(kind="booking_rejected")
    assert rejected.recipient_id == world.ids["neighbour"]
    assert rejected.payload["text"].endswith("物主未同意：这几天自己要用")
    for who, action in (("resident", "approve"), ("neighbour", "cancel"), ("resident", "return")):
        response = await act(client, world, who, booking, action)
        assert response.status == 409
        assert (await error_of(response))["details"]["status"] == "rejected"
    assert await events(booking) == [
        ("book", None, "requested"),
        ("reject", "requested", "rejected"),
    ]


async def test_overlapping_bookings_conflict_and_freed_slots_can_be_booked_again(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world)
    first = await booked(client, world, resource, start_in=DAY, length=2 * DAY)

    response = await book(client, world, resource, "third", start_in=2 * DAY, length=DAY)
    assert response.status == 409
    error = await error_of(response)
    assert error["code"] == "booking_conflict"
    assert error["message"].startswith("该时段已被预约（")
    assert error["details"]["start_at"] == dt.datetime.fromisoformat(first["start_at"]).isoformat()

    # [start, end): a booking may begin at the very moment the other ends
    end = dt.datetime.fromisoformat(first["end_at"])
    response = await client.post(
        f"/api/v1/shared-resources/{resource}/bookings",
        json={"start_at": end.isoformat(), "end_at": (end + DAY).isoformat()},
        headers=world.h("third"),
    )
    assert response.status == 201, await response.text()

    # the borrower cancels before the start: the owner is told and the slot is free again
    response = await act(client, world, "neighbour", first["id"], "cancel", "计划有变")
    assert response.status == 200
    cancelled = await OutboxMessage.get(kind="booking_cancelled")
    assert cancelled.recipient_id == world.ids["resident"]
    assert cancelled.payload["text"].endswith("的预约：计划有变")
    assert (
        await book(client, world, resource, "volunteer", start_in=2 * DAY, length=DAY - HOUR)
    ).status == 201


async def test_only_the_borrower_cancels_and_only_before_the_start(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world, needs_approval=False)
    booking = (await booked(client, world, resource, start_in=HOUR, length=DAY))["id"]
    response = await act(client, world, "resident", booking, "cancel")
    assert response.status == 403
    assert (await error_of(response))["message"] == "只有借用人可以取消"

    row = await Booking.get(id=booking)
    principal = await load_principal(person_id=world.ids["neighbour"])
    with pytest.raises(BookingStarted) as raised:
        await service.transition(
            principal=principal,
            booking_id=booking,
            action=BookingAction.CANCEL,
            note="",
            now=row.start_at + MINUTE,
            timezone="Asia/Shanghai",
        )
    assert raised.value.status == 409
    assert raised.value.message == "预约已开始，不能取消；请联系物主"
    assert (await Booking.get(id=booking)).status is BookingStatus.APPROVED
    assert await events(booking) == [("book", None, "approved")]


async def test_a_booking_past_its_end_and_not_returned_shows_overdue(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world, needs_approval=False)
    now = utcnow()
    earlier = now - 3 * DAY
    principal = await load_principal(person_id=world.ids["neighbour"])
    view = await service.book(
        principal=principal,
        resource_id=resource,
        body=schemas.BookingIn(start_at=earlier + HOUR, end_at=now - HOUR),
        now=earlier,
        timezone="Asia/Shanghai",
    )
    url = f"/api/v1/bookings/{view.booking.id}"
    assert (await (await client.get(url, headers=world.h("neighbour"))).json())["overdue"] is False
    assert (await act(client, world, "resident", view.booking.id, "pick_up")).status == 200
    body = await (await client.get(url, headers=world.h("resident"))).json()
    assert (body["status"], body["overdue"]) == ("picked_up", True)
    assert (await act(client, world, "resident", view.booking.id, "return")).status == 200
    assert (await (await client.get(url, headers=world.h("neighbour"))).json())["overdue"] is False


BORROWERS = ("neighbour", "third", "volunteer", "member")
RACERS = 8


async def test_of_many_overlapping_bookings_at_once_exactly_one_wins(
    client: TestClient, world: World
) -> None:
    """Real concurrent requests: on PostgreSQL each runs in its own transaction on its own
    connection, and only the lock on the resource's row keeps two of them from both passing the
    overlap check; on SQLite the write transactions queue up."""
    resource = await shared(client, world, needs_approval=False)
    base = utcnow() + DAY

    async def attempt(index: int) -> tuple[int, dict]:
        start = base + index * 10 * MINUTE  # every window overlaps every other
        response = await client.post(
            f"/api/v1/shared-resources/{resource}/bookings",
            json={
                "start_at": start.isoformat(),
                "end_at": (start + 2 * DAY).isoformat(),
            },
            headers=world.h(BORROWERS[index % len(BORROWERS)]),
        )
        return response.status, await response.json()

    results = await asyncio.gather(*(attempt(i) for i in range(RACERS)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1), (ON_POSTGRES, results)
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "booking_conflict"
            assert "该时段已被预约" in body["error"]["message"]
    assert await Booking.filter(resource_id=resource).count() == 1
    assert await OutboxMessage.filter(kind="booking_created").count() == 1


async def test_lists_of_my_bookings_page_newest_first(client: TestClient, world: World) -> None:
    resource = await shared(client, world, needs_approval=False)
    ids = [
        (await booked(client, world, resource, start_in=i * 4 * DAY + DAY, length=DAY))["id"]
        for i in range(3)
    ]
    response = await client.get(
        "/api/v1/bookings", params={"limit": "2"}, headers=world.h("neighbour")
    )
    first = await response.json()
    assert [b["id"] for b in first["items"]] == [ids[2], ids[1]]
    response = await client.get(
        "/api/v1/bookings",
        params={"limit": "2", "cursor": first["next_cursor"]},
        headers=world.h("neighbour"),
    )
    assert [b["id"] for b in (await response.json())["items"]] == [ids[0]]
    response = await client.get(
        "/api/v1/bookings", params={"role": "owner"}, headers=world.h("resident")
    )
    assert [b["borrower_name"] for b in (await response.json())["items"]] == ["neighbour"] * 3
    response = await client.get("/api/v1/bookings", headers=world.h("third"))
    assert (await response.json())["items"] == []
    response = await client.get(
        "/api/v1/bookings", params={"cursor": "???"}, headers=world.h("third")
    )
    assert response.status == 422
    assert window(DAY, HOUR)["start_at"].endswith("+08:00")


async def test_of_many_overlapping_service_calls_at_once_exactly_one_wins(
    client: TestClient, world: World
) -> None:
    """The same race without HTTP in between: the calls reach the overlap check together."""
    resource = await shared(client, world, needs_approval=False)
    base = utcnow() + DAY
    principals = [await load_principal(person_id=world.ids[who]) for who in BORROWERS]

    async def attempt(index: int) -> str:
        start = base + index * 10 * MINUTE
        try:
            await service.book(
                principal=principals[index % len(principals)],
                resource_id=resource,
                body=schemas.BookingIn(start_at=start, end_at=start + 2 * DAY),
                now=utcnow(),
                timezone="Asia/Shanghai",
            )
        except service.BookingConflict:
            return "conflict"
        return "booked"

    results = await asyncio.gather(*(attempt(i) for i in range(RACERS)))

    assert sorted(results) == ["booked"] + ["conflict"] * (RACERS - 1)
    assert await Booking.filter(resource_id=resource).count() == 1
    assert await BookingEvent.all().count() == 1
