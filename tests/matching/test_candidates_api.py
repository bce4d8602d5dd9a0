"""Ranked candidates for a need: over HTTP with reasons, through ``rank_for_need``, kept fresh."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Role
from server.matching import service as matching_service
from server.matching.service import rank_for_need
from server.volunteers import service as volunteers
from server.volunteers.models import VolunteerProfile
from tests.builders import Town, add_person, auth, build_town, login

PLACE = (44.5500, 129.6300)
NORTH_1KM = 1000 / 111_320.0


def profile(skills: list[str], north_km: float, **changes: object) -> dict:
    return {
        "skills": skills,
        "availability": [{"weekday": 1, "start": "08:00", "end": "12:00"}],  # Tuesday mornings
        "home_lat": PLACE[0] + north_km * NORTH_1KM,
        "home_lng": PLACE[1],
        "service_radius_m": 3000,
        "max_concurrent_tasks": 1,
        **changes,
    }


VOLUNTEERS = {
    "plumber-near": profile(["水电维修"], 0.2),
    "plumber-far": profile(["水电维修"], 2.0),
    "shopper-near": profile(["代买代办"], 0.2, is_party_member=True),
    "plumber-too-far": profile(["水电维修"], 5.0),  # beyond their own 3 km
}


@dataclass
class World:
    town: Town
    tokens: dict[str, str]
    ids: dict[str, int]
    need_id: int


@pytest.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "other-member", Role.GRID_MEMBER, grid=town.compounds[1])
    for key in VOLUNTEERS:
        await add_person(town, key, Role.VOLUNTEER, community=town.community)
    keys = ("resident", "secretary", "member", "other-member", *VOLUNTEERS)
    tokens = {key: await login(client, mock_wechat, f"test-{key}") for key in keys}
    for key, body in VOLUNTEERS.items():
        response = await client.put(
            "/api/v1/volunteers/me/profile", json=body, headers=auth(tokens[key])
        )
        assert response.status == 200, await response.text()
    response = await client.post(
        "/api/v1/needs",
        json={
            "category": "daily_life",
            "title": "厨房水管漏水",
            "description": "水管接头漏水，想请人上门看看",
            "lat": PLACE[0],
            "lng": PLACE[1],
            "preferred_start": "2026-11-24T09:00:00+08:00",
            "preferred_end": "2026-11-24T11:00:00+08:00",
        },
        headers=auth(tokens["resident"]),
    )
    assert response.status == 201, await response.text()
    need_id = (await response.json())["need"]["id"]
    ids = {key: person.id for key, person in town.people.items()}
    return World(town, tokens, ids, need_id)


async def accept(client: TestClient, world: World) -> None:
    response = await client.post(
        f"/api/v1/needs/{world.need_id}/triage",
        json={"action": "accept"},
        headers=auth(world.tokens["secretary"]),
    )
    assert response.status == 200, await response.text()


async def candidates(client: TestClient, world: World, who: str = "secretary") -> list[dict]:
    response = await client.get(
        f"/api/v1/needs/{world.need_id}/candidates", headers=auth(world.tokens[who])
    )
    assert response.status == 200, await response.text()
    return list((await response.json())["candidates"])


async def test_the_secretary_sees_ranked_candidates_and_why(
    client: TestClient, world: World
) -> None:
    await accept(client, world)
    ranked = await candidates(client, world)
    assert [c["name"] for c in ranked] == ["plumber-near", "plumber-far", "shopper-near"]
    best = ranked[0]
    assert best["rank"] == 1
    assert [f["name"] for f in best["factors"]] == [
        "skill",
        "distance",
        "availability",
        "load",
        "reliability",
        "fairness",
        "party",
    ]
    lines = best["explanation"]
    assert "技能：具备“水电维修”（需求提到“水管”）" in lines
    assert any(line.startswith("距离：约 200 米") for line in lines)
    assert "时间：可服务时间与期望时间（周二 09:00起）重合 120 分钟" in lines
    assert "可靠度：新志愿者，暂按默认估计" in lines
    assert best["score"] == pytest.approx(sum(f["contribution"] for f in best["factors"]), abs=1e-3)


async def test_rank_for_need_is_the_contract_the_tasks_engine_uses(
    client: TestClient, world: World
) -> None:
    await accept(client, world)
    ranked = await rank_for_need(world.need_id, limit=2)
    assert [c.person_id for c in ranked] == [world.ids["plumber-near"], world.ids["plumber-far"]]
    assert set(ranked[0].factors) == {
        "skill",
        "distance",
        "availability",
        "load",
        "reliability",
        "fairness",
        "party",
    }
    assert len(ranked[0].explanation) == 7
    skipping = await rank_for_need(world.need_id, exclude_person_ids=[world.ids["plumber-near"]])
    assert world.ids["plumber-near"] not in [c.person_id for c in skipping]


async def test_track_record_changes_count_at_once(client: TestClient, world: World) -> None:
    await accept(client, world)
    near, far = world.ids["plumber-near"], world.ids["plumber-far"]
    assert [c.person_id for c in await rank_for_need(world.need_id, limit=1)] == [near]

    await volunteers.record_acceptance(person_id=near)  # now at their limit of one task
    assert near not in [c.person_id for c in await rank_for_need(world.need_id)]

    await volunteers.record_task_end(person_id=near, completed=True)
    await volunteers.record_rating(person_id=near, stars=5)
    back = await rank_for_need(world.need_id)
    assert near in [c.person_id for c in back]
    lines = next(c for c in back if c.person_id == near).explanation
    assert any("平均 5.0 星（1 次）" in line for line in lines)
    assert any("近期任务量约 1.0 个" in line for line in lines)

    for _ in range(3):  # far declines a lot: their reliability drops
        await volunteers.record_decline(person_id=far)
    scores = {c.person_id: c.factors["reliability"] for c in await rank_for_need(world.need_id)}
    assert scores[far] < scores[world.ids["shopper-near"]]


async def test_a_moved_volunteer_is_ranked_from_the_new_place(
    client: TestClient, world: World
) -> None:
    await accept(client, world)
    assert world.ids["plumber-too-far"] not in [
        c.person_id for c in await rank_for_need(world.need_id)
    ]
    response = await client.put(
        "/api/v1/volunteers/me/profile",
        json=profile(["水电维修"], 0.1),
        headers=auth(world.tokens["plumber-too-far"]),
    )
    assert response.status == 200
    first = (await rank_for_need(world.need_id, limit=1))[0]
    assert first.person_id == world.ids["plumber-too-far"]


async def test_party_members_first_when_the_community_chooses(
    client: TestClient, world: World
) -> None:
    await accept(client, world)
    response = await client.patch(
        f"/api/v1/communities/{world.town.community.id}/matching-settings",
        json={"party_categories": ["daily_life"], "weights": {"party": 1.0}},
        headers=auth(world.tokens["secretary"]),
    )
    assert response.status == 200, await response.text()
    ranked = await candidates(client, world)
    assert ranked[0]["name"] == "shopper-near"
    assert "党员优先：党员，本类需求党员优先" in ranked[0]["explanation"]


async def test_who_may_see_candidates(client: TestClient, world: World) -> None:
    url = f"/api/v1/needs/{world.need_id}/candidates"
    not_yet = await client.get(url, headers=auth(world.tokens["secretary"]))
    assert not_yet.status == 409  # still submitted: triage first
    await accept(client, world)
    assert len(await candidates(client, world, "member")) == 3  # grid member over the need
    other = await client.get(url, headers=auth(world.tokens["other-member"]))
    assert other.status == 404  # another grid: the need is not theirs to see
    resident = await client.get(url, headers=auth(world.tokens["resident"]))
    assert resident.status == 403
    volunteer = await client.get(url, headers=auth(world.tokens["plumber-near"]))
    assert volunteer.status == 404
    missing = await client.get(
        "/api/v1/needs/999999/candidates", headers=auth(world.tokens["secretary"])
    )
    assert missing.status == 404


async def test_a_removed_profile_leaves_at_the_next_background_rebuild(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await accept(client, world)
    near = world.ids["plumber-near"]
    assert near in [c.person_id for c in await rank_for_need(world.need_id)]
    await VolunteerProfile.filter(person_id=near).delete()
    monkeypatch.setattr(matching_service, "REBUILD_SECONDS", 0.0)
    await rank_for_need(world.need_id)  # the index is stale: a rebuild starts in the background
    rebuild = matching_service._cache.entries[world.town.community.id].rebuild
    assert rebuild is not None
    await rebuild
    assert near not in [c.person_id for c in await rank_for_need(world.need_id)]
