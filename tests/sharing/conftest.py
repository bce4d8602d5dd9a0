"""A town whose people share and book things, and helpers to list and book over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Role
from server.core.clock import utcnow
from tests.builders import Town, add_person, auth, build_town, login

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LADDER = {
    "kind": "item",
    "title": "铝合金折叠梯",
    "description": "2 米高，换灯泡、擦窗户都够用",
    "location": "阳光小区3号楼2单元502",
    "needs_approval": True,
    "max_loan_days": 3,
    "deposit_note": "不收押金，用后擦干净",
}
HALL = {
    "kind": "space",
    "title": "党群服务中心活动室",
    "description": "可坐 30 人，有投影",
    "location": "社区党群服务中心二楼",
    "needs_approval": False,
    "max_loan_days": None,
    "max_booking_hours": 3,
    "opening_hours": "每天 8:00-20:00",
    "unit_name": "市供电公司第三党支部",
}


@dataclass
class World:
    town: Town
    other: Town
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return auth(self.tokens[who])

    @property
    def community_id(self) -> int:
        return self.town.community.id


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    other = await build_town("别处", "ELSE01")
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "neighbour", Role.RESIDENT, household=town.households[1])
    await add_person(town, "third", Role.RESIDENT, household=town.households[2])
    await add_person(town, "volunteer", Role.VOLUNTEER, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "admin", Role.STREET_ADMIN)
    await add_person(town, "outsider", Role.RESIDENT, household=other.households[0])
    await add_person(town, "stranger", Role.SECRETARY, community=other.community)
    world = World(town, other)
    for key, person in town.people.items():
        world.ids[key] = person.id
        world.tokens[key] = await login(client, mock_wechat, f"test-{key}")
    return world


async def share(
    client: TestClient, world: World, who: str = "resident", **changes: Any
) -> ClientResponse:
    body = {**LADDER, **changes}
    return await client.post(
        f"/api/v1/communities/{world.community_id}/shared-resources",
        json=body,
        headers=world.h(who),
    )


async def shared(client: TestClient, world: World, who: str = "resident", **changes: Any) -> int:
    response = await share(client, world, who, **changes)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


def window(start_in: dt.timedelta, length: dt.timedelta) -> dict[str, str]:
    """A booking window from now + ``start_in``, in Beijing time as the phone sends it."""
    start = (utcnow() + start_in).astimezone(dt.timezone(dt.timedelta(hours=8)))
    return {"start_at": start.isoformat(), "end_at": (start + length).isoformat()}


async def book(
    client: TestClient,
    world: World,
    resource_id: int,
    who: str = "neighbour",
    start_in: dt.timedelta = DAY,
    length: dt.timedelta = 2 * DAY,
    **extra: Any,
) -> ClientResponse:
    return await client.post(
        f"/api/v1/shared-resources/{resource_id}/bookings",
        json={**window(start_in, length), "note": "周末换灯泡", **extra},
        headers=world.h(who),
    )


async def act(
    client: TestClient, world: World, who: str, booking_id: int, action: str, note: str = ""
) -> ClientResponse:
    return await client.post(
        f"/api/v1/bookings/{booking_id}/transitions",
        json={"action": action, "note": note},
        headers=world.h(who),
    )


async def error_of(response: ClientResponse) -> dict[str, Any]:
    body = await response.json()
    return dict(body["error"])
