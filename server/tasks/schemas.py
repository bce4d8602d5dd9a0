"""Request and response shapes of tasks (志愿红)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from server.core.schemas import Input, Output
from server.needs.models import Category, NeedStatus, NeedUrgency
from server.needs.schemas import NeedOut
from server.tasks.models import InvitationStatus, TaskStatus

NOTE_MAX = 500
PHOTOS_MAX = 6  # as many as a need may carry


class InvitationPath(Input):
    invitation_id: int = Field(ge=1)


class TaskPath(Input):
    task_id: int = Field(ge=1)


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class NeedBriefOut(Output):
    """A need as a volunteer sees it: the door, the coordinates, the photos and the reporter's
    phone only while the volunteer's task is open (``contact_visible``)."""

    id: int
    title: str
    category: Category
    category_label: str
    subcategory: str
    description: str
    urgency: NeedUrgency
    status: NeedStatus
    status_label: str
    address: str
    lat: float | None
    lng: float | None
    preferred_start: dt.datetime | None
    preferred_end: dt.datetime | None
    photos: list[str]
    photo_urls: list[str] = Field(
        default_factory=list, description="照片的签名链接（与 photos 一一对应，有效期有限）"
    )
    contact_visible: bool
    reporter_name: str
    reporter_phone: str | None = Field(description="仅在居民同意来电且任务进行中时提供")


class InvitationOut(Output):
    id: int
    need_id: int
    wave: int
    status: InvitationStatus
    status_label: str
    sent_at: dt.datetime
    expires_at: dt.datetime
    responded_at: dt.datetime | None
    explanation: list[str] = Field(description="为什么邀请您")
    need: NeedBriefOut


class InvitationListOut(Output):
    items: list[InvitationOut]


class InvitationListQuery(Input):
    status: Literal["pending", "all"] = Field(
        default="pending", description="pending：待回复且未过期；all：全部"
    )


class DeclineIn(Input):
    reason: str = Field(default="", max_length=200)


class TaskOut(Output):
    id: int
    need_id: int
    volunteer_id: int
    invitation_id: int | None
    assigned_by_id: int | None
    status: TaskStatus
    status_label: str
    accepted_at: dt.datetime
    checkin_at: dt.datetime | None
    checkin_lat: float | None
    checkin_lng: float | None
    checkout_at: dt.datetime | None
    checkout_lat: float | None
    checkout_lng: float | None
    note: str
    photos: list[str] = Field(description="签退照片 key")
    photo_urls: list[str] = Field(
        default_factory=list, description="签退照片的签名链接（与 photos 一一对应，有效期有限）"
    )
    hours: float | None
    hours_edited_by_id: int | None
    hours_edited_at: dt.datetime | None


class TaskEventOut(Output):
    action: str
    from_status: str
    to_status: str
    hours_before: float | None
    hours_after: float | None
    note: str
    actor_id: int | None
    created_at: dt.datetime


class TaskSummaryOut(Output):
    task: TaskOut
    need: NeedBriefOut


class TaskDetailOut(Output):
    task: TaskOut
    need: NeedBriefOut
    events: list[TaskEventOut]


class TaskListOut(Output):
    items: list[TaskSummaryOut]


class TaskListQuery(Input):
    status: Literal["open", "done", "all"] = Field(
        default="open", description="open：待服务和服务中；done：已完成；all：全部"
    )


class Position(Input):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class CheckInIn(Position):
    pass


class CheckOutIn(Position):
    note: str = Field(default="", max_length=NOTE_MAX, description="服务说明")
    photos: list[str] = Field(
        default_factory=list, max_length=PHOTOS_MAX, description="先上传照片得到的 key"
    )


class HoursIn(Input):
    hours: float = Field(ge=0, le=24, description="半小时的整数倍")
    reason: str = Field(min_length=2, max_length=200)


class AssignIn(Input):
    volunteer_id: int = Field(ge=1, description="志愿者的 person id")
    note: str = Field(default="", max_length=NOTE_MAX)


class StartMatchingIn(Input):
    note: str = Field(default="", max_length=NOTE_MAX)


class MatchingOut(Output):
    need: NeedOut
    invited: int = Field(description="第一轮邀请的人数（0 = 无人可邀请，已上报书记）")


class StaffInvitationOut(Output):
    id: int
    volunteer_id: int
    volunteer_name: str
    wave: int
    rank: int
    score: float
    explanation: list[str]
    status: InvitationStatus
    status_label: str
    sent_at: dt.datetime
    expires_at: dt.datetime
    responded_at: dt.datetime | None
    decline_reason: str


class NeedInvitationsOut(Output):
    need_id: int
    need_status: NeedStatus
    items: list[StaffInvitationOut]


class TaskPolicyIn(Input):
    """A community's own values; null = use the server setting."""

    wave_size: int | None = Field(default=None, ge=1, le=50)
    wave_timeout_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_waves: int | None = Field(default=None, ge=1, le=20)
    checkin_max_distance_m: int | None = Field(default=None, ge=0, le=100_000)
    hours_cap: float | None = Field(default=None, gt=0, le=24)


class TaskPolicyOut(Output):
    """The rules in force in the community."""

    wave_size: int
    wave_timeout_minutes: int
    max_waves: int
    checkin_max_distance_m: int
    hours_cap: float
