"""The needs list: submitting, the one transition function, reading with access rules."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action as Permission
from server.accounts.permissions import Place, Principal, allows, require
from server.accounts.service import grant_role
from server.core import errors, rawsql
from server.core.clock import utcnow
from server.core.geo import bounding_box, distance_m
from server.needs import sla
from server.needs.lifecycle import OPEN_STATUSES, Action, Actor, IllegalTransition, next_status
from server.needs.media import PhotoStore
from server.needs.models import STATUS_LABELS, Need, NeedEvent, NeedStatus, SubmissionKey
from server.needs.photos import check_own_photos
from server.needs.schemas import NeedSubmitIn
from server.needs.visibility import Access, NeedView, access_to, own_needs, staff_scope, view_of
from server.notify.models import Urgency
from server.notify.service import enqueue, outbox_row
from server.org.models import Community, Grid, Household
from server.org.service import household_with_grid
from server.wechat.client import WeChatClient, WeChatError, WeChatUnavailable

RATE_WINDOW_SECONDS = 3600
DUPLICATE_RADIUS_M = 50
DUPLICATE_WINDOW = dt.timedelta(days=7)
REOPEN_WINDOW = dt.timedelta(days=7)  # a resident may reopen within 7 days of confirming
SEC_CHECK_SCENE_PROFILE = 1  # msg_sec_check v2 scene 1 = 资料 (profile/content shown to others)
SEC_CHECK_PATH = "/wxa/msg_sec_check"
PAGE_MAX = 100

URGENCY_TO_NOTIFY = {
    "normal": Urgency.NORMAL,
    "urgent": Urgency.URGENT,
    "emergency": Urgency.EMERGENCY,
}


class IdempotencyKeyReused(errors.Conflict):
    code = "idempotency_key_reused"
    default_message = "同一个 Idempotency-Key 已用于不同的内容"


class ContentRejected(errors.DomainError):
    status = 422
    code = "content_rejected"
    default_message = "内容未通过安全检查，请修改后再提交"


def place_of(need: Need, street_id: int) -> Place:
    """Where a need sits, for permission checks."""
    return Place(
        street_id=street_id,
        community_id=need.community_id,
        grid_path=need.grid_path,
        household_id=need.household_id,
    )


async def need_place(need: Need) -> Place:
    community = await Community.get(id=need.community_id)
    return place_of(need, community.street_id)


def actors_of(principal: Principal | None, need: Need, place: Place) -> frozenset[Actor]:
    """In which capacities this person acts on this need (``None`` = a scheduled job)."""
    if principal is None:
        return frozenset({Actor.SYSTEM})
    actors = set()
    if principal.person_id in (need.reporter_id, need.entered_by_id):
        actors.add(Actor.REPORTER)
    if allows(principal, Permission.TRIAGE_NEEDS, place):
        actors.add(Actor.STAFF)
    if allows(principal, Permission.ASSIGN_TASKS, place):
        actors.add(Actor.LEADER)
    if need.assignee_id is not None and principal.person_id == need.assignee_id:
        actors.add(Actor.ASSIGNEE)
    return frozenset(actors)


def sla_due(need: Need, status: NeedStatus, started: dt.datetime) -> dt.datetime | None:
    """When the stage that starts now runs late (None when no SLA stage applies)."""
    # a due time set by staff (完成时限) bounds the completion stage only
    completion = sla.stage_for_status(status.value) is sla.Stage.COMPLETION
    state = sla.evaluate(
        status=status.value,
        category=need.category.value,
        urgency=need.urgency.value,
        stage_started_at=started,
        now=started,
        due_at_override=need.due_at if completion else None,
    )
    return state.due_at


async def change_status(
    *,
    need: Need,
    action: Action,
    principal: Principal | None,
    place: Place,
    note: str = "",
    updates: dict[str, Any] | None = None,
    connection: BaseDBAsyncClient,
) -> Need:
    """The one way a need changes state: check the transition, compare-and-set, audit, notify.

    The update only applies if nobody changed the need since it was read (its ``version``), so of
    two concurrent changes exactly one wins and the other gets a 409 with the current state.
    """
    previous = need.status
    target = next_status(action, previous, actors_of(principal, need, place))
    now = utcnow()
    values: dict[str, Any] = dict(updates or {})
    values.update(
        status=target, status_changed_at=now, version=need.version + 1, escalation_level=0
    )
    for field, value in values.items():
        setattr(need, field, value)
    need.sla_due_at = sla_due(need, target, now)
    values["sla_due_at"] = need.sla_due_at
    changed = (
        await Need.filter(id=need.id, version=need.version - 1)
        .using_db(connection)
        .update(**values)
    )
    if not changed:
        current = await Need.get(id=need.id, using_db=connection)
        raise IllegalTransition(
            f"需求刚被其他人更新为“{STATUS_LABELS[current.status]}”，请刷新后重试",
            details={"status": current.status.value, "action": action.value},
        )
    await NeedEvent.create(
        need_id=need.id,
        actor_id=principal.person_id if principal else None,
        action=action.value,
        from_status=previous.value,
        to_status=target.value,
        note=note,
        using_db=connection,
    )
    await enqueue(
        kind="need_status",
        payload={
            "need_id": need.id,
            "title": need.title,
            "status": target.value,
            "status_label": STATUS_LABELS[target],
            "note": note,
        },
        recipient_id=need.reporter_id,
        urgency=URGENCY_TO_NOTIFY[need.urgency.value],
        dedupe_key=f"need:{need.id}:v{need.version}",
        using_db=connection,
    )
    if target is NeedStatus.CONFIRMED:
        # 共评 done: the volunteers' hours go to their time passbooks, in this same transaction
        from server.tasks.service import credit_confirmed_need  # tasks builds on needs

        await credit_confirmed_need(need, connection=connection)
    return need


async def _check_content(*, wechat: WeChatClient, openid: str | None, text: str) -> None:
    """msg_sec_check v2 on text others will see; flagged text is refused, nothing is stored."""
    if not openid:
        return  # only people who logged in through WeChat submit; seeded staff have no openid
    payload = {"version": 2, "openid": openid, "scene": SEC_CHECK_SCENE_PROFILE, "content": text}
    try:
        result = await wechat.call(SEC_CHECK_PATH, payload)
    except (WeChatError, WeChatUnavailable) as exc:
        raise errors.UpstreamUnavailable("内容安全检查暂时不可用，请稍后再提交") from exc
    verdict = (result.get("result") or {}).get("suggest", "pass")
    if verdict != "pass":
        raise ContentRejected(details={"suggest": verdict})


async def _rate_limit(*, redis: Redis, person_id: int, now: dt.datetime, per_hour: int) -> None:
    window = int(now.timestamp()) // RATE_WINDOW_SECONDS
    key = f"rate:need_submit:{person_id}:{window}"
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, RATE_WINDOW_SECONDS)
    if count > per_hour:
        retry_after = RATE_WINDOW_SECONDS - int(now.timestamp()) % RATE_WINDOW_SECONDS
        raise errors.TooManyRequests(
            f"每小时最多提交 {per_hour} 条需求，请稍后再试",
            retry_after=retry_after,
            details={"limit": per_hour, "window_seconds": RATE_WINDOW_SECONDS},
        )


@dataclass(frozen=True)
class Duplicate:
    """An open need near a new one: what the submitter is shown to offer "follow that one"."""

    id: int
    title: str
    status: NeedStatus
    created_at: dt.datetime
    distance_m: float


# Every submission runs it: hand-written (rawsql), over the index of 0013_need_duplicates.
_DUPLICATE_CANDIDATES = (
    'SELECT "id", "title", "status", "created_at", "lat", "lng" FROM "need"'
    ' WHERE "community_id" = $1 AND "category" = $2'
    ' AND "lat" BETWEEN $3 AND $4 AND "lng" BETWEEN $5 AND $6 AND "created_at" >= $7'
    ' AND "status" IN ({})'.format(", ".join(f"'{status.value}'" for status in OPEN_STATUSES))
)


async def possible_duplicates(*, need: Need) -> list[Duplicate]:
    """Open needs of the same category within 50 m in the last 7 days, nearest first."""
    statement = _duplicates_statement(need)
    if statement is None:
        return []
    sql, values = statement
    return _duplicates_of(need, await rawsql.read(sql, *values))


def _duplicates_statement(need: Need) -> rawsql.Statement | None:
    if need.lat is None or need.lng is None:
        return None
    min_lat, max_lat, min_lng, max_lng = bounding_box(need.lat, need.lng, DUPLICATE_RADIUS_M)
    return _DUPLICATE_CANDIDATES, (
        need.community_id,
        str(need.category),
        min_lat,
        max_lat,
        min_lng,
        max_lng,
        need.created_at - DUPLICATE_WINDOW,
    )


def _duplicates_of(need: Need, rows: list[dict]) -> list[Duplicate]:
    assert need.lat is not None and need.lng is not None
    created_at = Need._meta.fields_map["created_at"]  # text on SQLite: read as the ORM does
    found = []
    for row in rows:
        if row["id"] == need.id:
            continue  # itself: skipped here rather than by one more condition in the query
        distance = distance_m(need.lat, need.lng, row["lat"], row["lng"])
        if distance <= DUPLICATE_RADIUS_M:  # the box's corners are farther: read only these
            found.append(
                Duplicate(
                    id=row["id"],
                    title=row["title"],
                    status=NeedStatus(row["status"]),
                    created_at=created_at.to_python_value(row["created_at"]),
                    distance_m=distance,
                )
            )
    return sorted(found, key=lambda d: d.distance_m)


def _body_hash(body: NeedSubmitIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class Submission:
    need: Need
    duplicates: list[Duplicate]
    replayed: bool


_SUBMISSION_KEY = (
    'SELECT "body_hash", "need_id" FROM "submission_key" WHERE "person_id" = $1 AND "key" = $2'
)


async def _replay(person_id: int, key: str, body_hash: str) -> Submission | None:
    # a new key is the usual case: look it up alone (a join with the need costs 3× as much)
    record = await rawsql.read_one(_SUBMISSION_KEY, person_id, key)
    if record is None:
        return None
    if record["body_hash"] != body_hash:
        raise IdempotencyKeyReused(details={"idempotency_key": key})
    need = await Need.get(id=record["need_id"])
    return Submission(need, await possible_duplicates(need=need), replayed=True)


async def _reporter_and_household(
    *, principal: Principal, body: NeedSubmitIn
) -> tuple[int, int | None, Household]:
    """(reporter id, entered-by id, household with its grid) for a resident's own or a grid
    member's 代办 need."""
    if body.on_behalf is not None:
        household = await household_with_grid(household_id=body.on_behalf.household_id)
        if household is None:
            raise errors.NotFound("找不到该住户")
        community = await Community.get(id=household.community_id)
        place = Place(community.street_id, community.id, household.grid.path, household.id)
        if not allows(principal, Permission.TRIAGE_NEEDS, place):
            raise errors.PermissionDenied("只能为本网格的住户代办")
        reporter = await _resident_for(
            household,
            body.on_behalf.resident_name,
            body.on_behalf.resident_phone,
            principal.person_id,
        )
        return reporter.id, principal.person_id, household
    homes = [g.household_id for g in principal.grants_for(Role.RESIDENT) if g.household_id]
    household_id = body.household_id or (homes[0] if len(homes) == 1 else None)
    if household_id is None:
        raise errors.ValidationFailed(
            "请先绑定住户，或选择为哪一户提交"
            if not homes
            else "您绑定了多户，请选择 household_id",
            details=[{"field": "household_id"}],
        )
    if household_id not in homes:
        raise errors.PermissionDenied("只能为自己绑定的住户提交需求")
    household = await household_with_grid(household_id=household_id)
    if household is None:
        raise errors.NotFound("找不到该住户")
    return principal.person_id, None, household


