"""Enqueueing notifications: domain code calls ``enqueue`` inside its own transaction."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action, Place, Principal, allows
from server.core import errors, rawsql
from server.core.clock import utcnow
from server.notify.models import (
    CommunityRobot,
    InboxItem,
    OutboxMessage,
    OutboxStatus,
    SubscribeConsent,
    Urgency,
    WecomUser,
)
from server.org.models import Community

KIND_MAX = 48  # column width of OutboxMessage.kind
DEDUPE_KEY_MAX = 128  # column width of OutboxMessage.dedupe_key


def outbox_row(
    *,
    kind: str,
    payload: dict[str, Any],
    recipient_id: int | None = None,
    community_id: int | None = None,
    urgency: Urgency = Urgency.NORMAL,
    dedupe_key: str | None = None,
) -> rawsql.Statement:
    """The statement writing one checked outbox row (a repeated dedupe key is kept once: ON
    CONFLICT DO NOTHING, which does not abort the caller's PostgreSQL transaction): ``enqueue``
    runs it, or a script of statements (``server.core.rawsql``) yields it."""
    if recipient_id is None and community_id is None:
        raise errors.ValidationFailed("通知必须有接收人或所属社区")
    if not kind or len(kind) > KIND_MAX:
        raise errors.ValidationFailed(f"通知类型长度应为 1-{KIND_MAX} 个字符")
    if dedupe_key is not None and len(dedupe_key) > DEDUPE_KEY_MAX:
        raise errors.ValidationFailed(f"去重键最多 {DEDUPE_KEY_MAX} 个字符")
    return rawsql.row_statement(
        OutboxMessage,
        {
            "kind": kind,
            "payload": payload,
            "recipient_id": recipient_id,
            "community_id": community_id,
            "urgency": urgency,
            "dedupe_key": dedupe_key,
        },
        ignore_conflicts=True,
    )


async def enqueue(
    *,
    kind: str,
    payload: dict[str, Any],
    recipient_id: int | None = None,
    community_id: int | None = None,
    urgency: Urgency = Urgency.NORMAL,
    dedupe_key: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> None:
    """Write one outbox row in the caller's transaction (a repeated dedupe key is kept once)."""
    sql, values = outbox_row(
        kind=kind,
        payload=payload,
        recipient_id=recipient_id,
        community_id=community_id,
        urgency=urgency,
        dedupe_key=dedupe_key,
    )
    await rawsql.fetch(sql, *values, using_db=using_db)


async def outbox_depth() -> dict[str, int]:
    """Messages per delivery status (every status present, zero when none)."""
    rows = (
        await OutboxMessage.all().annotate(n=Count("id")).group_by("status").values("status", "n")
    )
    counts = {status.value: 0 for status in OutboxStatus}
    for row in rows:
        counts[str(row["status"])] = int(row["n"])
    return counts


# --- the in-app inbox (站内信) ---

INBOX_PAGE_MAX = 100


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    next_cursor: str | None
    unread: int


def _encode_cursor(item_id: int) -> str:
    return base64.urlsafe_b64encode(f"inbox|{item_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        label, item_id = raw.split("|")
        if label != "inbox":
            raise ValueError(label)
        return int(item_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ValidationFailed("cursor 无效", details=[{"field": "cursor"}]) from exc


async def unread_count(*, person_id: int) -> int:
    """How many inbox items this person has not read."""
    return await InboxItem.filter(person_id=person_id, read_at__isnull=True).count()


async def list_inbox(
    *, person_id: int, cursor: str | None, limit: int, unread_only: bool = False
) -> InboxPage:
    """This person's inbox, newest first, with a cursor that stays stable as new items arrive."""
    query = InboxItem.filter(person_id=person_id)
    if unread_only:
        query = query.filter(read_at__isnull=True)
    if cursor:
        query = query.filter(id__lt=_decode_cursor(cursor))
    limit = max(1, min(limit, INBOX_PAGE_MAX))
    rows = list(await query.order_by("-id").limit(limit + 1))
    next_cursor = _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return InboxPage(rows[:limit], next_cursor, await unread_count(person_id=person_id))


async def mark_read(*, person_id: int, item_id: int) -> InboxItem:
    """Mark one of this person's inbox items read (someone else's is not found)."""
    item = await InboxItem.get_or_none(id=item_id, person_id=person_id)
    if item is None:
        raise errors.NotFound("没有这条消息")
    if item.read_at is None:
        item.read_at = utcnow()
        await InboxItem.filter(id=item.id, read_at__isnull=True).update(read_at=item.read_at)
    return item


async def mark_all_read(*, person_id: int) -> int:
    """Mark every unread item of this person read; returns how many."""
    return await InboxItem.filter(person_id=person_id, read_at__isnull=True).update(
        read_at=utcnow()
    )


# --- subscribe-message consents (wx.requestSubscribeMessage results) ---

CONSENT_ACCEPT = "accept"  # the user tapped 允许: one more message may be sent
CONSENT_MAX = 1000  # a runaway client cannot stockpile more than this per template


async def consents_of(*, person_id: int, template_ids: list[str]) -> dict[str, int]:
    """Consents left per known template id (zero when never granted)."""
    rows = await SubscribeConsent.filter(person_id=person_id, template_id__in=template_ids)
    left = {row.template_id: row.remaining for row in rows}
    return {template_id: left.get(template_id, 0) for template_id in template_ids}


async def record_consents(
    *, person_id: int, results: dict[str, str], known_template_ids: list[str]
) -> dict[str, int]:
    """Count each ``accept`` as one more consent for that template; other answers add nothing."""
    unknown = sorted(set(results) - set(known_template_ids))
    if unknown:
        raise errors.ValidationFailed(
            f"未知的订阅消息模板：{', '.join(unknown)}",
            details=[{"field": "results", "unknown": unknown}],
        )
    accepted = [tid for tid, answer in results.items() if answer == CONSENT_ACCEPT]
    async with in_transaction() as connection:
        for template_id in accepted:
            await SubscribeConsent.bulk_create(
                [SubscribeConsent(person_id=person_id, template_id=template_id, remaining=0)],
                ignore_conflicts=True,
                using_db=connection,
            )
            await (
                SubscribeConsent.filter(
                    person_id=person_id, template_id=template_id, remaining__lt=CONSENT_MAX
                )
                .using_db(connection)
                .update(remaining=F("remaining") + 1)
            )
    return await consents_of(person_id=person_id, template_ids=known_template_ids)


# --- dead messages ---

DEAD_PAGE_MAX = 200


async def visible_communities(*, principal: Principal) -> list[int]:
    """Communities whose failed notifications this person looks after (secretaries, street)."""
    streets = {grant.street_id for grant in principal.grants}
    rows = await Community.filter(street_id__in=list(streets)).values("id", "street_id")
    ids = [
        int(row["id"])
        for row in rows
        if allows(
            principal,
            Action.MANAGE_NOTIFICATIONS,
            Place(street_id=int(row["street_id"]), community_id=int(row["id"])),
        )
    ]
    if not ids:
        raise errors.PermissionDenied(details={"action": Action.MANAGE_NOTIFICATIONS.value})
    return sorted(ids)


def _dead_in(communities: list[int]) -> Q:
    # a message belongs to a community directly, or through its recipient's roles there
    return Q(community_id__in=communities) | Q(recipient__grants__community_id__in=communities)


async def list_dead(*, principal: Principal, limit: int = 50) -> list[OutboxMessage]:
    """Messages that gave up after the attempt limit, in the admin's communities, newest first."""
    communities = await visible_communities(principal=principal)
    limit = max(1, min(limit, DEAD_PAGE_MAX))
    return list(
        await OutboxMessage.filter(_dead_in(communities), status=OutboxStatus.DEAD)
        .distinct()
        .order_by("-id")
        .limit(limit)
    )


async def retry_dead(*, ids: list[int] | None = None, principal: Principal | None = None) -> int:
    """Put dead messages back in the queue (all, or these ids; an admin only their own)."""
    query = OutboxMessage.filter(status=OutboxStatus.DEAD)
    if ids is not None:
        query = query.filter(id__in=ids)
    if principal is not None:
        communities = await visible_communities(principal=principal)
        allowed = await query.filter(_dead_in(communities)).distinct().values_list("id", flat=True)
        query = OutboxMessage.filter(status=OutboxStatus.DEAD, id__in=list(allowed))
    return await query.update(
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=None,
        lease_owner=None,
        lease_until=None,
    )


# --- channel settings: WeCom members and community robots ---


async def set_wecom_user(*, person_id: int, userid: str | None) -> None:
    """Link a person to their WeCom member id (None unlinks)."""
    if not await Person.exists(id=person_id):
        raise errors.NotFound("没有这个人")
    async with in_transaction() as connection:
        await WecomUser.filter(person_id=person_id).using_db(connection).delete()
        if userid:
            await WecomUser.filter(userid=userid).using_db(connection).delete()
            await WecomUser.create(person_id=person_id, userid=userid, using_db=connection)


async def set_community_robot(*, community_id: int, webhook_url: str | None) -> None:
    """Set (or with None remove) the group robot webhook of a community."""
    if not await Community.exists(id=community_id):
        raise errors.NotFound("没有这个社区")
    if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
        raise errors.ValidationFailed("webhook 地址应以 https:// 开头")
    async with in_transaction() as connection:
        await CommunityRobot.filter(community_id=community_id).using_db(connection).delete()
        if webhook_url:
            await CommunityRobot.create(
                community_id=community_id, webhook_url=webhook_url, using_db=connection
            )


DEMO_WECOM_PREFIX = "demo-"  # WeCom userids the demo gives its staff


async def ensure_demo_channels(*, wecom_api_base: str) -> tuple[int, int]:
    """Dev mode: a group robot per community and a WeCom userid per staff member, on the mock.

    Returns (robots added, members linked); running it again adds nothing.
    """
    robots = 0
    for community in await Community.all().order_by("id"):
        if not await CommunityRobot.exists(community_id=community.id):
            url = f"{wecom_api_base}/cgi-bin/webhook/send?key={DEMO_WECOM_PREFIX}{community.code}"
            await CommunityRobot.create(community_id=community.id, webhook_url=url)
            robots += 1
    staff_roles = [Role.GRID_MEMBER, Role.SECRETARY, Role.STREET_ADMIN]
    grants = await RoleGrant.filter(role__in=staff_roles).values("person_id")
    staff = {int(row["person_id"]) for row in grants}
    linked = {int(row["person_id"]) for row in await WecomUser.all().values("person_id")}
    missing = sorted(staff - linked)
    await WecomUser.bulk_create(
        [WecomUser(person_id=p, userid=f"{DEMO_WECOM_PREFIX}{p}") for p in missing],
        ignore_conflicts=True,
    )
    return robots, len(missing)
