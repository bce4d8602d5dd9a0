"""Tasks (志愿红): invitation waves, the first volunteer to accept, check-in/out, hours, contacts.

Locking: every change that touches a need's invitations or task first locks the need's row
(``SELECT ... FOR UPDATE`` on PostgreSQL, the single writer on SQLite), so accepts, declines,
manual assignment and the wave scan of one need run one at a time, always in the same order (need
first, then its invitations and task): no deadlocks, and of two volunteers accepting at the same
instant exactly one wins. The need's own state changes only through ``change_status``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count, Max, Sum
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action as Permission
from server.accounts.permissions import Place, Principal, allows, require
from server.core import errors
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.geo import distance_m
from server.matching.service import rank_for_need
from server.needs.lifecycle import Action, Actor, IllegalTransition
from server.needs.masking import address_to_building
from server.needs.models import STATUS_LABELS, Need, NeedEvent, NeedStatus
from server.needs.photos import check_own_photos, photo_store
from server.needs.service import URGENCY_TO_NOTIFY, actors_of, change_status, need_place
from server.needs.visibility import (
    Access,
    NeedView,
    access_to,
    can_see_contact,
    sees_task,
    view_of,
    volunteer_view,
)
from server.notify.models import Urgency
from server.notify.service import enqueue
from server.org.models import Community
from server.passbook.models import HoursClaim
from server.passbook.service import credit_pending_hours
from server.tasks.hours import is_valid_hours, service_hours
from server.tasks.models import (
    INVITATION_LABELS,
    OPEN_TASK_STATUSES,
    TASK_LABELS,
    InvitationStatus,
    Task,
    TaskEvent,
    TaskInvitation,
    TaskPolicy,
    TaskStatus,
)
from server.volunteers import service as volunteer_counters
from server.volunteers.models import VolunteerProfile

SCAN_BATCH = 500
HOURS_EDIT_MAX = 24.0
# Statuses in which a need has (had) its volunteer: someone else accepting now lost the race.
TAKEN_STATUSES = frozenset(
    {
        NeedStatus.ASSIGNED,
        NeedStatus.IN_PROGRESS,
        NeedStatus.DONE,
        NeedStatus.CONFIRMED,
        NeedStatus.CLOSED,
    }
)


class TaskTaken(errors.Conflict):
    code = "task_taken"
    default_message = "手慢了，这个任务已被其他志愿者接下"


class InvitationClosed(errors.Conflict):
    code = "invitation_closed"
    default_message = "这个邀请已失效"


class TaskLimitReached(errors.Conflict):
    code = "task_limit_reached"
    default_message = "您手上的任务已满，完成后再接新任务吧"


class TaskStateConflict(errors.Conflict):
    code = "task_state_conflict"
    default_message = "任务当前状态不能进行此操作"


class TooFar(errors.DomainError):
    status = 422
    code = "too_far"
    default_message = "您离服务地点太远"


# ---------------------------------------------------------------------------------------------
# rules


@dataclass(frozen=True)
class TaskRules:
    """The settings that apply in one community (its ``TaskPolicy`` over the global settings)."""

    wave_size: int
    wave_timeout: dt.timedelta
    max_waves: int
    checkin_max_distance_m: int
    hours_cap: float


def merge_rules(settings: Settings, policy: TaskPolicy | None) -> TaskRules:
    """A community's values where it set them, the settings elsewhere (pure)."""

    def pick(name: str, default: float) -> float:
        value = getattr(policy, name, None) if policy is not None else None
        return default if value is None else value

    return TaskRules(
        wave_size=int(pick("wave_size", settings.task_wave_size)),
        wave_timeout=dt.timedelta(
            minutes=pick("wave_timeout_minutes", settings.task_wave_timeout_minutes)
        ),
        max_waves=int(pick("max_waves", settings.task_max_waves)),
        checkin_max_distance_m=int(
            pick("checkin_max_distance_m", settings.task_checkin_max_distance_m)
        ),
        hours_cap=float(pick("hours_cap", settings.task_hours_cap)),
    )


async def rules_for(*, community_id: int, settings: Settings) -> TaskRules:
    """The task rules of one community."""
    return merge_rules(settings, await TaskPolicy.get_or_none(community_id=community_id))


async def get_policy(*, principal: Principal, community_id: int, settings: Settings) -> TaskRules:
    """A secretary reads the community's task rules."""
    await _leader_of_community(principal, community_id)
    return await rules_for(community_id=community_id, settings=settings)