async def _resident_for(
    household: Household, name: str, phone: str | None, granted_by_id: int
) -> Person:
    """The household's resident of that name (created without WeChat if new)."""
    grants = await RoleGrant.filter(household_id=household.id, role=Role.RESIDENT).values_list(
        "person_id", flat=True
    )
    existing = await Person.filter(id__in=list(grants), name=name).first()
    if existing is not None:
        return existing
    person = await Person.create(name=name, phone=phone)
    await grant_role(
        person_id=person.id, role=Role.RESIDENT, household=household, granted_by_id=granted_by_id
    )
    return person


@dataclass(frozen=True)
class KeyUse:
    """An Idempotency-Key to record with the need it created."""

    person_id: int
    key: str
    body_hash: str


async def create_need(
    *,
    grid: Grid,
    household: Household | None,
    reporter_id: int,
    entered_by_id: int | None,
    actor_id: int | None,
    action: str,
    fields: dict[str, Any],
    connection: BaseDBAsyncClient | None,
    key_use: KeyUse | None = None,
) -> tuple[Need, list[Duplicate]]:
    """Write a new need with its first audit row, the staff notification and its Idempotency-Key
    (if any), in ``connection``'s transaction or else in one of its own; with its possible
    duplicates. Every way in (the mini-app, 代办, Open311) ends here."""
    now = utcnow()
    need = Need(
        community_id=grid.community_id,
        grid_id=grid.id,
        grid_path=grid.path,
        household_id=household.id if household else None,
        reporter_id=reporter_id,
        entered_by_id=entered_by_id,
        status=NeedStatus.SUBMITTED,
        status_changed_at=now,
        **fields,
    )
    need.sla_due_at = sla_due(need, NeedStatus.SUBMITTED, now)
    # hand-written statements (rawsql): on SQLite, committed with the other submits waiting
    duplicates = await rawsql.run_script(
        _new_need_statements(need, actor_id=actor_id, action=action, key_use=key_use),
        using_db=connection,
    )
    return need, duplicates


