"""The demo community (演示数据): one street, two communities, their grids, households and people.

``plan_demo`` draws the whole demo from one seeded ``random.Random`` without touching the
database, so the same seed always gives the same names, numbers and places. ``seed_demo``
then writes that plan, looking every row up by its natural key first, so running it again
creates nothing and reports the same counts.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.service import grant_role, load_principal
from server.activities import service as activities
from server.activities.models import Activity
from server.activities.schemas import ActivityIn
from server.org.demo_names import (
    AVAILABILITY_PATTERNS,
    COMMUNITIES,
    FLATS,
    FLOORS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    PHONE_PREFIXES,
    STREET_CODE,
    STREET_NAME,
    SURNAMES,
    UNITS,
    CommunitySpec,
    CompoundSpec,
)
from server.org.models import Community, Grid, GridLevel, Household, PartyBranch, Street
from server.org.service import create_grid
from server.projects import service as projects
from server.projects.models import Project
from server.projects.schemas import ProjectIn, ProjectUpdateIn
from server.sharing.models import ResourceKind, SharedResource
from server.volunteers.models import DEFAULT_SKILLS, CommunityMatching, VolunteerProfile

DEMO_SEED = 20261122
DEMO_OPENID_PREFIX = "demo-"  # the phone client's identity list logs in as these openids

HOUSEHOLDS_PER_BUILDING = 12  # 18-24 buildings in all, so always 200+ households
OCCUPIED_SHARE = 0.7  # households with at least one registered resident
SECOND_RESIDENT_SHARE = 0.2  # occupied households with two residents: 1.2 a household on average
RESIDENT_PARTY_SHARE = 0.12
RESIDENT_PHONE_SHARE = 0.3
GRID_MEMBER_PARTY_SHARE = 0.7
VOLUNTEERS_PER_COMMUNITY = 32
VOLUNTEER_PARTY_SHARE = 0.4  # 在职党员双报到 makes party members a large part of volunteers
VOLUNTEER_RESIDENT_SHARE = 0.3  # volunteers who also live in a demo household (two roles)
VOLUNTEER_PHONE_SHARE = 0.6
SERVICE_RADII_M = (1000, 1500, 2000, 2500, 3000)
VOLUNTEER_HOME_M = (200.0, 1000.0)  # how far from the community office volunteers live
BUILDING_SPACING_M = 45.0
HOUSEHOLD_JITTER_M = 8.0
METRES_PER_DEGREE_LAT = 111_320.0
PROGRESS_CHUNK = 50  # rows written between two progress ticks
# The demo communities send party members first to policy talks and disputes (党员优先)
DEMO_PARTY_FIRST_CATEGORIES = ("policy", "dispute")

GridKey = tuple[str, str | None, str | None]  # (community code, compound, building)
HouseholdKey = tuple[GridKey, str]  # (building grid, label)
Progress = Callable[[int, int, str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class SeedSummary:
    """What the demo holds after seeding, and whether this run had to create anything."""

    streets: int
    communities: int
    grids: int
    branches: int
    households: int
    people: int
    residents: int  # people bound to a household (some are volunteers as well)
    volunteers: int
    grid_members: int
    secretaries: int
    created: bool


@dataclass(frozen=True)
class PlannedGrid:
    key: GridKey
    name: str
    level: GridLevel
    branch: str | None  # the party organisation sitting on this grid (支部进网)


@dataclass(frozen=True)
class PlannedHousehold:
    grid: GridKey
    label: str
    address: str
    lat: float
    lng: float


@dataclass(frozen=True)
class PlannedPerson:
    openid: str
    name: str
    phone: str | None
    is_party_member: bool


@dataclass(frozen=True)
class PlannedGrant:
    openid: str
    role: Role
    community: str | None = None  # community code
    grid: GridKey | None = None
    household: HouseholdKey | None = None
    granted_by: str | None = None  # openid


@dataclass(frozen=True)
class PlannedVolunteer:
    openid: str
    community: str
    skills: tuple[str, ...]
    availability: tuple[tuple[int, str, str], ...]  # (weekday, start, end)
    home_lat: float
    home_lng: float
    service_radius_m: int
    max_concurrent_tasks: int
    phone_visible: bool


@dataclass(frozen=True)
class DemoPlan:
    """Everything the demo seed writes, in the order it writes it."""

    grids: tuple[PlannedGrid, ...]
    households: tuple[PlannedHousehold, ...]
    people: tuple[PlannedPerson, ...]
    grants: tuple[PlannedGrant, ...]
    volunteers: tuple[PlannedVolunteer, ...]

    def holders(self, role: Role) -> int:
        """How many distinct people hold this role somewhere."""
        return len({grant.openid for grant in self.grants if grant.role is role})

    def summary(self, *, created: bool) -> SeedSummary:
        return SeedSummary(
            streets=1,
            communities=len(COMMUNITIES),
            grids=len(self.grids),
            branches=sum(1 for grid in self.grids if grid.branch),
            households=len(self.households),
            people=len(self.people),
            residents=self.holders(Role.RESIDENT),
            volunteers=len(self.volunteers),
            grid_members=self.holders(Role.GRID_MEMBER),
            secretaries=self.holders(Role.SECRETARY),
            created=created,
        )


# --- planning (pure: no I/O, only the seeded generator) ---------------------------------


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point this many metres north and east of (lat, lng)."""
    dlat = north_m / METRES_PER_DEGREE_LAT
    dlng = east_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lng + dlng, 6)