async def set_policy(
    *, principal: Principal, community_id: int, values: dict[str, float | None], settings: Settings
) -> TaskRules:
    """A secretary sets the community's own values (``None`` = back to the setting)."""
    await _leader_of_community(principal, community_id)
    policy, _ = await TaskPolicy.get_or_create(community_id=community_id)
    for name, value in values.items():
        setattr(policy, name, value)
    await policy.save()
    return merge_rules(settings, policy)


async def _leader_of_community(principal: Principal, community_id: int) -> None:
    community = await Community.get_or_none(id=community_id)
    if community is None:
        raise errors.NotFound("找不到该社区")
    require(principal, Permission.ASSIGN_TASKS, Place(community.street_id, community.id))


# ---------------------------------------------------------------------------------------------
# who sees what: the rule lives in server/needs/visibility.py (one place for every view)


async def _views(needs: Sequence[Need], *, person_id: int, staff: bool = False) -> list[NeedView]:
    """Each need as this person sees it: staff over its place in full, a volunteer through
    ``volunteer_view`` (the door only while their task is open)."""
    reporters = {p.id: p for p in await Person.filter(id__in=list({n.reporter_id for n in needs}))}
    return [
        view_of(need, reporters.get(need.reporter_id), Access.FULL)
        if staff
        else volunteer_view(
            need,
            reporters.get(need.reporter_id),
            contact_visible=can_see_contact(person_id, need),
        )
        for need in needs
    ]


# ---------------------------------------------------------------------------------------------
# waves


async def _lock_need(need_id: int, connection: BaseDBAsyncClient) -> Need:
    need = await Need.filter(id=need_id).select_for_update().using_db(connection).first()
    if need is None:
        raise errors.NotFound("找不到该需求")
    return need


def _need_payload(need: Need) -> dict[str, object]:
    return {
        "need_id": need.id,
        "title": need.title,
        "address": address_to_building(need.address),
    }


async def _send_wave(
    need: Need, *, rules: TaskRules, now: dt.datetime, connection: BaseDBAsyncClient
) -> int:
    """Invite the next wave of candidates (or escalate when none are left); in the caller's
    transaction, with the need locked. Returns how many were invited."""
    previous = (
        await TaskInvitation.filter(need_id=need.id)
        .using_db(connection)
        .values_list("volunteer_id", "wave")
    )
    invited: set[int] = {int(volunteer) for volunteer, _ in previous}
    wave = max((int(w) for _, w in previous), default=0) + 1
    candidates = (
        await rank_for_need(need.id, limit=rules.wave_size, exclude_person_ids=invited)
        if wave <= rules.max_waves
        else []
    )
    if not candidates:
        await _escalate_unmatched(need, waves=wave - 1, invited=len(invited), connection=connection)
        return 0
    expires_at = now + rules.wave_timeout
    for rank, candidate in enumerate(candidates, start=1):
        invitation = await TaskInvitation.create(
            need_id=need.id,
            volunteer_id=candidate.person_id,
            wave=wave,
            rank=rank,
            score=candidate.score,
            explanation=list(candidate.explanation),
            sent_at=now,
            expires_at=expires_at,
            using_db=connection,
        )
        await enqueue(
            kind="task_invitation",
            payload={
                **_need_payload(need),
                "invitation_id": invitation.id,
                "wave": wave,
                "expires_at": expires_at.isoformat(),
            },
            recipient_id=candidate.person_id,
            urgency=URGENCY_TO_NOTIFY[need.urgency.value],
            dedupe_key=f"invitation:{invitation.id}",
            using_db=connection,
        )
    return len(candidates)


async def _escalate_unmatched(
    need: Need, *, waves: int, invited: int, connection: BaseDBAsyncClient
) -> None:
    """No candidate left: the secretary is told (once per need and round) and assigns by hand."""
    note = (
        f"已发出 {waves} 轮邀请、共 {invited} 位志愿者，无人接单，请书记派单"
        if invited
        else "没有可邀请的志愿者，请书记派单"
    )
    await NeedEvent.create(
        need_id=need.id,
        action="unmatched",
        from_status=need.status.value,
        to_status=need.status.value,
        note=note,
        using_db=connection,
    )
    await enqueue(
        kind="task_unmatched",
        payload={**_need_payload(need), "waves": waves, "invited": invited, "text": note},
        community_id=need.community_id,
        urgency=Urgency.URGENT,
        dedupe_key=f"need:{need.id}:unmatched:w{waves}",
        using_db=connection,
    )


