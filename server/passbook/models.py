"""The time passbook (时间存折): a double-entry ledger of volunteer hours.

Every movement of hours is a ``Transfer`` of two or more ``LedgerEntry`` rows whose amounts sum
to zero. Balances are derived from the entries; ``Account.balance`` is a cache written only by
``server.passbook.ledger.post_transfer`` in the same transaction, and checked by the reconciliation.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

HOURS_DIGITS = 14  # up to 999,999,999,999.99 hours: far beyond any community
HOURS_PLACES = 2  # hours are kept to the hundredth (36 seconds)


class AccountKind(StrEnum):
    PERSON = "person"  # 个人时间账户: a volunteer's (or neighbour's) hours in one community
    POOL = "pool"  # 社区公益时间池: hours given to the community
    ISSUANCE = "issuance"  # 发行账户: where deposited hours come from (its balance is negative)
    PENDING = "pending"  # 待审核: hours credited for a task or activity, not yet approved


class TransferKind(StrEnum):
    CREDIT = "credit"  # issuance → pending: hours of a confirmed task or an activity
    APPROVE = "approve"  # pending → person: the secretary (or the auto rule) approved them
    REJECT = "reject"  # pending → issuance: the secretary refused them, with a reason
    GIFT = "gift"  # person → person or pool: a volunteer gives hours away


TRANSFER_LABELS: dict[TransferKind, str] = {
    TransferKind.CREDIT: "待审核入账",
    TransferKind.APPROVE: "时长存入",
    TransferKind.REJECT: "审核未通过",
    TransferKind.GIFT: "时长转赠",
}


class ClaimStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


CLAIM_STATUS_LABELS: dict[ClaimStatus, str] = {
    ClaimStatus.PENDING: "待审核",
    ClaimStatus.APPROVED: "已通过",
    ClaimStatus.REJECTED: "未通过",
}


class SourceKind(StrEnum):
    TASK = "task"  # a confirmed task (a need served by one volunteer)
    ACTIVITY = "activity"  # a group activity the volunteer attended


SOURCE_LABELS: dict[SourceKind, str] = {
    SourceKind.TASK: "服务任务",
    SourceKind.ACTIVITY: "志愿活动",
}


class Account(Model):
    """One account of the ledger: a person's hours, or a community's pool, issuance or pending."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="ledger_accounts", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(AccountKind, max_length=16)
    person: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="ledger_accounts", null=True, on_delete=fields.RESTRICT
    )
    # "person:12", "pool", "issuance", "pending": NULL-safe uniqueness on every database
    key = fields.CharField(max_length=32)
    balance = fields.DecimalField(max_digits=HOURS_DIGITS, decimal_places=HOURS_PLACES, default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    person_id: int | None

    class Meta:
        table = "ledger_account"
        unique_together = (("community", "key"),)


class HoursClaim(Model):
    """Hours a volunteer earned from one task or activity: pending until approved or rejected."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="hours_claims", on_delete=fields.RESTRICT
    )
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="hours_claims", on_delete=fields.RESTRICT
    )
    hours = fields.DecimalField(max_digits=HOURS_DIGITS, decimal_places=HOURS_PLACES)
    source_kind = fields.CharEnumField(SourceKind, max_length=16)
    source_id = fields.IntField()
    rating = fields.SmallIntField(null=True)  # the resident's 1-5 stars, when given
    status = fields.CharEnumField(
        ClaimStatus, max_length=16, default=ClaimStatus.PENDING, db_index=True
    )
    reason = fields.CharField(max_length=200, default="")  # why it was rejected
    auto_approved = fields.BooleanField(default=False)
    decided_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="hours_decided", null=True, on_delete=fields.SET_NULL
    )
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    community_id: int
    person_id: int
    decided_by_id: int | None

    class Meta:
        table = "hours_claim"
        unique_together = (("source_kind", "source_id", "person"),)


class Transfer(Model):
    """One movement of hours: its entries sum to zero."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="ledger_transfers", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(TransferKind, max_length=16)
    memo = fields.CharField(max_length=200, default="")
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="ledger_transfers", null=True, on_delete=fields.SET_NULL
    )
    claim: fields.ForeignKeyNullableRelation[HoursClaim] = fields.ForeignKeyField(
        "models.HoursClaim", related_name="transfers", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    actor_id: int | None
    claim_id: int | None

    class Meta:
        table = "ledger_transfer"


class LedgerEntry(Model):
    """One side of a transfer: hours into (positive) or out of (negative) one account."""

    id = fields.BigIntField(primary_key=True)
    transfer: fields.ForeignKeyRelation[Transfer] = fields.ForeignKeyField(
        "models.Transfer", related_name="entries", on_delete=fields.RESTRICT
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="entries", on_delete=fields.RESTRICT
    )
    amount = fields.DecimalField(max_digits=HOURS_DIGITS, decimal_places=HOURS_PLACES)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    transfer_id: int
    account_id: int

    class Meta:
        table = "ledger_entry"


class PassbookPolicy(Model):
    """A community's passbook rules (defaults apply while it has no row)."""

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="passbook_policy", on_delete=fields.CASCADE
    )
    auto_approve_rated = fields.BooleanField(default=False)  # approve at once when rated >= 4
    allow_negative_balance = fields.BooleanField(default=False)  # gifts may overdraw a person
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int

    class Meta:
        table = "passbook_policy"
