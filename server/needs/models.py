"""The needs list (群众需求清单): what residents ask for, and every change it went through."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Category(StrEnum):
    """The eight public-service domains of the "1258" method."""

    SPACE = "space"
    SAFETY = "safety"
    SANITATION = "sanitation"
    CULTURE_SPORTS = "culture_sports"
    POLICY = "policy"
    DAILY_LIFE = "daily_life"
    DISPUTE = "dispute"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, str] = {
    Category.SPACE: "空间管理",
    Category.SAFETY: "安全管理",
    Category.SANITATION: "环境卫生",
    Category.CULTURE_SPORTS: "文化体育",
    Category.POLICY: "政策宣传",
    Category.DAILY_LIFE: "日常生活",
    Category.DISPUTE: "纠纷化解",
    Category.OTHER: "其他",
}


class NeedUrgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


URGENCY_LABELS: dict[NeedUrgency, str] = {
    NeedUrgency.NORMAL: "一般",
    NeedUrgency.URGENT: "紧急",
    NeedUrgency.EMERGENCY: "特急",
}


class NeedStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MERGED = "merged"
    MATCHING = "matching"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


STATUS_LABELS: dict[NeedStatus, str] = {
    NeedStatus.SUBMITTED: "已提交",
    NeedStatus.ACCEPTED: "已受理",
    NeedStatus.REJECTED: "未受理",
    NeedStatus.MERGED: "已合并",
    NeedStatus.MATCHING: "匹配志愿者中",
    NeedStatus.ASSIGNED: "已派单",
    NeedStatus.IN_PROGRESS: "服务中",
    NeedStatus.DONE: "已完成",
    NeedStatus.CONFIRMED: "已评价",
    NeedStatus.CLOSED: "已办结",
    NeedStatus.CANCELLED: "已撤销",
    NeedStatus.REOPENED: "已重新打开",
}


class Need(Model):
    """One need of one household (or of a place), from submission to closing."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="needs", on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Grid", related_name="needs", on_delete=fields.RESTRICT
    )
    household: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Household", related_name="needs", null=True, on_delete=fields.SET_NULL
    )
    reporter: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="needs_reported", on_delete=fields.RESTRICT
    )
    # 代办: a grid member who entered it for a resident without a phone
    entered_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="needs_entered", null=True, on_delete=fields.SET_NULL
    )
    category = fields.CharEnumField(Category, max_length=16)
    subcategory = fields.CharField(max_length=32, default="")
    title = fields.CharField(max_length=40)
    description = fields.TextField()
    urgency = fields.CharEnumField(NeedUrgency, max_length=16, default=NeedUrgency.NORMAL)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    address = fields.CharField(max_length=128, default="")
    preferred_start = fields.DatetimeField(null=True)
    preferred_end = fields.DatetimeField(null=True)
    photos: fields.Field[list[str]] = fields.JSONField(default=list)
    allow_call = fields.BooleanField(default=False)
    grid_path = fields.CharField(
        max_length=255, db_index=True
    )  # copied from the grid: scope checks
    status = fields.CharEnumField(
        NeedStatus, max_length=16, default=NeedStatus.SUBMITTED, db_index=True
    )
    # when the current status began: the SLA clock of the stage runs from here
    status_changed_at = fields.DatetimeField()
    version = fields.IntField(default=1)  # bumped on every transition (compare-and-set)
    due_at = fields.DatetimeField(null=True)  # set by staff; replaces the SLA limit of the stage
    sla_due_at = fields.DatetimeField(null=True, db_index=True)  # when the current stage runs late
    merged_into: fields.ForeignKeyNullableRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="merged_needs", null=True, on_delete=fields.SET_NULL
    )
    reject_reason = fields.CharField(max_length=200, default="")
    rating = fields.SmallIntField(null=True)
    rating_comment = fields.CharField(max_length=500, default="")
    escalation_level = fields.SmallIntField(default=0)
    # the volunteer doing it (志愿红), set through change_status when the need is assigned
    assignee: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="needs_assigned", null=True, on_delete=fields.SET_NULL
    )
    done_at = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int
    grid_id: int
    household_id: int | None
    reporter_id: int
    entered_by_id: int | None
    merged_into_id: int | None
    assignee_id: int | None

    class Meta:
        table = "need"
        indexes = (("community_id", "status", "created_at"),)


class NeedEvent(Model):
    """The audit row of one change of a need: who, when, from, to, why."""

    id = fields.BigIntField(primary_key=True)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="events", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="need_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=24)
    from_status = fields.CharField(max_length=16, default="")
    to_status = fields.CharField(max_length=16)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    need_id: int
    actor_id: int | None

    class Meta:
        table = "need_event"


class SubmissionKey(Model):
    """An ``Idempotency-Key`` a person used: retries return the need it created."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="submission_keys", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=64)
    body_hash = fields.CharField(max_length=64)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="submission_keys", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    person_id: int
    need_id: int

    class Meta:
        table = "submission_key"
        unique_together = (("person", "key"),)
