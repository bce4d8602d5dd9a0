"""Volunteer profiles: read and write one's own, list a community's, and keep the track record.

The ``record_*`` functions are how the tasks engine tells matching what happened (accepted,
declined, finished, rated). Call them inside the transaction of the change
(``using_db=connection``). Each stamps ``updated_at``, which is how the matching index notices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role
from server.accounts.permissions import Action, Principal, require
from server.core import errors
from server.core.clock import utcnow
from server.matching.scoring import DEFAULT_WEIGHTS, Weights, bumped_load
from server.org.service import community_place
from server.volunteers import rules
from server.volunteers.models import DEFAULT_SKILLS, CommunityMatching, VolunteerProfile
from server.volunteers.schemas import ProfileIn


@dataclass(frozen=True)
class MatchingSettings:
    """A community's skill list, weights and party-first categories (defaults without a row)."""

    community_id: int
    skills: tuple[str, ...] = DEFAULT_SKILLS
    weights: Weights = DEFAULT_WEIGHTS
    party_categories: tuple[str, ...] = ()
    customised_skills: bool = False


async def matching_settings(*, community_id: int) -> MatchingSettings:
    """The community's settings, or the defaults in code."""
    row = await CommunityMatching.get_or_none(community_id=community_id)
    if row is None:
        return MatchingSettings(community_id=community_id)
    return MatchingSettings(
        community_id=community_id,
        skills=tuple(row.skills) or DEFAULT_SKILLS,
        weights=Weights.from_mapping(row.weights),
        party_categories=tuple(row.party_categories),
        customised_skills=bool(row.skills),
    )


async def community_skills(*, principal: Principal, community_id: int) -> MatchingSettings:
    """The skill tag list volunteers of this community choose from."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_COMMUNITY, place)
    return await matching_settings(community_id=community_id)


@dataclass
class ProfileView:
    """A profile (or the defaults of a volunteer who has not filled one in) with the person."""

    person: Person
    profile: VolunteerProfile
    exists: bool


def _volunteer_communities(principal: Principal) -> list[int]:
    communities = sorted(
        {g.community_id for g in principal.grants_for(Role.VOLUNTEER) if g.community_id}
    )
    if not communities:
        raise errors.PermissionDenied("只有志愿者才有志愿者档案")
    return communities


def _volunteer_community(principal: Principal, community_id: int | None) -> int:
    communities = _volunteer_communities(principal)
    if community_id is None:
        if len(communities) > 1:
            raise errors.ValidationFailed(
                "您在多个社区做志愿者，请用 community_id 指明档案属于哪个社区",
                details=[{"field": "community_id", "location": "body"}],
            )
        return communities[0]
    if community_id not in communities:
        raise errors.PermissionDenied("您不是该社区的志愿者")
    return community_id


async def my_profile(*, principal: Principal) -> ProfileView:
    """The volunteer's own profile; the defaults (unsaved) until they fill it in."""
    communities = _volunteer_communities(principal)
    person = await Person.get(id=principal.person_id)
    profile = await VolunteerProfile.get_or_none(person_id=principal.person_id)
    if profile is not None:
        return ProfileView(person, profile, exists=True)
    community_id = communities[0]
    return ProfileView(
        person, VolunteerProfile(person_id=person.id, community_id=community_id), exists=False
    )


