"""From a resident's phone to the grid member's WeCom and back, through the real API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.accounts.models import Role
from server.notify.models import InboxItem
from server.notify.service import set_wecom_user
from tests.builders import add_person, auth, build_town, login
from tests.notify.conftest import Bot, Platform

TEMPLATE = "tpl-need-status"


async def test_a_need_travels_to_the_grid_member_and_its_acceptance_back_to_the_resident(
    client: TestClient, platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    member = await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await set_wecom_user(person_id=member.id, userid="wanggeyuan")
    resident_token = await login(client, platform.server, "test-resident")
    member_token = await login(client, platform.server, "test-member")
    # the phone asks for consent before submitting, and reports the answer
    await platform.consent("test-resident", TEMPLATE)
    response = await client.post(
        "/api/v1/notify/consents",
        json={"results": {TEMPLATE: "accept"}},
        headers=auth(resident_token),
    )
    assert response.status == 200
    response = await client.post(
        "/api/v1/needs",
        json={
            "category": "daily_life",
            "title": "楼道灯坏了",
            "description": "三楼楼道灯不亮，晚上老人上下楼看不清。",
            "urgency": "urgent",
        },
        headers=auth(resident_token),
    )
    assert response.status == 201, await response.text()
    need_id = (await response.json())["need"]["id"]

    await bot.run()

    wecom = await platform.accepted("wecom_app")
    assert [r["request"]["body"]["touser"] for r in wecom] == ["wanggeyuan"]
    assert "楼道灯坏了" in wecom[0]["request"]["body"]["markdown"]["content"]

    response = await client.post(
        f"/api/v1/needs/{need_id}/triage", json={"action": "accept"}, headers=auth(member_token)
    )
    assert response.status == 200, await response.text()
    await bot.run()

    sent = await platform.accepted("subscribe_send")
    assert len(sent) == 1
    data = sent[0]["request"]["body"]["data"]
    assert (data["thing1"]["value"], data["phrase2"]["value"]) == ("楼道灯坏了", "已受理")
    inbox = await (await client.get("/api/v1/inbox", headers=auth(resident_token))).json()
    assert inbox["unread"] == 1
    assert inbox["items"][0]["link"] == f"/pages/needs/detail?id={need_id}"
    assert await InboxItem.filter(person_id=member.id).count() == 1
