"""Binding people to places: residents by join code, grid members and volunteers by invite code."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import InviteCode, Role
from tests.builders import add_person, auth, build_town, login


async def test_resident_joins_a_household_with_the_join_code(
    client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town(join_code="XFL2026")
    token = await login(client, mock_wechat, "oNewResident")
    directory = await client.get("/api/v1/org/join/xfl2026", headers=auth(token))
    assert directory.status == 200
    body = await directory.json()
    assert body["community"]["name"] == "测试社区"
    assert [b["name"] for b in body["buildings"]] == ["1号小区·1号楼", "2号小区·1号楼"]
    household_id = body["buildings"][1]["households"][0]["id"]

    joined = await client.post(
        "/api/v1/auth/join",
        json={"join_code": "XFL2026", "household_id": household_id},
        headers=auth(token),
    )
    assert joined.status == 200
    roles = (await joined.json())["roles"]
    assert roles == [
        {
            "role": "resident",
            "role_label": "居民",
            "scope_type": "household",
            "scope_id": household_id,
            "scope_name": "测试社区 1号楼 1单元101",
            "community_id": town.community.id,  # the phone shows the community's public lists
        }
    ]
    assert town.households[2].id == household_id


async def test_join_refuses_a_household_of_another_community(
    client: TestClient, mock_wechat: TestServer
) -> None:
    await build_town("甲", join_code="JIA001")
    other = await build_town("乙", join_code="YI0001")
    token = await login(client, mock_wechat, "oCrossJoin")
    response = await client.post(
        "/api/v1/auth/join",
        json={"join_code": "JIA001", "household_id": other.households[0].id},
        headers=auth(token),
    )
    assert response.status == 422
    assert (await response.json())["error"]["details"] == [{"field": "household_id"}]
    bad_code = await client.get("/api/v1/org/join/NOPE99", headers=auth(token))
    assert bad_code.status == 404
    assert "加入码" in (await bad_code.json())["error"]["message"]


async def test_secretary_invites_a_grid_member_who_redeems_once(
    client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town()
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    secretary = await login(client, mock_wechat, "test-secretary")
    created = await client.post(
        f"/api/v1/communities/{town.community.id}/invites",
        json={"role": "grid_member", "grid_id": town.compounds[0].id},
        headers=auth(secretary),
    )
    assert created.status == 201
    code = (await created.json())["code"]
    assert len(code) == 8

    member = await login(client, mock_wechat, "oGridMember")
    redeemed = await client.post(
        "/api/v1/auth/redeem-invite", json={"code": code.lower()}, headers=auth(member)
    )
    assert redeemed.status == 200
    role = (await redeemed.json())["roles"][0]
    assert (role["role"], role["scope_type"], role["scope_id"]) == (
        "grid_member",
        "grid",
        town.compounds[0].id,
    )
    # the secretary sees the whole tree with the join code; a grid member's scope is their grid
    tree = await client.get(
        f"/api/v1/communities/{town.community.id}/tree", headers=auth(secretary)
    )
    assert tree.status == 200
    body = await tree.json()
    assert body["join_code"] == "TEST01"
    assert body["grids"][0]["households"] == 4
    assert [child["households"] for child in body["grids"][0]["children"]] == [2, 2]
    refused = await client.get(
        f"/api/v1/communities/{town.community.id}/tree", headers=auth(member)
    )
    assert refused.status == 403

    someone_else = await login(client, mock_wechat, "oLateComer")
    again = await client.post(
        "/api/v1/auth/redeem-invite", json={"code": code}, headers=auth(someone_else)
    )
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "conflict"


async def test_grid_member_invite_needs_a_grid_of_the_community(
    client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town()
    other = await build_town("乙", join_code="YI0001")
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    secretary = await login(client, mock_wechat, "test-secretary")
    url = f"/api/v1/communities/{town.community.id}/invites"
    missing = await client.post(url, json={"role": "grid_member"}, headers=auth(secretary))
    assert missing.status == 422
    foreign = await client.post(
        url, json={"role": "grid_member", "grid_id": other.compounds[0].id}, headers=auth(secretary)
    )
    assert foreign.status == 422
    bad_role = await client.post(url, json={"role": "secretary"}, headers=auth(secretary))
    assert bad_role.status == 422
    assert (await bad_role.json())["error"]["details"][0]["field"] == "role"


async def test_only_leaders_create_invites(client: TestClient, mock_wechat: TestServer) -> None:
    town = await build_town()
    other = await build_town("乙", join_code="YI0001")
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(other, "other-secretary", Role.SECRETARY, community=other.community)
    await add_person(town, "admin", Role.STREET_ADMIN)
    url = f"/api/v1/communities/{town.community.id}/invites"
    for openid, status in (
        ("test-resident", 403),
        ("test-member", 403),
        ("test-other-secretary", 403),
        ("test-admin", 201),
    ):
        token = await login(client, mock_wechat, openid)
        response = await client.post(url, json={"role": "volunteer"}, headers=auth(token))
        assert response.status == status, openid
        if status == 403:
            assert (await response.json())["error"]["code"] == "permission_denied"


async def test_invite_with_many_uses_holds_under_concurrent_redeems(
    client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town()
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    secretary = await login(client, mock_wechat, "test-secretary")
    created = await client.post(
        f"/api/v1/communities/{town.community.id}/invites",
        json={"role": "volunteer", "max_uses": 3},
        headers=auth(secretary),
    )
    code = (await created.json())["code"]
    tokens = [await login(client, mock_wechat, f"oVolunteer{i}") for i in range(6)]
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/auth/redeem-invite", json={"code": code}, headers=auth(token))
            for token in tokens
        )
    )
    assert sorted(r.status for r in responses) == [200, 200, 200, 409, 409, 409]
    assert (await InviteCode.get(code=code)).uses == 3


async def test_expired_invite_is_refused(client: TestClient, mock_wechat: TestServer) -> None:
    import datetime as dt

    town = await build_town()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await InviteCode.create(
        code="OLDCODE2",
        role=Role.VOLUNTEER,
        community=town.community,
        created_by=secretary,
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )
    token = await login(client, mock_wechat, "oTooLate")
    response = await client.post(
        "/api/v1/auth/redeem-invite", json={"code": "OLDCODE2"}, headers=auth(token)
    )
    assert response.status == 409
    assert "过期" in (await response.json())["error"]["message"]