async def update_my_profile(*, principal: Principal, body: ProfileIn) -> ProfileView:
    """Replace the volunteer's own profile (skills from the community's list, valid slots)."""
    existing = await VolunteerProfile.get_or_none(person_id=principal.person_id)
    wanted = body.community_id or (existing.community_id if existing else None)
    community_id = _volunteer_community(principal, wanted)
    settings = await matching_settings(community_id=community_id)
    rules.check_home(body.home_lat, body.home_lng)
    skills = rules.check_skills(body.skills, settings.skills)
    slots = rules.check_slots([rules.Slot(s.weekday, s.start, s.end) for s in body.availability])
    values = {
        "community_id": community_id,
        "skills": skills,
        "availability": [{"weekday": s.weekday, "start": s.start, "end": s.end} for s in slots],
        "home_lat": body.home_lat,
        "home_lng": body.home_lng,
        "service_radius_m": body.service_radius_m,
        "max_concurrent_tasks": body.max_concurrent_tasks,
        "phone_visible": body.phone_visible,
    }
    async with in_transaction() as connection:
        person = await Person.select_for_update().using_db(connection).get(id=principal.person_id)
        if person.is_party_member != body.is_party_member:
            person.is_party_member = body.is_party_member
            await person.save(update_fields=["is_party_member"], using_db=connection)
        profile = await VolunteerProfile.get_or_none(
            person_id=principal.person_id, using_db=connection
        )
        if profile is None:
            profile = await VolunteerProfile.create(
                person_id=principal.person_id, using_db=connection, **values
            )
        else:
            profile.update_from_dict(values)
            await profile.save(using_db=connection)  # stamps updated_at: the index notices
    return ProfileView(person, profile, exists=True)


@dataclass(frozen=True)
class VolunteerPage:
    total: int
    items: list[ProfileView]


async def list_volunteers(
    *,
    principal: Principal,
    community_id: int,
    skill: str = "",
    party_member: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> VolunteerPage:
    """The community's volunteer profiles (staff), by person id."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_VOLUNTEERS, place)
    query = VolunteerProfile.filter(community_id=community_id)
    if party_member is not None:
        query = query.filter(person__is_party_member=party_member)
    profiles = await query.order_by("person_id").prefetch_related("person")
    if skill:  # JSON containment differs between SQLite and PostgreSQL: filter here
        profiles = [p for p in profiles if skill in p.skills]
    page = profiles[offset : offset + limit]
    return VolunteerPage(
        total=len(profiles), items=[ProfileView(p.person, p, exists=True) for p in page]
    )


# --- the track record (called by the tasks engine, inside its transactions) ------------------


def _profile(person_id: int, using_db: BaseDBAsyncClient | None) -> QuerySet[VolunteerProfile]:
    query = VolunteerProfile.filter(person_id=person_id)
    return query.using_db(using_db) if using_db is not None else query


async def record_acceptance(
    *, person_id: int, now: dt.datetime | None = None, using_db: BaseDBAsyncClient | None = None
) -> None:
    """The volunteer accepted an invitation (or was assigned by hand): one more active task."""
    now = now or utcnow()
    profile = await _profile(person_id, using_db).first()
    if profile is None:
        return
    await _profile(person_id, using_db).update(
        accepted_count=F("accepted_count") + 1,
        active_tasks=F("active_tasks") + 1,
        recent_load=bumped_load(profile.recent_load, profile.recent_load_at, now),
        recent_load_at=now,
        updated_at=now,
    )


async def record_decline(*, person_id: int, using_db: BaseDBAsyncClient | None = None) -> None:
    """The volunteer declined an invitation, or let it time out."""
    await _profile(person_id, using_db).update(
        declined_count=F("declined_count") + 1, updated_at=utcnow()
    )


async def record_task_end(
    *, person_id: int, completed: bool, using_db: BaseDBAsyncClient | None = None
) -> None:
    """A task of the volunteer ended: carried out (``completed``) or given back / taken away."""
    counter = "completed_count" if completed else "abandoned_count"
    now = utcnow()
    await _profile(person_id, using_db).update(**{counter: F(counter) + 1, "updated_at": now})
    await (
        _profile(person_id, using_db)
        .filter(active_tasks__gt=0)
        .update(active_tasks=F("active_tasks") - 1, updated_at=now)
    )


async def record_rating(
    *, person_id: int, stars: int, using_db: BaseDBAsyncClient | None = None
) -> None:
    """A resident rated the volunteer's finished task (1-5 stars)."""
    if not 1 <= stars <= 5:
        raise errors.ValidationFailed("评分应为 1-5 星")
    await _profile(person_id, using_db).update(
        rating_sum=F("rating_sum") + stars, rating_count=F("rating_count") + 1, updated_at=utcnow()
    )
