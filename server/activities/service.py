"""Group activities (志愿活动): publish, edit, cancel; sign up with a waitlist; check in; close.

Locking: every change of an activity or its sign-ups first locks the activity's row
(``SELECT ... FOR UPDATE`` on PostgreSQL, the single writer on SQLite), so sign-ups, withdrawals,
edits of the capacity and the close of one activity run one at a time: the capacity holds under
any number of simultaneous sign-ups, the waitlist is promoted in order, and the hours are credited
once. The activity's own status changes only through ``transition``, which writes the audit row
in the same transaction.

Hours go to the time passbook through ``server.passbook.service.credit_pending_hours`` (pending,
idempotent per activity and volunteer), like a confirmed task's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role
from server.accounts.permissions import Action, Place, Principal, allows, require, sees_community
from server.activities import rules
from server.activities.models import (
    ACTIVE_SIGNUP_STATUSES,
    SIGNUP_LABELS,
    Activity,
    ActivityEvent,
    ActivitySignup,
    ActivityStatus,
    SignupStatus,
)
from server.activities.rules import ActivityAction, ActivityStateConflict
from server.activities.schemas import ActivityIn, ActivityPatch
from server.core import errors
from server.notify.service import enqueue
from server.org.models import Community
from server.org.service import community_place
from server.passbook.models import SourceKind
from server.passbook.service import credit_pending_hours
from server.volunteers.models import VolunteerProfile
from server.volunteers.rules import check_skills
from server.volunteers.service import matching_settings

LOCAL = ZoneInfo("Asia/Shanghai")  # what volunteers read in their notices
SCAN_BATCH = 200


class AlreadySignedUp(errors.Conflict):
    code = "already_signed_up"
    default_message = "您已经报名了这个活动"


class SignupClosed(errors.Conflict):
    code = "signup_closed"
    default_message = "报名已截止"


class SkillsRequired(errors.Conflict):
    code = "skills_required"
    default_message = "这个活动需要特定技能"


class NotSignedUp(errors.Conflict):
    code = "not_signed_up"
    default_message = "您没有报名这个活动（或仍在候补）"


class ActivityStarted(errors.Conflict):
    code = "activity_started"
    default_message = "活动已经开始，不能再修改时间或退出报名"


class OutsideCheckinWindow(errors.Conflict):
    code = "outside_checkin_window"
    default_message = "不在签到时间内"


class WrongCheckinCode(errors.DomainError):
    status = 422
    code = "wrong_checkin_code"
    default_message = "签到码不对，请向现场负责人确认"


class CheckinLocked(errors.Conflict):
    code = "checkin_locked"
    default_message = "签到码错误次数过多，请现场负责人手动签到"


class CapacityBelowSignups(errors.Conflict):
    code = "capacity_below_signups"
    default_message = "名额不能少于已报名人数"


class NotStarted(errors.Conflict):
    code = "activity_not_started"
    default_message = "活动还没有开始"


def local_text(moment: dt.datetime) -> str:
    """A time as volunteers read it: Beijing time, to the minute."""
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------
# the one transition function


async def transition(
    activity: Activity,
    action: ActivityAction,
    *,
    actor_id: int | None,
    connection: BaseDBAsyncClient,
    updates: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    note: str = "",
) -> ActivityEvent:
    """The one way an activity changes: check the transition, compare-and-set, write the audit row.

    The caller holds the activity's row lock; the status compare-and-set backs it up.
    """
    previous = activity.status if activity.id else None
    target = rules.next_status(action, previous)
    values: dict[str, Any] = dict(updates or {})
    values["status"] = target
    if action is ActivityAction.PUBLISH:
        for name, value in values.items():
            setattr(activity, name, value)
        await activity.save(using_db=connection)
    else:
        changed = (
            await Activity.filter(id=activity.id, status=previous)
            .using_db(connection)
            .update(**values)
        )
        if not changed:
            raise ActivityStateConflict("活动刚被其他人更新，请刷新后重试")
        for name, value in values.items():
            setattr(activity, name, value)
    return await ActivityEvent.create(
        activity_id=activity.id,
        actor_id=actor_id,
        action=action.value,
        from_status=previous.value if previous else "",
        to_status=target.value,
        changes=changes or {},
        note=note,
        using_db=connection,
    )


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Counts:
    confirmed: int = 0
    waitlisted: int = 0


@dataclass(frozen=True)
class MySignup:
    signup: ActivitySignup
    waitlist_position: int | None


@dataclass(frozen=True)
class ActivityView:
    activity: Activity
    counts: Counts
    mine: MySignup | None = None


async def _counts(activity_ids: Sequence[int]) -> dict[int, Counts]:
    rows = (
        await ActivitySignup.filter(
            activity_id__in=list(activity_ids), status__in=ACTIVE_SIGNUP_STATUSES
        )
        .annotate(n=Count("id"))
        .group_by("activity_id", "status")
        .values("activity_id", "status", "n")
    )
    found: dict[int, dict[str, int]] = {}
    for row in rows:
        found.setdefault(int(row["activity_id"]), {})[str(row["status"])] = int(row["n"])
    return {
        aid: Counts(
            found.get(aid, {}).get(SignupStatus.CONFIRMED.value, 0),
            found.get(aid, {}).get(SignupStatus.WAITLISTED.value, 0),
        )
        for aid in activity_ids
    }


async def _waitlist_position(signup: ActivitySignup) -> int | None:
    if signup.status is not SignupStatus.WAITLISTED:
        return None
    ahead = await ActivitySignup.filter(
        activity_id=signup.activity_id, status=SignupStatus.WAITLISTED
    ).values_list("signed_up_at", "id")
    return 1 + sum(1 for at, sid in ahead if (at, sid) < (signup.signed_up_at, signup.id))


async def _mine(activity_ids: Sequence[int], person_id: int) -> dict[int, MySignup]:
    signups = await ActivitySignup.filter(
        activity_id__in=list(activity_ids), volunteer_id=person_id
    )
    return {s.activity_id: MySignup(s, await _waitlist_position(s)) for s in signups}


async def _views(activities: Sequence[Activity], person_id: int | None) -> list[ActivityView]:
    ids = [a.id for a in activities]
    counts = await _counts(ids)
    mine = await _mine(ids, person_id) if person_id is not None else {}
    return [ActivityView(a, counts[a.id], mine.get(a.id)) for a in activities]


async def _view(activity: Activity, person_id: int | None) -> ActivityView:
    return (await _views([activity], person_id))[0]


async def _activity_place(activity_id: int) -> tuple[Activity, Place]:
    activity = await Activity.get_or_none(id=activity_id).select_related("community")
    if activity is None:
        raise errors.NotFound("找不到该活动")
    community: Community = activity.community
    return activity, Place(street_id=community.street_id, community_id=community.id)


async def _readable_activity(principal: Principal, activity_id: int) -> tuple[Activity, Place]:
    """The activity, for anyone of its community, grid members included (404 for others)."""
    activity, place = await _activity_place(activity_id)
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该活动")
    return activity, place


async def _visible_activity(principal: Principal, activity_id: int) -> tuple[Activity, Place]:
    """The activity, for the sign-up, check-in and management paths (404 outside its community).

    Narrower than ``_readable_activity``: grid members read activities but act on none, and
    these paths answer them as they always have.
    """
    activity, place = await _activity_place(activity_id)
    if not allows(principal, Action.VIEW_COMMUNITY, place):
        raise errors.NotFound("找不到该活动")
    return activity, place


async def _managed_activity(principal: Principal, activity_id: int) -> tuple[Activity, Place]:
    activity, place = await _visible_activity(principal, activity_id)
    require(principal, Action.MANAGE_ACTIVITIES, place)
    return activity, place


async def list_activities(
    *, principal: Principal, community_id: int, scope: str, limit: int, now: dt.datetime
) -> list[ActivityView]:
    """A community's activities: upcoming (published, not yet over) soonest first, or past."""
    _, place = await community_place(community_id=community_id)
    if not sees_community(principal, place):  # grid members too: they promote activities
        raise errors.PermissionDenied(details={"action": Action.VIEW_COMMUNITY.value})
    query = Activity.filter(community_id=community_id)
    if scope == "upcoming":
        query = query.filter(status=ActivityStatus.PUBLISHED, ends_at__gt=now).order_by(
            "starts_at", "id"
        )
    elif scope == "past":
        query = query.filter(
            Q(status__not=ActivityStatus.PUBLISHED) | Q(ends_at__lte=now)
        ).order_by("-starts_at", "-id")
    else:
        query = query.order_by("-starts_at", "-id")
    return await _views(await query.limit(limit), principal.person_id)


