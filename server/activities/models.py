"""Group volunteer activities (志愿活动), their sign-ups (with a waitlist) and audit rows."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from server.passbook.models import HOURS_DIGITS, HOURS_PLACES


class ActivityStatus(StrEnum):
    PUBLISHED = "published"  # 报名中 / 进行中: open until it is closed or cancelled
    CLOSED = "closed"  # 已结束: attendance final, hours credited to the passbook
    CANCELLED = "cancelled"  # 已取消: the signed-up volunteers were told


ACTIVITY_LABELS: dict[ActivityStatus, str] = {
    ActivityStatus.PUBLISHED: "已发布",
    ActivityStatus.CLOSED: "已结束",
    ActivityStatus.CANCELLED: "已取消",
}


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"  # has a place
    WAITLISTED = "waitlisted"  # 候补: gets the next freed place, first come first served
    WITHDRAWN = "withdrawn"  # the volunteer took the sign-up back


SIGNUP_LABELS: dict[SignupStatus, str] = {
    SignupStatus.CONFIRMED: "已报名",
    SignupStatus.WAITLISTED: "候补中",
    SignupStatus.WITHDRAWN: "已退出",
}

ACTIVE_SIGNUP_STATUSES = frozenset({SignupStatus.CONFIRMED, SignupStatus.WAITLISTED})


class Activity(Model):
    """One group activity a community's secretary publishes (e.g. 环境清洁日, 政策宣讲)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="activities", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=64)
    description = fields.TextField(default="")
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    signup_deadline = fields.DatetimeField()
    place = fields.CharField(max_length=128)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    capacity = fields.IntField()
    skills: fields.Field[list[str]] = fields.JSONField(default=list)  # any one of them will do
    hours = fields.DecimalField(max_digits=HOURS_DIGITS, decimal_places=HOURS_PLACES)
    status = fields.CharEnumField(
        ActivityStatus, max_length=16, default=ActivityStatus.PUBLISHED, db_index=True
    )
    checkin_code = fields.CharField(max_length=8, default="")
    checkin_code_expires_at = fields.DatetimeField(null=True)
    reminder_sent_at = fields.DatetimeField(null=True)  # set once, by the reminder job's claim
    cancel_reason = fields.CharField(max_length=200, default="")
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="activities_created", null=True, on_delete=fields.SET_NULL
    )
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int
    created_by_id: int | None

    class Meta:
        table = "activity"
        indexes = (("community_id", "starts_at"),)


class ActivitySignup(Model):
    """One volunteer's sign-up for one activity: a place or the waitlist, and attendance."""

    id = fields.IntField(primary_key=True)
    activity: fields.ForeignKeyRelation[Activity] = fields.ForeignKeyField(
        "models.Activity", related_name="signups", on_delete=fields.CASCADE
    )
    volunteer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="activity_signups", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(SignupStatus, max_length=16)
    signed_up_at = fields.DatetimeField()  # the waitlist's order (then id)
    promoted_at = fields.DatetimeField(null=True)  # moved from the waitlist to a place
    withdrawn_at = fields.DatetimeField(null=True)
    attended_at = fields.DatetimeField(null=True)
    # who marked the attendance: NULL = the volunteer with the check-in code
    attendance_marked_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="attendance_marked", null=True, on_delete=fields.SET_NULL
    )
    wrong_codes = fields.SmallIntField(default=0)  # wrong check-in codes typed so far

    activity_id: int
    volunteer_id: int
    attendance_marked_by_id: int | None

    class Meta:
        table = "activity_signup"
        unique_together = (("activity", "volunteer"),)
        indexes = (("volunteer_id", "status"), ("activity_id", "status", "signed_up_at"))


class ActivityEvent(Model):
    """The audit row of one change of an activity: publish, edit, cancel, close."""

    id = fields.BigIntField(primary_key=True)
    activity: fields.ForeignKeyRelation[Activity] = fields.ForeignKeyField(
        "models.Activity", related_name="events", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="activity_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=16)
    from_status = fields.CharField(max_length=16, default="")
    to_status = fields.CharField(max_length=16)
    changes: fields.Field[dict] = fields.JSONField(default=dict)  # field → [before, after]
    note = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    activity_id: int
    actor_id: int | None

    class Meta:
        table = "activity_event"
