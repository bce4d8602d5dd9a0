"""The ledger rule, in one place: every transfer's entries sum to zero, and only here are
entries written and cached balances changed.

``post_transfer`` is the one posting function. It refuses an unbalanced transfer, locks the
accounts it touches (in id order, so two transfers never wait on each other in a cycle), refuses
to take a floored account below zero, writes the entries and moves the cached balances, all in
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tortoise.backends.base.client import BaseDBAsyncClient

from server.core import errors
from server.passbook.models import Account, AccountKind, LedgerEntry, Transfer, TransferKind

HOURS_QUANTUM = Decimal("0.01")
ZERO = Decimal("0.00")
# Accounts that may never go below zero; a person's may when the community allows it.
ALWAYS_FLOORED = frozenset({AccountKind.POOL, AccountKind.PENDING})


class UnbalancedTransfer(ValueError):
    """A programming error: a transfer whose entries do not sum to zero is never written."""


class InsufficientHours(errors.Conflict):
    code = "insufficient_hours"
    default_message = "时间余额不足"


@dataclass(frozen=True)
class Leg:
    """One side of a transfer: ``amount`` hours into (positive) or out of (negative) an account."""

    account_id: int
    amount: Decimal


def to_hours(value: Decimal | int | str) -> Decimal:
    """Hours as an exact Decimal to the hundredth (half up); floats are refused."""
    if isinstance(value, float):
        raise TypeError("hours must be Decimal, int or str, never float")
    try:
        return Decimal(value).quantize(HOURS_QUANTUM, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not a number of hours: {value!r}") from exc


def check_balanced(legs: Sequence[Leg]) -> None:
    """Raise ``UnbalancedTransfer`` unless the legs make a valid transfer."""
    if len(legs) < 2:
        raise UnbalancedTransfer("a transfer needs at least two entries")
    if len({leg.account_id for leg in legs}) != len(legs):
        raise UnbalancedTransfer("an account appears twice in one transfer")
    for leg in legs:
        if not isinstance(leg.amount, Decimal) or leg.amount != leg.amount.quantize(HOURS_QUANTUM):
            raise UnbalancedTransfer(f"amount {leg.amount!r} is not a Decimal to the hundredth")
        if leg.amount == 0:
            raise UnbalancedTransfer("an entry of zero hours")
    total = sum((leg.amount for leg in legs), ZERO)
    if total != 0:
        raise UnbalancedTransfer(f"entries sum to {total}, not zero")


async def post_transfer(
    *,
    community_id: int,
    kind: TransferKind,
    legs: Sequence[Leg],
    connection: BaseDBAsyncClient,
    memo: str = "",
    actor_id: int | None = None,
    claim_id: int | None = None,
    allow_negative_person: bool = False,
) -> Transfer:
    """Write one balanced transfer and move the cached balances (caller owns the transaction)."""
    check_balanced(legs)
    amounts = {leg.account_id: leg.amount for leg in legs}
    locked: list[Account] = []
    for account_id in sorted(amounts):
        # Row lock on PostgreSQL (SQLite runs one write transaction at a time anyway).
        account = (
            await Account.filter(id=account_id)
            .select_for_update()
            .using_db(connection)
            .get_or_none()
        )
        if account is None or account.community_id != community_id:
            raise UnbalancedTransfer(f"account {account_id} is not in community {community_id}")
        locked.append(account)
    for account in locked:
        new_balance = Decimal(account.balance) + amounts[account.id]
        floored = account.kind in ALWAYS_FLOORED or (
            account.kind is AccountKind.PERSON and not allow_negative_person
        )
        if amounts[account.id] < 0 and floored and new_balance < 0:
            raise InsufficientHours(
                f"时间余额不足：当前 {Decimal(account.balance)} 小时，"
                f"需要 {-amounts[account.id]} 小时",
                details={"balance": str(account.balance), "needed": str(-amounts[account.id])},
            )
        account.balance = new_balance
    transfer = await Transfer.create(
        community_id=community_id,
        kind=kind,
        memo=memo,
        actor_id=actor_id,
        claim_id=claim_id,
        using_db=connection,
    )
    await LedgerEntry.bulk_create(
        [
            LedgerEntry(transfer_id=transfer.id, account_id=leg.account_id, amount=leg.amount)
            for leg in legs
        ],
        using_db=connection,
    )
    for account in locked:
        await Account.filter(id=account.id).using_db(connection).update(balance=account.balance)
    return transfer


def account_key(kind: AccountKind, person_id: int | None = None) -> str:
    """The account's unique key within its community."""
    if kind is AccountKind.PERSON:
        if person_id is None:
            raise ValueError("a person account needs a person")
        return f"person:{person_id}"
    return kind.value


async def ensure_account(
    *,
    community_id: int,
    kind: AccountKind,
    person_id: int | None = None,
    connection: BaseDBAsyncClient,
) -> Account:
    """The account, created on first use (a concurrent creation is not an error)."""
    key = account_key(kind, person_id)
    account = await Account.filter(community_id=community_id, key=key).using_db(connection).first()
    if account is not None:
        return account
    # ON CONFLICT DO NOTHING: a concurrent creation must not abort the PostgreSQL transaction.
    await Account.bulk_create(
        [
            Account(
                community_id=community_id,
                kind=kind,
                person_id=person_id if kind is AccountKind.PERSON else None,
                key=key,
                balance=ZERO,
            )
        ],
        ignore_conflicts=True,
        using_db=connection,
    )
    return await Account.get(community_id=community_id, key=key, using_db=connection)
