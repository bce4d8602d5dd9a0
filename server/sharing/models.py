"""共享家: shared items, spaces and skills (the community's resource list) and their bookings."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ResourceKind(StrEnum):
    ITEM = "item"  # 物品: lent out, handed over and returned
    SPACE = "space"  # 场地: booked by the hour
    SKILL = "skill"  # 技能: someone's time, booked by the hour


KIND_LABELS: dict[ResourceKind, str] = {
    ResourceKind.ITEM: "物品",
    ResourceKind.SPACE: "场地",
    ResourceKind.SKILL: "技能",
}


class ResourceStatus(StrEnum):
    ACTIVE = "active"  # 可预约
    PAUSED = "paused"  # 暂停出借（仍在清单上，不能新预约）
    UNLISTED = "unlisted"  # 已下架（不再出现在清单上）


RESOURCE_STATUS_LABELS: dict[ResourceStatus, str] = {
    ResourceStatus.ACTIVE: "可预约",
    ResourceStatus.PAUSED: "暂停",
    ResourceStatus.UNLISTED: "已下架",
}


class BookingStatus(StrEnum):
    REQUESTED = "requested"  # 待物主同意
    APPROVED = "approved"  # 已同意（场地、技能：可使用）
    REJECTED = "rejected"
    PICKED_UP = "picked_up"  # 物品已交到借用人手上
    RETURNED = "returned"  # 物主确认已归还（场地、技能：已用完）
    CANCELLED = "cancelled"  # 借用人在开始前取消


BOOKING_STATUS_LABELS: dict[BookingStatus, str] = {
    BookingStatus.REQUESTED: "待同意",
    BookingStatus.APPROVED: "已同意",
    BookingStatus.REJECTED: "未同意",
    BookingStatus.PICKED_UP: "已取用",
    BookingStatus.RETURNED: "已归还",
    BookingStatus.CANCELLED: "已取消",
}


class SharedResource(Model):
    """One thing on the community's resource list (共享清单 / 善治资源清单) that others may book."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="shared_resources", on_delete=fields.CASCADE
    )
    # the person who listed it and confirms hand-over and return; for a local unit's resource
    # (驻地单位) the secretary who listed it on the unit's behalf
    owner: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="shared_resources", on_delete=fields.RESTRICT
    )
    unit_name = fields.CharField(max_length=60, default="")  # 驻地单位名称; empty: a person's own
    kind = fields.CharEnumField(ResourceKind, max_length=8)
    title = fields.CharField(max_length=40)
    description = fields.TextField(default="")
    photos: fields.Field[list[str]] = fields.JSONField(default=list)
    location = fields.CharField(max_length=128, default="")
    needs_approval = fields.BooleanField(default=True)
    max_loan_days = fields.SmallIntField(null=True)  # items: longest loan
    max_booking_hours = fields.SmallIntField(null=True)  # spaces and skills: longest booking
    opening_hours = fields.CharField(max_length=100, default="")  # free text, e.g. 每天 8:00-20:00
    deposit_note = fields.CharField(max_length=100, default="")  # e.g. 押金 50 元，归还时退
    status = fields.CharEnumField(
        ResourceStatus, max_length=8, default=ResourceStatus.ACTIVE, db_index=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int
    owner_id: int

    class Meta:
        table = "shared_resource"
        indexes = (("community_id", "status", "kind"),)


class Booking(Model):
    """One booking of a resource for ``[start_at, end_at)`` (借用 / 预约)."""

    id = fields.IntField(primary_key=True)
    resource: fields.ForeignKeyRelation[SharedResource] = fields.ForeignKeyField(
        "models.SharedResource", related_name="bookings", on_delete=fields.CASCADE
    )
    borrower: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="bookings", on_delete=fields.RESTRICT
    )
    start_at = fields.DatetimeField()
    end_at = fields.DatetimeField(db_index=True)
    status = fields.CharEnumField(BookingStatus, max_length=16, db_index=True)
    note = fields.CharField(max_length=200, default="")  # the borrower's purpose
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    resource_id: int
    borrower_id: int

    class Meta:
        table = "booking"
        indexes = (("resource_id", "status", "start_at"),)


class BookingEvent(Model):
    """Audit row of a booking's status change, written with the change."""

    id = fields.IntField(primary_key=True)
    booking: fields.ForeignKeyRelation[Booking] = fields.ForeignKeyField(
        "models.Booking", related_name="events", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="booking_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=16)
    from_status = fields.CharEnumField(BookingStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(BookingStatus, max_length=16)
    note = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    booking_id: int
    actor_id: int | None

    class Meta:
        table = "booking_event"


class BookingReminder(Model):
    """A return reminder or overdue notice written to the outbox (one per booking and kind).

    Written in the same transaction as its outbox rows: the unique (booking, kind) pair makes each
    go once, whatever the number of bot processes, re-runs and catch-ups.
    """

    id = fields.BigIntField(primary_key=True)
    booking: fields.ForeignKeyRelation[Booking] = fields.ForeignKeyField(
        "models.Booking", related_name="reminders", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8)  # "return" or "overdue" (server/sharing/rules.py)
    end_at = fields.DatetimeField()  # the end it reminded of
    created_at = fields.DatetimeField(auto_now_add=True)

    booking_id: int

    class Meta:
        table = "booking_reminder"
        unique_together = (("booking", "kind"),)