def _new_need_statements(
    need: Need, *, actor_id: int | None, action: str, key_use: KeyUse | None
) -> rawsql.Script[list[Duplicate]]:
    rawsql.inserted(need, (yield rawsql.insert_statement(need)))
    yield rawsql.row_statement(
        NeedEvent,
        {
            "need_id": need.id,
            "actor_id": actor_id,
            "action": action,
            "to_status": NeedStatus.SUBMITTED.value,
        },
    )
    yield outbox_row(
        kind="need_submitted",
        payload={"need_id": need.id, "title": need.title, "grid_id": need.grid_id},
        community_id=need.community_id,
        urgency=URGENCY_TO_NOTIFY[need.urgency.value],
        dedupe_key=f"need:{need.id}:submitted",
    )
    if key_use is not None:
        yield rawsql.row_statement(
            SubmissionKey,
            {
                "person_id": key_use.person_id,
                "key": key_use.key,
                "body_hash": key_use.body_hash,
                "need_id": need.id,
            },
        )
    duplicates = _duplicates_statement(need)
    return [] if duplicates is None else _duplicates_of(need, (yield duplicates))


async def submit_need(
    *,
    principal: Principal,
    body: NeedSubmitIn,
    idempotency_key: str | None,
    redis: Redis,
    wechat: WeChatClient,
    per_hour: int,
    photo_store: PhotoStore,
) -> Submission:
    """A resident (or a grid member for one) submits a need; retries with the same key replay.

    Its photos must be ones the submitter uploaded (``photos.check_own_photos``)."""
    body_hash = _body_hash(body)
    if idempotency_key:
        replay = await _replay(principal.person_id, idempotency_key, body_hash)
        if replay is not None:
            return replay
    reporter_id, entered_by_id, household = await _reporter_and_household(
        principal=principal, body=body
    )
    await check_own_photos(person_id=principal.person_id, keys=body.photos, store=photo_store)
    now = utcnow()
    await _rate_limit(redis=redis, person_id=principal.person_id, now=now, per_hour=per_hour)
    openid = principal.openid
    if openid is None:  # a principal not from load_principal, or a person without WeChat
        openid = (await Person.get(id=principal.person_id)).openid
    await _check_content(wechat=wechat, openid=openid, text=f"{body.title}\n{body.description}")
    grid: Grid = household.grid
    fields = body.model_dump(
        include={
            "category",
            "subcategory",
            "title",
            "description",
            "urgency",
            "preferred_start",
            "preferred_end",
            "photos",
            "allow_call",
        }
    )
    fields.update(
        lat=body.lat if body.lat is not None else household.lat,
        lng=body.lng if body.lng is not None else household.lng,
        address=body.address or household.address,
    )
    try:
        need, duplicates = await create_need(
            grid=grid,
            household=household,
            reporter_id=reporter_id,
            entered_by_id=entered_by_id,
            actor_id=principal.person_id,
            action="submit" if entered_by_id is None else "submit_on_behalf",
            fields=fields,
            connection=None,
            key_use=KeyUse(principal.person_id, idempotency_key, body_hash)
            if idempotency_key
            else None,
        )
    except IntegrityError:
        # the same key raced in from a concurrent retry: answer with what that one created
        if idempotency_key:
            replay = await _replay(principal.person_id, idempotency_key, body_hash)
            if replay is not None:
                return replay
        raise
    return Submission(need, duplicates, replayed=False)


