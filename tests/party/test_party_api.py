"""双报到 over HTTP: registration, the yearly expectation, my progress, the secretary's list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aiohttp.test_utils import TestClient

from server.core.clock import utcnow
from server.party.models import PartyRegistration
from server.party.service import local_today
from tests.party.conftest import World, register, serve


async def test_who_may_register_and_only_once(client: TestClient, world: World) -> None:
    created = await register(client, world, "p1")
    assert created["status"] == "active" and created["status_label"] == "已报到"
    assert created["registered_on"] == local_today(utcnow()).isoformat()
    assert (created["work_unit"], created["party_branch"]) == ("市税务局", "市税务局第一党支部")
    assert created["community_name"] == "测试社区"
    assert created["progress"]["year"] == local_today(utcnow()).year

    body = {
        "community_id": world.community_id,
        "work_unit": "市医院",
        "party_branch": "市医院党支部",
    }
    again = await client.post("/api/v1/party/registrations", json=body, headers=world.h("p1"))
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "already_registered"

    not_member = await client.post("/api/v1/party/registrations", json=body, headers=world.h("v1"))
    assert not_member.status == 403
    assert (await not_member.json())["error"]["code"] == "not_party_member"
    # a party member who is not a volunteer of the community, or of another community
    for who in ("resident_member", "other_volunteer"):
        response = await client.post("/api/v1/party/registrations", json=body, headers=world.h(who))
        assert response.status == 403, who
        assert (await response.json())["error"]["code"] == "permission_denied"

    tomorrow = local_today(utcnow()) + dt.timedelta(days=1)
    future = await client.post(
        "/api/v1/party/registrations",
        json={**body, "registered_on": tomorrow.isoformat()},
        headers=world.h("p2"),
    )
    assert future.status == 422
    unknown = await client.post(
        "/api/v1/party/registrations", json={**body, "community_id": 999999}, headers=world.h("p2")
    )
    assert unknown.status == 404

    # ended (moved away), then registered again: a new active registration
    response = await client.post(
        f"/api/v1/party/registrations/{created['id']}/end",
        json={"reason": "搬家到别的社区"},
        headers=world.h("p1"),
    )
    assert response.status == 200
    ended = await response.json()
    assert (ended["status"], ended["ended_reason"], ended["progress"]) == (
        "ended",
        "搬家到别的社区",
        None,
    )
    response = await client.post(
        f"/api/v1/party/registrations/{created['id']}/end",
        json={"reason": "再结束一次"},
        headers=world.h("p1"),
    )
    assert response.status == 409
    await register(client, world, "p1")
    assert await PartyRegistration.filter(person_id=world.ids["p1"]).count() == 2
    response = await client.get("/api/v1/party/registrations/me", headers=world.h("p1"))
    assert [r["status"] for r in (await response.json())["items"]] == ["active", "ended"]

    # somebody else's registration: invisible to other volunteers
    response = await client.post(
        f"/api/v1/party/registrations/{created['id']}/end",
        json={"reason": "不是我的"},
        headers=world.h("p2"),
    )
    assert response.status == 404


async def test_the_yearly_expectation_is_the_secretarys(client: TestClient, world: World) -> None:
    url = f"/api/v1/communities/{world.community_id}/party/settings"
    response = await client.get(url, headers=world.h("p1"))
    assert await response.json() == {
        "community_id": world.community_id,
        "yearly_hours": "12.00",
        "default": True,
    }
    denied = await client.put(url, json={"yearly_hours": "20"}, headers=world.h("p1"))
    assert denied.status == 403
    bad = await client.put(url, json={"yearly_hours": "-1"}, headers=world.h("secretary"))
    assert bad.status == 422
    response = await client.put(url, json={"yearly_hours": "24"}, headers=world.h("secretary"))
    assert response.status == 200
    assert (await response.json())["yearly_hours"] == "24.00"
    response = await client.get(url, headers=world.h("p1"))
    assert (await response.json())["default"] is False


async def test_progress_of_a_past_year_and_the_behind_list(
    client: TestClient, world: World
) -> None:
    """Last year is over, so every figure is fixed: the whole share was due by 31 December."""
    year = local_today(utcnow()).year - 1
    days = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
    mid = dt.datetime(year, 6, 15, 4, 0, tzinfo=dt.UTC)
    await register(client, world, "p1", on=dt.date(year, 1, 1))
    await register(
        client, world, "p2", on=dt.date(year, 1, 1), work_unit="市医院", party_branch="市医院党支部"
    )
    await register(client, world, "p3", on=dt.date(year, 7, 1))
    await serve(world, "p1", "2.5", at=mid, approve=True)
    await serve(world, "p1", "1", at=mid, approve=False)
    await serve(world, "p2", "2.5", at=mid, approve=False)  # pending only
    await serve(world, "p2", "4", at=dt.datetime(year - 1, 12, 30, tzinfo=dt.UTC), approve=True)
    await serve(world, "v1", "8", at=mid, approve=True)  # not registered: not listed

    url = f"/api/v1/communities/{world.community_id}/party/members?year={year}"
    denied = await client.get(url, headers=world.h("p1"))
    assert denied.status == 403
    response = await client.get(url, headers=world.h("secretary"))
    assert response.status == 200, await response.text()
    listing = await response.json()
    assert (listing["year"], listing["total"], listing["behind"]) == (year, 3, 3)
    rows = [
        (
            r["name"],
            r["progress"]["approved_hours"],
            r["progress"]["pending_hours"],
            r["progress"]["expected_year"],
        )
        for r in listing["items"]
    ]
    from_july = (dt.date(year, 12, 31) - dt.date(year, 7, 1)).days + 1
    p3_share = (Decimal(12) * from_july / days).quantize(Decimal("0.01"))
    assert rows == [
        ("p2", "0.00", "2.50", "12.00"),  # furthest behind; last year's hours do not count
        ("p1", "2.50", "1.00", "12.00"),
        ("p3", "0.00", "0.00", str(p3_share)),  # registered on 1 July: about half
    ]
    assert all(r["progress"]["status"] == "behind" for r in listing["items"])
    assert listing["items"][0]["progress"]["behind_hours"] == "12.00"

    response = await client.get(url + "&party_branch=市医院党支部", headers=world.h("secretary"))
    assert [r["name"] for r in (await response.json())["items"]] == ["p2"]
    response = await client.get(url + "&work_unit=税务", headers=world.h("secretary"))
    assert [r["name"] for r in (await response.json())["items"]] == ["p1", "p3"]
    response = await client.get(url + "&status=on_track", headers=world.h("secretary"))
    assert (await response.json())["items"] == []

    # p1 reaches the year's share: done, and last in the list
    await serve(world, "p1", "9.5", at=mid, approve=True)
    response = await client.get(url, headers=world.h("secretary"))
    listing = await response.json()
    assert [r["name"] for r in listing["items"]] == ["p2", "p3", "p1"]
    assert listing["items"][-1]["progress"]["status"] == "done"
    assert listing["behind"] == 2

    # p1 sees their own progress, that year and this one
    response = await client.get(
        f"/api/v1/party/registrations/me?year={year}", headers=world.h("p1")
    )
    (mine,) = (await response.json())["items"]
    assert (mine["progress"]["approved_hours"], mine["progress"]["status_label"]) == (
        "12.00",
        "已完成",
    )
    response = await client.get("/api/v1/party/registrations/me", headers=world.h("p1"))
    (mine,) = (await response.json())["items"]
    assert mine["progress"]["year"] == year + 1 and mine["progress"]["approved_hours"] == "0.00"
