"""A town with a secretary, volunteers and residents, and the reconciliation check."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from server.accounts.models import Person, Role
from server.accounts.permissions import Principal
from server.accounts.service import grant_role, load_principal
from server.passbook.models import Account, AccountKind
from server.passbook.reconcile import reconcile
from server.passbook.service import update_policy
from tests.builders import Town, add_person, build_town


@dataclass
class Scene:
    town: Town
    secretary: Person
    alice: Person  # volunteer, lives in building 1
    bob: Person  # volunteer, lives in building 2
    carol: Person  # volunteer, no household
    resident: Person  # lives in building 1, not a volunteer
    outsider: Person  # volunteer of another community

    @property
    def community_id(self) -> int:
        return self.town.community.id

    async def principal(self, person: Person) -> Principal:
        return await load_principal(person_id=person.id)


async def build_scene() -> Scene:
    town = await build_town()
    community = town.community
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=community)
    alice = await add_person(town, "alice", Role.VOLUNTEER, community=community)
    bob = await add_person(town, "bob", Role.VOLUNTEER, community=community)
    carol = await add_person(town, "carol", Role.VOLUNTEER, community=community)
    await grant_role(person_id=alice.id, role=Role.RESIDENT, household=town.households[0])
    await grant_role(person_id=bob.id, role=Role.RESIDENT, household=town.households[2])
    resident = await add_person(town, "resident", Role.RESIDENT, household=town.households[1])
    other = await build_town("别处", join_code="OTHER1")
    outsider = await add_person(other, "outsider", Role.VOLUNTEER, community=other.community)
    return Scene(town, secretary, alice, bob, carol, resident, outsider)


async def set_policy(
    scene: Scene, *, auto: bool | None = None, negative: bool | None = None
) -> None:
    await update_policy(
        principal=await scene.principal(scene.secretary),
        community_id=scene.community_id,
        auto_approve_rated=auto,
        allow_negative_balance=negative,
    )


async def balance(community_id: int, person: Person) -> Decimal:
    account = await Account.get_or_none(community_id=community_id, key=f"person:{person.id}")
    return Decimal(account.balance) if account else Decimal("0.00")


async def kind_balance(community_id: int, kind: AccountKind) -> Decimal:
    account = await Account.get_or_none(community_id=community_id, key=kind.value)
    return Decimal(account.balance) if account else Decimal("0.00")


async def assert_reconciled() -> None:
    report = await reconcile()
    assert report.ok, report.problems
    assert report.total == 0
