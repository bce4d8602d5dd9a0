"""Candidate search: the best volunteers for a need, from a per-community in-memory index.

Each process keeps one ``VolunteerIndex`` per community it has ranked for. The first ranking
builds it from ``values_list`` pages (never ORM objects), yielding to the event loop between
pages. Every later ranking first reads the profiles updated since the last look (an indexed
query on ``(community_id, updated_at)``; the ``record_*`` counters and profile saves stamp
``updated_at``) and patches those rows, so an accepted task or an edited profile counts at
once, on every process, with no cache to invalidate. A full rebuild runs in the background
every ``REBUILD_SECONDS`` to drop removed profiles and pick up changed party flags.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from server.accounts.models import Person
from server.accounts.permissions import Action, Principal, require
from server.core import errors
from server.core.clock import utcnow
from server.matching.index import COLUMNS, VolunteerIndex, features_from_row
from server.matching.scoring import (
    CandidateScore,
    NeedFeatures,
    RankedCandidate,
    need_features,
    ranked,
)
from server.needs.models import Need, NeedStatus
from server.needs.service import visible_need
from server.org.models import Household
from server.org.service import community_place
from server.volunteers import rules
from server.volunteers.models import CommunityMatching, VolunteerProfile
from server.volunteers.service import MatchingSettings, matching_settings

log = logging.getLogger(__name__)

BUILD_PAGE = 100  # rows read and converted between two yields to the event loop (~5-10 ms)
# Re-read this far back: a change stamped just before the last look may commit just after it,
# and API processes' clocks differ a little. Longer means re-reading more rows on every look.
POLL_OVERLAP = dt.timedelta(seconds=2)
REBUILD_SECONDS = 600.0
# A need in these states has nobody to match any more (or not yet).
NOT_MATCHABLE = frozenset(
    {
        NeedStatus.SUBMITTED,
        NeedStatus.REJECTED,
        NeedStatus.MERGED,
        NeedStatus.CANCELLED,
        NeedStatus.CONFIRMED,
        NeedStatus.CLOSED,
    }
)

__all__ = ["RankedCandidate", "rank_for_need"]


@dataclass
class _Entry:
    index: VolunteerIndex
    built_at: float  # loop time
    synced_at: dt.datetime  # profiles updated since (minus the overlap) are re-read
    rebuild: asyncio.Task[None] | None = None


@dataclass
class _Cache:
    entries: dict[int, _Entry] = field(default_factory=dict)
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def lock(self, community_id: int) -> asyncio.Lock:
        return self.locks.setdefault(community_id, asyncio.Lock())


_cache = _Cache()


def reset_indexes() -> None:
    """Forget every index (tests that wipe the database call this)."""
    for entry in _cache.entries.values():
        if entry.rebuild is not None:
            entry.rebuild.cancel()
    _cache.entries.clear()
    _cache.locks.clear()


async def _pages(query: QuerySet[VolunteerProfile], page: int) -> AsyncIterator[list[tuple]]:
    """``values_list`` rows of the query in pages by id, yielding to the event loop between."""
    last_id = 0
    while True:
        rows = (
            await query.filter(id__gt=last_id)
            .order_by("id")
            .limit(page)
            .values_list("id", *COLUMNS)
        )
        # let requests in between converting the rows (tortoise) and indexing them (the caller)
        await asyncio.sleep(0)
        if rows:
            yield [row[1:] for row in rows]
        if len(rows) < page:
            return
        last_id = rows[-1][0]
        await asyncio.sleep(0)  # and between pages


async def build_index(community_id: int, *, page: int = BUILD_PAGE) -> VolunteerIndex:
    """A fresh index of the community's volunteers, read in pages of ``page`` rows."""
    # sized up front: growing a 100,000-row index copies every column at once (a long block)
    expected = await VolunteerProfile.filter(community_id=community_id).count()
    index = VolunteerIndex(community_id, capacity=expected + expected // 8 + 64)
    async for rows in _pages(VolunteerProfile.filter(community_id=community_id), page):
        for row in rows:
            index.upsert(features_from_row(row))
    return index


async def _patch(entry: _Entry, community_id: int) -> None:
    """Re-read the profiles updated since the last look."""
    now = utcnow()
    # ids first, on the (community_id, updated_at) index, then the rows by primary key
    ids = await VolunteerProfile.filter(
        community_id=community_id, updated_at__gte=entry.synced_at - POLL_OVERLAP
    ).values_list("id", flat=True)
    for start in range(0, len(ids), BUILD_PAGE):
        if start:
            await asyncio.sleep(0)
        chunk = ids[start : start + BUILD_PAGE]
        rows = await VolunteerProfile.filter(id__in=chunk).values_list(*COLUMNS)
        await asyncio.sleep(0)
        for row in rows:
            entry.index.upsert(features_from_row(row))
    entry.synced_at = now


async def _rebuild(community_id: int) -> None:
    started = utcnow()
    index = await build_index(community_id)
    entry = _Entry(index, asyncio.get_running_loop().time(), started)
    await _patch(entry, community_id)
    _cache.entries[community_id] = entry


async def _rebuild_in_background(community_id: int) -> None:
    try:
        await _rebuild(community_id)
    except Exception:  # the current index keeps serving; the next look tries again
        log.exception("rebuilding the volunteer index of community %s failed", community_id)


async def community_index(community_id: int) -> VolunteerIndex:
    """The community's index, up to date with every committed profile change."""
    loop = asyncio.get_running_loop()
    async with _cache.lock(community_id):
        entry = _cache.entries.get(community_id)
        if entry is None:
            await _rebuild(community_id)
            return _cache.entries[community_id].index
        await _patch(entry, community_id)
        stale = loop.time() - entry.built_at > REBUILD_SECONDS
        if stale and (entry.rebuild is None or entry.rebuild.done()):
            entry.rebuild = asyncio.create_task(_rebuild_in_background(community_id))
        return entry.index


async def _need_location(need: Need) -> tuple[float | None, float | None]:
    if need.lat is not None and need.lng is not None:
        return need.lat, need.lng
    if need.household_id is not None:
        row = await Household.filter(id=need.household_id).values_list("lat", "lng")
        if row and row[0][0] is not None:
            return row[0][0], row[0][1]
    return None, None


async def _features(need: Need, settings: MatchingSettings) -> NeedFeatures:
    lat, lng = await _need_location(need)
    return need_features(
        category=need.category.value,
        title=need.title,
        description=need.description,
        lat=lat,
        lng=lng,
        preferred_start=need.preferred_start,
        preferred_end=need.preferred_end,
        skills=settings.skills,
        party_categories=settings.party_categories,
    )


async def score_need(
    need: Need, *, limit: int = 20, exclude_person_ids: Collection[int] = ()
) -> tuple[MatchingSettings, list[CandidateScore]]:
    """The need's best eligible volunteers with every factor, highest first."""
    settings = await matching_settings(community_id=need.community_id)
    features = await _features(need, settings)
    index = await community_index(need.community_id)
    scores = index.rank(
        features,
        weights=settings.weights,
        now=utcnow(),
        limit=limit,
        exclude=set(exclude_person_ids),
    )
    return settings, scores


async def rank_for_need(
    need_id: int, *, limit: int = 20, exclude_person_ids: Collection[int] = ()
) -> list[RankedCandidate]:
    """The need's best ``limit`` volunteers of its community, highest score first.

    Only eligible volunteers: below their task limit, and living within their own service
    radius of the need (when both places are known). Ties go to the lower person id. Raises
    ``NotFound`` for an unknown need; the need's status is not checked (the caller decides).
    """
    need = await Need.get_or_none(id=need_id)
    if need is None:
        raise errors.NotFound("找不到该需求")
    _, scores = await score_need(need, limit=limit, exclude_person_ids=exclude_person_ids)
    return [ranked(score) for score in scores]


@dataclass(frozen=True)
class CandidateList:
    need: Need
    settings: MatchingSettings
    scores: list[CandidateScore]
    people: dict[int, Person]


async def candidates_for_need(*, principal: Principal, need_id: int, limit: int) -> CandidateList:
    """Ranked candidates with the reasons, for staff over the need's place."""
    need, place = await visible_need(principal=principal, need_id=need_id)
    require(principal, Action.VIEW_CANDIDATES, place)
    if need.status in NOT_MATCHABLE:
        raise errors.Conflict("该需求当前状态不需要匹配志愿者", details={"status": need.status})
    settings, scores = await score_need(need, limit=limit)
    people = await Person.in_bulk([s.person_id for s in scores], "id")
    return CandidateList(need, settings, scores, dict(people))


async def update_settings(
    *,
    principal: Principal,
    community_id: int,
    skills: list[str] | None,
    weights: dict[str, float] | None,
    party_categories: list[str] | None,
) -> MatchingSettings:
    """Change the community's skill list, weights or party-first categories (leaders)."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_MATCHING, place)
    async with in_transaction() as connection:
        row, _ = await CommunityMatching.get_or_create(
            community_id=community_id, using_db=connection
        )
        row = await CommunityMatching.select_for_update().using_db(connection).get(id=row.id)
        if skills is not None:
            row.skills = rules.check_community_skills(skills)
        if weights:
            row.weights = {**row.weights, **weights}
        if party_categories is not None:
            row.party_categories = list(dict.fromkeys(party_categories))
        await row.save(using_db=connection)
    return await matching_settings(community_id=community_id)


async def view_settings(*, principal: Principal, community_id: int) -> MatchingSettings:
    """The community's matching settings (staff)."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_VOLUNTEERS, place)
    return await matching_settings(community_id=community_id)
