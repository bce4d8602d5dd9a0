"""The demo seed: a believable street to click through, the same every time, never doubled."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise import Tortoise

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.service import load_principal
from server.activities.models import Activity
from server.core.config import Settings
from server.core.db import apply_migrations, init_orm
from server.org.demo_names import CITY_CENTRE
from server.org.models import Community, Grid, GridLevel, Household, PartyBranch, Street
from server.org.seed import SeedSummary, seed_demo
from server.projects.models import Project, ProjectEvent, ProjectStatus, ProjectUpdate
from server.sharing.models import SharedResource
from server.volunteers.models import DEFAULT_SKILLS, VolunteerProfile

pytestmark = pytest.mark.asyncio(loop_scope="session")

MAP_RADIUS_M = 3000  # the whole demo fits on one phone map around the city centre
PHONE = re.compile(r"^1[358]\d{9}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


async def _fresh_database(path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite://{path}")
    await apply_migrations(settings)
    await init_orm(settings)
    return settings


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def demo_db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """A fresh database of its own for this module (the seed needs empty tables)."""
    settings = await _fresh_database(tmp_path_factory.mktemp("seed") / "demo.sqlite3")
    yield settings
    await Tortoise.close_connections()
    # Tortoise caches insert SQL per connection name, not per dialect: drop this module's SQLite
    # statements so later tests on PostgreSQL do not send "?" placeholders
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def first_run(demo_db: Settings) -> SeedSummary:
    return await seed_demo()


async def _table_counts() -> dict[str, int]:
    return {
        model.__name__: await model.all().count()
        for model in (
            Street,
            Community,
            Grid,
            PartyBranch,
            Household,
            Person,
            RoleGrant,
            VolunteerProfile,
            Project,
            ProjectEvent,
            ProjectUpdate,
            SharedResource,
            Activity,
        )
    }


async def _first_resident_names(count: int = 10) -> list[str]:
    people = (
        await Person.filter(openid__startswith="demo-resident-").order_by("openid").limit(count)
    )
    return [person.name for person in people]


def _metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    earth = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * earth * math.asin(math.sqrt(a))


async def test_the_demo_has_a_street_two_communities_and_enough_people(
    first_run: SeedSummary,
) -> None:
    assert first_run.created is True
    assert (first_run.streets, first_run.communities, first_run.secretaries) == (1, 2, 2)
    assert first_run.households >= 200
    assert first_run.volunteers >= 60
    assert first_run.grid_members == 8  # one per compound grid, a leader on each community grid
    assert first_run.branches == 8  # a branch on each compound grid, a 党委/总支 on each community

    street = await Street.get(code="demo-street")
    assert street.name == "牡丹街道"
    communities = {c.code: c for c in await Community.filter(street=street)}
    assert {code: c.join_code for code, c in communities.items()} == {
        "demo-xingfuli": "XFL2026",
        "demo-heping": "HP2026",
    }
    assert communities["demo-xingfuli"].name == "幸福里社区"
    assert await Household.filter(community__street=street).count() == first_run.households
    assert await VolunteerProfile.all().count() == first_run.volunteers
    assert await Person.filter(openid__startswith="demo-").count() == first_run.people
    assert await Grid.all().count() == first_run.grids


async def test_every_household_sits_in_a_building_of_its_own_community(
    first_run: SeedSummary,
) -> None:
    roots = {grid.community_id: grid for grid in await Grid.filter(level=GridLevel.COMMUNITY)}
    households = await Household.all().select_related("grid")
    assert len(households) == first_run.households
    for household in households:
        assert household.grid.level is GridLevel.BUILDING
        assert household.grid.community_id == household.community_id
        assert household.grid.path.startswith(roots[household.community_id].path)
        assert household.grid.path.count("/") == 4  # /community/compound/building/
        assert re.fullmatch(r"\d单元\d0\d", household.label)


async def test_each_compound_grid_carries_a_party_branch(first_run: SeedSummary) -> None:
    branches = await PartyBranch.all().select_related("grid")
    by_grid_name = {branch.grid.name: branch.name for branch in branches}
    assert by_grid_name["阳光小区"] == "阳光小区党支部"
    assert by_grid_name["幸福里社区网格"] == "幸福里社区党委"
    compound_grids = await Grid.filter(level=GridLevel.BRANCH)
    assert len(compound_grids) == 6
    assert {grid.id for grid in compound_grids} <= {branch.grid.id for branch in branches}


async def test_the_phone_client_can_log_in_as_the_demo_staff(first_run: SeedSummary) -> None:
    admin = await Person.get(openid="demo-street-admin")
    assert [g.role for g in (await load_principal(person_id=admin.id)).grants] == [
        Role.STREET_ADMIN
    ]
    secretary = await Person.get(openid="demo-secretary-xingfuli")
    assert secretary.is_party_member
    grant = await RoleGrant.get(person=secretary).select_related("community")
    assert (grant.role, grant.community.name) == (Role.SECRETARY, "幸福里社区")
    assert await Person.exists(openid="demo-secretary-heping")
    for openid in ("demo-grid-heping-leader", "demo-grid-heping-1"):
        member = await Person.get(openid=openid)
        assert await RoleGrant.exists(person=member, role=Role.GRID_MEMBER)


async def test_people_have_chinese_names_and_some_have_phones(first_run: SeedSummary) -> None:
    people = await Person.filter(openid__startswith="demo-")
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", person.name) for person in people)
    phones = [person.phone for person in people if person.phone]
    assert 0 < len(phones) < len(people)
    assert all(PHONE.match(phone) for phone in phones)
    residents = await RoleGrant.filter(role=Role.RESIDENT).count()
    assert residents >= first_run.households * 0.7  # about 1.2 people in 70% of households


async def test_every_volunteer_has_skills_availability_and_a_service_area(
    first_run: SeedSummary,
) -> None:
    profiles = await VolunteerProfile.all().select_related("person")
    for profile in profiles:
        assert 1 <= len(profile.skills) <= 3
        assert set(profile.skills) <= set(DEFAULT_SKILLS)
        assert profile.availability
        for slot in profile.availability:
            assert 0 <= slot["weekday"] <= 6
            assert TIME.match(slot["start"]) and TIME.match(slot["end"])
            assert slot["start"] < slot["end"]
        assert 1000 <= profile.service_radius_m <= 3000
        assert 1 <= profile.max_concurrent_tasks <= 3
        assert profile.home_lat is not None and profile.home_lng is not None
        assert await RoleGrant.exists(
            person_id=profile.person_id, role=Role.VOLUNTEER, community_id=profile.community_id
        )
    party = sum(profile.person.is_party_member for profile in profiles)
    assert 0.3 <= party / len(profiles) <= 0.5
    assert {profile.community_id for profile in profiles} == set(
        await Community.all().values_list("id", flat=True)
    )


async def test_a_volunteer_can_also_be_a_resident(first_run: SeedSummary) -> None:
    volunteers = await Person.filter(openid__startswith="demo-volunteer-").order_by("openid")
    both = []
    for person in volunteers:
        roles = {grant.role for grant in (await load_principal(person_id=person.id)).grants}
        if roles == {Role.VOLUNTEER, Role.RESIDENT}:
            both.append(person)
    assert len(both) >= 10


async def test_the_whole_demo_fits_on_one_map(first_run: SeedSummary) -> None:
    points = [(c.lat, c.lng) for c in await Community.all()]
    points += [(h.lat, h.lng) for h in await Household.all()]
    points += [(v.home_lat, v.home_lng) for v in await VolunteerProfile.all()]
    for lat, lng in points:
        assert lat is not None and lng is not None
        assert _metres(*CITY_CENTRE, lat, lng) <= MAP_RADIUS_M


async def test_seeding_again_adds_nothing_and_reports_the_same(first_run: SeedSummary) -> None:
    before = await _table_counts()
    calls: list[tuple[int, int, str]] = []
    second = await seed_demo(progress=lambda done, total, label: calls.append((done, total, label)))
    assert await _table_counts() == before
    assert second.created is False
    assert second == dataclasses.replace(first_run, created=False)
    # the CLI's progress bar moves forward step by step and ends full
    assert len(calls) >= 5
    assert [done for done, _, _ in calls] == list(range(1, len(calls) + 1))
    assert {total for _, total, _ in calls} == {len(calls)}


async def test_the_same_seed_gives_the_same_people_in_a_fresh_database(
    first_run: SeedSummary, demo_db: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    names = await _first_resident_names()
    assert len(names) == 10
    await Tortoise.close_connections()
    try:
        await _fresh_database(tmp_path_factory.mktemp("seed-again") / "demo.sqlite3")
        assert await Person.all().count() == 0
        again = await seed_demo()
        assert await _first_resident_names() == names
        assert again == first_run
        await Tortoise.close_connections()
        await _fresh_database(tmp_path_factory.mktemp("seed-other") / "demo.sqlite3")
        await seed_demo(seed=7)
        assert await _first_resident_names() != names
    finally:
        await Tortoise.close_connections()
        await init_orm(demo_db)  # give the rest of the module its own database back


async def test_demo_volunteers_are_matched_with_party_members_first_for_policy(
    first_run: SeedSummary,
) -> None:
    from server.core.clock import utcnow
    from server.matching.scoring import need_features
    from server.matching.service import build_index
    from server.volunteers.service import matching_settings

    community = await Community.all().order_by("id").first()
    assert community is not None and community.lat is not None
    settings = await matching_settings(community_id=community.id)
    assert settings.party_categories == ("policy", "dispute")
    index = await build_index(community.id)
    assert index.stats().rows == 32
    need = need_features(
        category="policy",
        title="医保政策咨询",
        description="想了解医保报销政策",
        lat=community.lat,
        lng=community.lng,
        preferred_start=None,
        preferred_end=None,
        skills=settings.skills,
        party_categories=settings.party_categories,
    )
    top = index.rank(need, weights=settings.weights, now=utcnow(), limit=5)
    assert len(top) == 5
    members = set(
        await Person.filter(id__in=[s.person_id for s in top], is_party_member=True).values_list(
            "id", flat=True
        )
    )
    for score in top:
        party = score.factor("party")
        assert party.value == (1.0 if score.person_id in members else 0.0)
    assert top[0].factor("skill").value == 1.0  # 政策宣讲 named in the text


async def test_each_demo_community_lists_projects_and_shared_things(first_run: SeedSummary) -> None:
    for community in await Community.all():
        projects = await Project.filter(community=community).order_by("id")
        assert [p.status for p in projects] == [
            ProjectStatus.IN_PROGRESS,
            ProjectStatus.IN_PROGRESS,
            ProjectStatus.PLANNED,
        ]
        # listed and started through the lifecycle: each change has its audit row
        for project in projects:
            actions = await ProjectEvent.filter(project=project).values_list("action", flat=True)
            assert actions == (["create", "start"] if project.percent else ["create"])
        owners = {p.owner_id for p in projects}
        assert await RoleGrant.filter(
            person_id__in=owners, community=community, role__in=[Role.SECRETARY, Role.GRID_MEMBER]
        ).count() >= len(owners)
        kinds = await SharedResource.filter(community=community).values_list("kind", flat=True)
        assert sorted(kinds) == ["item", "skill", "space"]
        activity = await Activity.get(community=community)
        assert (activity.title, activity.capacity) == ("周末环境清洁日", 20)
        assert activity.starts_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=6)
