"""The passbook as phones and the secretary's console use it, over HTTP."""

from __future__ import annotations

from decimal import Decimal

from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Role
from server.passbook.models import HoursClaim
from server.passbook.service import credit_pending_hours
from tests.builders import add_person, auth, login
from tests.passbook.support import Scene, assert_reconciled, build_scene

D = Decimal


async def credit(scene: Scene, person_id: int, hours: str, source_id: int, **kw: object) -> int:
    await credit_pending_hours(
        volunteer_id=person_id,
        community_id=scene.community_id,
        hours=D(hours),
        source_kind="task",
        source_id=source_id,
        **kw,  # type: ignore[arg-type]
    )
    return (await HoursClaim.get(source_id=source_id, person_id=person_id)).id


async def test_secretary_lists_approves_and_rejects_pending_hours(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    ids = [await credit(scene, scene.alice.id, "1.5", n) for n in range(1, 6)]
    secretary = auth(await login(client, mock_wechat, "test-secretary"))
    base = f"/api/v1/communities/{scene.community_id}/hours"

    page = await (await client.get(base, params={"limit": "3"}, headers=secretary)).json()
    assert [c["id"] for c in page["items"]] == ids[:3]
    assert page["items"][0]["person_name"] == "alice"
    assert page["items"][0]["hours"] == "1.50"
    assert page["items"][0]["status_label"] == "待审核"
    assert page["total_hours"] == "7.50"
    rest = await client.get(
        base, params={"limit": "3", "cursor": str(page["next_cursor"])}, headers=secretary
    )
    assert [c["id"] for c in (await rest.json())["items"]] == ids[3:]

    response = await client.post(f"{base}/approve", json={"ids": ids[:2]}, headers=secretary)
    assert response.status == 200
    assert await response.json() == {"approved": ids[:2], "skipped": []}
    response = await client.post(
        f"{base}/{ids[2]}/reject", json={"reason": "当天未签到"}, headers=secretary
    )
    assert response.status == 200
    assert (await response.json())["status"] == "rejected"
    again = await client.post(
        f"{base}/{ids[2]}/reject", json={"reason": "当天未签到"}, headers=secretary
    )
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "hours_not_pending"

    approved = await client.get(base, params={"status": "approved"}, headers=secretary)
    assert [c["id"] for c in (await approved.json())["items"]] == ids[:2]

    volunteer = auth(await login(client, mock_wechat, "test-alice"))
    assert (await client.get(base, headers=volunteer)).status == 403
    denied = await client.post(f"{base}/approve", json={"ids": ids[3:]}, headers=volunteer)
    assert denied.status == 403
    empty = await client.post(f"{base}/approve", json={"ids": []}, headers=secretary)
    assert empty.status == 422
    await assert_reconciled()


async def test_my_passbook_shows_balance_months_movements_and_level(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    secretary = auth(await login(client, mock_wechat, "test-secretary"))
    approve = [await credit(scene, scene.alice.id, "6", n, rating=5) for n in (1, 2)]
    pending = await credit(scene, scene.alice.id, "0.75", 3)
    await client.post(
        f"/api/v1/communities/{scene.community_id}/hours/approve",
        json={"ids": approve},
        headers=secretary,
    )
    alice = auth(await login(client, mock_wechat, "test-alice"))
    gift = await client.post(
        "/api/v1/passbook/gifts",
        json={
            "community_id": scene.community_id,
            "hours": "2.5",
            "to_person_id": scene.resident.id,
            "note": "谢谢邻居",
        },
        headers=alice,
    )
    assert gift.status == 201, await gift.text()
    assert (await gift.json())["balance"] == "9.50"
    to_pool = await client.post(
        "/api/v1/passbook/gifts",
        json={"community_id": scene.community_id, "hours": 1},
        headers=alice,
    )
    assert to_pool.status == 201

    response = await client.get("/api/v1/passbook/me", headers=alice)  # default community
    assert response.status == 200, await response.text()
    book = await response.json()
    assert book["community_id"] == scene.community_id
    assert book["balance"] == "8.50"
    assert book["pending_hours"] == "0.75"
    assert book["approved_hours"] == "12.00"
    assert book["points"] == 2 * 65  # 6 h × 10 + 5 for five stars, twice
    assert book["level"] == {
        "stars": 1,
        "title": "一星志愿者",
        "next_title": "二星志愿者",
        "hours_to_next": "38.00",
    }
    assert len(book["months"]) == 1
    month = book["months"][0]
    assert (month["deposited"], month["received"], month["given"], month["closing_balance"]) == (
        "12.00",
        "0.00",
        "3.50",
        "8.50",
    )
    movements = [(m["kind"], m["amount"], m["counterparty"]) for m in book["movements"]]
    assert movements == [
        ("gift", "-1.00", "社区公益时间池"),
        ("gift", "-2.50", "resident"),
        ("approve", "6.00", "服务任务"),
        ("approve", "6.00", "服务任务"),
    ]
    assert [c["id"] for c in book["pending"]] == [pending]

    neighbour = auth(await login(client, mock_wechat, "test-resident"))
    theirs = await (
        await client.get(
            "/api/v1/passbook/me",
            params={"community_id": str(scene.community_id)},
            headers=neighbour,
        )
    ).json()
    assert theirs["balance"] == "2.50"
    assert theirs["months"][0]["received"] == "2.50"
    assert theirs["movements"][0]["counterparty"] == "alice"
    assert theirs["level"]["stars"] == 0  # gifts received do not make a level
    await assert_reconciled()


async def test_gift_errors_are_clear(client: TestClient, mock_wechat: TestServer) -> None:
    scene = await build_scene()
    alice = auth(await login(client, mock_wechat, "test-alice"))
    body = {"community_id": scene.community_id, "hours": "1", "to_person_id": scene.bob.id}
    overdraw = await client.post("/api/v1/passbook/gifts", json=body, headers=alice)
    assert overdraw.status == 409
    error = (await overdraw.json())["error"]
    assert error["code"] == "insufficient_hours"
    assert "余额不足" in error["message"]
    too_fine = await client.post(
        "/api/v1/passbook/gifts", json={**body, "hours": "0.001"}, headers=alice
    )
    assert too_fine.status == 422
    to_self = await client.post(
        "/api/v1/passbook/gifts", json={**body, "to_person_id": scene.alice.id}, headers=alice
    )
    assert to_self.status == 422


async def test_staff_see_a_volunteers_passbook_within_their_place(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    town = scene.town
    await credit(scene, scene.alice.id, "2", 1)
    await add_person(town, "gridder", Role.GRID_MEMBER, grid=town.buildings[0])  # alice's
    await add_person(town, "other-gridder", Role.GRID_MEMBER, grid=town.buildings[1])
    url = f"/api/v1/communities/{scene.community_id}/passbooks/{scene.alice.id}"
    for openid, status in (
        ("test-secretary", 200),
        ("test-gridder", 200),
        ("test-other-gridder", 403),
        ("test-bob", 403),
        ("test-outsider", 403),
    ):
        response = await client.get(url, headers=auth(await login(client, mock_wechat, openid)))
        assert response.status == status, openid
        if status == 200:
            assert (await response.json())["pending_hours"] == "2.00"
    secretary = auth(await login(client, mock_wechat, "test-secretary"))
    stranger = f"/api/v1/communities/{scene.community_id}/passbooks/{scene.outsider.id}"
    assert (await client.get(stranger, headers=secretary)).status == 404


async def test_policy_and_rules_are_the_leaders_to_change(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    secretary = auth(await login(client, mock_wechat, "test-secretary"))
    volunteer = auth(await login(client, mock_wechat, "test-alice"))
    policy_url = f"/api/v1/communities/{scene.community_id}/passbook/policy"
    rules_url = f"/api/v1/communities/{scene.community_id}/points/rules"
    assert await (await client.get(policy_url, headers=volunteer)).json() == {
        "auto_approve_rated": False,
        "allow_negative_balance": False,
    }
    assert (
        await client.patch(policy_url, json={"auto_approve_rated": True}, headers=volunteer)
    ).status == 403
    changed = await client.patch(policy_url, json={"auto_approve_rated": True}, headers=secretary)
    assert await changed.json() == {"auto_approve_rated": True, "allow_negative_balance": False}

    rules = await (await client.get(rules_url, headers=volunteer)).json()
    assert rules["points_per_hour"] == 10 and rules["bonus_five_star"] == 5
    assert (
        await client.patch(rules_url, json={"points_per_hour": 20}, headers=volunteer)
    ).status == 403
    response = await client.patch(rules_url, json={"points_per_hour": 20}, headers=secretary)
    assert (await response.json())["points_per_hour"] == 20

    # auto-approval is now on, and the new rule prices the hours
    await credit(scene, scene.alice.id, "1", 1, rating=5)
    book = await (await client.get("/api/v1/passbook/me", headers=volunteer)).json()
    assert (book["balance"], book["points"]) == ("1.00", 25)

    levels = await (await client.get("/api/v1/volunteer-levels", headers=volunteer)).json()
    assert [(lv["stars"], lv["min_hours"]) for lv in levels["levels"]] == [
        (1, "10"),
        (2, "50"),
        (3, "100"),
        (4, "300"),
        (5, "500"),
    ]
    missing = await client.get("/api/v1/communities/999999/passbook/policy", headers=volunteer)
    assert missing.status == 404