async def _withdraw_pending(
    need: Need, *, now: dt.datetime, reason: str, connection: BaseDBAsyncClient
) -> int:
    """Withdraw every pending invitation of the need and tell each invitee."""
    pending = await TaskInvitation.filter(
        need_id=need.id, status=InvitationStatus.PENDING
    ).using_db(connection)
    if not pending:
        return 0
    await (
        TaskInvitation.filter(id__in=[i.id for i in pending])
        .using_db(connection)
        .update(status=InvitationStatus.WITHDRAWN, responded_at=now)
    )
    for invitation in pending:
        await enqueue(
            kind="task_invitation_withdrawn",
            payload={**_need_payload(need), "invitation_id": invitation.id, "reason": reason},
            recipient_id=invitation.volunteer_id,
            dedupe_key=f"invitation:{invitation.id}:withdrawn",
            using_db=connection,
        )
    return len(pending)


async def _pending_left(need_id: int, connection: BaseDBAsyncClient) -> bool:
    return (
        await TaskInvitation.filter(need_id=need_id, status=InvitationStatus.PENDING)
        .using_db(connection)
        .exists()
    )


@dataclass(frozen=True)
class MatchingStarted:
    need: Need
    invited: int


async def start_matching(
    *, principal: Principal | None, need_id: int, settings: Settings, note: str = ""
) -> MatchingStarted:
    """开始匹配: the accepted need moves to matching and wave 1 goes to the top K candidates
    (staff, or the bot when staff have not assigned it by hand in time)."""
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(need_id, connection)
        place = await need_place(need)
        if principal is not None and not actors_of(principal, need, place):
            raise errors.NotFound("找不到该需求")
        await change_status(
            need=need,
            action=Action.START_MATCHING,
            principal=principal,
            place=place,
            note=note or "开始匹配志愿者",
            updates={"assignee_id": None},  # a reopened need may carry its earlier volunteer
            connection=connection,
        )
        rules = await rules_for(community_id=need.community_id, settings=settings)
        invited = await _send_wave(need, rules=rules, now=now, connection=connection)
    return MatchingStarted(need, invited)


async def _open_tasks_of(person_id: int, connection: BaseDBAsyncClient) -> int:
    return (
        await Task.filter(volunteer_id=person_id, status__in=list(OPEN_TASK_STATUSES))
        .using_db(connection)
        .count()
    )


async def _create_task(
    need: Need,
    *,
    volunteer_id: int,
    actor_id: int,
    action: str,
    invitation_id: int | None,
    assigned_by_id: int | None,
    now: dt.datetime,
    note: str,
    connection: BaseDBAsyncClient,
) -> tuple[Task, TaskEvent]:
    task = await Task.create(
        need_id=need.id,
        volunteer_id=volunteer_id,
        invitation_id=invitation_id,
        assigned_by_id=assigned_by_id,
        open_need_id=need.id,
        status=TaskStatus.ACCEPTED,
        accepted_at=now,
        using_db=connection,
    )
    event = await TaskEvent.create(
        task_id=task.id,
        actor_id=actor_id,
        action=action,
        to_status=TaskStatus.ACCEPTED.value,
        note=note,
        using_db=connection,
    )
    # the matching counters (load, acceptance, fairness) move with the task, in its transaction
    await volunteer_counters.record_acceptance(person_id=volunteer_id, now=now, using_db=connection)
    return task, event


