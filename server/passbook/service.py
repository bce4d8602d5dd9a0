"""The time passbook (时间存折): pending hours, approval, gifts and the passbook view.

Hours of a confirmed task or an attended activity arrive with ``credit_pending_hours`` (called by
the tasks and activities code): issuance → pending. The secretary approves them (pending → the
volunteer's account, with points) or rejects them with a reason (pending → issuance). Every
movement goes through ``ledger.post_transfer``, the one place the ledger rule lives.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action, Place, Principal, allows, require
from server.core import errors
from server.core.clock import utcnow
from server.notify.service import enqueue
from server.org.models import Community
from server.org.service import community_place
from server.passbook.ledger import (
    ZERO,
    Leg,
    ensure_account,
    post_transfer,
    to_hours,
)
from server.passbook.models import (
    SOURCE_LABELS,
    Account,
    AccountKind,
    ClaimStatus,
    HoursClaim,
    LedgerEntry,
    PassbookPolicy,
    SourceKind,
    Transfer,
    TransferKind,
)
from server.points import boards, periods
from server.points import service as points
from server.points.levels import Standing, standing
from server.points.periods import Period

AUTO_APPROVE_MIN_RATING = 4  # 共评: four or five stars from the resident approve at once
CREDIT_MAX_HOURS = Decimal(24)  # one task or activity cannot earn more than a day
GIFT_MAX_HOURS = Decimal(1000)
APPROVE_BATCH_MAX = 200
PASSBOOK_ITEMS = 50  # latest movements shown; the months cover everything


class ClaimNotPending(errors.Conflict):
    code = "hours_not_pending"
    default_message = "这笔时长已经审核过了"


@dataclass(frozen=True)
class Policy:
    auto_approve_rated: bool = False
    allow_negative_balance: bool = False


async def get_policy(*, community_id: int, connection: BaseDBAsyncClient | None = None) -> Policy:
    """The community's passbook rules (defaults: no auto-approval, no overdraft)."""
    row = await PassbookPolicy.get_or_none(community_id=community_id, using_db=connection)
    if row is None:
        return Policy()
    return Policy(row.auto_approve_rated, row.allow_negative_balance)


async def community_policy(*, community_id: int) -> Policy:
    """The passbook rules of an existing community (404 otherwise)."""
    await community_place(community_id=community_id)
    return await get_policy(community_id=community_id)