async def need_access(*, principal: Principal, need_id: int) -> tuple[Need, Place, Access]:
    """The need and how much of it this person sees (``visibility.access_to``); 404 for anyone
    who sees nothing, so its existence is not revealed."""
    need = await Need.get_or_none(id=need_id)
    if need is None:
        raise errors.NotFound("找不到该需求")
    place = await need_place(need)
    access = access_to(principal, need, place)
    if access is None:
        raise errors.NotFound("找不到该需求")
    return need, place, access


async def visible_need(*, principal: Principal, need_id: int) -> tuple[Need, Place]:
    """The need if this person may see it in full (reporter, 代办 staff, staff over its place);
    404 for everyone else."""
    need, place, access = await need_access(principal=principal, need_id=need_id)
    if access is not Access.FULL:
        raise errors.NotFound("找不到该需求")
    return need, place


async def need_timeline(*, need_id: int) -> list[NeedEvent]:
    """Every change of the need, oldest first."""
    return await NeedEvent.filter(need_id=need_id).order_by("id")


@dataclass(frozen=True)
class NeedDetail:
    view: NeedView
    timeline: list[NeedEvent]


async def need_detail(*, principal: Principal, need_id: int) -> NeedDetail:
    """One need as this person may see it, with its timeline for those who see it in full."""
    need, _, access = await need_access(principal=principal, need_id=need_id)
    reporter = await Person.get_or_none(id=need.reporter_id)
    timeline = await need_timeline(need_id=need.id) if access is Access.FULL else []
    return NeedDetail(view_of(need, reporter, access), timeline)