async def accept_invitation(
    *, principal: Principal, invitation_id: int, settings: Settings
) -> TaskView:
    """接单: the first volunteer to accept gets the task; the others' invitations are withdrawn.

    Of two volunteers accepting at the same instant exactly one wins: the need's row lock orders
    them, and the second finds the need assigned (409 ``task_taken``).
    """
    invitation = await TaskInvitation.get_or_none(id=invitation_id)
    if invitation is None or invitation.volunteer_id != principal.person_id:
        raise errors.NotFound("找不到该邀请")
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(invitation.need_id, connection)
        invitation = await TaskInvitation.get(id=invitation_id, using_db=connection)
        if need.status in TAKEN_STATUSES and need.assignee_id != principal.person_id:
            raise TaskTaken(details={"need_id": need.id})
        if invitation.status is not InvitationStatus.PENDING:
            raise InvitationClosed(
                f"这个邀请{INVITATION_LABELS[invitation.status]}，不能再接单",
                details={"status": invitation.status.value},
            )
        if invitation.expires_at <= now:
            raise InvitationClosed("这个邀请已过期，不能再接单", details={"status": "expired"})
        if need.status is not NeedStatus.MATCHING:
            raise InvitationClosed(
                f"这条需求当前为“{STATUS_LABELS[need.status]}”，已不需要接单",
                details={"need_status": need.status.value},
            )
        profile = await VolunteerProfile.get_or_none(
            person_id=principal.person_id, using_db=connection
        )
        if profile is not None:
            open_tasks = await _open_tasks_of(principal.person_id, connection)
            if open_tasks >= profile.max_concurrent_tasks:
                raise TaskLimitReached(
                    f"您手上已有 {open_tasks} 个未完成的任务，完成后再接新任务吧",
                    details={"open_tasks": open_tasks, "max": profile.max_concurrent_tasks},
                )
        volunteer = await Person.get(id=principal.person_id, using_db=connection)
        place = await need_place(need)
        try:
            await change_status(
                need=need,
                action=Action.ASSIGN,
                principal=None,  # the system assigns to whoever accepted first
                place=place,
                note=f"志愿者 {volunteer.name} 接单",
                updates={"assignee_id": principal.person_id},
                connection=connection,
            )
        except IllegalTransition as exc:
            raise TaskTaken(details={"need_id": need.id}) from exc
        await (
            TaskInvitation.filter(id=invitation.id)
            .using_db(connection)
            .update(status=InvitationStatus.ACCEPTED, responded_at=now)
        )
        await _withdraw_pending(need, now=now, reason="已有志愿者接单", connection=connection)
        task, event = await _create_task(
            need,
            volunteer_id=principal.person_id,
            actor_id=principal.person_id,
            action="accept",
            invitation_id=invitation.id,
            assigned_by_id=None,
            now=now,
            note=f"第 {invitation.wave} 轮邀请",
            connection=connection,
        )
        reporter = await Person.get_or_none(id=need.reporter_id, using_db=connection)
    # the answer is built from what the transaction wrote: no second round of reads
    view = volunteer_view(
        need, reporter, contact_visible=can_see_contact(principal.person_id, need)
    )
    return TaskView(task, view, [event])


async def decline_invitation(
    *, principal: Principal, invitation_id: int, reason: str, settings: Settings
) -> TaskInvitation:
    """婉拒: when nobody of the wave is left to answer, the next wave goes out at once."""
    invitation = await TaskInvitation.get_or_none(id=invitation_id)
    if invitation is None or invitation.volunteer_id != principal.person_id:
        raise errors.NotFound("找不到该邀请")
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(invitation.need_id, connection)
        invitation = await TaskInvitation.get(id=invitation_id, using_db=connection)
        if invitation.status is not InvitationStatus.PENDING:
            raise InvitationClosed(
                f"这个邀请{INVITATION_LABELS[invitation.status]}",
                details={"status": invitation.status.value},
            )
        invitation.status = InvitationStatus.DECLINED
        invitation.responded_at = now
        invitation.decline_reason = reason
        await invitation.save(
            using_db=connection, update_fields=["status", "responded_at", "decline_reason"]
        )
        await volunteer_counters.record_decline(person_id=principal.person_id, using_db=connection)
        if need.status is NeedStatus.MATCHING and not await _pending_left(need.id, connection):
            rules = await rules_for(community_id=need.community_id, settings=settings)
            await _send_wave(need, rules=rules, now=now, connection=connection)
    return invitation


@dataclass
class WaveScan:
    expired: int = 0
    waves: int = 0
    escalated: int = 0
    withdrawn: int = 0
    started: int = 0


async def expire_waves(*, now: dt.datetime, settings: Settings) -> WaveScan:
    """The bot's minute: expire unanswered invitations and send the next wave (or escalate);
    withdraw invitations of needs that no longer need a volunteer (cancelled, assigned by hand).

    Safe from several bot processes at once: each need is handled under its row lock and only
    what is still pending changes.
    """
    result = WaveScan()
    due: list[int] = (
        await TaskInvitation.filter(  # type: ignore[assignment]
            status=InvitationStatus.PENDING, expires_at__lte=now
        )
        .distinct()
        .values_list("need_id", flat=True)
    )
    for need_id in due[:SCAN_BATCH]:
        async with in_transaction() as connection:
            need = await _lock_need(int(need_id), connection)
            late = TaskInvitation.filter(
                need_id=need.id, status=InvitationStatus.PENDING, expires_at__lte=now
            ).using_db(connection)
            silent: list[int] = await late.values_list("volunteer_id", flat=True)  # type: ignore[assignment]
            expired = await late.update(status=InvitationStatus.EXPIRED, responded_at=now)
            for volunteer_id in silent:  # a timeout counts like a decline for reliability
                await volunteer_counters.record_decline(
                    person_id=int(volunteer_id), using_db=connection
                )
            result.expired += expired
            # only the process that expired the wave moves on (another bot may have done it)
            if (
                expired
                and need.status is NeedStatus.MATCHING
                and not await _pending_left(need.id, connection)
            ):
                rules = await rules_for(community_id=need.community_id, settings=settings)
                if await _send_wave(need, rules=rules, now=now, connection=connection):
                    result.waves += 1
                else:
                    result.escalated += 1
    stale: list[int] = (
        await TaskInvitation.filter(  # type: ignore[assignment]
            status=InvitationStatus.PENDING
        )
        .exclude(need__status=NeedStatus.MATCHING)
        .distinct()
        .values_list("need_id", flat=True)
    )
    for need_id in stale[:SCAN_BATCH]:
        async with in_transaction() as connection:
            need = await _lock_need(int(need_id), connection)
            if need.status is not NeedStatus.MATCHING:
                result.withdrawn += await _withdraw_pending(
                    need,
                    now=now,
                    reason=f"需求{STATUS_LABELS[need.status]}",
                    connection=connection,
                )
    return result


