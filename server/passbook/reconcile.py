"""Reconciliation (对账): the ledger's invariants, checked from the entries themselves.

1. every transfer has at least two entries, in its own community's accounts, summing to zero;
2. the sum of all entries is zero (per community and overall);
3. every account's cached balance equals the sum of its entries;
4. no pool or pending account is below zero, nor a person's unless the community allows it;
5. each community's pending account holds exactly the hours of its pending claims.

Sums are taken in Python with ``Decimal`` (SQLite would add the stored text as floats).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tortoise.queryset import QuerySet

from server.passbook.ledger import ZERO
from server.passbook.models import (
    Account,
    AccountKind,
    ClaimStatus,
    HoursClaim,
    LedgerEntry,
    PassbookPolicy,
    Transfer,
)

BATCH = 5000

Progress = Callable[[int, int, str], None]


@dataclass
class ReconcileReport:
    """What the reconciliation saw and every problem it found (empty ``problems`` = consistent)."""

    communities: int = 0
    accounts: int = 0
    transfers: int = 0
    entries: int = 0
    total: Decimal = ZERO
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def reconcile(
    *, community_id: int | None = None, progress: Progress | None = None
) -> ReconcileReport:
    """Check every ledger invariant (of one community, or all) and report the problems."""
    report = ReconcileReport()
    accounts_query = Account.all()
    transfers_query = Transfer.all()
    if community_id is not None:
        accounts_query = accounts_query.filter(community_id=community_id)
        transfers_query = transfers_query.filter(community_id=community_id)
    accounts = {a.id: a for a in await accounts_query}
    transfer_community = dict(await transfers_query.values_list("id", "community_id"))
    report.accounts = len(accounts)
    report.transfers = len(transfer_community)

    by_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    by_transfer: dict[int, Decimal] = defaultdict(lambda: ZERO)
    legs_of: dict[int, int] = defaultdict(int)
    by_community: dict[int, Decimal] = defaultdict(lambda: ZERO)
    total_entries = await _entries_query(community_id).count()
    last_id = 0
    while True:
        rows = (
            await _entries_query(community_id)
            .filter(id__gt=last_id)
            .order_by("id")
            .limit(BATCH)
            .values_list("id", "transfer_id", "account_id", "amount")
        )
        if not rows:
            break
        for entry_id, transfer_id, account_id, amount in rows:
            amount = Decimal(amount)
            by_account[account_id] += amount
            by_transfer[transfer_id] += amount
            legs_of[transfer_id] += 1
            account = accounts.get(account_id)
            if account is None:
                report.problems.append(f"分录 {entry_id} 的账户 {account_id} 不存在")
                continue
            by_community[account.community_id] += amount
            if transfer_community.get(transfer_id, account.community_id) != account.community_id:
                report.problems.append(f"转账 {transfer_id} 的分录 {entry_id} 记在了别的社区")
        last_id = rows[-1][0]
        report.entries += len(rows)
        if progress:
            progress(report.entries, total_entries, "分录")

    report.total = sum(by_account.values(), ZERO)
    if report.total != 0:
        report.problems.append(f"全部分录合计 {report.total} 小时，不为零")
    for cid, amount in sorted(by_community.items()):
        if amount != 0:
            report.problems.append(f"社区 {cid} 的分录合计 {amount} 小时，不为零")
    for transfer_id in sorted(transfer_community.keys() | by_transfer.keys()):
        if legs_of[transfer_id] < 2:
            report.problems.append(f"转账 {transfer_id} 只有 {legs_of[transfer_id]} 条分录")
        if by_transfer[transfer_id] != 0:
            report.problems.append(
                f"转账 {transfer_id} 的分录合计 {by_transfer[transfer_id]} 小时，不为零"
            )

    negative_allowed = set(
        await PassbookPolicy.filter(allow_negative_balance=True).values_list(
            "community_id", flat=True
        )
    )
    for account in accounts.values():
        derived = by_account[account.id]
        cached = Decimal(account.balance)
        if cached != derived:
            report.problems.append(
                f"账户 {account.id}（{account.key}）缓存余额 {cached}，分录合计 {derived}"
            )
        floored = account.kind in (AccountKind.POOL, AccountKind.PENDING) or (
            account.kind is AccountKind.PERSON and account.community_id not in negative_allowed
        )
        if floored and derived < 0:
            report.problems.append(f"账户 {account.id}（{account.key}）余额 {derived} 小时为负")

    pending_claims: dict[int, Decimal] = defaultdict(lambda: ZERO)
    claims_query = HoursClaim.filter(status=ClaimStatus.PENDING)
    if community_id is not None:
        claims_query = claims_query.filter(community_id=community_id)
    for cid, hours in await claims_query.values_list("community_id", "hours"):
        pending_claims[cid] += Decimal(hours)
    pending_accounts = {
        a.community_id: by_account[a.id] for a in accounts.values() if a.kind is AccountKind.PENDING
    }
    communities = {a.community_id for a in accounts.values()} | set(pending_claims)
    report.communities = len(communities)
    for cid in sorted(communities):
        held = pending_accounts.get(cid, ZERO)
        if held != pending_claims[cid]:
            report.problems.append(
                f"社区 {cid} 待审核账户 {held} 小时，待审核申报合计 {pending_claims[cid]} 小时"
            )
    return report


def _entries_query(community_id: int | None) -> QuerySet[LedgerEntry]:
    query = LedgerEntry.all()
    if community_id is not None:
        query = query.filter(account__community_id=community_id)
    return query