async def update_policy(
    *,
    principal: Principal,
    community_id: int,
    auto_approve_rated: bool | None,
    allow_negative_balance: bool | None,
) -> Policy:
    """Change the community's passbook rules (secretary or street admin)."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_PASSBOOK, place)
    current = await get_policy(community_id=community_id)
    values = {
        "auto_approve_rated": current.auto_approve_rated
        if auto_approve_rated is None
        else auto_approve_rated,
        "allow_negative_balance": current.allow_negative_balance
        if allow_negative_balance is None
        else allow_negative_balance,
    }
    async with in_transaction() as connection:
        await PassbookPolicy.bulk_create(
            [PassbookPolicy(community_id=community_id, **values)],
            ignore_conflicts=True,
            using_db=connection,
        )
        await PassbookPolicy.filter(community_id=community_id).using_db(connection).update(**values)
    return Policy(**values)


# ---------------------------------------------------------------- crediting and approving


async def credit_pending_hours(
    *,
    volunteer_id: int,
    community_id: int,
    hours: Decimal,
    source_kind: str,
    source_id: int,
    rating: int | None = None,
    connection: BaseDBAsyncClient | None = None,
    redis: Redis | None = None,
) -> None:
    """Credit a volunteer's hours for a task or activity as pending (idempotent per
    (source_kind, source_id, volunteer_id)); approved at once when the resident rated >= 4 and
    the community enables auto-approval.

    With ``connection`` the work joins the caller's transaction, and the boards pick up an
    auto-approval when the sync job or the next board read runs; without it this function
    commits, then updates the boards itself when given ``redis``.
    """
    amount = to_hours(hours)
    if amount == 0:
        return  # checked in and out within a minute: nothing to deposit
    if amount < 0 or amount > CREDIT_MAX_HOURS:
        raise errors.ValidationFailed(f"服务时长应在 0 到 {CREDIT_MAX_HOURS} 小时之间")
    try:
        kind = SourceKind(source_kind)
    except ValueError as exc:
        raise errors.ValidationFailed("时长来源只能是服务任务或志愿活动") from exc
    if rating is not None and not 1 <= rating <= 5:
        raise errors.ValidationFailed("评分应为 1-5 星")
    if connection is not None:
        await _credit(
            volunteer_id=volunteer_id,
            community_id=community_id,
            amount=amount,
            kind=kind,
            source_id=source_id,
            rating=rating,
            connection=connection,
        )
        return
    async with in_transaction() as own:
        award_ids = await _credit(
            volunteer_id=volunteer_id,
            community_id=community_id,
            amount=amount,
            kind=kind,
            source_id=source_id,
            rating=rating,
            connection=own,
        )
    await boards.apply_after_commit(redis, award_ids)


async def _credit(
    *,
    volunteer_id: int,
    community_id: int,
    amount: Decimal,
    kind: SourceKind,
    source_id: int,
    rating: int | None,
    connection: BaseDBAsyncClient,
) -> list[int]:
    # ON CONFLICT DO NOTHING, then lock the one row: a repeated or concurrent call finds it.
    await HoursClaim.bulk_create(
        [
            HoursClaim(
                community_id=community_id,
                person_id=volunteer_id,
                hours=amount,
                source_kind=kind,
                source_id=source_id,
                rating=rating,
            )
        ],
        ignore_conflicts=True,
        using_db=connection,
    )
    claim = (
        await HoursClaim.filter(source_kind=kind, source_id=source_id, person_id=volunteer_id)
        .select_for_update()
        .using_db(connection)
        .get()
    )
    if claim.community_id != community_id:
        raise errors.Conflict("这项服务的时长已记在另一个社区")
    credited = (
        await Transfer.filter(claim_id=claim.id, kind=TransferKind.CREDIT)
        .using_db(connection)
        .exists()
    )
    if not credited:
        issuance = await ensure_account(
            community_id=community_id, kind=AccountKind.ISSUANCE, connection=connection
        )
        pending = await ensure_account(
            community_id=community_id, kind=AccountKind.PENDING, connection=connection
        )
        await post_transfer(
            community_id=community_id,
            kind=TransferKind.CREDIT,
            legs=[Leg(issuance.id, -Decimal(claim.hours)), Leg(pending.id, Decimal(claim.hours))],
            memo=f"{SOURCE_LABELS[kind]} #{source_id}",
            claim_id=claim.id,
            connection=connection,
        )
    elif claim.status is ClaimStatus.PENDING and claim.rating is None and rating is not None:
        claim.rating = rating  # the resident rated after the hours were credited
        await claim.save(update_fields=["rating"], using_db=connection)
    else:
        return []
    policy = await get_policy(community_id=community_id, connection=connection)
    if (
        policy.auto_approve_rated
        and claim.status is ClaimStatus.PENDING
        and claim.rating is not None
        and claim.rating >= AUTO_APPROVE_MIN_RATING
    ):
        return [await _approve(claim, actor_id=None, auto=True, connection=connection)]
    return []


async def _approve(
    claim: HoursClaim, *, actor_id: int | None, auto: bool, connection: BaseDBAsyncClient
) -> int:
    """Approve one locked pending claim: pending → the volunteer, points, a notice."""
    now = utcnow()
    hours = Decimal(claim.hours)
    pending = await ensure_account(
        community_id=claim.community_id, kind=AccountKind.PENDING, connection=connection
    )
    own = await ensure_account(
        community_id=claim.community_id,
        kind=AccountKind.PERSON,
        person_id=claim.person_id,
        connection=connection,
    )
    await post_transfer(
        community_id=claim.community_id,
        kind=TransferKind.APPROVE,
        legs=[Leg(pending.id, -hours), Leg(own.id, hours)],
        memo="好评自动通过" if auto else "书记审核通过",
        actor_id=actor_id,
        claim_id=claim.id,
        connection=connection,
    )
    claim.status = ClaimStatus.APPROVED
    claim.auto_approved = auto
    claim.decided_by_id = actor_id
    claim.decided_at = now
    await claim.save(
        update_fields=["status", "auto_approved", "decided_by_id", "decided_at"],
        using_db=connection,
    )
    award = await points.award_for_claim(claim=claim, now=now, connection=connection)
    await enqueue(
        kind="hours_approved",
        payload={
            "claim_id": claim.id,
            "hours": str(hours),
            "points": award.points,
            "source": SOURCE_LABELS[claim.source_kind],
        },
        recipient_id=claim.person_id,
        dedupe_key=f"hours:{claim.id}:approved",
        using_db=connection,
    )
    return award.id


@dataclass
class ApprovalResult:
    approved: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (id, why)


async def approve_claims(
    *, principal: Principal, community_id: int, claim_ids: Sequence[int], redis: Redis | None
) -> ApprovalResult:
    """Approve pending hours, one or many at once; others are reported as skipped."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.APPROVE_HOURS, place)
    ids = sorted(set(claim_ids))
    if not ids or len(ids) > APPROVE_BATCH_MAX:
        raise errors.ValidationFailed(f"一次审核 1-{APPROVE_BATCH_MAX} 笔")
    result = ApprovalResult()
    award_ids: list[int] = []
    async with in_transaction() as connection:
        claims = (
            await HoursClaim.filter(id__in=ids, community_id=community_id)
            .select_for_update()
            .order_by("id")
            .using_db(connection)
        )
        found = {c.id: c for c in claims}
        for claim_id in ids:
            claim = found.get(claim_id)
            if claim is None:
                result.skipped.append((claim_id, "not_found"))
            elif claim.status is not ClaimStatus.PENDING:
                result.skipped.append((claim_id, claim.status.value))
            else:
                award_ids.append(
                    await _approve(
                        claim, actor_id=principal.person_id, auto=False, connection=connection
                    )
                )
                result.approved.append(claim_id)
    await boards.apply_after_commit(redis, award_ids)
    return result


