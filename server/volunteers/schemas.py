"""Request and response shapes of volunteer profiles."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from server.core.schemas import Input, Output
from server.volunteers.rules import MAX_TASKS_LIMIT, RADIUS_MAX_M, RADIUS_MIN_M


class SlotIn(Input):
    weekday: int = Field(description="0 为周一 … 6 为周日")
    start: str = Field(max_length=5, description="HH:MM，整点或半点（北京时间）")
    end: str = Field(max_length=5, description="HH:MM，整点或半点，可为 24:00")


class SlotOut(BaseModel):
    weekday: int
    start: str
    end: str


class ProfileIn(Input):
    """The whole profile (PUT replaces it)."""

    community_id: int | None = Field(
        default=None, ge=1, description="在多个社区做志愿者时必填：档案属于哪个社区"
    )
    skills: list[str] = Field(default_factory=list, max_length=40)
    availability: list[SlotIn] = Field(default_factory=list, max_length=100)
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lng: float | None = Field(default=None, ge=-180, le=180)
    service_radius_m: int = Field(default=2000, ge=RADIUS_MIN_M, le=RADIUS_MAX_M)
    max_concurrent_tasks: int = Field(default=2, ge=1, le=MAX_TASKS_LIMIT)
    phone_visible: bool = False
    is_party_member: bool = False


class TrackRecordOut(BaseModel):
    active_tasks: int
    accepted_count: int
    declined_count: int
    completed_count: int
    abandoned_count: int
    rating_count: int
    average_rating: float | None


class ProfileOut(Output):
    person_id: int
    name: str
    community_id: int
    exists: bool = Field(description="false：尚未填写，返回的是默认值")
    skills: list[str]
    availability: list[SlotOut]
    home_lat: float | None
    home_lng: float | None
    service_radius_m: int
    max_concurrent_tasks: int
    phone_visible: bool
    phone: str | None = Field(description="仅本人、或本人允许公开时可见")
    is_party_member: bool
    track_record: TrackRecordOut
    updated_at: dt.datetime | None


class VolunteerListQuery(Input):
    skill: str = Field(default="", max_length=12, description="只看有此技能的志愿者")
    party_member: bool | None = None
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=200)


class VolunteerListOut(Output):
    total: int
    items: list[ProfileOut]


class CommunityPath(BaseModel):
    community_id: int = Field(ge=1)


class SkillsOut(Output):
    community_id: int
    skills: list[str]
    customised: bool = Field(description="false：使用默认技能标签")