async def _act(
    *,
    principal: Principal | None,
    need_id: int,
    action: Action,
    note: str = "",
    updates: dict[str, Any] | None = None,
) -> Need:
    async with in_transaction() as connection:
        need = await Need.get_or_none(id=need_id, using_db=connection)
        if need is None:
            raise errors.NotFound("找不到该需求")
        place = await need_place(need)
        if principal is not None and not actors_of(principal, need, place):
            raise errors.NotFound("找不到该需求")
        return await change_status(
            need=need,
            action=action,
            principal=principal,
            place=place,
            note=note,
            updates=updates,
            connection=connection,
        )


async def accept_need(
    *, principal: Principal, need_id: int, due_at: dt.datetime | None, note: str
) -> Need:
    """受理: the need enters the assignment stage (optionally with a due time)."""
    updates = {"due_at": due_at} if due_at is not None else None
    return await _act(
        principal=principal, need_id=need_id, action=Action.ACCEPT, note=note, updates=updates
    )


async def reject_need(*, principal: Principal, need_id: int, reason: str) -> Need:
    """不予受理, always with a reason the resident reads."""
    if len(reason.strip()) < 2:
        raise errors.ValidationFailed("不予受理必须说明理由", details=[{"field": "reason"}])
    return await _act(
        principal=principal,
        need_id=need_id,
        action=Action.REJECT,
        note=reason,
        updates={"reject_reason": reason},
    )


