"""双报到: party members registered with their residence community, and its yearly expectation."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from server.passbook.models import HOURS_DIGITS, HOURS_PLACES

DEFAULT_YEARLY_HOURS = Decimal(12)  # 在职党员每年到居住地社区服务不少于 12 小时 (common local rule)


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # moved away, or the registration was withdrawn


REGISTRATION_LABELS: dict[RegistrationStatus, str] = {
    RegistrationStatus.ACTIVE: "已报到",
    RegistrationStatus.ENDED: "已结束",
}


class PartyRegistration(Model):
    """An in-service party member's 报到 with the community where they live."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="party_registrations", on_delete=fields.RESTRICT
    )
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="party_registrations", on_delete=fields.RESTRICT
    )
    work_unit = fields.CharField(max_length=64)  # 工作单位
    party_branch = fields.CharField(max_length=64)  # 所在党支部 (of the work unit)
    registered_on = fields.DateField()
    status = fields.CharEnumField(
        RegistrationStatus, max_length=16, default=RegistrationStatus.ACTIVE, db_index=True
    )
    # "person:community" while active, NULL after: one active registration per person and
    # community, enforced by the database (NULLs never collide in a unique column)
    active_key = fields.CharField(max_length=32, null=True, unique=True)
    ended_at = fields.DatetimeField(null=True)
    ended_reason = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    person_id: int
    community_id: int

    class Meta:
        table = "party_registration"
        indexes = (("community_id", "status"),)


class PartyServiceSetting(Model):
    """A community's yearly service-hours expectation of registered members (default 12 h)."""

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="party_setting", on_delete=fields.CASCADE
    )
    yearly_hours = fields.DecimalField(
        max_digits=HOURS_DIGITS, decimal_places=HOURS_PLACES, default=DEFAULT_YEARLY_HOURS
    )
    updated_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="party_settings_updated", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int
    updated_by_id: int | None

    class Meta:
        table = "party_service_setting"