async def auto_start_matching(*, now: dt.datetime, settings: Settings) -> int:
    """Start matching for needs accepted longer ago than the setting and not assigned by hand."""
    if settings.task_auto_match_after_minutes <= 0:
        return 0
    cutoff = now - dt.timedelta(minutes=settings.task_auto_match_after_minutes)
    due: list[int] = (
        await Need.filter(  # type: ignore[assignment]
            status=NeedStatus.ACCEPTED, status_changed_at__lte=cutoff
        )
        .order_by("id")
        .limit(SCAN_BATCH)
        .values_list("id", flat=True)
    )
    started = 0
    for need_id in due:
        try:
            await start_matching(
                principal=None,
                need_id=int(need_id),
                settings=settings,
                note="受理后无人派单，系统自动开始匹配",
            )
            started += 1
        except IllegalTransition:
            continue  # staff moved it meanwhile
    return started


async def run_wave_minute(*, now: dt.datetime, settings: Settings) -> WaveScan:
    """What the bot runs every minute: automatic starts, then expiries and next waves."""
    started = await auto_start_matching(now=now, settings=settings)
    result = await expire_waves(now=now, settings=settings)
    result.started = started
    return result


# ---------------------------------------------------------------------------------------------
# manual assignment


async def _is_volunteer_of(person_id: int, community_id: int) -> bool:
    if await VolunteerProfile.filter(person_id=person_id, community_id=community_id).exists():
        return True
    return await RoleGrant.filter(
        person_id=person_id, role=Role.VOLUNTEER, community_id=community_id
    ).exists()


async def assign_by_hand(
    *, principal: Principal, need_id: int, volunteer_id: int, note: str
) -> Task:
    """派单: a secretary gives the need to a volunteer of the community; invitations still
    pending are withdrawn."""
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(need_id, connection)
        place = await need_place(need)
        if not actors_of(principal, need, place) & {Actor.STAFF, Actor.LEADER}:
            raise errors.NotFound("找不到该需求")
        require(principal, Permission.ASSIGN_TASKS, place)
        if not await _is_volunteer_of(volunteer_id, need.community_id):
            raise errors.ValidationFailed(
                "只能派给本社区的志愿者", details=[{"field": "volunteer_id"}]
            )
        volunteer = await Person.get(id=volunteer_id, using_db=connection)
        await change_status(
            need=need,
            action=Action.ASSIGN,
            principal=principal,
            place=place,
            note=note or f"派单给志愿者 {volunteer.name}",
            updates={"assignee_id": volunteer_id},
            connection=connection,
        )
        invitation = await TaskInvitation.get_or_none(
            need_id=need.id, volunteer_id=volunteer_id, using_db=connection
        )
        if invitation is not None and invitation.status is InvitationStatus.PENDING:
            await (
                TaskInvitation.filter(id=invitation.id)
                .using_db(connection)
                .update(status=InvitationStatus.ACCEPTED, responded_at=now)
            )
        await _withdraw_pending(need, now=now, reason="书记已派单", connection=connection)
        task, _ = await _create_task(
            need,
            volunteer_id=volunteer_id,
            actor_id=principal.person_id,
            action="assign",
            invitation_id=invitation.id if invitation is not None else None,
            assigned_by_id=principal.person_id,
            now=now,
            note=note,
            connection=connection,
        )
        await enqueue(
            kind="task_assigned",
            payload={**_need_payload(need), "task_id": task.id},
            recipient_id=volunteer_id,
            urgency=URGENCY_TO_NOTIFY[need.urgency.value],
            dedupe_key=f"task:{task.id}:assigned",
            using_db=connection,
        )
        return task


