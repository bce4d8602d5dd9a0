"""The outbox: every notification is a row written in the same transaction as its cause."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Urgency(StrEnum):
    NORMAL = "normal"  # waits out quiet hours
    URGENT = "urgent"
    EMERGENCY = "emergency"  # goes at once, even at night


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a bot process until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanent failure; fell back to the in-app inbox
    DEAD = "dead"  # gave up after the attempt limit; visible to admins


class OutboxMessage(Model):
    """A notification waiting for (or done with) delivery by the bot."""

    id = fields.BigIntField(primary_key=True)
    recipient: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="outbox", null=True, on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Community", related_name="outbox", null=True, on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=48)
    payload: fields.Field[dict] = fields.JSONField(default=dict)
    urgency = fields.CharEnumField(Urgency, max_length=16, default=Urgency.NORMAL)
    dedupe_key = fields.CharField(max_length=128, unique=True, null=True)
    status = fields.CharEnumField(
        OutboxStatus, max_length=16, default=OutboxStatus.PENDING, db_index=True
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    recipient_id: int | None
    community_id: int | None

    class Meta:
        table = "outbox_message"
