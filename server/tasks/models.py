"""Invitations to volunteers, the task of the one who took a need, and its audit rows."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"  # the wave timed out without an answer
    WITHDRAWN = "withdrawn"  # someone else took the need, or it no longer needs a volunteer


INVITATION_LABELS: dict[InvitationStatus, str] = {
    InvitationStatus.PENDING: "待回复",
    InvitationStatus.ACCEPTED: "已接单",
    InvitationStatus.DECLINED: "已婉拒",
    InvitationStatus.EXPIRED: "已过期",
    InvitationStatus.WITHDRAWN: "已撤回",
}


class TaskStatus(StrEnum):
    ACCEPTED = "accepted"  # the volunteer has it (accepted or assigned by hand), not yet there
    IN_PROGRESS = "in_progress"  # checked in
    DONE = "done"  # checked out
    CANCELLED = "cancelled"


TASK_LABELS: dict[TaskStatus, str] = {
    TaskStatus.ACCEPTED: "待服务",
    TaskStatus.IN_PROGRESS: "服务中",
    TaskStatus.DONE: "已完成",
    TaskStatus.CANCELLED: "已取消",
}

OPEN_TASK_STATUSES = frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS})


class TaskInvitation(Model):
    """One volunteer invited to one need in one wave (邀请接单)."""

    id = fields.BigIntField(primary_key=True)
    need: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Need", related_name="invitations", on_delete=fields.CASCADE
    )
    volunteer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="task_invitations", on_delete=fields.CASCADE
    )
    wave = fields.SmallIntField()
    rank = fields.SmallIntField(default=0)  # place in the wave, best first
    score = fields.FloatField(default=0.0)
    explanation: fields.Field[list[str]] = fields.JSONField(default=list)
    status = fields.CharEnumField(
        InvitationStatus, max_length=16, default=InvitationStatus.PENDING, db_index=True
    )
    sent_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    responded_at = fields.DatetimeField(null=True)
    decline_reason = fields.CharField(max_length=200, default="")

    need_id: int
    volunteer_id: int

    class Meta:
        table = "task_invitation"
        unique_together = (("need", "volunteer"),)  # nobody is invited twice to the same need
        indexes = (("volunteer_id", "status"),)


class Task(Model):
    """The work of one volunteer on one need, from acceptance to check-out (任务)."""

    id = fields.IntField(primary_key=True)
    need: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Need", related_name="tasks", on_delete=fields.CASCADE
    )
    volunteer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="tasks", on_delete=fields.RESTRICT
    )
    invitation: fields.ForeignKeyNullableRelation[TaskInvitation] = fields.ForeignKeyField(
        "models.TaskInvitation", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    assigned_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="tasks_assigned", null=True, on_delete=fields.SET_NULL
    )
    # the need's id while the task is open, NULL after: at most one open task per need, enforced
    # by the database (NULLs never collide in a unique column)
    open_need_id = fields.IntField(null=True, unique=True)
    status = fields.CharEnumField(
        TaskStatus, max_length=16, default=TaskStatus.ACCEPTED, db_index=True
    )
    accepted_at = fields.DatetimeField()
    checkin_at = fields.DatetimeField(null=True)
    checkin_lat = fields.FloatField(null=True)
    checkin_lng = fields.FloatField(null=True)
    checkout_at = fields.DatetimeField(null=True)
    checkout_lat = fields.FloatField(null=True)
    checkout_lng = fields.FloatField(null=True)
    note = fields.CharField(max_length=500, default="")
    photos: fields.Field[list[str]] = fields.JSONField(default=list)
    hours = fields.FloatField(null=True)  # multiples of 0.5
    hours_edited_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="task_hours_edited", null=True, on_delete=fields.SET_NULL
    )
    hours_edited_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    need_id: int
    volunteer_id: int
    invitation_id: int | None
    assigned_by_id: int | None
    hours_edited_by_id: int | None

    class Meta:
        table = "task"
        indexes = (("volunteer_id", "status"),)


class TaskEvent(Model):
    """The audit row of one change of a task: accept, assign, check-in, check-out, hours edit."""

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="events", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="task_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=24)
    from_status = fields.CharField(max_length=16, default="")
    to_status = fields.CharField(max_length=16)
    hours_before = fields.FloatField(null=True)
    hours_after = fields.FloatField(null=True)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    task_id: int
    actor_id: int | None

    class Meta:
        table = "task_event"


class TaskPolicy(Model):
    """A community's own wave size, timeout, check-in distance and hours cap (empty = setting)."""

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="task_policy", on_delete=fields.CASCADE
    )
    wave_size = fields.SmallIntField(null=True)
    wave_timeout_minutes = fields.IntField(null=True)
    max_waves = fields.SmallIntField(null=True)
    checkin_max_distance_m = fields.IntField(null=True)
    hours_cap = fields.FloatField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int

    class Meta:
        table = "task_policy"


class TaskReminder(Model):
    """A reminder before a task's start that was written to the outbox (one per task and kind).

    Written in the same transaction as its outbox rows: the unique (task, kind) pair makes each
    reminder go once, whatever the number of bot processes, re-runs and catch-ups.
    """

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="reminders", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8)  # "24h" or "2h" (server/tasks/reminder_rules.py)
    starts_at = fields.DatetimeField()  # the start time it reminded of
    created_at = fields.DatetimeField(auto_now_add=True)

    task_id: int

    class Meta:
        table = "task_reminder"
        unique_together = (("task", "kind"),)
