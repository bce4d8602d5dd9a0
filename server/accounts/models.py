"""People, the roles they hold where they act, and invite codes."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    RESIDENT = "resident"  # 居民: bound to a household
    VOLUNTEER = "volunteer"  # 志愿者: serves a community
    GRID_MEMBER = "grid_member"  # 网格员/网格长: works a grid and the grids below it
    SECRETARY = "secretary"  # 社区党组织书记: runs a community
    STREET_ADMIN = "street_admin"  # 街道管理员: sees every community of the street


ROLE_LABELS: dict[Role, str] = {
    Role.RESIDENT: "居民",
    Role.VOLUNTEER: "志愿者",
    Role.GRID_MEMBER: "网格员",
    Role.SECRETARY: "书记",
    Role.STREET_ADMIN: "街道管理员",
}


class Person(Model):
    """Anyone who uses the mini-app, identified by their WeChat openid once they have logged in."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True, null=True)
    unionid = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=32, default="微信用户")
    phone = fields.CharField(max_length=20, null=True)
    is_party_member = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "person"


class RoleGrant(Model):
    """One role of one person in one place (its ids and grid path copied for permission checks)."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="grants", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=16)
    street: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Street", related_name="grants", on_delete=fields.RESTRICT
    )
    community: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Community", related_name="grants", null=True, on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Grid", related_name="grants", null=True, on_delete=fields.RESTRICT
    )
    household: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Household", related_name="grants", null=True, on_delete=fields.RESTRICT
    )
    grid_path = fields.CharField(max_length=255, default="")
    # "role:scope_type:scope_id": NULL-safe uniqueness of (person, role, place) on every database
    scope_key = fields.CharField(max_length=64)
    granted_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="granted", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    person_id: int
    street_id: int
    community_id: int | None
    grid_id: int | None
    household_id: int | None

    class Meta:
        table = "role_grant"
        unique_together = (("person", "scope_key"),)


class InviteCode(Model):
    """A code a secretary hands out so a person becomes a grid member or volunteer of a place."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    role = fields.CharEnumField(Role, max_length=16)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="invites", on_delete=fields.CASCADE
    )
    grid: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Grid", related_name="invites", null=True, on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="invites_created", on_delete=fields.RESTRICT
    )
    max_uses = fields.IntField(default=1)
    uses = fields.IntField(default=0)
    expires_at = fields.DatetimeField()
    revoked = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    grid_id: int | None
    created_by_id: int

    class Meta:
        table = "invite_code"