# ---------------------------------------------------------------------------------------------
# execution


async def _own_task(principal: Principal, task_id: int) -> Task:
    task = await Task.get_or_none(id=task_id)
    if task is None or task.volunteer_id != principal.person_id:
        raise errors.NotFound("找不到该任务")
    return task


def _check_distance(need: Need, lat: float, lng: float, rules: TaskRules, verb: str) -> None:
    if rules.checkin_max_distance_m <= 0 or need.lat is None or need.lng is None:
        return
    distance = distance_m(lat, lng, need.lat, need.lng)
    if distance > rules.checkin_max_distance_m:
        raise TooFar(
            f"您离服务地点约 {round(distance)} 米，请到达后（{rules.checkin_max_distance_m} 米内）"
            f"再{verb}",
            details={"distance_m": round(distance), "max_m": rules.checkin_max_distance_m},
        )


def _state_conflict(task: Task, verb: str) -> TaskStateConflict:
    return TaskStateConflict(
        f"任务当前为“{TASK_LABELS[task.status]}”，不能{verb}",
        details={"status": task.status.value},
    )


async def check_in(
    *, principal: Principal, task_id: int, lat: float, lng: float, settings: Settings
) -> Task:
    """签到: the volunteer arrives (optionally within the set distance); the need is in progress."""
    task = await _own_task(principal, task_id)
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(task.need_id, connection)
        task = await Task.get(id=task_id, using_db=connection)
        if task.status is not TaskStatus.ACCEPTED:
            raise _state_conflict(task, "签到")
        rules = await rules_for(community_id=need.community_id, settings=settings)
        _check_distance(need, lat, lng, rules, "签到")
        await change_status(
            need=need,
            action=Action.START,
            principal=principal,
            place=await need_place(need),
            note="志愿者签到，开始服务",
            connection=connection,
        )
        task.status, task.checkin_at, task.checkin_lat, task.checkin_lng = (
            TaskStatus.IN_PROGRESS,
            now,
            lat,
            lng,
        )
        await task.save(
            using_db=connection,
            update_fields=["status", "checkin_at", "checkin_lat", "checkin_lng", "updated_at"],
        )
        await TaskEvent.create(
            task_id=task.id,
            actor_id=principal.person_id,
            action="check_in",
            from_status=TaskStatus.ACCEPTED.value,
            to_status=TaskStatus.IN_PROGRESS.value,
            using_db=connection,
        )
    return task


async def check_out(
    *,
    principal: Principal,
    task_id: int,
    lat: float,
    lng: float,
    note: str,
    photos: list[str],
    settings: Settings,
) -> Task:
    """签退: the work is done, with a note and photos as evidence; hours from the check times.

    The photos must be the volunteer's own uploads, still stored (``check_own_photos``)."""
    task = await _own_task(principal, task_id)
    await check_own_photos(person_id=principal.person_id, keys=photos, store=photo_store(settings))
    now = utcnow()
    async with in_transaction() as connection:
        need = await _lock_need(task.need_id, connection)
        task = await Task.get(id=task_id, using_db=connection)
        if task.status is not TaskStatus.IN_PROGRESS or task.checkin_at is None:
            raise _state_conflict(task, "签退")
        rules = await rules_for(community_id=need.community_id, settings=settings)
        _check_distance(need, lat, lng, rules, "签退")
        await change_status(
            need=need,
            action=Action.FINISH,
            principal=principal,
            place=await need_place(need),
            note=note or "志愿者签退，服务完成",
            updates={"done_at": now},
            connection=connection,
        )
        hours = service_hours(task.checkin_at, now, cap=rules.hours_cap)
        task.status = TaskStatus.DONE
        task.open_need_id = None
        task.checkout_at, task.checkout_lat, task.checkout_lng = now, lat, lng
        task.note, task.photos, task.hours = note, photos, hours
        await task.save(using_db=connection)
        await TaskEvent.create(
            task_id=task.id,
            actor_id=principal.person_id,
            action="check_out",
            from_status=TaskStatus.IN_PROGRESS.value,
            to_status=TaskStatus.DONE.value,
            hours_after=hours,
            note=note,
            using_db=connection,
        )
        await volunteer_counters.record_task_end(
            person_id=task.volunteer_id, completed=True, using_db=connection
        )
    return task


