"""Pending hours: crediting (idempotent), approval (single, bulk, automatic), rejection, gifts."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient
from tortoise.transactions import in_transaction

from server.accounts.models import RoleGrant
from server.core import errors
from server.notify.models import OutboxMessage
from server.passbook.ledger import InsufficientHours
from server.passbook.models import AccountKind, ClaimStatus, HoursClaim, Transfer, TransferKind
from server.passbook.service import (
    ClaimNotPending,
    approve_claims,
    approved_hours_by_person,
    credit_pending_hours,
    give_hours,
    reject_claim,
)
from tests.conftest import ON_POSTGRES
from tests.passbook.support import (
    Scene,
    assert_reconciled,
    balance,
    build_scene,
    kind_balance,
    set_policy,
)

D = Decimal


async def credit(scene: Scene, person_id: int, hours: str, source_id: int, **kw: object) -> None:
    await credit_pending_hours(
        volunteer_id=person_id,
        community_id=scene.community_id,
        hours=D(hours),
        source_kind=str(kw.pop("source_kind", "task")),
        source_id=source_id,
        **kw,  # type: ignore[arg-type]
    )


async def test_credit_is_pending_and_idempotent(client: TestClient) -> None:
    scene = await build_scene()
    for _ in range(3):
        await credit(scene, scene.alice.id, "2.50", 7)
    claims = await HoursClaim.filter(person_id=scene.alice.id)
    assert [(c.status, c.hours) for c in claims] == [(ClaimStatus.PENDING, D("2.50"))]
    assert await Transfer.filter(kind=TransferKind.CREDIT).count() == 1
    assert await balance(scene.community_id, scene.alice) == 0  # pending is not spendable
    assert await kind_balance(scene.community_id, AccountKind.PENDING) == D("2.50")
    assert await kind_balance(scene.community_id, AccountKind.ISSUANCE) == D("-2.50")
    # the same task for another volunteer, or an activity with the same id, is another claim
    await credit(scene, scene.bob.id, "1", 7)
    await credit(scene, scene.alice.id, "1", 7, source_kind="activity")
    assert await HoursClaim.all().count() == 3
    await assert_reconciled()


async def test_credit_joins_the_callers_transaction(client: TestClient) -> None:
    scene = await build_scene()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await credit(scene, scene.alice.id, "1", 1, connection=connection)
            raise RuntimeError("the task confirmation failed after crediting")
    assert await HoursClaim.all().count() == 0
    async with in_transaction() as connection:
        await credit(scene, scene.alice.id, "1", 1, connection=connection)
    assert await HoursClaim.all().count() == 1
    await assert_reconciled()


@pytest.mark.parametrize(
    ("hours", "source_kind", "rating"),
    [("-1", "task", None), ("25", "task", None), ("1", "meeting", None), ("1", "task", 6)],
)
async def test_bad_credits_are_refused(
    client: TestClient, hours: str, source_kind: str, rating: int | None
) -> None:
    scene = await build_scene()
    with pytest.raises(errors.ValidationFailed):
        await credit(scene, scene.alice.id, hours, 1, source_kind=source_kind, rating=rating)
    assert await HoursClaim.all().count() == 0


async def test_zero_hours_deposit_nothing(client: TestClient) -> None:
    scene = await build_scene()
    await credit(scene, scene.alice.id, "0.004", 1)  # rounds to 0.00
    assert await HoursClaim.all().count() == 0
    assert await Transfer.all().count() == 0


async def test_secretary_approves_one_then_many(client: TestClient) -> None:
    scene = await build_scene()
    await credit(scene, scene.alice.id, "1.5", 1)
    await credit(scene, scene.alice.id, "2", 2)
    await credit(scene, scene.bob.id, "3", 3)
    ids = [c.id for c in await HoursClaim.all().order_by("id")]
    secretary = await scene.principal(scene.secretary)

    single = await approve_claims(
        principal=secretary, community_id=scene.community_id, claim_ids=[ids[0]], redis=None
    )
    assert single.approved == [ids[0]]
    assert await balance(scene.community_id, scene.alice) == D("1.50")

    bulk = await approve_claims(
        principal=secretary,
        community_id=scene.community_id,
        claim_ids=[*ids, 9999],
        redis=None,
    )
    assert bulk.approved == ids[1:]
    assert sorted(bulk.skipped) == [(ids[0], "approved"), (9999, "not_found")]
    assert await balance(scene.community_id, scene.alice) == D("3.50")
    assert await balance(scene.community_id, scene.bob) == D("3.00")
    assert await kind_balance(scene.community_id, AccountKind.PENDING) == 0
    approved = await OutboxMessage.filter(kind="hours_approved").count()
    assert approved == 3
    await assert_reconciled()


async def test_only_the_communitys_leaders_approve(client: TestClient) -> None:
    scene = await build_scene()
    await credit(scene, scene.alice.id, "1", 1)
    claim = await HoursClaim.get()
    for person in (scene.alice, scene.bob, scene.outsider):
        with pytest.raises(errors.PermissionDenied):
            await approve_claims(
                principal=await scene.principal(person),
                community_id=scene.community_id,
                claim_ids=[claim.id],
                redis=None,
            )
    assert (await HoursClaim.get()).status is ClaimStatus.PENDING


@pytest.mark.parametrize(
    ("auto", "rating", "status"),
    [
        (True, 5, ClaimStatus.APPROVED),
        (True, 4, ClaimStatus.APPROVED),
        (True, 3, ClaimStatus.PENDING),
        (True, None, ClaimStatus.PENDING),
        (False, 5, ClaimStatus.PENDING),
    ],
)
async def test_automatic_approval_when_rated_four_or_more(
    client: TestClient, auto: bool, rating: int | None, status: ClaimStatus
) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=auto)
    await credit(scene, scene.alice.id, "2", 1, rating=rating)
    claim = await HoursClaim.get()
    assert claim.status is status
    assert claim.auto_approved is (status is ClaimStatus.APPROVED)
    expected = D("2.00") if status is ClaimStatus.APPROVED else 0
    assert await balance(scene.community_id, scene.alice) == expected
    await assert_reconciled()


async def test_a_rating_given_after_the_credit_can_still_auto_approve(client: TestClient) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    await credit(scene, scene.alice.id, "2", 1)
    assert (await HoursClaim.get()).status is ClaimStatus.PENDING
    await credit(scene, scene.alice.id, "2", 1, rating=5)
    assert (await HoursClaim.get()).status is ClaimStatus.APPROVED
    await credit(scene, scene.alice.id, "2", 1, rating=5)  # still idempotent
    assert await balance(scene.community_id, scene.alice) == D("2.00")
    await assert_reconciled()


async def test_rejection_returns_the_hours_and_says_why(client: TestClient) -> None:
    scene = await build_scene()
    await credit(scene, scene.alice.id, "4", 1)
    claim = await HoursClaim.get()
    secretary = await scene.principal(scene.secretary)
    rejected = await reject_claim(
        principal=secretary, community_id=scene.community_id, claim_id=claim.id, reason="重复申报"
    )
    assert rejected.status is ClaimStatus.REJECTED
    assert rejected.reason == "重复申报"
    assert await kind_balance(scene.community_id, AccountKind.PENDING) == 0
    assert await kind_balance(scene.community_id, AccountKind.ISSUANCE) == 0
    message = await OutboxMessage.get(kind="hours_rejected")
    assert message.recipient_id == scene.alice.id
    assert message.payload["reason"] == "重复申报"
    with pytest.raises(ClaimNotPending):
        await reject_claim(
            principal=secretary, community_id=scene.community_id, claim_id=claim.id, reason="再次"
        )
    result = await approve_claims(
        principal=secretary, community_id=scene.community_id, claim_ids=[claim.id], redis=None
    )
    assert result.skipped == [(claim.id, "rejected")]
    await assert_reconciled()


async def test_approved_hours_by_person_counts_approved_services_in_the_period(
    client: TestClient,
) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    await credit(scene, scene.alice.id, "1.25", 1, rating=5)
    await credit(scene, scene.alice.id, "2", 2, rating=4)
    await credit(scene, scene.bob.id, "3", 3, rating=5)
    await credit(scene, scene.bob.id, "9", 4)  # pending: not counted
    other = await RoleGrant.get(person_id=scene.outsider.id)
    await set_policy_of(scene, other.community_id)
    await credit_pending_hours(  # another community: not counted
        volunteer_id=scene.outsider.id,
        community_id=other.community_id,
        hours=D("5"),
        source_kind="task",
        source_id=5,
        rating=5,
    )
    assert (await HoursClaim.get(person_id=scene.outsider.id)).status is ClaimStatus.APPROVED
    now = dt.datetime.now(dt.UTC)
    totals = await approved_hours_by_person(
        scene.community_id, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    )
    assert totals == {scene.alice.id: D("3.25"), scene.bob.id: D("3.00")}
    assert all(isinstance(v, Decimal) for v in totals.values())
    later = await approved_hours_by_person(
        scene.community_id, now + dt.timedelta(hours=1), now + dt.timedelta(hours=2)
    )
    assert later == {}


async def set_policy_of(scene: Scene, community_id: int) -> None:
    from server.passbook.models import PassbookPolicy

    await PassbookPolicy.create(community_id=community_id, auto_approve_rated=True)


# ---------------------------------------------------------------- gifts


async def approved(scene: Scene, person_id: int, hours: str, source_id: int) -> None:
    await credit(scene, person_id, hours, source_id)
    claim = await HoursClaim.get(source_id=source_id, person_id=person_id)
    await approve_claims(
        principal=await scene.principal(scene.secretary),
        community_id=scene.community_id,
        claim_ids=[claim.id],
        redis=None,
    )


async def test_gifts_to_a_neighbour_and_to_the_pool(client: TestClient) -> None:
    scene = await build_scene()
    await approved(scene, scene.alice.id, "5", 1)
    alice = await scene.principal(scene.alice)
    result = await give_hours(
        principal=alice,
        community_id=scene.community_id,
        hours=D("1.5"),
        to_person_id=scene.resident.id,
        note="给王奶奶",
    )
    assert result.balance == D("3.50")
    await give_hours(
        principal=alice, community_id=scene.community_id, hours=D("2"), to_person_id=None, note=""
    )
    assert await balance(scene.community_id, scene.alice) == D("1.50")
    assert await balance(scene.community_id, scene.resident) == D("1.50")
    assert await kind_balance(scene.community_id, AccountKind.POOL) == D("2.00")
    gift_notice = await OutboxMessage.get(kind="hours_gift")
    assert gift_notice.recipient_id == scene.resident.id
    await assert_reconciled()


async def test_gifts_cannot_overdraw_unless_the_community_allows_it(client: TestClient) -> None:
    scene = await build_scene()
    await approved(scene, scene.alice.id, "1", 1)
    alice = await scene.principal(scene.alice)
    with pytest.raises(InsufficientHours):
        await give_hours(
            principal=alice,
            community_id=scene.community_id,
            hours=D("1.01"),
            to_person_id=scene.bob.id,
            note="",
        )
    assert await balance(scene.community_id, scene.alice) == D("1.00")
    await set_policy(scene, negative=True)
    await give_hours(
        principal=alice,
        community_id=scene.community_id,
        hours=D("3"),
        to_person_id=scene.bob.id,
        note="",
    )
    assert await balance(scene.community_id, scene.alice) == D("-2.00")
    await assert_reconciled()
    # the pool never goes negative, whatever the community allows (nobody can give from it here)


@pytest.mark.parametrize("target", ["self", "outsider", "nobody"])
async def test_gifts_only_go_to_another_person_of_the_community(
    client: TestClient, target: str
) -> None:
    scene = await build_scene()
    await approved(scene, scene.alice.id, "5", 1)
    to = {"self": scene.alice.id, "outsider": scene.outsider.id, "nobody": 424242}[target]
    with pytest.raises((errors.ValidationFailed, errors.NotFound)):
        await give_hours(
            principal=await scene.principal(scene.alice),
            community_id=scene.community_id,
            hours=D("1"),
            to_person_id=to,
            note="",
        )
    assert await balance(scene.community_id, scene.alice) == D("5.00")


async def test_outsiders_cannot_give_in_a_community(client: TestClient) -> None:
    scene = await build_scene()
    with pytest.raises(errors.PermissionDenied):
        await give_hours(
            principal=await scene.principal(scene.outsider),
            community_id=scene.community_id,
            hours=D("1"),
            to_person_id=scene.alice.id,
            note="",
        )


# ---------------------------------------------------------------- real concurrency


@pytest.mark.skipif(not ON_POSTGRES, reason="real concurrent transactions need PostgreSQL")
async def test_two_concurrent_gifts_that_would_overdraw_exactly_one_succeeds(
    client: TestClient,
) -> None:
    scene = await build_scene()
    await approved(scene, scene.alice.id, "5", 1)
    alice = await scene.principal(scene.alice)
    for _round in range(5):
        before = await balance(scene.community_id, scene.alice)
        gift = D("3.00") if before >= D("3.00") else before / 2 + D("0.01")
        gift = gift.quantize(D("0.01"))
        results = await asyncio.gather(
            give_hours(
                principal=alice,
                community_id=scene.community_id,
                hours=gift,
                to_person_id=scene.bob.id,
                note="",
            ),
            give_hours(
                principal=alice,
                community_id=scene.community_id,
                hours=gift,
                to_person_id=None,
                note="",
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, InsufficientHours)]
        assert len(refused) == 1, results
        assert await balance(scene.community_id, scene.alice) == before - gift
        await assert_reconciled()


@pytest.mark.skipif(not ON_POSTGRES, reason="real concurrent transactions need PostgreSQL")
async def test_concurrent_credits_of_one_service_make_one_claim(client: TestClient) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    await asyncio.gather(
        *(credit(scene, scene.alice.id, "2", 1, rating=5) for _ in range(8)),
        *(credit(scene, scene.bob.id, "1", 1) for _ in range(8)),
    )
    assert await HoursClaim.all().count() == 2
    assert await Transfer.filter(kind=TransferKind.CREDIT).count() == 2
    assert await balance(scene.community_id, scene.alice) == D("2.00")
    await assert_reconciled()


@pytest.mark.skipif(not ON_POSTGRES, reason="real concurrent transactions need PostgreSQL")
async def test_concurrent_bulk_approvals_approve_each_claim_once(client: TestClient) -> None:
    scene = await build_scene()
    for source in range(1, 11):
        await credit(scene, scene.alice.id, "1", source)
    ids = [c.id for c in await HoursClaim.all()]
    secretary = await scene.principal(scene.secretary)
    results = await asyncio.gather(
        *(
            approve_claims(
                principal=secretary, community_id=scene.community_id, claim_ids=ids, redis=None
            )
            for _ in range(4)
        )
    )
    assert sorted(i for r in results for i in r.approved) == sorted(ids)
    assert await balance(scene.community_id, scene.alice) == D("10.00")
    await assert_reconciled()
