"""Activities over HTTP: publish, edit, cancel, sign up, withdraw, the waitlist and the lists."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient

from server.activities.models import ActivityEvent, ActivitySignup, SignupStatus
from server.core.clock import utcnow
from server.notify.models import OutboxMessage
from tests.activities.conftest import World, activity_body, move_activity, publish, sign_up


async def test_only_the_communitys_secretary_publishes(client: TestClient, world: World) -> None:
    url = f"/api/v1/communities/{world.community_id}/activities"
    for who in ("v1", "member", "resident", "other_secretary"):
        response = await client.post(url, json=activity_body(), headers=world.h(who))
        assert response.status == 403, who
        assert (await response.json())["error"]["code"] == "permission_denied"

    created = await publish(client, world, skills=["环境清洁"])
    assert created["status"] == "published" and created["status_label"] == "已发布"
    assert created["hours"] == "2.50"  # 2 h 30 min, as long as it lasts
    assert (created["capacity"], created["confirmed"], created["places_left"]) == (3, 0, 3)
    assert created["signup_deadline"] == created["starts_at"]  # default: until the start
    events = await ActivityEvent.filter(activity_id=created["id"])
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("publish", "", "published")
    ]
    assert events[0].actor_id == world.ids["secretary"]

    # a long day earns the cap, not its length
    start = utcnow() + dt.timedelta(days=3)
    long_day = await publish(
        client,
        world,
        starts_at=start.isoformat(),
        ends_at=(start + dt.timedelta(hours=10)).isoformat(),
    )
    assert long_day["hours"] == "8.00"


async def test_grid_members_read_their_communitys_activities_and_outsiders_do_not(
    client: TestClient, world: World
) -> None:
    activity = await publish(client, world, title="政策宣讲")
    url = f"/api/v1/communities/{world.community_id}/activities"

    # 网格员 organise and promote the community's activities: they read the list and the detail
    response = await client.get(url, headers=world.h("member"))
    assert response.status == 200, await response.text()
    items = (await response.json())["items"]
    assert [(i["id"], i["title"], i["my_signup"]) for i in items] == [
        (activity["id"], "政策宣讲", None)
    ]
    response = await client.get(f"/api/v1/activities/{activity['id']}", headers=world.h("member"))
    assert response.status == 200
    body = await response.json()
    assert body["activity"]["places_left"] == 3
    assert body["events"] == []  # the audit rows stay the secretary's

    # people of another community, grid member or resident, get what they got before
    for who in ("other_member", "other_resident"):
        response = await client.get(url, headers=world.h(who))
        assert response.status == 403, who
        assert (await response.json())["error"]["code"] == "permission_denied"
        response = await client.get(f"/api/v1/activities/{activity['id']}", headers=world.h(who))
        assert response.status == 404, who


async def test_grid_members_still_manage_no_activity(client: TestClient, world: World) -> None:
    activity = await publish(client, world)
    base = f"/api/v1/activities/{activity['id']}"
    attempts = (
        ("PATCH", "", {"title": "网格员改的标题"}),
        ("POST", "/cancel", {"reason": "网格员取消"}),
        ("GET", "/roster", None),
        ("GET", "/checkin-code", None),
        ("POST", "/checkin-code/rotate", None),
        ("POST", "/attendance", {"volunteer_id": world.ids["v1"], "attended": True}),
        ("POST", "/close", None),
        ("POST", "/signup", None),
    )
    for method, path, body in attempts:
        response = await client.request(method, base + path, json=body, headers=world.h("member"))
        assert response.status == 404, (method, path)  # as before they could read activities

    response = await client.get(base, headers=world.h("secretary"))
    detail = await response.json()
    assert detail["activity"]["title"] == "社区环境清洁日"
    assert detail["activity"]["status"] == "published"
    assert [e["action"] for e in detail["events"]] == ["publish"]
    assert await ActivitySignup.filter(activity_id=activity["id"]).count() == 0


async def test_bad_activities_are_refused_with_the_field_named(
    client: TestClient, world: World
) -> None:
    url = f"/api/v1/communities/{world.community_id}/activities"
    start = utcnow() + dt.timedelta(days=1)
    cases = [
        (
            {
                "ends_at": (start - dt.timedelta(hours=1)).isoformat(),
                "starts_at": start.isoformat(),
            },
            "ends_at",
        ),
        (
            {
                "starts_at": (utcnow() - dt.timedelta(hours=1)).isoformat(),
                "ends_at": (utcnow() + dt.timedelta(hours=1)).isoformat(),
            },
            "starts_at",
        ),
        ({"skills": ["会飞"]}, "skills"),
        ({"hours": "3"}, "hours"),  # longer than the activity (2.5 h)
        ({"hours": "1.2"}, "hours"),  # not half hours
        ({"signup_deadline": (utcnow() + dt.timedelta(days=5)).isoformat()}, "signup_deadline"),
        ({"starts_at": "2026-12-05T09:00:00"}, "starts_at"),  # no time zone
        ({"capacity": 0}, "capacity"),
        ({"lat": 44.5, "lng": None}, None),
    ]
    for changes, field in cases:
        response = await client.post(
            url, json=activity_body(**changes), headers=world.h("secretary")
        )
        body = await response.json()
        assert response.status == 422, (changes, body)
        assert body["error"]["code"] == "validation_error"
        if field:
            assert field in str(body["error"]["details"]), (changes, body)
        assert body["error"]["message"]  # Chinese, for the secretary's phone


async def test_sign_up_waitlist_withdraw_and_promotion_in_order(
    client: TestClient, world: World
) -> None:
    activity = await publish(client, world, capacity=2)
    aid = activity["id"]
    for who in ("v1", "v2", "v3", "v4", "v5"):
        await sign_up(client, world, who, aid)
    mine = {}
    for who in ("v1", "v2", "v3", "v4", "v5"):
        response = await client.get(f"/api/v1/activities/{aid}", headers=world.h(who))
        mine[who] = (await response.json())["activity"]["my_signup"]
    assert [mine[w]["status"] for w in ("v1", "v2")] == ["confirmed", "confirmed"]
    assert [mine[w]["waitlist_position"] for w in ("v3", "v4", "v5")] == [1, 2, 3]
    assert mine["v3"]["status_label"] == "候补中"

    again = await client.post(f"/api/v1/activities/{aid}/signup", headers=world.h("v1"))
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "already_signed_up"

    # v1 withdraws: the first on the waitlist (v3) gets the place and is told, nobody else
    response = await client.post(f"/api/v1/activities/{aid}/withdraw", headers=world.h("v1"))
    assert response.status == 200
    assert (await response.json())["my_signup"]["status"] == "withdrawn"
    promoted = await OutboxMessage.filter(kind="activity_promoted")
    assert [m.recipient_id for m in promoted] == [world.ids["v3"]]
    assert promoted[0].payload["activity_id"] == aid
    signup = await ActivitySignup.get(activity_id=aid, volunteer_id=world.ids["v3"])
    assert signup.status is SignupStatus.CONFIRMED and signup.promoted_at is not None

    # a waitlisted volunteer leaving promotes nobody; the rest move up
    await client.post(f"/api/v1/activities/{aid}/withdraw", headers=world.h("v4"))
    assert await OutboxMessage.filter(kind="activity_promoted").count() == 1
    response = await client.get(f"/api/v1/activities/{aid}", headers=world.h("v5"))
    assert (await response.json())["activity"]["my_signup"]["waitlist_position"] == 1

    # v1 signs up again: to the back of the queue, behind v5
    back = await sign_up(client, world, "v1", aid)
    assert back["my_signup"]["status"] == "waitlisted"
    assert back["my_signup"]["waitlist_position"] == 2

    # the secretary sees both lists, the waitlist in order
    response = await client.get(f"/api/v1/activities/{aid}/roster", headers=world.h("secretary"))
    roster = await response.json()
    assert [p["volunteer_id"] for p in roster["confirmed"]] == [world.ids["v2"], world.ids["v3"]]
    assert [(p["volunteer_id"], p["waitlist_position"]) for p in roster["waitlist"]] == [
        (world.ids["v5"], 1),
        (world.ids["v1"], 2),
    ]
    denied = await client.get(f"/api/v1/activities/{aid}/roster", headers=world.h("v2"))
    assert denied.status == 403

    # a larger capacity fills from the waitlist, first come first served
    response = await client.patch(
        f"/api/v1/activities/{aid}", json={"capacity": 3}, headers=world.h("secretary")
    )
    assert response.status == 200, await response.text()
    promoted = await OutboxMessage.filter(kind="activity_promoted").order_by("id")
    assert [m.recipient_id for m in promoted] == [world.ids["v3"], world.ids["v5"]]


async def test_who_may_sign_up_and_until_when(client: TestClient, world: World) -> None:
    skilled = await publish(client, world, skills=["环境清洁"])
    response = await client.post(
        f"/api/v1/activities/{skilled['id']}/signup", headers=world.h("v4")
    )
    assert response.status == 409
    body = await response.json()
    assert body["error"]["code"] == "skills_required" and "环境清洁" in body["error"]["message"]
    await sign_up(client, world, "v1", skilled["id"])  # v1 cleans

    # a resident of the community sees it but cannot sign up; an outsider does not even see it
    response = await client.post(
        f"/api/v1/activities/{skilled['id']}/signup", headers=world.h("resident")
    )
    assert response.status == 403
    response = await client.post(
        f"/api/v1/activities/{skilled['id']}/signup", headers=world.h("outsider")
    )
    assert response.status == 404
    response = await client.get(f"/api/v1/activities/{skilled['id']}", headers=world.h("outsider"))
    assert response.status == 404

    # after the deadline: closed; withdrawing after the start: refused
    plain = await publish(client, world)
    await sign_up(client, world, "v2", plain["id"])
    await move_activity(
        plain["id"], starts_in=dt.timedelta(minutes=-5), length=dt.timedelta(hours=2)
    )
    response = await client.post(f"/api/v1/activities/{plain['id']}/signup", headers=world.h("v3"))
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "signup_closed"
    response = await client.post(
        f"/api/v1/activities/{plain['id']}/withdraw", headers=world.h("v2")
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "activity_started"
    response = await client.post(
        f"/api/v1/activities/{plain['id']}/withdraw", headers=world.h("v3")
    )
    assert (await response.json())["error"]["code"] == "not_signed_up"


async def test_edit_keeps_an_audit_row_and_tells_signed_up_volunteers(
    client: TestClient, world: World
) -> None:
    activity = await publish(client, world, capacity=1)
    aid = activity["id"]
    await sign_up(client, world, "v1", aid)
    await sign_up(client, world, "v2", aid)  # waitlisted

    denied = await client.patch(
        f"/api/v1/activities/{aid}", json={"title": "改个名"}, headers=world.h("v1")
    )
    assert denied.status == 403
    too_small = await client.patch(
        f"/api/v1/activities/{aid}", json={"capacity": 0}, headers=world.h("secretary")
    )
    assert too_small.status == 422

    new_start = dt.datetime.fromisoformat(activity["starts_at"]) + dt.timedelta(hours=1)
    response = await client.patch(
        f"/api/v1/activities/{aid}",
        json={
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + dt.timedelta(hours=2)).isoformat(),
            "place": "社区活动中心",
            "note": "广场施工",
        },
        headers=world.h("secretary"),
    )
    assert response.status == 200, await response.text()
    edited = await response.json()
    assert edited["place"] == "社区活动中心"
    assert edited["hours"] == "2.00"  # 2.5 h no longer fits a 2-hour activity
    event = await ActivityEvent.get(activity_id=aid, action="edit")
    assert event.actor_id == world.ids["secretary"] and event.note == "广场施工"
    assert event.changes["place"] == ["幸福里社区广场", "社区活动中心"]
    assert set(event.changes) == {"starts_at", "ends_at", "signup_deadline", "place", "hours"}
    changed = await OutboxMessage.filter(kind="activity_changed").order_by("recipient_id")
    assert [m.recipient_id for m in changed] == [world.ids["v1"], world.ids["v2"]]
    assert "社区活动中心" in changed[0].payload["text"]

    # only the description: no notice
    await client.patch(
        f"/api/v1/activities/{aid}", json={"description": "自带扫帚"}, headers=world.h("secretary")
    )
    assert await OutboxMessage.filter(kind="activity_changed").count() == 2

    # the detail shows the secretary the history, volunteers not
    response = await client.get(f"/api/v1/activities/{aid}", headers=world.h("secretary"))
    assert [e["action"] for e in (await response.json())["events"]] == ["publish", "edit", "edit"]
    response = await client.get(f"/api/v1/activities/{aid}", headers=world.h("v1"))
    assert (await response.json())["events"] == []


async def test_cancel_tells_everyone_signed_up_or_waiting(client: TestClient, world: World) -> None:
    activity = await publish(client, world, capacity=1)
    aid = activity["id"]
    await sign_up(client, world, "v1", aid)
    await sign_up(client, world, "v2", aid)
    await sign_up(client, world, "v3", aid)
    await client.post(f"/api/v1/activities/{aid}/withdraw", headers=world.h("v3"))

    denied = await client.post(
        f"/api/v1/activities/{aid}/cancel", json={"reason": "下雨"}, headers=world.h("v1")
    )
    assert denied.status == 403
    response = await client.post(
        f"/api/v1/activities/{aid}/cancel",
        json={"reason": "暴雨预警，改期另行通知"},
        headers=world.h("secretary"),
    )
    assert response.status == 200
    cancelled = await response.json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == (
        "cancelled",
        "暴雨预警，改期另行通知",
    )
    notices = await OutboxMessage.filter(kind="activity_cancelled").order_by("recipient_id")
    assert [m.recipient_id for m in notices] == [world.ids["v1"], world.ids["v2"]]  # not v3
    assert notices[0].payload["reason"] == "暴雨预警，改期另行通知"
    event = await ActivityEvent.get(activity_id=aid, action="cancel")
    assert (event.from_status, event.to_status) == ("published", "cancelled")

    again = await client.post(
        f"/api/v1/activities/{aid}/cancel", json={"reason": "再取消"}, headers=world.h("secretary")
    )
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "activity_state_conflict"
    late = await client.post(f"/api/v1/activities/{aid}/signup", headers=world.h("v4"))
    assert (await late.json())["error"]["code"] == "signup_closed"
    edit = await client.patch(
        f"/api/v1/activities/{aid}", json={"title": "还能改吗"}, headers=world.h("secretary")
    )
    assert edit.status == 409


async def test_lists_for_volunteers(client: TestClient, world: World) -> None:
    later = await publish(client, world, title="政策宣讲")
    start = utcnow() + dt.timedelta(hours=5)
    sooner = await publish(
        client,
        world,
        title="敬老院探访",
        starts_at=start.isoformat(),
        ends_at=(start + dt.timedelta(hours=1)).isoformat(),
    )
    over = await publish(client, world, title="已经结束的活动")
    await move_activity(over["id"], starts_in=dt.timedelta(days=-1), length=dt.timedelta(hours=1))
    await sign_up(client, world, "v1", later["id"])

    response = await client.get(
        f"/api/v1/communities/{world.community_id}/activities", headers=world.h("v1")
    )
    items = (await response.json())["items"]
    assert [i["title"] for i in items] == ["敬老院探访", "政策宣讲"]
    assert items[0]["my_signup"] is None and items[1]["my_signup"]["status"] == "confirmed"
    response = await client.get(
        f"/api/v1/communities/{world.community_id}/activities?scope=past", headers=world.h("v1")
    )
    assert [i["id"] for i in (await response.json())["items"]] == [over["id"]]

    response = await client.get("/api/v1/me/activities", headers=world.h("v1"))
    assert [i["id"] for i in (await response.json())["items"]] == [later["id"]]
    response = await client.get("/api/v1/me/activities", headers=world.h("v2"))
    assert (await response.json())["items"] == []
    response = await client.get(
        f"/api/v1/communities/{world.community_id}/activities?scope=soon", headers=world.h("v1")
    )
    assert response.status == 422
    assert sooner["id"] != later["id"]
