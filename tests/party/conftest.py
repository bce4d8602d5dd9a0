"""A town whose volunteers p1-p3 are party members, and hours put in their passbooks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.accounts.service import load_principal
from server.passbook.models import HoursClaim, SourceKind
from server.passbook.service import approve_claims, credit_pending_hours
from tests.builders import Town, add_person, auth, build_town, login


@dataclass
class World:
    town: Town
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    sources: list[int] = field(default_factory=list)

    def h(self, who: str) -> dict[str, str]:
        return auth(self.tokens[who])

    @property
    def community_id(self) -> int:
        return self.town.community.id


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    world = World(town)
    community = town.community
    await add_person(town, "secretary", Role.SECRETARY, community=community)
    for key in ("p1", "p2", "p3", "v1"):
        await add_person(town, key, Role.VOLUNTEER, community=community)
    await add_person(town, "resident_member", Role.RESIDENT, household=town.households[0])
    await Person.filter(name__in=["p1", "p2", "p3", "resident_member"]).update(is_party_member=True)
    other = await build_town("别处", "ELSE01")
    town.people["other_volunteer"] = await add_person(
        other, "other_volunteer", Role.VOLUNTEER, community=other.community
    )
    await Person.filter(id=town.people["other_volunteer"].id).update(is_party_member=True)
    for key, person in town.people.items():
        world.ids[key] = person.id
        world.tokens[key] = await login(client, mock_wechat, f"test-{key}")
    return world


async def serve(
    world: World, who: str, hours: str, *, at: dt.datetime, approve: bool
) -> HoursClaim:
    """Hours of an attended activity credited to ``who`` through the passbook (approved by the
    secretary when ``approve``), dated ``at``."""
    source_id = 9000 + len(world.sources)
    world.sources.append(source_id)
    await credit_pending_hours(
        volunteer_id=world.ids[who],
        community_id=world.community_id,
        hours=Decimal(hours),
        source_kind=SourceKind.ACTIVITY.value,
        source_id=source_id,
    )
    claim = await HoursClaim.get(source_kind=SourceKind.ACTIVITY, source_id=source_id)
    if approve:
        secretary = await load_principal(person_id=world.ids["secretary"])
        result = await approve_claims(
            principal=secretary, community_id=world.community_id, claim_ids=[claim.id], redis=None
        )
        assert result.approved == [claim.id]
    await HoursClaim.filter(id=claim.id).update(created_at=at)
    return claim


async def register(
    client: TestClient, world: World, who: str, *, on: dt.date | None = None, **extra: object
) -> dict:
    body = {
        "community_id": world.community_id,
        "work_unit": "市税务局",
        "party_branch": "市税务局第一党支部",
        **({"registered_on": on.isoformat()} if on else {}),
        **extra,
    }
    response = await client.post("/api/v1/party/registrations", json=body, headers=world.h(who))
    assert response.status == 201, await response.text()
    return dict(await response.json())