async def merge_need(*, principal: Principal, need_id: int, into_id: int, note: str) -> Need:
    """合并: a duplicate is folded into the original; its reporter now follows the original."""
    if into_id == need_id:
        raise errors.ValidationFailed("不能合并到自身", details=[{"field": "merge_into"}])
    original = await Need.get_or_none(id=into_id)
    if original is None:
        raise errors.ValidationFailed("要合并到的需求不存在", details=[{"field": "merge_into"}])
    source = await Need.get_or_none(id=need_id)
    if source is not None and source.community_id != original.community_id:
        raise errors.ValidationFailed("只能合并本社区的需求", details=[{"field": "merge_into"}])
    if original.status not in OPEN_STATUSES:
        raise errors.ValidationFailed(
            "要合并到的需求已结束", details=[{"field": "merge_into", "status": original.status}]
        )
    return await _act(
        principal=principal,
        need_id=need_id,
        action=Action.MERGE,
        note=note or f"与需求 #{into_id} 重复，已合并",
        updates={"merged_into_id": into_id},
    )


async def confirm_need(*, principal: Principal, need_id: int, rating: int, comment: str) -> Need:
    """共评: the resident confirms the result and rates it (1-5 stars)."""
    return await _act(
        principal=principal,
        need_id=need_id,
        action=Action.CONFIRM,
        note=comment,
        updates={"rating": rating, "rating_comment": comment, "confirmed_at": utcnow()},
    )


async def cancel_need(*, principal: Principal, need_id: int, reason: str) -> Need:
    """The resident withdraws the need before a volunteer is assigned."""
    return await _act(principal=principal, need_id=need_id, action=Action.CANCEL, note=reason)


async def reopen_need(*, principal: Principal, need_id: int, reason: str) -> Need:
    """The resident reopens within 7 days of confirming: the need goes back to triage."""
    need, _ = await visible_need(principal=principal, need_id=need_id)
    confirmed = need.confirmed_at
    if confirmed is not None and utcnow() - confirmed > REOPEN_WINDOW:
        raise IllegalTransition(
            f"确认已超过 {REOPEN_WINDOW.days} 天，不能重新打开，请提交新的需求",
            details={"status": need.status.value, "action": Action.REOPEN.value},
        )
    return await _act(principal=principal, need_id=need_id, action=Action.REOPEN, note=reason)


async def move_need(*, principal: Principal, need_id: int, grid_id: int, note: str) -> Need:
    """转办: staff move a need to another grid of the community (audited, not a state change)."""
    async with in_transaction() as connection:
        need = await Need.get_or_none(id=need_id, using_db=connection)
        if need is None:
            raise errors.NotFound("找不到该需求")
        place = await need_place(need)
        require(principal, Permission.TRIAGE_NEEDS, place)
        grid = await Grid.get_or_none(id=grid_id)
        if grid is None or grid.community_id != need.community_id:
            raise errors.ValidationFailed("只能转到本社区的网格", details=[{"field": "grid_id"}])
        target = Place(place.street_id, need.community_id, grid.path, need.household_id)
        require(principal, Permission.TRIAGE_NEEDS, target)
        changed = (
            await Need.filter(id=need.id, version=need.version)
            .using_db(connection)
            .update(grid_id=grid.id, grid_path=grid.path, version=need.version + 1)
        )
        if not changed:
            raise IllegalTransition("需求刚被其他人更新，请刷新后重试")
        await NeedEvent.create(
            need_id=need.id,
            actor_id=principal.person_id,
            action="move",
            from_status=need.status.value,
            to_status=need.status.value,
            note=note or f"转至网格 {grid.name}",
            using_db=connection,
        )
        need.grid_id, need.grid_path, need.version = grid.id, grid.path, need.version + 1
        return need