async def my_signups(*, principal: Principal, scope: str, now: dt.datetime) -> list[ActivityView]:
    """The activities I signed up for (or wait for), soonest first; ``all`` adds past ones."""
    query = ActivitySignup.filter(volunteer_id=principal.person_id)
    if scope == "upcoming":
        query = query.filter(
            status__in=ACTIVE_SIGNUP_STATUSES,
            activity__status=ActivityStatus.PUBLISHED,
            activity__ends_at__gt=now,
        )
    ids = await query.values_list("activity_id", flat=True)
    activities = await Activity.filter(id__in=list(ids)).order_by("starts_at", "id")
    return await _views(activities, principal.person_id)


async def activity_detail(
    *, principal: Principal, activity_id: int
) -> tuple[ActivityView, list[ActivityEvent]]:
    """One activity with my sign-up; its audit rows for the secretary."""
    activity, place = await _readable_activity(principal, activity_id)
    events: list[ActivityEvent] = []
    if allows(principal, Action.MANAGE_ACTIVITIES, place):
        events = await ActivityEvent.filter(activity_id=activity.id).order_by("id")
    return await _view(activity, principal.person_id), events


@dataclass(frozen=True)
class Attendee:
    signup: ActivitySignup
    name: str
    waitlist_position: int | None


@dataclass(frozen=True)
class Roster:
    view: ActivityView
    confirmed: list[Attendee]
    waitlist: list[Attendee]


