"""Volunteer profiles over HTTP: one's own, validation in Chinese, staff lists, skill tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.volunteers.models import DEFAULT_SKILLS
from tests.builders import Town, add_person, auth, build_town, login

PROFILE = {
    "skills": ["水电维修", "助老陪护"],
    "availability": [
        {"weekday": 5, "start": "09:00", "end": "12:00"},
        {"weekday": 0, "start": "18:30", "end": "21:00"},
    ],
    "home_lat": 44.55,
    "home_lng": 129.63,
    "service_radius_m": 1500,
    "max_concurrent_tasks": 2,
    "phone_visible": False,
    "is_party_member": True,
}


@dataclass
class World:
    town: Town
    tokens: dict[str, str]


@pytest.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    await add_person(town, "volunteer", Role.VOLUNTEER, community=town.community)
    await add_person(town, "other", Role.VOLUNTEER, community=town.community)
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    tokens = {
        key: await login(client, mock_wechat, f"test-{key}")
        for key in ("volunteer", "other", "secretary", "member", "resident")
    }
    return World(town, tokens)


async def put_profile(client: TestClient, token: str, **changes: Any) -> Any:
    return await client.put(
        "/api/v1/volunteers/me/profile", json={**PROFILE, **changes}, headers=auth(token)
    )


async def test_a_volunteer_fills_in_and_reads_their_profile(
    client: TestClient, world: World
) -> None:
    token = world.tokens["volunteer"]
    response = await client.get("/api/v1/volunteers/me/profile", headers=auth(token))
    assert response.status == 200
    blank = await response.json()
    assert (blank["exists"], blank["skills"], blank["service_radius_m"]) == (False, [], 2000)

    response = await put_profile(client, token)
    assert response.status == 200, await response.text()
    saved = await (await client.get("/api/v1/volunteers/me/profile", headers=auth(token))).json()
    assert saved["exists"] is True
    assert saved["skills"] == ["水电维修", "助老陪护"]
    assert [slot["weekday"] for slot in saved["availability"]] == [0, 5]  # kept in week order
    assert saved["is_party_member"] is True
    assert (await Person.get(openid="test-volunteer")).is_party_member is True
    assert saved["track_record"]["average_rating"] is None
    assert saved["community_id"] == world.town.community.id


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"skills": ["开飞机"]}, "skills", "未知技能：开飞机"),
        ({"service_radius_m": 50}, "service_radius_m", "应不小于 100"),
        ({"service_radius_m": 50_000}, "service_radius_m", "应不大于 10000"),
        (
            {"availability": [{"weekday": 1, "start": "9:00", "end": "10:00"}]},
            "availability.0.start",
            "格式应为 HH:MM",
        ),
        (
            {"availability": [{"weekday": 1, "start": "09:15", "end": "10:00"}]},
            "availability.0.start",
            "整点或半点",
        ),
        (
            {"availability": [{"weekday": 7, "start": "09:00", "end": "10:00"}]},
            "availability.0.weekday",
            "0-6",
        ),
        (
            {"availability": [{"weekday": 1, "start": "10:00", "end": "09:00"}]},
            "availability.0",
            "结束时间应晚于开始时间",
        ),
        (
            {
                "availability": [
                    {"weekday": 2, "start": "08:00", "end": "10:00"},
                    {"weekday": 2, "start": "09:30", "end": "11:00"},
                ]
            },
            "availability",
            "时间段重叠：周三 08:00-10:00 与 周三 09:30-11:00",
        ),
        ({"home_lat": 44.5, "home_lng": None}, "home_lng", "必须同时填写"),
    ],
)
async def test_profile_validation_says_what_is_wrong_in_chinese(
    client: TestClient, world: World, changes: dict, field: str, message: str
) -> None:
    response = await put_profile(client, world.tokens["volunteer"], **changes)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "validation_error"
    assert message in error["message"] or any(message in d["message"] for d in error["details"])
    assert field in [d["field"] for d in error["details"]]


async def test_only_volunteers_have_a_profile(client: TestClient, world: World) -> None:
    headers = auth(world.tokens["resident"])
    assert (await client.get("/api/v1/volunteers/me/profile", headers=headers)).status == 403
    response = await client.put("/api/v1/volunteers/me/profile", json=PROFILE, headers=headers)
    assert response.status == 403


async def test_staff_list_the_communitys_volunteers(client: TestClient, world: World) -> None:
    await put_profile(client, world.tokens["volunteer"])
    await put_profile(client, world.tokens["other"], skills=["法律咨询"], is_party_member=False)
    url = f"/api/v1/communities/{world.town.community.id}/volunteers"

    response = await client.get(url, headers=auth(world.tokens["secretary"]))
    assert response.status == 200
    body = await response.json()
    assert body["total"] == 2
    assert [item["name"] for item in body["items"]] == ["volunteer", "other"]
    assert all(item["phone"] is None for item in body["items"])  # phone_visible is off

    lawyers = await client.get(f"{url}?skill=法律咨询", headers=auth(world.tokens["secretary"]))
    assert [item["name"] for item in (await lawyers.json())["items"]] == ["other"]
    party = await client.get(f"{url}?party_member=true", headers=auth(world.tokens["secretary"]))
    assert [item["name"] for item in (await party.json())["items"]] == ["volunteer"]

    for who in ("volunteer", "resident"):
        assert (await client.get(url, headers=auth(world.tokens[who]))).status == 403


async def test_a_community_sets_its_own_skill_tags(client: TestClient, world: World) -> None:
    community = world.town.community.id
    skills_url = f"/api/v1/communities/{community}/skills"
    response = await client.get(skills_url, headers=auth(world.tokens["volunteer"]))
    assert await response.json() == {
        "community_id": community,
        "skills": list(DEFAULT_SKILLS),
        "customised": False,
    }
    settings_url = f"/api/v1/communities/{community}/matching-settings"
    denied = await client.patch(
        settings_url, json={"skills": ["理发"]}, headers=auth(world.tokens["member"])
    )
    assert denied.status == 403
    response = await client.patch(
        settings_url,
        json={"skills": ["理发", "水电维修"], "weights": {"party": 0.3}},
        headers=auth(world.tokens["secretary"]),
    )
    assert response.status == 200, await response.text()
    settings = await response.json()
    assert settings["weights"]["party"] == 0.3 and settings["weights"]["skill"] == 0.3

    response = await client.get(skills_url, headers=auth(world.tokens["volunteer"]))
    assert (await response.json())["skills"] == ["理发", "水电维修"]
    assert (await put_profile(client, world.tokens["volunteer"], skills=["理发"])).status == 200
    refused = await put_profile(client, world.tokens["volunteer"], skills=["助老陪护"])
    assert "可选：理发、水电维修" in (await refused.json())["error"]["message"]

    duplicate = await client.patch(
        settings_url, json={"skills": ["理发", "理发"]}, headers=auth(world.tokens["secretary"])
    )
    assert "重复" in (await duplicate.json())["error"]["message"]
    negative = await client.patch(
        settings_url, json={"weights": {"skill": -1}}, headers=auth(world.tokens["secretary"])
    )
    assert negative.status == 422