async def set_due(*, principal: Principal, need_id: int, due_at: dt.datetime) -> Need:
    """Staff set the time by which the need must be done (replaces the SLA limit)."""
    if due_at.tzinfo is None:
        raise errors.ValidationFailed("时间必须带时区", details=[{"field": "due_at"}])
    async with in_transaction() as connection:
        need = await Need.get_or_none(id=need_id, using_db=connection)
        if need is None:
            raise errors.NotFound("找不到该需求")
        place = await need_place(need)
        require(principal, Permission.TRIAGE_NEEDS, place)
        need.due_at = due_at
        sla_due_at = sla_due(need, need.status, need.status_changed_at)
        changed = (
            await Need.filter(id=need.id, version=need.version)
            .using_db(connection)
            .update(due_at=due_at, sla_due_at=sla_due_at, version=need.version + 1)
        )
        if not changed:
            raise IllegalTransition("需求刚被其他人更新，请刷新后重试")
        await NeedEvent.create(
            need_id=need.id,
            actor_id=principal.person_id,
            action="set_due",
            from_status=need.status.value,
            to_status=need.status.value,
            note=f"完成时限 {due_at.isoformat()}",
            using_db=connection,
        )
        need.sla_due_at, need.version = sla_due_at, need.version + 1
        return need


async def auto_confirm_done(*, older_than: dt.timedelta, now: dt.datetime) -> int:
    """Confirm needs left unrated after the resident's time ran out; returns how many."""
    confirmed = 0
    due: list[int] = await Need.filter(  # type: ignore[assignment]
        status=NeedStatus.DONE, status_changed_at__lt=now - older_than
    ).values_list("id", flat=True)
    for need_id in due:
        try:
            await _act(
                principal=None,
                need_id=int(need_id),
                action=Action.AUTO_CONFIRM,
                note=f"{older_than.days} 天未评价，系统自动确认",
                updates={"confirmed_at": now},
            )
            confirmed += 1
        except IllegalTransition:
            continue  # the resident confirmed it meanwhile
    return confirmed


@dataclass(frozen=True)
class Page:
    items: list[Need]
    next_cursor: str | None


def encode_cursor(need: Need) -> str:
    raw = f"{need.created_at.isoformat()}|{need.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, need_id = raw.split("|")
        return dt.datetime.fromisoformat(created), int(need_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ValidationFailed("cursor 无效", details=[{"field": "cursor"}]) from exc


def _stored_zone(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment


@dataclass(frozen=True)
class NeedFilter:
    statuses: Sequence[NeedStatus] = ()
    categories: Sequence[str] = ()
    urgencies: Sequence[str] = ()
    grid_id: int | None = None
    overdue: bool | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None


async def list_needs(
    *,
    principal: Principal,
    scope: str,
    community_id: int | None,
    filters: NeedFilter,
    cursor: str | None,
    limit: int,
) -> Page:
    """My needs (resident), my grids' queue (grid member) or a community's queue (secretary),
    newest first, with a cursor that stays stable while new needs arrive."""
    query = Need.all()
    if scope == "mine":
        query = query.filter(own_needs(principal))
    else:
        if community_id is None:
            raise errors.ValidationFailed("请指定社区", details=[{"field": "community_id"}])
        community = await Community.get_or_none(id=community_id)
        if community is None:
            raise errors.NotFound("找不到该社区")
        visible = staff_scope(principal, community)
        if visible is None:
            raise errors.PermissionDenied("您不负责该社区的需求")
        query = query.filter(visible)
    if filters.statuses:
        query = query.filter(status__in=list(filters.statuses))
    if filters.categories:
        query = query.filter(category__in=list(filters.categories))
    if filters.urgencies:
        query = query.filter(urgency__in=list(filters.urgencies))
    if filters.grid_id is not None:
        grid = await Grid.get_or_none(id=filters.grid_id)
        query = query.filter(grid_path__startswith=grid.path if grid else "/none/")
    if filters.overdue is not None:
        now = utcnow()
        query = (
            query.filter(sla_due_at__lt=now)
            if filters.overdue
            else query.filter(Q(sla_due_at__isnull=True) | Q(sla_due_at__gte=now))
        )
    # in UTC, as stored: SQLite compares the text, so "+08:00" values would compare wrongly
    if filters.created_from is not None:
        query = query.filter(created_at__gte=_stored_zone(filters.created_from))
    if filters.created_to is not None:
        query = query.filter(created_at__lt=_stored_zone(filters.created_to))
    return await page_of(query, cursor=cursor, limit=limit)


async def page_of(query: QuerySet[Need], *, cursor: str | None, limit: int) -> Page:
    """One page of the query's needs, newest first, after ``cursor`` (stable as needs arrive)."""
    if cursor:
        created, need_id = decode_cursor(cursor)
        query = query.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=need_id))
    limit = max(1, min(limit, PAGE_MAX))
    rows = await query.order_by("-created_at", "-id").limit(limit + 1)
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(items=list(rows[:limit]), next_cursor=next_cursor)