async def roster(*, principal: Principal, activity_id: int) -> Roster:
    """The secretary's list: who has a place (and attended), and the waitlist in order."""
    activity, _ = await _managed_activity(principal, activity_id)
    signups = await ActivitySignup.filter(
        activity_id=activity.id, status__in=ACTIVE_SIGNUP_STATUSES
    ).order_by("signed_up_at", "id")
    names = dict(
        await Person.filter(id__in=[s.volunteer_id for s in signups]).values_list("id", "name")
    )
    confirmed = [
        Attendee(s, str(names.get(s.volunteer_id, "")), None)
        for s in signups
        if s.status is SignupStatus.CONFIRMED
    ]
    waiting = [s for s in signups if s.status is SignupStatus.WAITLISTED]
    waitlist = [
        Attendee(s, str(names.get(s.volunteer_id, "")), index)
        for index, s in enumerate(waiting, start=1)
    ]
    return Roster(await _view(activity, None), confirmed, waitlist)


# ---------------------------------------------------------------------------------------------
# the secretary: publish, edit, cancel


async def _checked_skills(community_id: int, skills: Sequence[str]) -> list[str]:
    settings = await matching_settings(community_id=community_id)
    return check_skills(skills, settings.skills)


async def publish(
    *, principal: Principal, community_id: int, body: ActivityIn, now: dt.datetime
) -> ActivityView:
    """A secretary publishes an activity of the community."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_ACTIVITIES, place)
    schedule = rules.check_schedule(
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        signup_deadline=body.signup_deadline,
        hours=body.hours,
        now=now,
        require_future=True,
    )
    skills = await _checked_skills(community_id, body.skills)
    activity = Activity(community_id=community_id, created_by_id=principal.person_id)
    async with in_transaction() as connection:
        await transition(
            activity,
            ActivityAction.PUBLISH,
            actor_id=principal.person_id,
            connection=connection,
            updates={
                "title": body.title,
                "description": body.description,
                "starts_at": schedule.starts_at,
                "ends_at": schedule.ends_at,
                "signup_deadline": schedule.signup_deadline,
                "place": body.place,
                "lat": body.lat,
                "lng": body.lng,
                "capacity": body.capacity,
                "skills": skills,
                "hours": schedule.hours,
            },
        )
    return await _view(activity, principal.person_id)


async def _lock(activity_id: int, connection: BaseDBAsyncClient) -> Activity:
    activity = (
        await Activity.filter(id=activity_id).select_for_update().using_db(connection).get_or_none()
    )
    if activity is None:
        raise errors.NotFound("找不到该活动")
    return activity


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _active_signups(
    activity_id: int, connection: BaseDBAsyncClient, status: SignupStatus | None = None
) -> list[ActivitySignup]:
    statuses = [status] if status else list(ACTIVE_SIGNUP_STATUSES)
    return list(
        await ActivitySignup.filter(activity_id=activity_id, status__in=statuses)
        .using_db(connection)
        .order_by("signed_up_at", "id")
    )


def _notice(activity: Activity, **extra: Any) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "title": activity.title,
        "starts_at": activity.starts_at.astimezone(dt.UTC).isoformat(),
        "starts_at_text": local_text(activity.starts_at),
        "place": activity.place,
        "link": f"/pages/activities/detail?id={activity.id}",
        **extra,
    }


async def _promote(activity: Activity, connection: BaseDBAsyncClient, now: dt.datetime) -> int:
    """Fill free places from the waitlist, first signed up first; each is told. Returns how many."""
    confirmed = len(await _active_signups(activity.id, connection, SignupStatus.CONFIRMED))
    free = activity.capacity - confirmed
    if free <= 0:
        return 0
    waiting = (await _active_signups(activity.id, connection, SignupStatus.WAITLISTED))[:free]
    for signup in waiting:
        await (
            ActivitySignup.filter(id=signup.id, status=SignupStatus.WAITLISTED)
            .using_db(connection)
            .update(status=SignupStatus.CONFIRMED, promoted_at=now)
        )
        await enqueue(
            kind="activity_promoted",
            payload=_notice(activity, text=f"候补成功！您已获得活动“{activity.title}”的名额。"),
            recipient_id=signup.volunteer_id,
            dedupe_key=f"activity:{activity.id}:promoted:{signup.id}:{int(now.timestamp())}",
            using_db=connection,
        )
    return len(waiting)


EDITABLE = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "signup_deadline",
    "place",
    "lat",
    "lng",
    "capacity",
    "skills",
    "hours",
)
NOTIFY_ON = frozenset({"starts_at", "ends_at", "place"})  # what signed-up volunteers must know


async def edit(
    *, principal: Principal, activity_id: int, body: ActivityPatch, now: dt.datetime
) -> ActivityView:
    """Change an activity (while published); times only before it starts. Volunteers who signed
    up are told when the time or place changed; a larger capacity promotes from the waitlist."""
    activity, _ = await _managed_activity(principal, activity_id)
    given = body.model_fields_set - {"note"}
    if not given:
        raise errors.ValidationFailed("没有要修改的内容")
    skills = (
        await _checked_skills(activity.community_id, body.skills)
        if body.skills is not None
        else None
    )
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        rules.next_status(ActivityAction.EDIT, activity.status)
        proposed = {name: getattr(activity, name) for name in EDITABLE}
        for name in given:
            value = skills if name == "skills" else getattr(body, name)
            if value is None and name not in ("lat", "lng"):
                continue
            proposed[name] = value
        times_changed = any(
            proposed[name] != getattr(activity, name)
            for name in ("starts_at", "ends_at", "signup_deadline")
        )
        if times_changed and now >= activity.starts_at:
            raise ActivityStarted()
        schedule = rules.check_schedule(
            starts_at=proposed["starts_at"],
            ends_at=proposed["ends_at"],
            # a deadline that was the start (the default) or falls after the new start follows it
            signup_deadline=proposed["signup_deadline"]
            if "signup_deadline" in given
            or (
                activity.signup_deadline != activity.starts_at
                and proposed["signup_deadline"] <= proposed["starts_at"]
            )
            else None,
            hours=Decimal(proposed["hours"]) if "hours" in given else None,
            now=now,
            require_future=times_changed,
        )
        if "hours" not in given and Decimal(activity.hours) <= rules.duration_hours_cap(
            schedule.starts_at, schedule.ends_at
        ):
            schedule = rules.Schedule(
                schedule.starts_at, schedule.ends_at, schedule.signup_deadline, activity.hours
            )
        proposed.update(
            starts_at=schedule.starts_at,
            ends_at=schedule.ends_at,
            signup_deadline=schedule.signup_deadline,
            hours=schedule.hours,
        )
        confirmed = len(await _active_signups(activity.id, connection, SignupStatus.CONFIRMED))
        if proposed["capacity"] < confirmed:
            raise CapacityBelowSignups(
                f"已有 {confirmed} 人报名，名额不能少于 {confirmed}",
                details={"confirmed": confirmed},
            )
        changes = {
            name: [_jsonable(getattr(activity, name)), _jsonable(value)]
            for name, value in proposed.items()
            if _jsonable(value) != _jsonable(getattr(activity, name))
        }
        if not changes:
            return await _view(activity, principal.person_id)
        updates = {name: proposed[name] for name in changes}
        if activity.checkin_code and "ends_at" in changes:
            updates["checkin_code_expires_at"] = rules.checkin_window(
                schedule.starts_at, schedule.ends_at
            )[1]
        if "starts_at" in changes:
            updates["reminder_sent_at"] = None  # remind again a day before the new time
        event = await transition(
            activity,
            ActivityAction.EDIT,
            actor_id=principal.person_id,
            connection=connection,
            updates=updates,
            changes=changes,
            note=body.note,
        )
        if NOTIFY_ON & changes.keys():
            for signup in await _active_signups(activity.id, connection):
                await enqueue(
                    kind="activity_changed",
                    payload=_notice(
                        activity,
                        text=f"活动“{activity.title}”时间或地点有变：{local_text(activity.starts_at)}，"
                        f"{activity.place}。",
                    ),
                    recipient_id=signup.volunteer_id,
                    dedupe_key=f"activity:{activity.id}:changed:{event.id}:{signup.volunteer_id}",
                    using_db=connection,
                )
        if "capacity" in changes:
            await _promote(activity, connection, now)
    return await _view(activity, principal.person_id)


async def cancel(
    *, principal: Principal, activity_id: int, reason: str, now: dt.datetime
) -> ActivityView:
    """Cancel an activity before it ends; everyone signed up or waiting is told why."""
    await _managed_activity(principal, activity_id)
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        rules.next_status(ActivityAction.CANCEL, activity.status)
        if now >= activity.ends_at:
            raise ActivityStateConflict("活动已经结束，请结束活动而不是取消")
        await transition(
            activity,
            ActivityAction.CANCEL,
            actor_id=principal.person_id,
            connection=connection,
            updates={"cancel_reason": reason},
            note=reason,
        )
        for signup in await _active_signups(activity.id, connection):
            await enqueue(
                kind="activity_cancelled",
                payload=_notice(
                    activity, reason=reason, text=f"活动“{activity.title}”已取消：{reason}"
                ),
                recipient_id=signup.volunteer_id,
                dedupe_key=f"activity:{activity.id}:cancelled:{signup.volunteer_id}",
                using_db=connection,
            )
    return await _view(activity, principal.person_id)


# ---------------------------------------------------------------------------------------------
# volunteers: sign up, withdraw, check in


def _volunteer_of(principal: Principal, community_id: int) -> None:
    if not any(g.community_id == community_id for g in principal.grants_for(Role.VOLUNTEER)):
        raise errors.PermissionDenied("只有本社区的志愿者才能报名")


async def _check_volunteer_skills(person_id: int, skills: Sequence[str]) -> None:
    if not skills:
        return
    profile = await VolunteerProfile.get_or_none(person_id=person_id)
    own = set(profile.skills) if profile is not None else set()
    if not own & set(skills):
        raise SkillsRequired(
            f"这个活动需要以下技能之一：{'、'.join(skills)}（可在志愿者档案中添加）",
            details={"skills": list(skills)},
        )


async def sign_up(*, principal: Principal, activity_id: int, now: dt.datetime) -> ActivityView:
    """Sign up: a place while there is one, else the waitlist (first come, first served)."""
    activity, _ = await _visible_activity(principal, activity_id)
    _volunteer_of(principal, activity.community_id)
    await _check_volunteer_skills(principal.person_id, activity.skills)
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        if activity.status is not ActivityStatus.PUBLISHED:
            raise SignupClosed("活动已取消或已结束")
        if now >= activity.signup_deadline:
            raise SignupClosed(details={"signup_deadline": activity.signup_deadline.isoformat()})
        existing = (
            await ActivitySignup.filter(activity_id=activity.id, volunteer_id=principal.person_id)
            .using_db(connection)
            .first()
        )
        if existing is not None and existing.status in ACTIVE_SIGNUP_STATUSES:
            raise AlreadySignedUp(details={"status": existing.status.value})
        confirmed = len(await _active_signups(activity.id, connection, SignupStatus.CONFIRMED))
        status = (
            SignupStatus.CONFIRMED if confirmed < activity.capacity else SignupStatus.WAITLISTED
        )
        if existing is None:
            await ActivitySignup.create(
                activity_id=activity.id,
                volunteer_id=principal.person_id,
                status=status,
                signed_up_at=now,
                using_db=connection,
            )
        else:  # signed up again after withdrawing: to the back of the queue
            await (
                ActivitySignup.filter(id=existing.id)
                .using_db(connection)
                .update(
                    status=status,
                    signed_up_at=now,
                    withdrawn_at=None,
                    promoted_at=None,
                    attended_at=None,
                    attendance_marked_by_id=None,
                    wrong_codes=0,
                )
            )
    return await _view(activity, principal.person_id)


async def withdraw(*, principal: Principal, activity_id: int, now: dt.datetime) -> ActivityView:
    """Withdraw before the start; a freed place goes to the first on the waitlist."""
    await _visible_activity(principal, activity_id)
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        signup = (
            await ActivitySignup.filter(
                activity_id=activity.id,
                volunteer_id=principal.person_id,
                status__in=ACTIVE_SIGNUP_STATUSES,
            )
            .using_db(connection)
            .first()
        )
        if signup is None:
            raise NotSignedUp("您没有报名这个活动")
        if activity.status is not ActivityStatus.PUBLISHED:
            raise ActivityStateConflict("活动已取消或已结束")
        if now >= activity.starts_at:
            raise ActivityStarted()
        await (
            ActivitySignup.filter(id=signup.id)
            .using_db(connection)
            .update(status=SignupStatus.WITHDRAWN, withdrawn_at=now)
        )
        if signup.status is SignupStatus.CONFIRMED:
            await _promote(activity, connection, now)
    return await _view(activity, principal.person_id)


@dataclass(frozen=True)
class CheckinCode:
    code: str
    expires_at: dt.datetime
    opens_at: dt.datetime


async def checkin_code(
    *, principal: Principal, activity_id: int, rotate: bool, now: dt.datetime
) -> CheckinCode:
    """The secretary's check-in code (made on first ask; ``rotate`` replaces it). It expires
    with the check-in window, a little after the activity's end."""
    await _managed_activity(principal, activity_id)
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        if activity.status is not ActivityStatus.PUBLISHED:
            raise ActivityStateConflict("活动已取消或已结束，不再需要签到码")
        opens, closes = rules.checkin_window(activity.starts_at, activity.ends_at)
        if now >= closes:
            raise OutsideCheckinWindow("签到时间已过，请手动标记出席后结束活动")
        if rotate or not activity.checkin_code:
            activity.checkin_code = rules.new_checkin_code()
            activity.checkin_code_expires_at = closes
            await activity.save(
                update_fields=["checkin_code", "checkin_code_expires_at"], using_db=connection
            )
    return CheckinCode(activity.checkin_code, closes, opens)


