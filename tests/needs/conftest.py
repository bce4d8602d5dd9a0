"""Two towns with every role, for who-sees-what over HTTP (detail, lists, photos, public list,
export), and helpers that walk a need through triage and its task."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from tests.builders import Town, add_person, auth, build_town, login

HOME = (44.5500, 129.6300)
NEAR = {"lat": HOME[0] + 0.001, "lng": HOME[1]}  # about 111 m: within the check-in distance
ADDRESS = "幸福里社区阳光小区3号楼2单元502"
BUILDING = "幸福里社区阳光小区3号楼"
PHONE = "13812345678"
REPORTER_NAME = "王小明"
NEED = {
    "category": "daily_life",
    "title": "厨房水管漏水",
    "description": f"厨房水管漏水，请联系 {PHONE}",
    "urgency": "urgent",
    "allow_call": True,
}


@dataclass
class Roles:
    """Town A: resident (王小明) and neighbour in compound 1, far resident in compound 2, grid
    members of each compound, the secretary, two volunteers, the street admin. Town B (another
    street): its secretary, a resident and its street admin."""

    town: Town
    other: Town
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return auth(self.tokens[who])


@pytest_asyncio.fixture
async def roles(client: TestClient, mock_wechat: TestServer) -> Roles:
    town = await build_town()
    for household in town.households:
        household.lat, household.lng = HOME
        household.address = ADDRESS if household.id == town.households[0].id else "阳光小区5栋"
        await household.save()
    other = await build_town("别处", "ELSE01")
    world = Roles(town, other)
    resident = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await Person.filter(id=resident.id).update(name=REPORTER_NAME, phone=PHONE)
    await add_person(town, "neighbour", Role.RESIDENT, household=town.households[1])
    await add_person(town, "far-resident", Role.RESIDENT, household=town.households[2])
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "other-member", Role.GRID_MEMBER, grid=town.compounds[1])
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "volunteer", Role.VOLUNTEER, community=town.community)
    await add_person(town, "volunteer2", Role.VOLUNTEER, community=town.community)
    await add_person(town, "admin", Role.STREET_ADMIN)
    await add_person(other, "other-secretary", Role.SECRETARY, community=other.community)
    await add_person(other, "other-resident", Role.RESIDENT, household=other.households[0])
    await add_person(other, "other-admin", Role.STREET_ADMIN)
    for people in (town.people, other.people):
        for key, person in people.items():
            world.ids[key] = person.id
            world.tokens[key] = await login(client, mock_wechat, f"test-{key}")
    return world


async def submit(client: TestClient, roles: Roles, who: str = "resident", **changes: object) -> int:
    body = {**NEED, "lat": HOME[0], "lng": HOME[1], **changes}
    response = await client.post("/api/v1/needs", json=body, headers=roles.h(who))
    assert response.status == 201, await response.text()
    return int((await response.json())["need"]["id"])


async def post(client: TestClient, roles: Roles, who: str, path: str, body: dict) -> dict:
    response = await client.post(path, json=body, headers=roles.h(who))
    assert response.status in (200, 201), await response.text()
    return await response.json()


async def accept(client: TestClient, roles: Roles, need_id: int) -> None:
    await post(client, roles, "secretary", f"/api/v1/needs/{need_id}/triage", {"action": "accept"})


async def assign(client: TestClient, roles: Roles, need_id: int, volunteer: str) -> int:
    """Accepted, then 派单 to the volunteer; returns the task id."""
    await accept(client, roles, need_id)
    detail = await post(
        client,
        roles,
        "secretary",
        f"/api/v1/needs/{need_id}/assign",
        {"volunteer_id": roles.ids[volunteer]},
    )
    return int(detail["task"]["id"])


async def finish(client: TestClient, roles: Roles, task_id: int, volunteer: str) -> None:
    await post(client, roles, volunteer, f"/api/v1/tasks/{task_id}/check-in", NEAR)
    await post(client, roles, volunteer, f"/api/v1/tasks/{task_id}/check-out", NEAR)
