"""Request and response shapes of the practical-matters (为民实事) API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from server.core.schemas import Input, Output
from server.projects.lifecycle import Action
from server.projects.models import ProjectStatus

TITLE_MAX = 60  # 公示栏一行放得下
NOTE_MAX = 500


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class ProjectPath(Input):
    project_id: int = Field(ge=1)


# a Literal, not the enum: query parameters are documented inline, without $defs references
StatusFilter = Literal["planned", "in_progress", "joint_meeting", "done", "cancelled"]


class ProjectListQuery(Input):
    status: StatusFilter | None = Field(default=None, description="只看某一状态")


class ProjectIn(Input):
    title: str = Field(min_length=2, max_length=TITLE_MAX, description="项目名称")
    description: str = Field(default="", max_length=2000, description="为民办什么实事")
    plan: str = Field(default="", max_length=2000, description="实施计划与时间节点")
    owner_id: int = Field(ge=1, description="负责人（本社区书记、网格员或志愿者）")
    due_date: dt.date = Field(description="计划完成日期")


class ProjectUpdateIn(Input):
    percent: int = Field(ge=0, le=100, description="完成进度（%）")
    note: str = Field(min_length=2, max_length=NOTE_MAX, description="本月做了什么、遇到什么困难")


class TransitionIn(Input):
    action: Action
    note: str = Field(default="", max_length=NOTE_MAX)


class ProjectUpdateOut(BaseModel):
    id: int
    month: str
    percent: int
    note: str
    author_name: str
    created_at: dt.datetime


class ProjectEventOut(BaseModel):
    action: str
    from_status: ProjectStatus | None
    to_status: ProjectStatus
    note: str
    actor_name: str | None
    created_at: dt.datetime


class ProjectOut(Output):
    id: int
    community_id: int
    title: str
    description: str
    plan: str
    owner_id: int
    owner_name: str
    due_date: dt.date
    status: ProjectStatus
    status_label: str
    percent: int
    last_note: str
    last_update_at: dt.datetime | None
    updated_this_month: bool = Field(description="本月是否已更新进度")
    overdue: bool = Field(description="已过计划完成日期仍未完成")


class ProjectListOut(Output):
    items: list[ProjectOut]


class ProjectDetailOut(ProjectOut):
    updates: list[ProjectUpdateOut]
    events: list[ProjectEventOut]
