"""Request and response shapes of the 共享家 (shared home) API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from server.core.schemas import Input, Output
from server.sharing.models import BookingStatus, ResourceKind, ResourceStatus
from server.sharing.rules import MAX_BOOKING_HOURS, MAX_LOAN_DAYS, BookingAction

TITLE_MAX = 40  # a list row and a subscribe message's 'thing' (20) stay readable
PHOTOS_MAX = 6
NOTE_MAX = 200


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class ResourcePath(Input):
    resource_id: int = Field(ge=1)


class BookingPath(Input):
    booking_id: int = Field(ge=1)


# Literals, not the enums: query parameters are documented inline, without $defs references
KindFilter = Literal["item", "space", "skill"]


class ResourceListQuery(Input):
    kind: KindFilter | None = Field(default=None, description="只看物品、场地或技能")
    q: str = Field(default="", max_length=40, description="按名称、介绍或地点搜索")
    mine: bool = Field(default=False, description="只看我发布的（含暂停和已下架的）")
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class BookingListQuery(Input):
    role: Literal["borrower", "owner"] = Field(
        default="borrower", description="borrower：我借的；owner：借我的（待我处理的预约）"
    )
    status: (
        Literal["requested", "approved", "rejected", "picked_up", "returned", "cancelled"] | None
    ) = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class _ResourceFields(Input):
    description: str = Field(default="", max_length=2000, description="是什么、怎么用、注意事项")
    photos: list[str] = Field(
        default_factory=list,
        max_length=PHOTOS_MAX,
        description="本人先上传照片得到的 key（POST /api/v1/media/photos）",
    )
    location: str = Field(default="", max_length=128, description="在哪里取用或使用")
    needs_approval: bool = Field(default=True, description="预约须物主同意（否则直接生效）")
    opening_hours: str = Field(
        default="", max_length=100, description="开放时间，如 每天 8:00-20:00"
    )
    deposit_note: str = Field(default="", max_length=100, description="押金说明，如 押金 50 元")


class ResourceIn(_ResourceFields):
    kind: ResourceKind
    title: str = Field(min_length=2, max_length=TITLE_MAX, description="名称")
    max_loan_days: int | None = Field(
        default=None, ge=1, le=MAX_LOAN_DAYS, description="物品：每次最多借几天（默认 7）"
    )
    max_booking_hours: int | None = Field(
        default=None, ge=1, le=MAX_BOOKING_HOURS, description="场地、技能：每次最多几小时（默认 4）"
    )
    unit_name: str = Field(
        default="", max_length=60, description="代驻地单位发布时填单位名称（仅社区书记）"
    )


class ResourceChangeIn(Input):
    """Only the fields sent are changed."""

    status: ResourceStatus | None = Field(default=None, description="暂停、下架或重新开放")
    title: str | None = Field(default=None, min_length=2, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=2000)
    photos: list[str] | None = Field(
        default=None,
        max_length=PHOTOS_MAX,
        description="全部照片：已有的 key 可保留，新增的须是本人上传的",
    )
    location: str | None = Field(default=None, max_length=128)
    needs_approval: bool | None = None
    opening_hours: str | None = Field(default=None, max_length=100)
    deposit_note: str | None = Field(default=None, max_length=100)
    max_loan_days: int | None = Field(default=None, ge=1, le=MAX_LOAN_DAYS)
    max_booking_hours: int | None = Field(default=None, ge=1, le=MAX_BOOKING_HOURS)


class BookingIn(Input):
    start_at: dt.datetime = Field(description="开始时间（须带时区，如 +08:00）")
    end_at: dt.datetime = Field(description="结束时间（须带时区；预约时段含开始、不含结束）")
    note: str = Field(default="", max_length=NOTE_MAX, description="用途")


class BookingTransitionIn(Input):
    action: BookingAction
    note: str = Field(default="", max_length=NOTE_MAX, description="说明（如不同意的原因）")


class ResourceOut(Output):
    id: int
    community_id: int
    kind: ResourceKind
    kind_label: str
    title: str
    description: str
    photos: list[str] = Field(description="照片 key（发布时填写的）")
    photo_urls: list[str] = Field(
        description="照片的签名链接，与 photos 一一对应，有效期有限（过期后重新获取共享）"
    )
    location: str
    owner_id: int
    owner_name: str
    unit_name: str = Field(description="驻地单位名称；空表示个人共享")
    needs_approval: bool
    max_loan_days: int | None
    max_booking_hours: int | None
    opening_hours: str
    deposit_note: str
    status: ResourceStatus
    status_label: str
    created_at: dt.datetime


class ResourceListOut(Output):
    items: list[ResourceOut]
    next_cursor: str | None


class BusySlot(BaseModel):
    start_at: dt.datetime
    end_at: dt.datetime
    status: BookingStatus


class ResourceDetailOut(ResourceOut):
    busy: list[BusySlot] = Field(description="尚未结束的有效预约时段（不含借用人）")


class BookingEventOut(BaseModel):
    action: str
    from_status: BookingStatus | None
    to_status: BookingStatus
    note: str
    actor_name: str | None
    created_at: dt.datetime


class BookingOut(Output):
    id: int
    resource_id: int
    resource_title: str
    resource_kind: ResourceKind
    borrower_id: int
    borrower_name: str
    owner_id: int
    start_at: dt.datetime
    end_at: dt.datetime
    note: str
    status: BookingStatus
    status_label: str
    overdue: bool = Field(description="已过结束时间仍未确认归还")
    created_at: dt.datetime


class BookingListOut(Output):
    items: list[BookingOut]
    next_cursor: str | None


class BookingDetailOut(BookingOut):
    events: list[BookingEventOut]