async def reject_claim(
    *, principal: Principal, community_id: int, claim_id: int, reason: str
) -> HoursClaim:
    """Reject pending hours with a reason: pending → issuance, and the volunteer is told why."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.APPROVE_HOURS, place)
    async with in_transaction() as connection:
        claim = (
            await HoursClaim.filter(id=claim_id, community_id=community_id)
            .select_for_update()
            .using_db(connection)
            .get_or_none()
        )
        if claim is None:
            raise errors.NotFound("找不到这笔时长")
        if claim.status is not ClaimStatus.PENDING:
            raise ClaimNotPending(details={"status": claim.status.value})
        hours = Decimal(claim.hours)
        pending = await ensure_account(
            community_id=community_id, kind=AccountKind.PENDING, connection=connection
        )
        issuance = await ensure_account(
            community_id=community_id, kind=AccountKind.ISSUANCE, connection=connection
        )
        await post_transfer(
            community_id=community_id,
            kind=TransferKind.REJECT,
            legs=[Leg(pending.id, -hours), Leg(issuance.id, hours)],
            memo=reason,
            actor_id=principal.person_id,
            claim_id=claim.id,
            connection=connection,
        )
        claim.status = ClaimStatus.REJECTED
        claim.reason = reason
        claim.decided_by_id = principal.person_id
        claim.decided_at = utcnow()
        await claim.save(
            update_fields=["status", "reason", "decided_by_id", "decided_at"], using_db=connection
        )
        await enqueue(
            kind="hours_rejected",
            payload={"claim_id": claim.id, "hours": str(hours), "reason": reason},
            recipient_id=claim.person_id,
            dedupe_key=f"hours:{claim.id}:rejected",
            using_db=connection,
        )
    return claim


async def approved_hours_by_person(
    community_id: int, start: dt.datetime, end: dt.datetime
) -> dict[int, Decimal]:
    """Approved hours per person (Person id) of the services credited in [start, end).

    A service counts in the period it was credited in (when the task was confirmed or the
    activity attended), however late the secretary approves it.
    """
    rows = await HoursClaim.filter(
        community_id=community_id,
        status=ClaimStatus.APPROVED,
        created_at__gte=start,
        created_at__lt=end,
    ).values_list("person_id", "hours")
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for person_id, hours in rows:
        totals[person_id] += Decimal(str(hours))
    return dict(totals)


# ---------------------------------------------------------------- gifts


async def _is_member(person_id: int, community_id: int) -> bool:
    return await RoleGrant.filter(person_id=person_id, community_id=community_id).exists()


@dataclass(frozen=True)
class GiftResult:
    transfer: Transfer
    balance: Decimal


async def give_hours(
    *,
    principal: Principal,
    community_id: int,
    hours: Decimal,
    to_person_id: int | None,
    note: str,
) -> GiftResult:
    """A volunteer gives hours to a neighbour in the community, or (no person) to its pool."""
    await community_place(community_id=community_id)
    sender_id = principal.person_id
    if not await _is_member(sender_id, community_id):
        raise errors.PermissionDenied("您不是该社区的成员")
    amount = to_hours(hours)
    if amount <= 0 or amount > GIFT_MAX_HOURS:
        raise errors.ValidationFailed(f"转赠时长应在 0.01 到 {GIFT_MAX_HOURS} 小时之间")
    if to_person_id is not None:
        if to_person_id == sender_id:
            raise errors.ValidationFailed("不能转赠给自己")
        if not await _is_member(to_person_id, community_id):
            raise errors.NotFound("该社区没有这位邻居")
    policy = await get_policy(community_id=community_id)
    async with in_transaction() as connection:
        source = await ensure_account(
            community_id=community_id,
            kind=AccountKind.PERSON,
            person_id=sender_id,
            connection=connection,
        )
        target = await ensure_account(
            community_id=community_id,
            kind=AccountKind.PERSON if to_person_id is not None else AccountKind.POOL,
            person_id=to_person_id,
            connection=connection,
        )
        transfer = await post_transfer(
            community_id=community_id,
            kind=TransferKind.GIFT,
            legs=[Leg(source.id, -amount), Leg(target.id, amount)],
            memo=note,
            actor_id=sender_id,
            connection=connection,
            allow_negative_person=policy.allow_negative_balance,
        )
        if to_person_id is not None:
            sender = await Person.get(id=sender_id, using_db=connection)
            await enqueue(
                kind="hours_gift",
                payload={"from": sender.name, "hours": str(amount), "note": note},
                recipient_id=to_person_id,
                dedupe_key=f"gift:{transfer.id}",
                using_db=connection,
            )
        balance = (await Account.get(id=source.id, using_db=connection)).balance
    return GiftResult(transfer=transfer, balance=Decimal(balance))


# ---------------------------------------------------------------- the passbook view


@dataclass(frozen=True)
class Movement:
    transfer_id: int
    kind: TransferKind
    amount: Decimal
    at: dt.datetime
    memo: str
    counterparty: str  # who or what the hours came from or went to
    source_kind: str | None
    source_id: int | None


@dataclass(frozen=True)
class MonthSummary:
    month: str
    deposited: Decimal  # approved service hours
    received: Decimal  # gifts from neighbours
    given: Decimal  # gifts to neighbours or the pool (positive number)
    closing_balance: Decimal


@dataclass(frozen=True)
class PassbookView:
    community: Community
    person: Person
    balance: Decimal
    pending_hours: Decimal
    approved_hours: Decimal
    points: int
    standing: Standing
    months: list[MonthSummary]
    movements: list[Movement]
    pending: list[HoursClaim]


async def _default_community(person_id: int) -> int:
    grants = await RoleGrant.filter(person_id=person_id, community_id__isnull=False).order_by("id")
    for role in (Role.VOLUNTEER, Role.RESIDENT, Role.GRID_MEMBER, Role.SECRETARY):
        for grant in grants:
            if grant.role is role and grant.community_id is not None:
                return grant.community_id
    raise errors.NotFound("您还没有加入任何社区")


async def my_passbook(*, principal: Principal, community_id: int | None) -> PassbookView:
    """The volunteer's own passbook in a community (default: the one they volunteer for)."""
    cid = community_id or await _default_community(principal.person_id)
    await community_place(community_id=cid)
    return await _passbook(person_id=principal.person_id, community_id=cid)


