"""Points (积分), their community rules and the published honour boards (光荣榜)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PointsRule(Model):
    """A community's points rules (the defaults in ``rules.DEFAULT_RULE`` apply without a row)."""

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="points_rule", on_delete=fields.CASCADE
    )
    points_per_hour = fields.IntField(default=10)
    bonus_five_star = fields.IntField(default=5)
    bonus_four_star = fields.IntField(default=0)
    honour_min_tasks = fields.IntField(default=2)  # tasks in the month to be on the honour board
    honour_size = fields.IntField(default=10)  # how many volunteers the honour board shows
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int

    class Meta:
        table = "points_rule"


class PointsAward(Model):
    """Points for one approved hours claim, with the grid the volunteer counted for then."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="points_awards", on_delete=fields.RESTRICT
    )
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="points_awards", on_delete=fields.RESTRICT
    )
    claim: fields.OneToOneRelation = fields.OneToOneField(
        "models.HoursClaim", related_name="points_award", on_delete=fields.RESTRICT
    )
    source_kind = fields.CharField(max_length=16)  # "task" or "activity", as on the claim
    hours = fields.DecimalField(max_digits=14, decimal_places=2)
    rating = fields.SmallIntField(null=True)
    points = fields.IntField()
    grid: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Grid", related_name="points_awards", null=True, on_delete=fields.SET_NULL
    )
    grid_path = fields.CharField(max_length=255, default="")  # e.g. /1/5/23/
    awarded_at = fields.DatetimeField(db_index=True)
    # False until the Redis boards include it (set after the commit, or by the sync job)
    board_synced = fields.BooleanField(default=False)

    community_id: int
    person_id: int
    claim_id: int
    grid_id: int | None

    class Meta:
        table = "points_award"
        indexes = (("community_id", "board_synced"),)


class HonourBoard(Model):
    """光荣榜 of one community for one month, as published on the 1st."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="honour_boards", on_delete=fields.CASCADE
    )
    month = fields.CharField(max_length=7)  # "2026-10" in the Asia/Shanghai calendar
    # [{"rank", "person_id", "name", "points", "hours", "tasks"}]
    entries: fields.Field[list[dict]] = fields.JSONField(default=list)
    published_at = fields.DatetimeField()

    community_id: int

    class Meta:
        table = "honour_board"
        unique_together = (("community", "month"),)
