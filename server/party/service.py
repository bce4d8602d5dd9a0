"""双报到: party members register with their residence community; the secretary watches the
year's service hours of each against the community's expectation.

This is its own package rather than part of ``server/volunteers``: a registration has its own life
(registered, ended) and its own record (work unit, branch, date), and the community's yearly
expectation is a party-work rule, not a matching setting. Volunteers stays about matching.

Hours come from the time passbook (``HoursClaim`` of the community, by when they were credited):
approved hours count, pending ones are shown beside them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role
from server.accounts.permissions import Action, Principal, allows, require
from server.core import errors
from server.notify.service import enqueue
from server.org.models import Community
from server.org.service import community_place
from server.party.models import (
    DEFAULT_YEARLY_HOURS,
    PartyRegistration,
    PartyServiceSetting,
    RegistrationStatus,
)
from server.party.progress import Progress, ProgressStatus, behind_first, compute_progress
from server.passbook.models import ClaimStatus, HoursClaim
from server.passbook.service import approved_hours_by_person

CALENDAR = ZoneInfo("Asia/Shanghai")  # the service year runs 1 January to 31 December, Beijing
SUMMARY_LINES = 20  # the secretary's WeCom message lists at most this many names


class NotPartyMember(errors.PermissionDenied):
    code = "not_party_member"
    default_message = "只有党员才能进行双报到（请在志愿者档案中标明党员身份）"


class AlreadyRegistered(errors.Conflict):
    code = "already_registered"
    default_message = "您已在这个社区报到"


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(CALENDAR).date()


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[1 January, next 1 January) of a year in Beijing time, as UTC."""
    start = dt.datetime(year, 1, 1, tzinfo=CALENDAR)
    end = dt.datetime(year + 1, 1, 1, tzinfo=CALENDAR)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


# --- the community's expectation ----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    community_id: int
    yearly_hours: Decimal
    default: bool


async def yearly_hours(*, community_id: int) -> Setting:
    """The community's yearly expectation (the default until the secretary sets one)."""
    row = await PartyServiceSetting.get_or_none(community_id=community_id)
    if row is None:
        return Setting(community_id, DEFAULT_YEARLY_HOURS.quantize(Decimal("0.01")), True)
    return Setting(community_id, Decimal(row.yearly_hours), False)


async def get_setting(*, principal: Principal, community_id: int) -> Setting:
    """Anyone of the community may read the expectation."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_COMMUNITY, place)
    return await yearly_hours(community_id=community_id)


async def update_setting(*, principal: Principal, community_id: int, hours: Decimal) -> Setting:
    """The secretary sets the yearly service hours expected of each registered member."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_PARTY, place)
    async with in_transaction() as connection:
        await PartyServiceSetting.bulk_create(
            [PartyServiceSetting(community_id=community_id, yearly_hours=hours)],
            ignore_conflicts=True,
            using_db=connection,
        )
        await (
            PartyServiceSetting.filter(community_id=community_id)
            .using_db(connection)
            .update(yearly_hours=hours, updated_by_id=principal.person_id)
        )
    return Setting(community_id, hours.quantize(Decimal("0.01")), False)


# --- hours from the passbook --------------------------------------------------------------------