async def staff_passbook(
    *, principal: Principal, community_id: int, person_id: int
) -> PassbookView:
    """A volunteer's passbook as staff see it (the secretary; a grid member of their grid)."""
    community, place = await community_place(community_id=community_id)
    person = await Person.get_or_none(id=person_id)
    if person is None or not (
        await _is_member(person_id, community_id)
        or await HoursClaim.filter(person_id=person_id, community_id=community_id).exists()
    ):
        raise errors.NotFound("该社区没有这位志愿者")
    _, grid_path = await points.volunteer_grid(person_id=person_id, community_id=community_id)
    if not allows(principal, Action.VIEW_PASSBOOKS, place):
        require(
            principal,
            Action.VIEW_PASSBOOKS,
            Place(street_id=community.street_id, community_id=community.id, grid_path=grid_path),
        )
    return await _passbook(person_id=person_id, community_id=community_id)


async def _passbook(*, person_id: int, community_id: int) -> PassbookView:
    community = await Community.get(id=community_id)
    person = await Person.get(id=person_id)
    account = await Account.get_or_none(
        community_id=community_id, key=f"{AccountKind.PERSON.value}:{person_id}"
    )
    entries = (
        await LedgerEntry.filter(account_id=account.id)
        .order_by("id")
        .values("transfer_id", "amount", "created_at")
        if account
        else []
    )
    transfer_ids = [e["transfer_id"] for e in entries]
    transfers = {t.id: t for t in await Transfer.filter(id__in=transfer_ids)}
    others: dict[int, Account] = {}
    for leg in (
        await LedgerEntry.filter(transfer_id__in=transfer_ids)
        .exclude(account_id=account.id if account else 0)
        .prefetch_related("account")
    ):
        others[leg.transfer_id] = leg.account
    people_ids = {a.person_id for a in others.values() if a.person_id}
    names = dict(await Person.filter(id__in=people_ids).values_list("id", "name"))
    claim_ids = {t.claim_id for t in transfers.values() if t.claim_id}
    claims = {c.id: c for c in await HoursClaim.filter(id__in=claim_ids)}

    months: dict[str, dict[str, Decimal]] = {}
    movements: list[Movement] = []
    balance = ZERO
    for entry in entries:
        amount = Decimal(str(entry["amount"]))
        transfer = transfers[entry["transfer_id"]]
        balance += amount
        month = periods.key_of(Period.MONTH, entry["created_at"])
        summary = months.setdefault(
            month, {"deposited": ZERO, "received": ZERO, "given": ZERO, "closing": ZERO}
        )
        if transfer.kind is TransferKind.APPROVE:
            summary["deposited"] += amount
        elif amount > 0:
            summary["received"] += amount
        else:
            summary["given"] -= amount
        summary["closing"] = balance
        other = others.get(transfer.id)
        claim = claims.get(transfer.claim_id) if transfer.claim_id else None
        if claim is not None:
            counterparty = SOURCE_LABELS[claim.source_kind]
        elif other is not None and other.kind is AccountKind.POOL:
            counterparty = "社区公益时间池"
        elif other is not None and other.person_id:
            counterparty = names.get(other.person_id, "")
        else:
            counterparty = ""
        movements.append(
            Movement(
                transfer_id=transfer.id,
                kind=transfer.kind,
                amount=amount,
                at=entry["created_at"],
                memo=transfer.memo,
                counterparty=counterparty,
                source_kind=claim.source_kind.value if claim else None,
                source_id=claim.source_id if claim else None,
            )
        )
    own_claims = await HoursClaim.filter(community_id=community_id, person_id=person_id).order_by(
        "-id"
    )
    pending = [c for c in own_claims if c.status is ClaimStatus.PENDING]
    approved = sum((Decimal(c.hours) for c in own_claims if c.status is ClaimStatus.APPROVED), ZERO)
    return PassbookView(
        community=community,
        person=person,
        balance=balance,
        pending_hours=sum((Decimal(c.hours) for c in pending), ZERO),
        approved_hours=approved,
        points=await points.points_total(person_id=person_id, community_id=community_id),
        standing=standing(approved),
        months=[
            MonthSummary(m, s["deposited"], s["received"], s["given"], s["closing"])
            for m, s in sorted(months.items(), reverse=True)
        ],
        movements=list(reversed(movements))[:PASSBOOK_ITEMS],
        pending=pending,
    )


# ---------------------------------------------------------------- the secretary's list


@dataclass(frozen=True)
class ClaimPage:
    items: list[HoursClaim]
    names: dict[int, str]
    total_hours: Decimal
    next_cursor: int | None


async def list_claims(
    *,
    principal: Principal,
    community_id: int,
    status: ClaimStatus,
    cursor: int | None,
    limit: int,
) -> ClaimPage:
    """Hours claims of a community (pending by default), oldest first, for the secretary."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.APPROVE_HOURS, place)
    query = HoursClaim.filter(community_id=community_id, status=status)
    all_hours = await query.values_list("hours", flat=True)
    if cursor is not None:
        query = query.filter(id__gt=cursor)
    items = await query.order_by("id").limit(limit + 1)
    more = len(items) > limit
    items = items[:limit]
    names = dict(await Person.filter(id__in={c.person_id for c in items}).values_list("id", "name"))
    return ClaimPage(
        items=items,
        names=names,
        total_hours=sum((Decimal(str(h)) for h in all_hours), ZERO),
        next_cursor=items[-1].id if more and items else None,
    )
