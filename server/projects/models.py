"""为民实事清单: practical-matter projects with a responsible person and monthly progress."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ProjectStatus(StrEnum):
    PLANNED = "planned"  # 已立项，尚未动工
    IN_PROGRESS = "in_progress"
    JOINT_MEETING = "joint_meeting"  # 难点提交联席会议协调
    DONE = "done"
    CANCELLED = "cancelled"


STATUS_LABELS: dict[ProjectStatus, str] = {
    ProjectStatus.PLANNED: "已立项",
    ProjectStatus.IN_PROGRESS: "推进中",
    ProjectStatus.JOINT_MEETING: "提交联席会议",
    ProjectStatus.DONE: "已完成",
    ProjectStatus.CANCELLED: "已撤销",
}


class Project(Model):
    """One practical matter the community promised its residents (为民实事项目)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="projects", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=60)
    description = fields.TextField(default="")
    plan = fields.TextField(default="")  # 实施计划与节点
    owner: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="owned_projects", on_delete=fields.RESTRICT
    )
    due_date = fields.DateField()
    status = fields.CharEnumField(
        ProjectStatus, max_length=16, default=ProjectStatus.PLANNED, db_index=True
    )
    percent = fields.SmallIntField(default=0)  # progress of the latest monthly update
    last_note = fields.CharField(max_length=500, default="")
    last_update_at = fields.DatetimeField(null=True)
    created_by: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="created_projects", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int
    owner_id: int
    created_by_id: int

    class Meta:
        table = "project"
        indexes = (("community_id", "status"),)


class ProjectUpdate(Model):
    """One progress report (月度进度): how far, and what was done."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="updates", on_delete=fields.CASCADE
    )
    month = fields.CharField(max_length=7)  # YYYY-MM in the community's time zone
    percent = fields.SmallIntField()
    note = fields.CharField(max_length=500)
    author: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Person", related_name="project_updates", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    project_id: int
    author_id: int

    class Meta:
        table = "project_update"
        indexes = (("project_id", "month"),)


class ProjectEvent(Model):
    """Audit row of a project's status change, written with the change."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="events", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Person", related_name="project_events", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=16)
    from_status = fields.CharEnumField(ProjectStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(ProjectStatus, max_length=16)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    project_id: int
    actor_id: int | None

    class Meta:
        table = "project_event"
