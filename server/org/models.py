"""The organisation: street/town → community → grids (three levels) → households; party branches.

街道/镇 → 社区/村 → 一级网格（社区）→ 二级网格（经济社/小区党支部）→ 三级网格（楼栋/片区）→ 户。
"""

from __future__ import annotations

from enum import IntEnum

from tortoise import fields
from tortoise.models import Model


class GridLevel(IntEnum):
    """网格层级：1 社区网格，2 支部/小区网格，3 楼栋网格。"""

    COMMUNITY = 1
    BRANCH = 2
    BUILDING = 3


class Street(Model):
    """街道/镇：sees all its communities."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    code = fields.CharField(max_length=32, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    communities: fields.ReverseRelation[Community]

    class Meta:
        table = "street"


class Community(Model):
    """社区/村：the unit a secretary runs, which residents join with its join code."""

    id = fields.IntField(primary_key=True)
    street: fields.ForeignKeyRelation[Street] = fields.ForeignKeyField(
        "models.Street", related_name="communities", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=64)
    code = fields.CharField(max_length=32, unique=True)
    join_code = fields.CharField(max_length=16, unique=True)
    address = fields.CharField(max_length=128, default="")
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    street_id: int
    grids: fields.ReverseRelation[Grid]

    class Meta:
        table = "community"


class Grid(Model):
    """网格 at one of three levels. Its path (/1/5/23/) makes inside-this-grid a prefix test."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="grids", on_delete=fields.RESTRICT
    )
    parent: fields.ForeignKeyNullableRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    level = fields.IntEnumField(GridLevel)
    name = fields.CharField(max_length=64)
    path = fields.CharField(max_length=255, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    parent_id: int | None

    class Meta:
        table = "grid"
        unique_together = (("community", "parent", "name"),)


class PartyBranch(Model):
    """党支部, sitting on a grid (支部进网)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="branches", on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyNullableRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="branches", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    grid_id: int | None

    class Meta:
        table = "party_branch"
        unique_together = (("community", "name"),)


class Household(Model):
    """户: a dwelling in a building grid, which residents bind to."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="households", on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="households", on_delete=fields.RESTRICT
    )
    label = fields.CharField(max_length=64)  # e.g. "2单元302"
    address = fields.CharField(max_length=128, default="")
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    community_id: int
    grid_id: int

    class Meta:
        table = "household"
        unique_together = (("grid", "label"),)
