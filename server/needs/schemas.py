"""Request and response shapes of the needs list."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from server.core.schemas import Input, Output
from server.needs.models import Category, NeedStatus, NeedUrgency

TITLE_MAX = 40
DESCRIPTION_MAX = 1000


class OnBehalfIn(Input):
    """代办: the resident a grid member enters the need for."""

    household_id: int = Field(ge=1)
    resident_name: str = Field(min_length=1, max_length=32)
    resident_phone: str | None = Field(default=None, pattern=r"^1\d{10}$")


class NeedSubmitIn(Input):
    category: Category
    subcategory: str = Field(default="", max_length=32)
    title: str = Field(min_length=2, max_length=TITLE_MAX)
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    urgency: NeedUrgency = NeedUrgency.NORMAL
    household_id: int | None = Field(default=None, ge=1, description="默认为本人绑定的住户")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    address: str = Field(default="", max_length=128)
    preferred_start: dt.datetime | None = None
    preferred_end: dt.datetime | None = None
    photos: list[str] = Field(
        default_factory=list, max_length=6, description="先上传照片得到的 key"
    )
    allow_call: bool = False
    on_behalf: OnBehalfIn | None = Field(default=None, description="网格员代办时填写")

    @model_validator(mode="after")
    def _check(self) -> NeedSubmitIn:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat 和 lng 必须同时填写")
        if (
            self.preferred_start
            and self.preferred_end
            and self.preferred_end <= self.preferred_start
        ):
            raise ValueError("preferred_end 必须晚于 preferred_start")
        for value in (self.preferred_start, self.preferred_end):
            if value is not None and value.tzinfo is None:
                raise ValueError("时间必须带时区，如 2026-11-22T09:00:00+08:00")
        return self


class NeedEventOut(Output):
    action: str
    from_status: str
    to_status: str
    note: str
    actor_id: int | None
    created_at: dt.datetime


class NeedOut(Output):
    id: int
    community_id: int
    grid_id: int
    household_id: int | None
    reporter_id: int
    entered_by_id: int | None
    category: Category
    category_label: str
    subcategory: str
    title: str
    description: str
    urgency: NeedUrgency
    status: NeedStatus
    status_label: str
    lat: float | None
    lng: float | None
    address: str
    preferred_start: dt.datetime | None
    preferred_end: dt.datetime | None
    photos: list[str] = Field(description="照片 key（提交时填写的）")
    photo_urls: list[str] = Field(
        default_factory=list, description="照片的签名链接，与 photos 一一对应，有效期有限"
    )
    allow_call: bool
    due_at: dt.datetime | None
    merged_into_id: int | None
    assignee_id: int | None = Field(default=None, description="接单的志愿者")
    reject_reason: str
    rating: int | None
    rating_comment: str
    created_at: dt.datetime
    status_changed_at: dt.datetime


class DuplicateOut(Output):
    id: int
    title: str
    status: NeedStatus
    distance_m: int
    created_at: dt.datetime


class SubmitOut(Output):
    need: NeedOut
    possible_duplicates: list[DuplicateOut]
    replayed: bool = Field(description="同一 Idempotency-Key 的重试，返回原来的结果")


class NeedDetailOut(Output):
    need: NeedOut
    timeline: list[NeedEventOut] = Field(description="处理记录（仅完整可见时提供）")
    access: Literal["full", "contact", "masked"] = Field(
        description="full：提交人和负责的工作人员；contact：任务进行中的志愿者（门牌、照片，"
        "居民同意时有电话）；masked：任务前后的志愿者（只到楼栋、姓氏、无电话和照片）"
    )
    reporter_name: str
    reporter_phone: str | None


class PhotoOut(Output):
    key: str = Field(description="提交需求时放进 photos 的 key")
    content_type: str = Field(description="按文件内容识别的类型")
    size: int
    url: str = Field(description="签名链接，用于预览")


class PhotoUploadOut(Output):
    photos: list[PhotoOut]


class PhotoPath(Input):
    key: str = Field(min_length=1, max_length=200)


class PhotoLinkQuery(Input):
    exp: int = Field(default=0, ge=0, description="链接到期时间（Unix 秒）")
    sig: str = Field(default="", max_length=128, description="签名")


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class PublicNeedQuery(Input):
    status: str = Field(
        default="",
        description="逗号分隔的状态（只限公示的状态：accepted, matching, assigned, in_progress, "
        "done, confirmed, closed, reopened）",
    )
    category: str = Field(default="", description="逗号分隔的类别")
    grid_id: int | None = Field(default=None, ge=1)
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class PublicNeedOut(Output):
    """A need as the community sees it: surname only, the building, no phone, no photos."""

    id: int
    category: Category
    category_label: str
    title: str
    description: str
    urgency: NeedUrgency
    status: NeedStatus
    status_label: str
    outcome: str = Field(description="处理结果，一句话")
    grid_id: int
    grid_name: str
    address: str = Field(description="只到楼栋")
    reporter_name: str = Field(description="只显示姓氏，如 王**")
    created_at: dt.datetime
    done_at: dt.datetime | None
    rating: int | None
    rating_comment: str


class PublicNeedListOut(Output):
    items: list[PublicNeedOut]
    next_cursor: str | None


class ExportQuery(Input):
    month: str = Field(default="", max_length=32, description="YYYY-MM（社区所在时区），默认本月")


class NeedPath(Input):
    need_id: int = Field(ge=1)


class TriageIn(Input):
    action: Literal["accept", "reject", "merge"]
    reason: str = Field(default="", max_length=200, description="不予受理时必填")
    merge_into: int | None = Field(default=None, ge=1, description="合并时必填：保留的需求编号")
    due_at: dt.datetime | None = Field(default=None, description="受理时可设完成时限")
    note: str = Field(default="", max_length=500)


class MoveIn(Input):
    grid_id: int = Field(ge=1)
    note: str = Field(default="", max_length=500)


class DueIn(Input):
    due_at: dt.datetime


class RateIn(Input):
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class ReasonIn(Input):
    reason: str = Field(min_length=2, max_length=500)


class CancelIn(Input):
    reason: str = Field(default="", max_length=500)


class NeedListQuery(Input):
    scope: Literal["mine", "queue"] = Field(
        default="mine", description="mine：我提交的；queue：我负责的网格或社区的待办"
    )
    community_id: int | None = Field(default=None, ge=1)
    status: str = Field(default="", description="逗号分隔的状态，如 submitted,accepted")
    category: str = Field(default="", description="逗号分隔的类别")
    urgency: str = Field(default="", description="逗号分隔的紧急程度")
    grid_id: int | None = Field(default=None, ge=1)
    overdue: bool | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class NeedListOut(Output):
    items: list[NeedOut]
    next_cursor: str | None
