"""A town with a resident, staff and five volunteers, and helpers to walk a need to its task."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.volunteers.models import VolunteerProfile
from tests.builders import Town, add_person, auth, build_town, login, upload_photo

HOME = (44.5500, 129.6300)
ADDRESS = "幸福里社区阳光小区3号楼2单元502"
PHONE = "13812345678"
# v1 names the skill the need asks for, so the ranking puts v1 first, then v2..v5 by id.
SKILLS = {
    "v1": ["水电维修"],
    "v2": ["助老陪护"],
    "v3": ["代买代办"],
    "v4": ["助老陪护"],
    "v5": ["环境清洁"],
}
NEED = {
    "category": "daily_life",
    "title": "厨房水管漏水",
    "description": f"厨房水管漏水，需要会水电维修的师傅，联系电话 {PHONE}",
    "urgency": "urgent",
    "allow_call": True,
}


@dataclass
class World:
    town: Town
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return auth(self.tokens[who])


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    home = town.households[0]
    home.lat, home.lng, home.address = *HOME, ADDRESS
    await home.save()
    world = World(town)
    resident = await add_person(town, "resident", Role.RESIDENT, household=home)
    await Person.filter(id=resident.id).update(phone=PHONE)
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    for key, skills in SKILLS.items():
        person = await add_person(town, key, Role.VOLUNTEER, community=town.community)
        await VolunteerProfile.create(
            person=person, community=town.community, skills=skills, max_concurrent_tasks=2
        )
    other = await build_town("别处", "ELSE01")
    outsider = await add_person(other, "outsider", Role.VOLUNTEER, community=other.community)
    await VolunteerProfile.create(person=outsider, community=other.community, skills=["水电维修"])
    town.people["outsider"] = outsider
    for key, person in town.people.items():
        world.ids[key] = person.id
        world.tokens[key] = await login(client, mock_wechat, f"test-{key}")
    return world


async def set_policy(client: TestClient, world: World, **values: object) -> dict:
    response = await client.put(
        f"/api/v1/communities/{world.town.community.id}/task-policy",
        json=values,
        headers=world.h("secretary"),
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def accepted_need(client: TestClient, world: World, **changes: object) -> int:
    """A need the resident submitted (with a photo they uploaded) and the secretary accepted."""
    if "photos" not in changes:
        changes["photos"] = [await upload_photo(client, world.tokens["resident"])]
    response = await client.post(
        "/api/v1/needs", json={**NEED, **changes}, headers=world.h("resident")
    )
    assert response.status == 201, await response.text()
    need_id = int((await response.json())["need"]["id"])
    response = await client.post(
        f"/api/v1/needs/{need_id}/triage", json={"action": "accept"}, headers=world.h("secretary")
    )
    assert response.status == 200, await response.text()
    return need_id


async def start_matching(client: TestClient, world: World, need_id: int) -> dict:
    response = await client.post(
        f"/api/v1/needs/{need_id}/matching", json={}, headers=world.h("secretary")
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def pending_invitations(client: TestClient, world: World, who: str) -> list[dict]:
    response = await client.get("/api/v1/me/invitations", headers=world.h(who))
    assert response.status == 200, await response.text()
    return list((await response.json())["items"])


async def accept(client: TestClient, world: World, who: str, need_id: int) -> dict:
    """``who`` accepts their invitation to the need; returns the task detail."""
    (invitation,) = [
        i for i in await pending_invitations(client, world, who) if i["need_id"] == need_id
    ]
    response = await client.post(
        f"/api/v1/invitations/{invitation['id']}/accept", headers=world.h(who)
    )
    assert response.status == 200, await response.text()
    return await response.json()