class _Planner:
    """Draws the demo from one seeded generator; names and phone numbers never repeat."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.grids: list[PlannedGrid] = []
        self.households: list[PlannedHousehold] = []
        self.people: list[PlannedPerson] = []
        self.grants: list[PlannedGrant] = []
        self.volunteers: list[PlannedVolunteer] = []
        self._names: set[str] = set()
        self._phones: set[str] = set()
        # Frequent surnames come up more often, as in a real register.
        self._surname_weights = [1.0 / (rank + 4) for rank in range(len(SURNAMES))]

    def name(self, surname: str | None = None) -> str:
        while True:
            chars = GIVEN_FEMALE if self.rng.random() < 0.5 else GIVEN_MALE
            given = "".join(self.rng.sample(chars, 2 if self.rng.random() < 0.7 else 1))
            family = surname or self.rng.choices(SURNAMES, weights=self._surname_weights)[0]
            if family + given not in self._names:
                self._names.add(family + given)
                return family + given

    def phone(self, share: float = 1.0) -> str | None:
        if self.rng.random() >= share:
            return None
        while True:
            number = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def person(
        self, openid: str, *, party: float, phone: float = 1.0, surname: str | None = None
    ) -> PlannedPerson:
        """A new person; ``party`` and ``phone`` are the chances of being a member, having one."""
        person = PlannedPerson(
            openid=openid,
            name=self.name(surname),
            phone=self.phone(phone),
            is_party_member=self.rng.random() < party,
        )
        self.people.append(person)
        return person

    def plan(self) -> DemoPlan:
        admin = self.person("demo-street-admin", party=1.0)
        self.grants.append(PlannedGrant(admin.openid, Role.STREET_ADMIN))
        for spec in COMMUNITIES:
            self.community(spec, granted_by=admin.openid)
        self.residents()
        for spec in COMMUNITIES:
            self.community_volunteers(spec)
        return DemoPlan(
            grids=tuple(self.grids),
            households=tuple(self.households),
            people=tuple(self.people),
            grants=tuple(self.grants),
            volunteers=tuple(self.volunteers),
        )

    def community(self, spec: CommunitySpec, *, granted_by: str) -> None:
        """The secretary, the community grid with its leader, and each compound."""
        secretary = self.person(f"demo-secretary-{spec.slug}", party=1.0)
        self.grants.append(
            PlannedGrant(
                secretary.openid, Role.SECRETARY, community=spec.code, granted_by=granted_by
            )
        )
        root: GridKey = (spec.code, None, None)
        self.grids.append(PlannedGrid(root, spec.grid_name, GridLevel.COMMUNITY, spec.party_org))
        leader = self.person(f"demo-grid-{spec.slug}-leader", party=1.0)
        self.grants.append(
            PlannedGrant(leader.openid, Role.GRID_MEMBER, grid=root, granted_by=secretary.openid)
        )
        for number, compound in enumerate(spec.compounds, start=1):
            key: GridKey = (spec.code, compound.name, None)
            branch = f"{compound.name}党支部"
            self.grids.append(PlannedGrid(key, compound.name, GridLevel.BRANCH, branch))
            member = self.person(f"demo-grid-{spec.slug}-{number}", party=GRID_MEMBER_PARTY_SHARE)
            self.grants.append(
                PlannedGrant(member.openid, Role.GRID_MEMBER, grid=key, granted_by=secretary.openid)
            )
            self.buildings(spec, compound)

    def buildings(self, spec: CommunitySpec, compound: CompoundSpec) -> None:
        """A compound's building grids and their households, laid out two buildings a row."""
        centre = _offset(spec.lat, spec.lng, compound.north_m, compound.east_m)
        flats = [(unit, floor, flat) for unit in UNITS for floor in FLOORS for flat in FLATS]
        for number in range(1, self.rng.randint(*compound.buildings) + 1):
            building = f"{number}号楼"
            key: GridKey = (spec.code, compound.name, building)
            self.grids.append(PlannedGrid(key, building, GridLevel.BUILDING, None))
            row, column = divmod(number - 1, 2)
            spot = _offset(
                *centre, (row - 0.5) * BUILDING_SPACING_M, (column - 0.5) * BUILDING_SPACING_M
            )
            for unit, floor, flat in sorted(self.rng.sample(flats, HOUSEHOLDS_PER_BUILDING)):
                label = f"{unit}单元{floor}{flat:02d}"
                jitter = HOUSEHOLD_JITTER_M
                lat, lng = _offset(
                    *spot, self.rng.uniform(-jitter, jitter), self.rng.uniform(-jitter, jitter)
                )
                address = f"{spec.name}{compound.name}{building}{label}"
                self.households.append(PlannedHousehold(key, label, address, lat, lng))

    def residents(self) -> None:
        """About 1.2 registered residents in 70% of households, numbered in household order."""
        count = round(OCCUPIED_SHARE * len(self.households))
        occupied = sorted(self.rng.sample(range(len(self.households)), count))
        number = 0
        for index in occupied:
            household = self.households[index]
            size = 2 if self.rng.random() < SECOND_RESIDENT_SHARE else 1
            surname = None
            for _ in range(size):
                number += 1
                person = self.person(
                    f"demo-resident-{number:04d}",
                    party=RESIDENT_PARTY_SHARE,
                    phone=RESIDENT_PHONE_SHARE,
                    surname=surname,
                )
                self.grants.append(
                    PlannedGrant(
                        person.openid, Role.RESIDENT, household=(household.grid, household.label)
                    )
                )
                # a child keeps the family name; a spouse brings their own
                surname = person.name[0] if self.rng.random() < 0.5 else None

    def community_volunteers(self, spec: CommunitySpec) -> None:
        """Volunteers of one community: some party members, some living in its households."""
        homes = [household for household in self.households if household.grid[0] == spec.code]
        everyone = range(VOLUNTEERS_PER_COMMUNITY)
        party = set(self.rng.sample(everyone, round(VOLUNTEER_PARTY_SHARE * len(everyone))))
        local = set(self.rng.sample(everyone, round(VOLUNTEER_RESIDENT_SHARE * len(everyone))))
        for index in everyone:
            person = self.person(
                f"demo-volunteer-{len(self.volunteers) + 1:03d}",
                party=1.0 if index in party else 0.0,
                phone=VOLUNTEER_PHONE_SHARE,
            )
            self.grants.append(
                PlannedGrant(
                    person.openid,
                    Role.VOLUNTEER,
                    community=spec.code,
                    granted_by=f"demo-secretary-{spec.slug}",
                )
            )
            if index in local:
                home = self.rng.choice(homes)
                self.grants.append(
                    PlannedGrant(person.openid, Role.RESIDENT, household=(home.grid, home.label))
                )
                home_lat, home_lng = home.lat, home.lng
            else:
                angle = self.rng.uniform(0, 2 * math.pi)
                distance = self.rng.uniform(*VOLUNTEER_HOME_M)
                home_lat, home_lng = _offset(
                    spec.lat, spec.lng, distance * math.sin(angle), distance * math.cos(angle)
                )
            self.volunteers.append(
                PlannedVolunteer(
                    openid=person.openid,
                    community=spec.code,
                    skills=tuple(self.rng.sample(DEFAULT_SKILLS, self.rng.randint(1, 3))),
                    availability=self.availability(),
                    home_lat=home_lat,
                    home_lng=home_lng,
                    service_radius_m=self.rng.choice(SERVICE_RADII_M),
                    max_concurrent_tasks=self.rng.randint(1, 3),
                    phone_visible=person.phone is not None and self.rng.random() < 0.5,
                )
            )

    def availability(self) -> tuple[tuple[int, str, str], ...]:
        """One or two habits (weekday evenings, weekend mornings…) turned into weekly slots."""
        slots: set[tuple[int, str, str]] = set()
        for _, weekdays, times in self.rng.sample(AVAILABILITY_PATTERNS, self.rng.randint(1, 2)):
            start, end = self.rng.choice(times)
            for weekday in self.rng.sample(weekdays, self.rng.randint(1, len(weekdays))):
                slots.add((weekday, start, end))
        return tuple(sorted(slots))


