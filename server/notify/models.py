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
    # the claim that holds the lease: results of a process whose lease was taken over are refused
    lease_owner = fields.CharField(max_length=64, null=True)
    routed_at = fields.DatetimeField(null=True)  # recipients resolved, inbox written
    last_error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    recipient_id: int | None
    community_id: int | None

    class Meta:
        table = "outbox_message"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # not sent on this channel (no openid, no consent left): inbox only
    FAILED = "failed"  # permanent refusal by the platform: inbox only, reason recorded


class Delivery(Model):
    """One outbox message on one external channel to one target (a person or a community robot)."""

    id = fields.BigIntField(primary_key=True)
    message: fields.ForeignKeyRelation[OutboxMessage] = fields.ForeignKeyField(
        "models.OutboxMessage", related_name="deliveries", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=16)  # subscribe, wecom_app, robot
    person: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Community", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    # "p:<person id>" or "c:<community id>": NULL-safe uniqueness on every database
    target = fields.CharField(max_length=24)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    message_id: int
    person_id: int | None
    community_id: int | None

    class Meta:
        table = "notify_delivery"
        unique_together = (("message", "channel", "target"),)


class InboxItem(Model):
    """站内信: every notification a person gets, always written, the source of truth."""

    id = fields.BigIntField(primary_key=True)
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="inbox", on_delete=fields.CASCADE
    )
    message: fields.ForeignKeyNullableRelation[OutboxMessage] = fields.ForeignKeyField(
        "models.OutboxMessage", related_name="inbox_items", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharField(max_length=48)
    title = fields.CharField(max_length=64)
    body = fields.TextField()
    link = fields.CharField(max_length=255, default="")
    urgency = fields.CharEnumField(Urgency, max_length=16, default=Urgency.NORMAL)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True, db_index=True)

    person_id: int
    message_id: int | None

    class Meta:
        table = "inbox_item"
        unique_together = (("person", "message"),)
        indexes = (("person_id", "id"),)


class SubscribeConsent(Model):
    """How many one-time subscribe-message consents a person has left for one template."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="subscribe_consents", on_delete=fields.CASCADE
    )
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    person_id: int

    class Meta:
        table = "subscribe_consent"
        unique_together = (("person", "template_id"),)


class WecomUser(Model):
    """The WeCom (企业微信) member id of a secretary or grid member, for app messages."""

    id = fields.IntField(primary_key=True)
    person: fields.OneToOneRelation = fields.OneToOneField(
        "models.Person", related_name="wecom_user", on_delete=fields.CASCADE
    )
    userid = fields.CharField(max_length=64, unique=True)

    person_id: int

    class Meta:
        table = "wecom_user"


class CommunityRobot(Model):
    """The WeCom group robot (群机器人) webhook of a community's work group."""

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="robot", on_delete=fields.CASCADE
    )
    webhook_url = fields.CharField(max_length=255)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int

    class Meta:
        table = "community_robot"