ESCALATION_LABELS = {
    sla.EscalationLevel.GRID: "网格员",
    sla.EscalationLevel.COMMUNITY: "社区书记",
    sla.EscalationLevel.STREET: "街道",
}
SCAN_BATCH = 500


@dataclass(frozen=True)
class ScanResult:
    warnings: int
    escalations: int


async def scan_sla(*, now: dt.datetime, policy: sla.SlaPolicy = sla.DEFAULT_POLICY) -> ScanResult:
    """预警提醒: warn once when an open need's stage reaches 80% of its limit, and record each
    escalation (grid → community → street) once, with a notification through the outbox.

    Safe to run from several bot processes at once: an escalation is written only by the process
    whose compare-and-set on ``escalation_level`` succeeds, and notifications carry dedupe keys.
    """
    warnings = escalations = 0
    last_id = 0
    while True:
        batch = (
            await Need.filter(
                id__gt=last_id, status__in=list(OPEN_STATUSES), sla_due_at__isnull=False
            )
            .order_by("id")
            .limit(SCAN_BATCH)
        )
        if not batch:
            return ScanResult(warnings, escalations)
        last_id = batch[-1].id
        for need in batch:
            completion = sla.stage_for_status(need.status.value) is sla.Stage.COMPLETION
            state = sla.evaluate(
                status=need.status.value,
                category=need.category.value,
                urgency=need.urgency.value,
                stage_started_at=need.status_changed_at,
                now=now,
                policy=policy,
                due_at_override=need.due_at if completion else None,
            )
            level = sla.escalation_due(sla.EscalationLevel(need.escalation_level), state)
            if level is not None:
                escalations += await _record_escalation(need, state, level)
            elif state.health is sla.Health.WARNING and need.escalation_level == 0:
                await enqueue(
                    kind="need_sla_warning",
                    payload={
                        "need_id": need.id,
                        "title": need.title,
                        "text": sla.describe(state),
                        "grid_id": need.grid_id,
                    },
                    community_id=need.community_id,
                    urgency=Urgency.URGENT,
                    dedupe_key=f"need:{need.id}:v{need.version}:warning",
                )
                warnings += 1


async def _record_escalation(need: Need, state: sla.SlaState, level: sla.EscalationLevel) -> int:
    async with in_transaction() as connection:
        claimed = (
            await Need.filter(id=need.id, version=need.version, escalation_level__lt=level)
            .using_db(connection)
            .update(escalation_level=int(level))
        )
        if not claimed:
            return 0  # another bot process recorded it, or the need moved on
        note = f"{sla.describe(state)}（上报{ESCALATION_LABELS[level]}）"
        await NeedEvent.create(
            need_id=need.id,
            action="escalate",
            from_status=need.status.value,
            to_status=need.status.value,
            note=note,
            using_db=connection,
        )
        await enqueue(
            kind="need_overdue",
            payload={
                "need_id": need.id,
                "title": need.title,
                "level": int(level),
                "level_label": ESCALATION_LABELS[level],
                "text": note,
                "grid_id": need.grid_id,
            },
            community_id=need.community_id,
            urgency=Urgency.URGENT,
            dedupe_key=f"need:{need.id}:v{need.version}:escalate:{int(level)}",
            using_db=connection,
        )
    return 1