def plan_demo(seed: int = DEMO_SEED) -> DemoPlan:
    """Draw the whole demo from ``random.Random(seed)``: the same seed gives the same demo."""
    return _Planner(seed).plan()


# --- writing (idempotent: every row is looked up by its natural key first) ---------------


def _chunks(items: Sequence[T], size: int = PROGRESS_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parent_key(key: GridKey) -> GridKey | None:
    code, compound, building = key
    if building is not None:
        return (code, compound, None)
    if compound is not None:
        return (code, None, None)
    return None


class _Steps:
    """Counts progress steps and reports them to the caller's callback, if any."""

    def __init__(self, callback: Progress | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def tick(self, label: str) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total, label)


def _step_count(plan: DemoPlan) -> int:
    def chunks(n: int) -> int:
        return math.ceil(n / PROGRESS_CHUNK)

    return (
        1  # street and communities
        + len(COMMUNITIES)  # grids and branches, one step a community
        + chunks(len(plan.households))
        + chunks(len(plan.people))
        + chunks(len(plan.grants))
        + 1  # volunteer profiles
        + 1  # projects and shared things
    )


async def seed_demo(*, progress: Progress | None = None, seed: int = DEMO_SEED) -> SeedSummary:
    """Write the demo street (牡丹街道): communities, grids, households, people and their roles."""
    plan = plan_demo(seed)
    writer = _Writer(plan, _Steps(progress, _step_count(plan)))
    async with in_transaction():  # all or nothing; one commit also keeps SQLite fast
        await writer.places()
        await writer.grids()
        await writer.households()
        await writer.people()
        await writer.grants()
        await writer.volunteer_profiles()
        await writer.showcase()
    return plan.summary(created=writer.created)


class _Writer:
    """Writes a plan step by step, keeping what exists; ``created`` tells if anything was new."""

    def __init__(self, plan: DemoPlan, steps: _Steps) -> None:
        self.plan = plan
        self.steps = steps
        self.created = False
        self.street: Street | None = None
        self.communities: dict[str, Community] = {}
        self.grid_by_key: dict[GridKey, Grid] = {}
        self.household_by_key: dict[tuple[int, str], Household] = {}  # (grid id, label)
        self.person_ids: dict[str, int] = {}

    async def places(self) -> None:
        street, made = await Street.get_or_create(code=STREET_CODE, defaults={"name": STREET_NAME})
        self.street = street
        self.created |= made
        for spec in COMMUNITIES:
            community, made = await Community.get_or_create(
                code=spec.code,
                defaults={
                    "street": street,
                    "name": spec.name,
                    "join_code": spec.join_code,
                    "address": spec.address,
                    "lat": spec.lat,
                    "lng": spec.lng,
                },
            )
            self.communities[spec.code] = community
            self.created |= made
        self.steps.tick("街道与社区")

    async def grids(self) -> None:
        """Grids through ``create_grid`` (it sets their paths), parents first; branches on them."""
        for spec in COMMUNITIES:
            community = self.communities[spec.code]
            existing = set(await Grid.filter(community=community).values_list("parent_id", "name"))
            for planned in self.plan.grids:
                if planned.key[0] != spec.code:
                    continue
                parent_key = _parent_key(planned.key)
                parent = self.grid_by_key[parent_key] if parent_key else None
                self.created |= (parent.id if parent else None, planned.name) not in existing
                grid = await create_grid(
                    community=community, name=planned.name, level=planned.level, parent=parent
                )
                self.grid_by_key[planned.key] = grid
                if planned.branch:
                    _, made = await PartyBranch.get_or_create(
                        community=community, name=planned.branch, defaults={"grid": grid}
                    )
                    self.created |= made
            self.steps.tick(f"{spec.name}网格与党支部")

    async def households(self) -> None:
        community_ids = [community.id for community in self.communities.values()]
        known = set(
            await Household.filter(community_id__in=community_ids).values_list("grid_id", "label")
        )
        done = 0
        for chunk in _chunks(self.plan.households):
            new = [
                Household(
                    community_id=self.grid_by_key[planned.grid].community_id,
                    grid_id=self.grid_by_key[planned.grid].id,
                    label=planned.label,
                    address=planned.address,
                    lat=planned.lat,
                    lng=planned.lng,
                )
                for planned in chunk
                if (self.grid_by_key[planned.grid].id, planned.label) not in known
            ]
            if new:
                await Household.bulk_create(new)
                self.created = True
            done += len(chunk)
            self.steps.tick(f"住户 {done}/{len(self.plan.households)}")
        self.household_by_key = {
            (household.grid_id, household.label): household
            for household in await Household.filter(community_id__in=community_ids)
        }

    async def people(self) -> None:
        openids = [planned.openid for planned in self.plan.people]
        known = set(await Person.filter(openid__in=openids).values_list("openid", flat=True))
        done = 0
        for chunk in _chunks(self.plan.people):
            # People already there keep their name and phone: they may have edited them.
            new = [
                Person(
                    openid=planned.openid,
                    name=planned.name,
                    phone=planned.phone,
                    is_party_member=planned.is_party_member,
                )
                for planned in chunk
                if planned.openid not in known
            ]
            if new:
                await Person.bulk_create(new)
                self.created = True
            done += len(chunk)
            self.steps.tick(f"人员 {done}/{len(self.plan.people)}")
        self.person_ids = dict(await Person.filter(openid__in=openids).values_list("openid", "id"))

    async def grants(self) -> None:
        """Roles through ``grant_role``, which keeps one grant per person, role and place."""
        assert self.street is not None
        person_ids = list(self.person_ids.values())
        before = await RoleGrant.filter(person_id__in=person_ids).count()
        done = 0
        for chunk in _chunks(self.plan.grants):
            for planned in chunk:
                household = None
                if planned.household is not None:
                    grid_key, label = planned.household
                    household = self.household_by_key[(self.grid_by_key[grid_key].id, label)]
                await grant_role(
                    person_id=self.person_ids[planned.openid],
                    role=planned.role,
                    community=self.communities[planned.community] if planned.community else None,
                    grid=self.grid_by_key[planned.grid] if planned.grid else None,
                    household=household,
                    street_id=self.street.id,
                    granted_by_id=self.person_ids[planned.granted_by]
                    if planned.granted_by
                    else None,
                )
            done += len(chunk)
            self.steps.tick(f"角色 {done}/{len(self.plan.grants)}")
        self.created |= await RoleGrant.filter(person_id__in=person_ids).count() > before

    async def volunteer_profiles(self) -> None:
        with_profile = set(
            await VolunteerProfile.filter(person_id__in=list(self.person_ids.values())).values_list(
                "person_id", flat=True
            )
        )
        new = [
            VolunteerProfile(
                person_id=self.person_ids[planned.openid],
                community_id=self.communities[planned.community].id,
                skills=list(planned.skills),
                availability=[
                    {"weekday": weekday, "start": start, "end": end}
                    for weekday, start, end in planned.availability
                ],
                home_lat=planned.home_lat,
                home_lng=planned.home_lng,
                service_radius_m=planned.service_radius_m,
                max_concurrent_tasks=planned.max_concurrent_tasks,
                phone_visible=planned.phone_visible,
            )
            for planned in self.plan.volunteers
            if self.person_ids[planned.openid] not in with_profile
        ]
        if new:
            await VolunteerProfile.bulk_create(new)
            self.created = True
        for community in self.communities.values():
            _, made = await CommunityMatching.get_or_create(
                community=community,
                defaults={"party_categories": list(DEMO_PARTY_FIRST_CATEGORIES)},
            )
            self.created |= made
        self.steps.tick("志愿者档案")

    async def showcase(self) -> None:
        """Practical-matter projects and shared things of each community, so its lists show."""
        today = dt.datetime.now(dt.UTC).date()
        for spec in COMMUNITIES:
            community = self.communities[spec.code]
            staff = {
                role: person_id
                for role, person_id in reversed(
                    await RoleGrant.filter(
                        community=community,
                        role__in=[Role.SECRETARY, Role.GRID_MEMBER, Role.VOLUNTEER],
                    )
                    .order_by("id")
                    .values_list("role", "person_id")
                )
            }
            secretary = staff.get(Role.SECRETARY)
            if secretary is None:
                continue
            if not await Project.exists(community=community):
                self.created = True
                for index, demo in enumerate(DEMO_PROJECTS):
                    owner = staff.get(Role.GRID_MEMBER, secretary) if index % 2 else secretary
                    await _demo_project(community, demo, owner, secretary, today)
            if not await SharedResource.exists(community=community):
                self.created = True
                lender = staff.get(Role.VOLUNTEER, secretary)
                for thing in DEMO_RESOURCES:
                    await SharedResource.create(
                        community=community,
                        owner_id=secretary if thing.unit_name else lender,
                        **vars(thing),
                    )
            if not await Activity.exists(community=community):
                self.created = True
                await _demo_activity(community, secretary)
        self.steps.tick("为民实事、志愿活动与共享清单")


DEMO_TIMEZONE = "Asia/Shanghai"  # the demo street's; progress months are local months


@dataclass(frozen=True)
class DemoProject:
    title: str
    description: str
    plan: str
    due_in_days: int
    percent: int  # 0: just listed
    note: str = ""


DEMO_PROJECTS = (
    DemoProject(
        "老旧小区加装电梯",
        "3 号楼 6 层无电梯，楼里 70 岁以上老人 11 位，上下楼难",
        "征求意见、方案公示、报批、施工、验收",
        150,
        35,
        "同意率 96%，方案已公示，正在报批",
    ),
    DemoProject(
        "社区长者食堂",
        "为辖区 80 岁以上和独居老人提供午餐，每餐 12 元",
        "选址改造、招募运营方、试运营",
        60,
        70,
        "改造完成，试运营一周，日均 46 人就餐",
    ),
    DemoProject(
        "楼道照明改造",
        "1—4 号楼楼道声控灯老化，夜间照明不足",
        "排查、采购、安装",
        30,
        0,
    ),
)


@dataclass(frozen=True)
class DemoResource:
    kind: ResourceKind
    title: str
    description: str
    location: str
    needs_approval: bool
    max_loan_days: int | None = None
    max_booking_hours: int | None = None
    opening_hours: str = ""
    unit_name: str = ""


DEMO_RESOURCES = (
    DemoResource(
        ResourceKind.SPACE,
        "党群服务中心活动室",
        "可容纳 40 人，有投影和音响，适合议事会、培训、文艺排练",
        "党群服务中心二楼",
        True,
        max_booking_hours=4,
        opening_hours="每天 8:30-20:30",
        unit_name="社区党群服务中心",
    ),
    DemoResource(
        ResourceKind.ITEM,
        "电钻工具箱",
        "冲击钻、螺丝刀、扳手一套，用完请清点归还",
        "本人家中，取用前联系",
        False,
        max_loan_days=3,
    ),
    DemoResource(
        ResourceKind.SKILL,
        "水电小修",
        "换水龙头、修开关插座，自带工具，不收费",
        "本社区上门",
        True,
        max_booking_hours=2,
    ),
)


async def _demo_activity(community: Community, secretary: int) -> None:
    """Next week's clean-up morning (环境清洁日), Saturday 09:00-11:00 local time, 20 places."""
    zone = ZoneInfo(DEMO_TIMEZONE)
    today = dt.datetime.now(zone).date()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 + 7)
    starts_at = dt.datetime.combine(saturday, dt.time(9), tzinfo=zone)
    await activities.publish(
        principal=await load_principal(person_id=secretary),
        community_id=community.id,
        body=ActivityIn(
            title="周末环境清洁日",
            description="清理楼道杂物和小区绿地垃圾，工具由社区提供",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
            place="社区党群服务中心门前广场",
            capacity=20,
        ),
        now=dt.datetime.now(dt.UTC),
    )


async def _demo_project(
    community: Community, demo: DemoProject, owner: int, secretary: int, today: dt.date
) -> None:
    """One project listed by the secretary, and its owner's first report when it has progress."""
    now = dt.datetime.now(dt.UTC)
    view = await projects.create_project(
        principal=await load_principal(person_id=secretary),
        community_id=community.id,
        body=ProjectIn(
            title=demo.title,
            description=demo.description,
            plan=demo.plan,
            owner_id=owner,
            due_date=today + dt.timedelta(days=demo.due_in_days),
        ),
        now=now,
        timezone=DEMO_TIMEZONE,
    )
    if demo.percent:
        await projects.post_update(
            principal=await load_principal(person_id=owner),
            project_id=view.project.id,
            body=ProjectUpdateIn(percent=demo.percent, note=demo.note),
            now=now,
            timezone=DEMO_TIMEZONE,
        )