async def edit_hours(*, principal: Principal, task_id: int, hours: float, reason: str) -> Task:
    """A secretary corrects a finished task's hours; the audit row keeps before, after and why."""
    task = await Task.get_or_none(id=task_id)
    if task is None:
        raise errors.NotFound("找不到该任务")
    need = await Need.get(id=task.need_id)
    place = await need_place(need)
    if not actors_of(principal, need, place) & {Actor.STAFF, Actor.LEADER, Actor.ASSIGNEE}:
        raise errors.NotFound("找不到该任务")
    require(principal, Permission.APPROVE_HOURS, place)
    if not is_valid_hours(hours) or hours > HOURS_EDIT_MAX:
        raise errors.ValidationFailed(
            f"时长应为 0-{HOURS_EDIT_MAX:g} 之间的半小时整数倍", details=[{"field": "hours"}]
        )
    now = utcnow()
    async with in_transaction() as connection:
        await _lock_need(task.need_id, connection)
        task = await Task.get(id=task_id, using_db=connection)
        if task.status is not TaskStatus.DONE:
            raise _state_conflict(task, "修改时长")
        if (
            await HoursClaim.filter(source_kind="task", source_id=task.id)
            .using_db(connection)
            .exists()
        ):
            raise HoursAlreadyCredited()
        before = task.hours
        task.hours, task.hours_edited_by_id, task.hours_edited_at = hours, principal.person_id, now
        await task.save(
            using_db=connection,
            update_fields=["hours", "hours_edited_by_id", "hours_edited_at", "updated_at"],
        )
        await TaskEvent.create(
            task_id=task.id,
            actor_id=principal.person_id,
            action="edit_hours",
            from_status=task.status.value,
            to_status=task.status.value,
            hours_before=before,
            hours_after=hours,
            note=reason,
            using_db=connection,
        )
    return task


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class InvitationView:
    invitation: TaskInvitation
    need: NeedView


async def my_invitations(*, principal: Principal, pending_only: bool) -> list[InvitationView]:
    """The volunteer's invitations, newest first (pending ones only while still open)."""
    query = TaskInvitation.filter(volunteer_id=principal.person_id)
    if pending_only:
        query = query.filter(status=InvitationStatus.PENDING, expires_at__gt=utcnow())
    invitations = await query.order_by("-id").limit(100).select_related("need")
    views = await _views([i.need for i in invitations], person_id=principal.person_id)
    return [InvitationView(i, v) for i, v in zip(invitations, views, strict=True)]


@dataclass(frozen=True)
class TaskView:
    task: Task
    need: NeedView
    events: list[TaskEvent] = field(default_factory=list)


MY_TASK_SCOPES: dict[str, Collection[TaskStatus]] = {
    "open": OPEN_TASK_STATUSES,
    "done": (TaskStatus.DONE,),
    "all": tuple(TaskStatus),
}


async def my_tasks(*, principal: Principal, scope: str) -> list[TaskView]:
    """The volunteer's tasks, newest first."""
    tasks = (
        await Task.filter(volunteer_id=principal.person_id, status__in=list(MY_TASK_SCOPES[scope]))
        .order_by("-id")
        .limit(100)
        .select_related("need")
    )
    views = await _views([t.need for t in tasks], person_id=principal.person_id)
    return [TaskView(t, v) for t, v in zip(tasks, views, strict=True)]


async def task_detail(*, principal: Principal, task_id: int) -> TaskView:
    """One task for its volunteer (contact only while open) or for whoever sees its need in full
    (``sees_task``: the reporting resident, staff over the need); 404 for everyone else."""
    task = await Task.get_or_none(id=task_id).select_related("need")
    if task is None:
        raise errors.NotFound("找不到该任务")
    full = False
    if task.volunteer_id != principal.person_id:
        place = await need_place(task.need)
        if not sees_task(principal, task.need, place, volunteer_id=task.volunteer_id):
            raise errors.NotFound("找不到该任务")
        full = True
    (view,) = await _views([task.need], person_id=principal.person_id, staff=full)
    events = await TaskEvent.filter(task_id=task.id).order_by("id")
    return TaskView(task, view, events)


async def _staff_need(principal: Principal, need_id: int) -> Need:
    need = await Need.get_or_none(id=need_id)
    if need is None:
        raise errors.NotFound("找不到该需求")
    if not allows(principal, Permission.TRIAGE_NEEDS, await need_place(need)):
        raise errors.NotFound("找不到该需求")
    return need


