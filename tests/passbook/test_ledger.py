"""The ledger rule: balanced transfers only, balances derived from entries, reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from server.core import errors
from server.passbook.ledger import (
    InsufficientHours,
    Leg,
    UnbalancedTransfer,
    check_balanced,
    ensure_account,
    post_transfer,
    to_hours,
)
from server.passbook.models import Account, AccountKind, HoursClaim, LedgerEntry, TransferKind
from server.passbook.reconcile import reconcile
from server.passbook.service import approve_claims, credit_pending_hours, give_hours, reject_claim
from tests.conftest import clear_data
from tests.passbook.support import (
    assert_reconciled,
    balance,
    build_scene,
    kind_balance,
    set_policy,
)

D = Decimal


@pytest.mark.parametrize(
    ("legs", "ok"),
    [
        ([Leg(1, D("1.50")), Leg(2, D("-1.50"))], True),
        ([Leg(1, D("1.00")), Leg(2, D("-0.25")), Leg(3, D("-0.75"))], True),
        ([Leg(1, D("1.50")), Leg(2, D("-1.49"))], False),  # does not sum to zero
        ([Leg(1, D("1.50"))], False),  # one entry
        ([Leg(1, D("0.00")), Leg(2, D("0.00"))], False),  # zero entries
        ([Leg(1, D("1.00")), Leg(1, D("-1.00"))], False),  # same account twice
        ([Leg(1, D("0.005")), Leg(2, D("-0.005"))], False),  # finer than a hundredth
        ([Leg(1, 1.5), Leg(2, -1.5)], False),  # type: ignore[arg-type]  # floats
    ],
)
def test_only_balanced_transfers_pass(legs: list[Leg], ok: bool) -> None:
    if ok:
        check_balanced(legs)
    else:
        with pytest.raises(UnbalancedTransfer):
            check_balanced(legs)


@pytest.mark.parametrize(
    ("value", "hours"),
    [(D("1.005"), D("1.01")), ("2.5", D("2.50")), (3, D("3.00")), (D("0.004"), D("0.00"))],
)
def test_hours_are_exact_hundredths(value: Decimal | str | int, hours: Decimal) -> None:
    assert to_hours(value) == hours


def test_float_hours_are_refused() -> None:
    with pytest.raises(TypeError):
        to_hours(1.5)  # type: ignore[arg-type]


async def test_an_unbalanced_transfer_writes_nothing(client: TestClient) -> None:
    scene = await build_scene()
    with pytest.raises(UnbalancedTransfer):
        async with in_transaction() as connection:
            pool = await ensure_account(
                community_id=scene.community_id, kind=AccountKind.POOL, connection=connection
            )
            issuance = await ensure_account(
                community_id=scene.community_id, kind=AccountKind.ISSUANCE, connection=connection
            )
            await post_transfer(
                community_id=scene.community_id,
                kind=TransferKind.GIFT,
                legs=[Leg(pool.id, D("2.00")), Leg(issuance.id, D("-1.00"))],
                connection=connection,
            )
    assert await LedgerEntry.all().count() == 0
    await assert_reconciled()


async def test_a_floored_account_cannot_go_below_zero(client: TestClient) -> None:
    scene = await build_scene()
    with pytest.raises(InsufficientHours):
        async with in_transaction() as connection:
            pool = await ensure_account(
                community_id=scene.community_id, kind=AccountKind.POOL, connection=connection
            )
            issuance = await ensure_account(
                community_id=scene.community_id, kind=AccountKind.ISSUANCE, connection=connection
            )
            await post_transfer(
                community_id=scene.community_id,
                kind=TransferKind.GIFT,
                legs=[Leg(pool.id, D("-1.00")), Leg(issuance.id, D("1.00"))],
                connection=connection,
            )
    assert await LedgerEntry.all().count() == 0


async def test_reconciliation_finds_a_tampered_balance_and_entry(client: TestClient) -> None:
    scene = await build_scene()
    await credit_pending_hours(
        volunteer_id=scene.alice.id,
        community_id=scene.community_id,
        hours=D("2.50"),
        source_kind="task",
        source_id=1,
    )
    await assert_reconciled()

    # Someone edits a cached balance behind the ledger's back.
    pending = await Account.get(community_id=scene.community_id, key="pending")
    await Account.filter(id=pending.id).update(balance=D("9.00"))
    report = await reconcile(community_id=scene.community_id)
    assert not report.ok
    assert any("缓存余额 9.00" in p for p in report.problems)
    await Account.filter(id=pending.id).update(balance=D("2.50"))
    await assert_reconciled()

    # ... or an entry's amount: its transfer and the whole ledger no longer sum to zero.
    entry = await LedgerEntry.filter(account_id=pending.id).first()
    assert entry is not None
    await LedgerEntry.filter(id=entry.id).update(amount=D("3.00"))
    problems = (await reconcile()).problems
    assert any(f"转账 {entry.transfer_id} 的分录合计 0.50" in p for p in problems)
    assert any("全部分录合计 0.50" in p for p in problems)


# ---------------------------------------------------------------- property-based

HOURS = st.decimals(min_value=D("0.01"), max_value=D("8.00"), places=2)
OPERATION = st.one_of(
    st.tuples(st.just("credit"), st.integers(0, 2), HOURS, st.sampled_from([None, 3, 4, 5])),
    st.tuples(st.just("approve"), st.integers(0, 30)),
    st.tuples(st.just("reject"), st.integers(0, 30)),
    st.tuples(st.just("gift"), st.integers(0, 2), st.integers(0, 3), HOURS),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATION, min_size=1, max_size=12), auto=st.booleans())
async def test_any_sequence_of_operations_keeps_the_ledger_balanced(
    client: TestClient, operations: list[tuple], auto: bool
) -> None:
    """Whatever volunteers and the secretary do, in any order, the invariants hold and each
    balance equals what a simple model of the rules predicts."""
    await clear_data()
    scene = await build_scene()
    await set_policy(scene, auto=auto)
    people = [scene.alice, scene.bob, scene.carol]
    secretary = await scene.principal(scene.secretary)
    expected = {p.id: D("0.00") for p in people}
    pool = D("0.00")
    claims: dict[int, tuple[int, Decimal, str]] = {}  # id → (person, hours, status)
    source = 0
    for operation in operations:
        if operation[0] == "credit":
            _, who, hours, rating = operation
            source += 1
            await credit_pending_hours(
                volunteer_id=people[who].id,
                community_id=scene.community_id,
                hours=hours,
                source_kind="task",
                source_id=source,
                rating=rating,
            )
            claim = await HoursClaim.get(source_id=source, person_id=people[who].id)
            approved = auto and rating is not None and rating >= 4
            assert claim.status.value == ("approved" if approved else "pending")
            claims[claim.id] = (people[who].id, hours, claim.status.value)
            if approved:
                expected[people[who].id] += hours
        elif operation[0] in ("approve", "reject") and claims:
            claim_id = sorted(claims)[operation[1] % len(claims)]
            person_id, hours, status = claims[claim_id]
            if operation[0] == "approve":
                result = await approve_claims(
                    principal=secretary,
                    community_id=scene.community_id,
                    claim_ids=[claim_id],
                    redis=None,
                )
                assert (result.approved == [claim_id]) == (status == "pending")
                if status == "pending":
                    expected[person_id] += hours
                    claims[claim_id] = (person_id, hours, "approved")
            else:
                try:
                    await reject_claim(
                        principal=secretary,
                        community_id=scene.community_id,
                        claim_id=claim_id,
                        reason="时长有误",
                    )
                    assert status == "pending"
                    claims[claim_id] = (person_id, hours, "rejected")
                except errors.Conflict:
                    assert status != "pending"
        elif operation[0] == "gift":
            _, giver, to, hours = operation
            sender = people[giver]
            target = people[to] if to < 3 else None
            if target is not None and target.id == sender.id:
                continue
            try:
                await give_hours(
                    principal=await scene.principal(sender),
                    community_id=scene.community_id,
                    hours=hours,
                    to_person_id=target.id if target else None,
                    note="",
                )
                assert expected[sender.id] >= hours
                expected[sender.id] -= hours
                if target is None:
                    pool += hours
                else:
                    expected[target.id] += hours
            except InsufficientHours:
                assert expected[sender.id] < hours
        await assert_reconciled()
    for person in people:
        assert await balance(scene.community_id, person) == expected[person.id]
    assert await kind_balance(scene.community_id, AccountKind.POOL) == pool
    pending = sum((h for _, h, s in claims.values() if s == "pending"), D("0.00"))
    assert await kind_balance(scene.community_id, AccountKind.PENDING) == pending
