"""A town with a secretary, a grid member, volunteers with skills, a resident, and people of
another community; activity helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Role
from server.activities.models import Activity
from server.core.clock import utcnow
from server.volunteers.models import VolunteerProfile
from tests.builders import Town, add_person, auth, build_town, login

VOLUNTEERS = 6  # v1..v6; v1-v3 clean, v4-v6 teach


@dataclass
class World:
    town: Town
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return auth(self.tokens[who])

    @property
    def community_id(self) -> int:
        return self.town.community.id


async def add_volunteer(
    client: TestClient, mock: TestServer, world: World, key: str, skills: list[str]
) -> None:
    person = await add_person(world.town, key, Role.VOLUNTEER, community=world.town.community)
    await VolunteerProfile.create(person=person, community=world.town.community, skills=skills)
    world.ids[key] = person.id
    world.tokens[key] = await login(client, mock, f"test-{key}")


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    world = World(town)
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    other = await build_town("别处", "ELSE01")
    outsider = await add_person(other, "outsider", Role.VOLUNTEER, community=other.community)
    await VolunteerProfile.create(person=outsider, community=other.community, skills=["环境清洁"])
    await add_person(other, "other_secretary", Role.SECRETARY, community=other.community)
    await add_person(other, "other_member", Role.GRID_MEMBER, grid=other.compounds[0])
    await add_person(other, "other_resident", Role.RESIDENT, household=other.households[0])
    town.people["outsider"] = outsider
    for key in ("other_secretary", "other_member", "other_resident"):
        town.people[key] = other.people[key]
    for key, person in town.people.items():
        world.ids[key] = person.id
        world.tokens[key] = await login(client, mock_wechat, f"test-{key}")
    for index in range(1, VOLUNTEERS + 1):
        skills = ["环境清洁"] if index <= 3 else ["学业辅导"]
        await add_volunteer(client, mock_wechat, world, f"v{index}", skills)
    return world


def activity_body(**changes: Any) -> dict[str, Any]:
    """An activity tomorrow 09:00-11:30 UTC+8-ish (relative to now), 3 places, no skills."""
    start = (utcnow() + dt.timedelta(days=2)).replace(microsecond=0)
    body: dict[str, Any] = {
        "title": "社区环境清洁日",
        "description": "清理楼道杂物，带手套",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=2, minutes=30)).isoformat(),
        "place": "幸福里社区广场",
        "lat": 44.55,
        "lng": 129.63,
        "capacity": 3,
    }
    body.update(changes)
    return body


async def publish(client: TestClient, world: World, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/communities/{world.community_id}/activities",
        json=activity_body(**changes),
        headers=world.h("secretary"),
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def sign_up(client: TestClient, world: World, who: str, activity_id: int) -> dict[str, Any]:
    response = await client.post(f"/api/v1/activities/{activity_id}/signup", headers=world.h(who))
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def move_activity(activity_id: int, *, starts_in: dt.timedelta, length: dt.timedelta) -> None:
    """Shift an activity in time (tests cannot wait for the clock), keeping the deadline before."""
    start = utcnow() + starts_in
    await Activity.filter(id=activity_id).update(
        starts_at=start, ends_at=start + length, signup_deadline=start
    )