async def need_invitations(
    *, principal: Principal, need_id: int
) -> tuple[Need, list[tuple[TaskInvitation, str]]]:
    """Staff see who was invited in which wave, with each candidate's explanation and answer."""
    need = await _staff_need(principal, need_id)
    invitations = await TaskInvitation.filter(need_id=need.id).order_by("wave", "rank", "id")
    names = dict(
        await Person.filter(id__in=[i.volunteer_id for i in invitations]).values_list("id", "name")
    )
    return need, [(i, str(names.get(i.volunteer_id, ""))) for i in invitations]


async def need_task(*, principal: Principal, need_id: int) -> TaskView:
    """The need's current (latest) task, for staff over it and the resident who reported it."""
    need = await Need.get_or_none(id=need_id)
    if need is None or access_to(principal, need, await need_place(need)) is not Access.FULL:
        raise errors.NotFound("找不到该需求")
    task = await Task.filter(need_id=need.id).order_by("-id").first()
    if task is None:
        raise errors.NotFound("这条需求还没有志愿者接单")
    return await task_detail(principal=principal, task_id=task.id)


class HoursAlreadyCredited(errors.Conflict):
    code = "hours_already_credited"
    default_message = "需求已确认，时长已记入时间存折，不能再修改（可在待审核列表中驳回）"


async def credit_confirmed_need(need: Need, *, connection: BaseDBAsyncClient) -> int:
    """When the resident confirms (or the system auto-confirms) a need, its finished tasks' hours
    go to the volunteers' time passbooks as pending (idempotent per task) and the rating to their
    matching counters (each confirmation's rating counts once); returns how many tasks."""
    done = await Task.filter(need_id=need.id, status=TaskStatus.DONE).using_db(connection)
    for task in done:
        if need.rating is not None:
            await volunteer_counters.record_rating(
                person_id=task.volunteer_id, stars=need.rating, using_db=connection
            )
        if task.hours:
            await credit_pending_hours(
                volunteer_id=task.volunteer_id,
                community_id=need.community_id,
                hours=Decimal(str(task.hours)),
                source_kind="task",
                source_id=task.id,
                rating=need.rating,
                connection=connection,
            )
    return len(done)


# ---------------------------------------------------------------------------------------------
# figures for matching


@dataclass
class VolunteerStats:
    """A volunteer's record, from the task tables (for load, reliability and fairness)."""

    active_tasks: int = 0
    invitations_accepted: int = 0
    invitations_declined: int = 0
    invitations_expired: int = 0
    tasks_completed: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    last_task_at: dt.datetime | None = None


async def volunteer_stats(person_ids: Collection[int]) -> dict[int, VolunteerStats]:
    """Per volunteer: open tasks, answers to invitations, completed tasks, ratings received and the
    time of the last task, by three aggregate queries (every asked id is in the result)."""
    ids = list(set(person_ids))
    stats = {person_id: VolunteerStats() for person_id in ids}
    if not ids:
        return stats
    task_rows = (
        await Task.filter(volunteer_id__in=ids)
        .annotate(n=Count("id"), last=Max("accepted_at"))
        .group_by("volunteer_id", "status")
        .values("volunteer_id", "status", "n", "last")
    )
    for row in task_rows:
        entry = stats[int(row["volunteer_id"])]
        status = TaskStatus(row["status"])
        if status in OPEN_TASK_STATUSES:
            entry.active_tasks += int(row["n"])
        elif status is TaskStatus.DONE:
            entry.tasks_completed += int(row["n"])
        last = row["last"]
        if isinstance(last, str):  # SQLite returns aggregates of datetimes as text
            last = dt.datetime.fromisoformat(last)
        if last is not None and (entry.last_task_at is None or last > entry.last_task_at):
            entry.last_task_at = last
    invitation_rows = (
        await TaskInvitation.filter(volunteer_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("volunteer_id", "status")
        .values("volunteer_id", "status", "n")
    )
    for row in invitation_rows:
        entry = stats[int(row["volunteer_id"])]
        answer = InvitationStatus(row["status"])
        if answer is InvitationStatus.ACCEPTED:
            entry.invitations_accepted += int(row["n"])
        elif answer is InvitationStatus.DECLINED:
            entry.invitations_declined += int(row["n"])
        elif answer is InvitationStatus.EXPIRED:
            entry.invitations_expired += int(row["n"])
    rating_rows = (
        await Task.filter(volunteer_id__in=ids, status=TaskStatus.DONE, need__rating__isnull=False)
        .annotate(total=Sum("need__rating"), n=Count("id"))
        .group_by("volunteer_id")
        .values("volunteer_id", "total", "n")
    )
    for row in rating_rows:
        entry = stats[int(row["volunteer_id"])]
        entry.rating_sum, entry.rating_count = int(row["total"] or 0), int(row["n"])
    return stats