async def hours_in_year(
    *, community_id: int, year: int, as_of: dt.date, person_ids: list[int] | None = None
) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Approved and pending hours per person credited in the community in ``year`` up to the end
    of ``as_of`` (a service counts when it was credited, however late it was approved)."""
    start, end = year_bounds(year)
    day_after = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=CALENDAR)
    end = min(end, day_after.astimezone(dt.UTC))
    approved = await approved_hours_by_person(community_id, start, end)
    query = HoursClaim.filter(
        community_id=community_id,
        status=ClaimStatus.PENDING,
        created_at__gte=start,
        created_at__lt=end,
    )
    if person_ids is not None:
        query = query.filter(person_id__in=person_ids)
    pending: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for person_id, hours in await query.values_list("person_id", "hours"):
        pending[int(person_id)] += Decimal(str(hours))
    return approved, dict(pending)


@dataclass(frozen=True)
class MemberProgress:
    registration: PartyRegistration
    name: str
    community_name: str
    progress: Progress | None


async def _progress_of(
    registrations: list[PartyRegistration], *, year: int, as_of: dt.date
) -> list[MemberProgress]:
    names = dict(
        await Person.filter(id__in={r.person_id for r in registrations}).values_list("id", "name")
    )
    communities = dict(
        await Community.filter(id__in={r.community_id for r in registrations}).values_list(
            "id", "name"
        )
    )
    result: list[MemberProgress] = []
    by_community: dict[int, list[PartyRegistration]] = defaultdict(list)
    for registration in registrations:
        by_community[registration.community_id].append(registration)
    for community_id, members in by_community.items():
        setting = await yearly_hours(community_id=community_id)
        approved, pending = await hours_in_year(
            community_id=community_id,
            year=year,
            as_of=as_of,
            person_ids=[m.person_id for m in members],
        )
        for member in members:
            progress = None
            if member.status is RegistrationStatus.ACTIVE:
                progress = compute_progress(
                    year=year,
                    as_of=as_of,
                    registered_on=member.registered_on,
                    yearly_hours=setting.yearly_hours,
                    approved=approved.get(member.person_id, Decimal(0)),
                    pending=pending.get(member.person_id, Decimal(0)),
                )
            result.append(
                MemberProgress(
                    member,
                    str(names.get(member.person_id, "")),
                    str(communities.get(community_id, "")),
                    progress,
                )
            )
    return result


# --- members ------------------------------------------------------------------------------------


async def register(
    *,
    principal: Principal,
    community_id: int,
    work_unit: str,
    party_branch: str,
    registered_on: dt.date | None,
    now: dt.datetime,
) -> MemberProgress:
    """A party member who volunteers in their residence community registers there (报到)."""
    await community_place(community_id=community_id)
    person = await Person.get(id=principal.person_id)
    if not person.is_party_member:
        raise NotPartyMember()
    if not any(g.community_id == community_id for g in principal.grants_for(Role.VOLUNTEER)):
        raise errors.PermissionDenied("请先成为居住地社区的志愿者，再进行双报到")
    today = local_today(now)
    day = registered_on or today
    if day > today:
        raise errors.ValidationFailed(
            "报到日期不能晚于今天",
            details=[
                {"field": "registered_on", "location": "body", "message": "报到日期不能晚于今天"}
            ],
        )
    key = f"{person.id}:{community_id}"
    if await PartyRegistration.filter(active_key=key).exists():
        raise AlreadyRegistered()
    try:
        registration = await PartyRegistration.create(
            person_id=person.id,
            community_id=community_id,
            work_unit=work_unit,
            party_branch=party_branch,
            registered_on=day,
            active_key=key,
        )
    except IntegrityError as exc:  # a simultaneous second registration lost the race
        raise AlreadyRegistered() from exc
    (view,) = await _progress_of([registration], year=today.year, as_of=today)
    return view


async def my_registrations(
    *, principal: Principal, year: int | None, now: dt.datetime
) -> list[MemberProgress]:
    """My registrations (active first) with this year's progress in each community."""
    today = local_today(now)
    year = year or today.year
    rows = await PartyRegistration.filter(person_id=principal.person_id).order_by("status", "-id")
    return await _progress_of(list(rows), year=year, as_of=today)


async def end_registration(
    *, principal: Principal, registration_id: int, reason: str, now: dt.datetime
) -> MemberProgress:
    """End a registration (moved away): the member themself, or the community's secretary."""
    registration = await PartyRegistration.get_or_none(id=registration_id)
    if registration is None:
        raise errors.NotFound("找不到该报到记录")
    if registration.person_id != principal.person_id:
        _, place = await community_place(community_id=registration.community_id)
        if not allows(principal, Action.MANAGE_PARTY, place):
            raise errors.NotFound("找不到该报到记录")
    changed = await PartyRegistration.filter(
        id=registration.id, status=RegistrationStatus.ACTIVE
    ).update(status=RegistrationStatus.ENDED, active_key=None, ended_at=now, ended_reason=reason)
    if not changed:
        raise errors.Conflict("这条报到记录已经结束", details={"status": registration.status.value})
    registration = await PartyRegistration.get(id=registration.id)
    today = local_today(now)
    (view,) = await _progress_of([registration], year=today.year, as_of=today)
    return view


@dataclass(frozen=True)
class CommunityMembers:
    community_id: int
    year: int
    yearly_hours: Decimal
    as_of: dt.date
    total: int
    behind: int
    items: list[MemberProgress]