async def check_in(
    *, principal: Principal, activity_id: int, code: str, now: dt.datetime
) -> ActivityView:
    """A volunteer with a place checks in with the code shown at the activity, within its window."""
    await _visible_activity(principal, activity_id)
    wrong = False
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        signup = (
            await ActivitySignup.filter(
                activity_id=activity.id,
                volunteer_id=principal.person_id,
                status=SignupStatus.CONFIRMED,
            )
            .using_db(connection)
            .first()
        )
        if signup is None:
            raise NotSignedUp()
        if activity.status is not ActivityStatus.PUBLISHED:
            raise ActivityStateConflict("活动已取消或已结束")
        opens, closes = rules.checkin_window(activity.starts_at, activity.ends_at)
        if not opens <= now < closes:
            raise OutsideCheckinWindow(
                f"签到时间为 {local_text(opens)} 至 {local_text(closes)}",
                details={"opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
            )
        if signup.attended_at is not None:
            return await _view(activity, principal.person_id)  # checked in already
        if signup.wrong_codes >= rules.CHECKIN_WRONG_MAX:
            raise CheckinLocked()
        expired = (
            activity.checkin_code_expires_at is None or now >= activity.checkin_code_expires_at
        )
        if expired or not rules.codes_match(code, activity.checkin_code):
            await (
                ActivitySignup.filter(id=signup.id)
                .using_db(connection)
                .update(wrong_codes=signup.wrong_codes + 1)
            )
            wrong = True  # the count is committed; the error is raised after the commit
        else:
            await (
                ActivitySignup.filter(id=signup.id)
                .using_db(connection)
                .update(attended_at=now, attendance_marked_by_id=None)
            )
    if wrong:
        left = rules.CHECKIN_WRONG_MAX - signup.wrong_codes - 1
        raise WrongCheckinCode(
            f"签到码不对，还可以再试 {left} 次" if left else None,
            details={"tries_left": left},
        )
    return await _view(activity, principal.person_id)


async def mark_attendance(
    *,
    principal: Principal,
    activity_id: int,
    volunteer_id: int,
    attended: bool,
    now: dt.datetime,
) -> Roster:
    """The secretary marks (or unmarks) a volunteer with a place as present, once it began."""
    await _managed_activity(principal, activity_id)
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        if activity.status is not ActivityStatus.PUBLISHED:
            raise ActivityStateConflict("活动已取消或已结束，出席不能再改")
        opens, _ = rules.checkin_window(activity.starts_at, activity.ends_at)
        if now < opens:
            raise NotStarted("活动还没开始，不能标记出席")
        changed = (
            await ActivitySignup.filter(
                activity_id=activity.id,
                volunteer_id=volunteer_id,
                status=SignupStatus.CONFIRMED,
            )
            .using_db(connection)
            .update(
                attended_at=now if attended else None,
                attendance_marked_by_id=principal.person_id,
            )
        )
        if not changed:
            raise errors.NotFound("这位志愿者没有这个活动的名额")
    return await roster(principal=principal, activity_id=activity_id)


# ---------------------------------------------------------------------------------------------
# closing: hours to the passbook


@dataclass(frozen=True)
class CloseResult:
    view: ActivityView
    credited: int
    attended: int


async def _close_locked(
    activity: Activity,
    *,
    actor_id: int | None,
    connection: BaseDBAsyncClient,
    note: str,
    now: dt.datetime,
) -> int:
    """Close a locked published activity and credit each attendee; returns how many."""
    attended = [
        s
        for s in await _active_signups(activity.id, connection, SignupStatus.CONFIRMED)
        if s.attended_at is not None
    ]
    await transition(
        activity,
        ActivityAction.CLOSE,
        actor_id=actor_id,
        connection=connection,
        updates={"closed_at": now},
        changes={"attended": [None, len(attended)]},
        note=note,
    )
    for signup in attended:
        await credit_pending_hours(
            volunteer_id=signup.volunteer_id,
            community_id=activity.community_id,
            hours=Decimal(activity.hours),
            source_kind=SourceKind.ACTIVITY.value,
            source_id=activity.id,
            connection=connection,
        )
    return len(attended)


async def close(*, principal: Principal, activity_id: int, now: dt.datetime) -> CloseResult:
    """The secretary closes the activity (once it began): everyone who attended gets the hours as
    pending in the time passbook. Closing again changes nothing and credits nothing."""
    await _managed_activity(principal, activity_id)
    credited = 0
    async with in_transaction() as connection:
        activity = await _lock(activity_id, connection)
        if activity.status is ActivityStatus.PUBLISHED:
            if now < activity.starts_at:
                raise NotStarted("活动还没开始，不能结束（不办了请取消）")
            credited = await _close_locked(
                activity,
                actor_id=principal.person_id,
                connection=connection,
                note="书记结束活动",
                now=now,
            )
        elif activity.status is not ActivityStatus.CLOSED:
            rules.next_status(ActivityAction.CLOSE, activity.status)
    attended = await ActivitySignup.filter(
        activity_id=activity.id, status=SignupStatus.CONFIRMED, attended_at__isnull=False
    ).count()
    return CloseResult(await _view(activity, principal.person_id), credited, attended)


async def close_due(*, now: dt.datetime) -> int:
    """Close activities nobody closed a day after their end (the bot); returns how many."""
    closed = 0
    due = (
        await Activity.filter(
            status=ActivityStatus.PUBLISHED, ends_at__lte=now - rules.AUTO_CLOSE_AFTER
        )
        .order_by("id")
        .limit(SCAN_BATCH)
        .values_list("id", flat=True)
    )
    for activity_id in due:
        async with in_transaction() as connection:
            activity = await _lock(int(str(activity_id)), connection)
            if activity.status is not ActivityStatus.PUBLISHED:
                continue  # closed by hand (or by another bot) meanwhile
            await _close_locked(
                activity, actor_id=None, connection=connection, note="结束后自动关闭", now=now
            )
            closed += 1
    return closed


# ---------------------------------------------------------------------------------------------
# the reminder a day ahead


async def send_due_reminders(*, now: dt.datetime) -> int:
    """Remind the volunteers with a place of each activity starting within a day (once per
    activity: the first process to stamp ``reminder_sent_at`` writes the outbox rows, in the
    same transaction). Returns how many reminders were written."""
    written = 0
    due = (
        await Activity.filter(
            status=ActivityStatus.PUBLISHED,
            reminder_sent_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=now + rules.REMINDER_BEFORE,
        )
        .order_by("starts_at", "id")
        .limit(SCAN_BATCH)
        .values_list("id", flat=True)
    )
    for activity_id in due:
        async with in_transaction() as connection:
            claimed = (
                await Activity.filter(
                    id=activity_id, reminder_sent_at__isnull=True, status=ActivityStatus.PUBLISHED
                )
                .using_db(connection)
                .update(reminder_sent_at=now)
            )
            if not claimed:
                continue  # another bot process reminded this one
            activity = await Activity.get(id=activity_id, using_db=connection)
            for signup in await _active_signups(activity.id, connection, SignupStatus.CONFIRMED):
                await enqueue(
                    kind="activity_reminder",
                    payload=_notice(
                        activity,
                        text=f"您报名的活动“{activity.title}”将于 {local_text(activity.starts_at)}"
                        f" 在{activity.place}开始，请准时到场签到。",
                    ),
                    recipient_id=signup.volunteer_id,
                    dedupe_key=(
                        f"activity:{activity.id}:reminder:"
                        f"{int(activity.starts_at.timestamp())}:{signup.volunteer_id}"
                    ),
                    using_db=connection,
                )
                written += 1
    return written


def signup_label(status: SignupStatus) -> str:
    return SIGNUP_LABELS[status]
