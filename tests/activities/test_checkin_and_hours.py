"""Check-in codes, attendance, closing, and hours through the real time passbook (reconciled)."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from server.activities import service
from server.activities.models import Activity, ActivityEvent, ActivitySignup
from server.passbook.models import Account, ClaimStatus, HoursClaim, SourceKind, Transfer
from tests.activities.conftest import World, add_volunteer, move_activity, publish, sign_up
from tests.conftest import ON_POSTGRES
from tests.passbook.support import assert_reconciled


async def _running_activity(client: TestClient, world: World, *who: str, capacity: int = 3) -> int:
    """An activity that started 10 minutes ago and lasts 2 h, ``who`` signed up before."""
    activity = await publish(client, world, capacity=capacity)
    for key in who:
        await sign_up(client, world, key, activity["id"])
    await move_activity(
        activity["id"], starts_in=dt.timedelta(minutes=-10), length=dt.timedelta(hours=2)
    )
    return int(activity["id"])


async def _code(client: TestClient, world: World, aid: int, *, rotate: bool = False) -> str:
    if rotate:
        response = await client.post(
            f"/api/v1/activities/{aid}/checkin-code/rotate", headers=world.h("secretary")
        )
    else:
        response = await client.get(
            f"/api/v1/activities/{aid}/checkin-code", headers=world.h("secretary")
        )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert len(body["code"]) == 6 and body["code"].isdigit()
    return str(body["code"])


async def _check_in(
    client: TestClient, world: World, who: str, aid: int, code: str
) -> ClientResponse:
    return await client.post(
        f"/api/v1/activities/{aid}/check-in", json={"code": code}, headers=world.h(who)
    )


async def test_check_in_with_the_code(client: TestClient, world: World) -> None:
    aid = await _running_activity(client, world, "v1", "v2", "v3", "v4", capacity=3)
    denied = await client.get(f"/api/v1/activities/{aid}/checkin-code", headers=world.h("v1"))
    assert denied.status == 403
    code = await _code(client, world, aid)
    assert await _code(client, world, aid) == code  # the same code until rotated

    response = await _check_in(client, world, "v1", aid, code)
    assert response.status == 200, await response.text()
    assert (await response.json())["my_signup"]["attended"] is True
    again = await _check_in(client, world, "v1", aid, code)
    assert again.status == 200  # checking in twice is harmless

    wrong = "000000" if code != "000000" else "111111"
    response = await _check_in(client, world, "v2", aid, wrong)
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "wrong_checkin_code"
    assert body["error"]["details"] == {"tries_left": 4}

    # v4 is on the waitlist; v5 never signed up: neither can check in, even with the code
    for who in ("v4", "v5"):
        response = await _check_in(client, world, who, aid, code)
        assert response.status == 409, who
        assert (await response.json())["error"]["code"] == "not_signed_up"

    # a rotated code replaces the old one at once
    new = await _code(client, world, aid, rotate=True)
    if new != code:
        response = await _check_in(client, world, "v2", aid, code)
        assert (await response.json())["error"]["code"] == "wrong_checkin_code"
    response = await _check_in(client, world, "v2", aid, new)
    assert response.status == 200

    # five wrong codes lock the volunteer out; the secretary marks them by hand
    for _ in range(5):
        await _check_in(client, world, "v3", aid, wrong)
    response = await _check_in(client, world, "v3", aid, new)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "checkin_locked"
    response = await client.post(
        f"/api/v1/activities/{aid}/attendance",
        json={"volunteer_id": world.ids["v3"]},
        headers=world.h("secretary"),
    )
    assert response.status == 200
    roster = await response.json()
    assert roster["attended"] == 3
    marked = {p["volunteer_id"]: p["marked_by_secretary"] for p in roster["confirmed"]}
    assert marked == {world.ids["v1"]: False, world.ids["v2"]: False, world.ids["v3"]: True}
    response = await client.post(
        f"/api/v1/activities/{aid}/attendance",
        json={"volunteer_id": world.ids["v4"]},
        headers=world.h("secretary"),
    )
    assert response.status == 404  # waitlisted: no place, no attendance


async def test_check_in_only_within_the_window(client: TestClient, world: World) -> None:
    later = await publish(client, world)  # starts in two days
    await sign_up(client, world, "v1", later["id"])
    code = await _code(client, world, later["id"])
    response = await _check_in(client, world, "v1", later["id"], code)
    assert response.status == 409
    body = await response.json()
    assert body["error"]["code"] == "outside_checkin_window"
    assert set(body["error"]["details"]) == {"opens_at", "closes_at"}
    response = await client.post(
        f"/api/v1/activities/{later['id']}/attendance",
        json={"volunteer_id": world.ids["v1"]},
        headers=world.h("secretary"),
    )
    assert (await response.json())["error"]["code"] == "activity_not_started"

    # 20 minutes before the start the window is open (it opens 30 minutes before)
    soon = await publish(client, world)
    await sign_up(client, world, "v2", soon["id"])
    await move_activity(
        soon["id"], starts_in=dt.timedelta(minutes=20), length=dt.timedelta(hours=1)
    )
    response = await _check_in(
        client, world, "v2", soon["id"], await _code(client, world, soon["id"])
    )
    assert response.status == 200

    # over for more than the grace: the window and the code are gone
    over = await publish(client, world)
    await sign_up(client, world, "v3", over["id"])
    code = await _code(client, world, over["id"])
    await move_activity(over["id"], starts_in=dt.timedelta(hours=-3), length=dt.timedelta(hours=2))
    response = await _check_in(client, world, "v3", over["id"], code)
    assert (await response.json())["error"]["code"] == "outside_checkin_window"
    response = await client.get(
        f"/api/v1/activities/{over['id']}/checkin-code", headers=world.h("secretary")
    )
    assert response.status == 409


async def test_closing_credits_attendees_once_through_the_ledger(
    client: TestClient, world: World
) -> None:
    early = await publish(client, world)
    response = await client.post(
        f"/api/v1/activities/{early['id']}/close", headers=world.h("secretary")
    )
    assert (await response.json())["error"]["code"] == "activity_not_started"

    aid = await _running_activity(client, world, "v1", "v2", "v3")
    code = await _code(client, world, aid)
    await _check_in(client, world, "v1", aid, code)
    await client.post(
        f"/api/v1/activities/{aid}/attendance",
        json={"volunteer_id": world.ids["v2"]},
        headers=world.h("secretary"),
    )  # v3 signed up but never came
    denied = await client.post(f"/api/v1/activities/{aid}/close", headers=world.h("v1"))
    assert denied.status == 403

    response = await client.post(f"/api/v1/activities/{aid}/close", headers=world.h("secretary"))
    assert response.status == 200, await response.text()
    closed = await response.json()
    assert (closed["credited"], closed["attended"], closed["hours_each"]) == (2, 2, "2.50")
    assert closed["activity"]["status"] == "closed"
    response = await client.post(f"/api/v1/activities/{aid}/close", headers=world.h("secretary"))
    assert response.status == 200
    assert (await response.json())["credited"] == 0  # closing again credits nothing

    claims = await HoursClaim.filter(source_kind=SourceKind.ACTIVITY, source_id=aid).order_by(
        "person_id"
    )
    assert [(c.person_id, Decimal(c.hours), c.status) for c in claims] == [
        (world.ids["v1"], Decimal("2.50"), ClaimStatus.PENDING),
        (world.ids["v2"], Decimal("2.50"), ClaimStatus.PENDING),
    ]
    assert await Transfer.filter(claim_id__in=[c.id for c in claims]).count() == 2
    pending = await Account.get(community_id=world.community_id, key="pending")
    assert Decimal(pending.balance) == Decimal("5.00")
    assert [e.action for e in await ActivityEvent.filter(activity_id=aid).order_by("id")] == [
        "publish",
        "close",
    ]
    await assert_reconciled()

    # the secretary approves them as any hours: they land in the volunteers' passbooks
    response = await client.post(
        f"/api/v1/communities/{world.community_id}/hours/approve",
        json={"ids": [c.id for c in claims]},
        headers=world.h("secretary"),
    )
    assert response.status == 200, await response.text()
    response = await client.get("/api/v1/passbook/me", headers=world.h("v1"))
    passbook = await response.json()
    assert passbook["balance"] == "2.50"
    assert passbook["movements"][0]["counterparty"] == "志愿活动"
    await assert_reconciled()

    # closed: no more check-ins, attendance or cancellation
    response = await _check_in(client, world, "v3", aid, code)
    assert response.status == 409
    response = await client.post(
        f"/api/v1/activities/{aid}/cancel", json={"reason": "太晚了"}, headers=world.h("secretary")
    )
    assert response.status == 409


async def test_activities_close_by_themselves_a_day_after_the_end(
    client: TestClient, world: World
) -> None:
    aid = await _running_activity(client, world, "v1", "v2")
    await _check_in(client, world, "v1", aid, await _code(client, world, aid))
    end = (await Activity.get(id=aid)).ends_at
    assert await service.close_due(now=end + dt.timedelta(hours=23)) == 0
    results = await asyncio.gather(
        service.close_due(now=end + dt.timedelta(hours=25)),
        service.close_due(now=end + dt.timedelta(hours=25)),
    )
    assert sorted(results) == [0, 1]
    event = await ActivityEvent.get(activity_id=aid, action="close")
    assert event.actor_id is None and event.note == "结束后自动关闭"
    claims = await HoursClaim.filter(source_kind=SourceKind.ACTIVITY, source_id=aid)
    assert [c.person_id for c in claims] == [world.ids["v1"]]
    await assert_reconciled()


@pytest.mark.skipif(not ON_POSTGRES, reason="real concurrent transactions need PostgreSQL")
async def test_two_closes_at_once_credit_once(client: TestClient, world: World) -> None:
    aid = await _running_activity(client, world, "v1", "v2", "v3")
    code = await _code(client, world, aid)
    for who in ("v1", "v2", "v3"):
        await _check_in(client, world, who, aid, code)
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/activities/{aid}/close", headers=world.h("secretary"))
            for _ in range(4)
        )
    )
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [200] * 4
    assert sorted(b["credited"] for b in bodies) == [0, 0, 0, 3]
    assert await HoursClaim.filter(source_kind=SourceKind.ACTIVITY, source_id=aid).count() == 3
    assert await ActivityEvent.filter(activity_id=aid, action="close").count() == 1
    await assert_reconciled()


async def test_capacity_holds_under_twenty_simultaneous_sign_ups(
    client: TestClient, world: World, mock_wechat: TestServer
) -> None:
    """20 volunteers press 报名 at once for 5 places: exactly 5 get one, 15 wait in order.

    On PostgreSQL these are 20 concurrent transactions queueing on the activity's row lock; on
    SQLite its single writer serialises them (the test then checks the same outcome).
    """
    racers = [f"r{i:02d}" for i in range(20)]
    for key in racers:
        await add_volunteer(client, mock_wechat, world, key, ["环境清洁"])
    activity = await publish(client, world, capacity=5)
    aid = activity["id"]
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/activities/{aid}/signup", headers=world.h(k)) for k in racers)
    )
    assert [r.status for r in responses] == [200] * 20
    signups = await ActivitySignup.filter(activity_id=aid).order_by("signed_up_at", "id")
    statuses = [s.status.value for s in signups]
    assert statuses.count("confirmed") == 5 and statuses.count("waitlisted") == 15
    response = await client.get(f"/api/v1/activities/{aid}/roster", headers=world.h("secretary"))
    roster = await response.json()
    assert len(roster["confirmed"]) == 5
    assert [p["waitlist_position"] for p in roster["waitlist"]] == list(range(1, 16))
    assert roster["activity"]["places_left"] == 0

    # three with a place withdraw at once: the first three waiting get them, in order
    leaving = [s.volunteer_id for s in signups if s.status.value == "confirmed"][:3]
    keys = {world.ids[k]: k for k in racers}
    waiting = [p["volunteer_id"] for p in roster["waitlist"]]
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/activities/{aid}/withdraw", headers=world.h(keys[pid]))
            for pid in leaving
        )
    )
    assert [r.status for r in responses] == [200] * 3
    response = await client.get(f"/api/v1/activities/{aid}/roster", headers=world.h("secretary"))
    roster = await response.json()
    assert len(roster["confirmed"]) == 5
    assert set(waiting[:3]) <= {p["volunteer_id"] for p in roster["confirmed"]}
    assert [p["volunteer_id"] for p in roster["waitlist"]] == waiting[3:]