async def community_members(
    *,
    principal: Principal,
    community_id: int,
    year: int | None,
    status: str,
    party_branch: str | None,
    work_unit: str | None,
    limit: int,
    now: dt.datetime,
) -> CommunityMembers:
    """The secretary's list of registered members, furthest behind first, with filters."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_PARTY, place)
    today = local_today(now)
    return await members_progress(
        community_id=community_id,
        year=year or today.year,
        as_of=today,
        status=status,
        party_branch=party_branch,
        work_unit=work_unit,
        limit=limit,
    )


async def members_progress(
    *,
    community_id: int,
    year: int,
    as_of: dt.date,
    status: str = "all",
    party_branch: str | None = None,
    work_unit: str | None = None,
    limit: int | None = None,
) -> CommunityMembers:
    """Active registrations of a community with their progress, furthest behind first."""
    rows = list(
        await PartyRegistration.filter(
            community_id=community_id, status=RegistrationStatus.ACTIVE
        ).order_by("id")
    )
    views = await _progress_of(rows, year=year, as_of=as_of)
    behind = sum(
        1 for v in views if v.progress is not None and v.progress.status is ProgressStatus.BEHIND
    )
    if status != "all":
        views = [v for v in views if v.progress is not None and v.progress.status.value == status]
    if party_branch:
        views = [v for v in views if v.registration.party_branch == party_branch]
    if work_unit:
        views = [v for v in views if work_unit in v.registration.work_unit]
    views.sort(
        key=lambda v: (
            *(behind_first(v.progress) if v.progress else (Decimal(0), Decimal(1))),
            v.registration.person_id,
        )
    )
    setting = await yearly_hours(community_id=community_id)
    return CommunityMembers(
        community_id=community_id,
        year=year,
        yearly_hours=setting.yearly_hours,
        as_of=as_of,
        total=len(rows),
        behind=behind,
        items=views[:limit] if limit else views,
    )


# --- the monthly reminder -----------------------------------------------------------------------


async def send_monthly_reminders(*, community_id: int, as_of: dt.date, run_key: str) -> int:
    """Remind each member behind schedule (as of ``as_of``, the last day of the month before),
    and send the secretary a summary; keyed by ``run_key`` so a month is sent once. Returns how
    many outbox rows were written (or already there)."""
    members = await members_progress(community_id=community_id, year=as_of.year, as_of=as_of)
    if not members.total:
        return 0
    behind = [
        m
        for m in members.items
        if m.progress is not None and m.progress.status is ProgressStatus.BEHIND
    ]
    written = 0
    async with in_transaction() as connection:
        for member in behind:
            progress = member.progress
            assert progress is not None
            await enqueue(
                kind="party_progress_behind",
                payload={
                    "registration_id": member.registration.id,
                    "community_name": member.community_name,
                    "year": progress.year,
                    "approved_hours": str(progress.approved),
                    "pending_hours": str(progress.pending),
                    "expected_to_date": str(progress.expected_to_date),
                    "expected_year": str(progress.expected_year),
                    "behind_hours": str(progress.behind),
                    "text": (
                        f"{member.name}同志：截至 {as_of.month}月{as_of.day}日，"
                        f"您今年在{member.community_name}服务 {progress.approved} 小时"
                        f"（另有 {progress.pending} 小时待审核），按进度应达 "
                        f"{progress.expected_to_date} 小时，全年 {progress.expected_year} 小时。"
                        f"欢迎报名社区志愿活动。"
                    ),
                    "link": "/pages/party/progress",
                },
                recipient_id=member.registration.person_id,
                dedupe_key=f"party:{member.registration.id}:{run_key}",
                using_db=connection,
            )
            written += 1
        lines = [
            f"- {m.name}（{m.registration.party_branch}）：{m.progress.approved}/"
            f"{m.progress.expected_to_date} 小时，落后 {m.progress.behind}"
            for m in behind[:SUMMARY_LINES]
            if m.progress is not None
        ]
        if len(behind) > SUMMARY_LINES:
            lines.append(f"- ……另有 {len(behind) - SUMMARY_LINES} 人")
        text = (
            f"截至 {as_of:%Y-%m-%d}，已报到党员 {members.total} 人，进度落后 {len(behind)} 人"
            f"（全年每人 {members.yearly_hours} 小时）。"
        )
        await enqueue(
            kind="party_progress_summary",
            payload={
                "community_id": community_id,
                "as_of": as_of.isoformat(),
                "total": members.total,
                "behind": len(behind),
                "text": text,
                "markdown": "**双报到党员服务进度**\n> "
                + text
                + ("\n" + "\n".join(lines) if lines else ""),
                "link": f"/pages/party/members?community_id={community_id}",
            },
            community_id=community_id,
            dedupe_key=f"party-summary:{community_id}:{run_key}",
            using_db=connection,
        )
        written += 1
    return written
