"""Request and response shapes of the time passbook (hours are decimal strings, e.g. "1.50")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field

from server.core.schemas import Input, Output
from server.passbook.models import ClaimStatus, SourceKind, TransferKind

HoursIn = Decimal


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class StaffPassbookPath(Input):
    community_id: int = Field(ge=1)
    person_id: int = Field(ge=1)


class ClaimPath(Input):
    community_id: int = Field(ge=1)
    claim_id: int = Field(ge=1)


class MyPassbookQuery(Input):
    community_id: int | None = Field(default=None, ge=1, description="默认为本人服务的社区")


class StandingOut(Output):
    stars: int = Field(description="0 = 尚未定级")
    title: str
    next_title: str | None
    hours_to_next: Decimal | None


class MonthOut(Output):
    month: str = Field(description="2026-11（北京时间）")
    deposited: Decimal = Field(description="审核通过存入的服务时长")
    received: Decimal = Field(description="收到的转赠")
    given: Decimal = Field(description="转赠出去的时长")
    closing_balance: Decimal


class MovementOut(Output):
    transfer_id: int
    kind: TransferKind
    kind_label: str
    amount: Decimal = Field(description="正数存入，负数转出")
    at: dt.datetime
    memo: str
    counterparty: str
    source_kind: SourceKind | None
    source_id: int | None


class ClaimOut(Output):
    id: int
    person_id: int
    person_name: str = ""
    hours: Decimal
    source_kind: SourceKind
    source_label: str
    source_id: int
    rating: int | None
    status: ClaimStatus
    status_label: str
    reason: str
    auto_approved: bool
    created_at: dt.datetime
    decided_at: dt.datetime | None


class PassbookOut(Output):
    community_id: int
    community_name: str
    person_id: int
    person_name: str
    balance: Decimal = Field(description="可用时长（小时）")
    pending_hours: Decimal = Field(description="待审核时长")
    approved_hours: Decimal = Field(description="累计审核通过的服务时长（定级依据）")
    points: int
    level: StandingOut
    months: list[MonthOut] = Field(description="按月汇总，最近的在前")
    movements: list[MovementOut] = Field(description="最近的收支，最近的在前")
    pending: list[ClaimOut]


class ClaimListQuery(Input):
    # a Literal, not the enum: query parameters are documented inline (no $ref)
    status: Literal["pending", "approved", "rejected"] = "pending"
    cursor: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=200)


class ClaimListOut(Output):
    items: list[ClaimOut]
    total_hours: Decimal = Field(description="该状态的时长合计")
    next_cursor: int | None


class ApproveIn(Input):
    ids: list[int] = Field(min_length=1, max_length=200, description="待审核时长的编号")


class SkippedOut(Output):
    id: int
    reason: str = Field(description="not_found、approved 或 rejected")


class ApproveOut(Output):
    approved: list[int]
    skipped: list[SkippedOut]


class RejectIn(Input):
    reason: str = Field(min_length=2, max_length=200)


class GiftIn(Input):
    community_id: int = Field(ge=1)
    hours: Decimal = Field(gt=0, le=1000, decimal_places=2)
    to_person_id: int | None = Field(
        default=None, ge=1, description="邻居；不填则赠给社区公益时间池"
    )
    note: str = Field(default="", max_length=100)


class GiftOut(Output):
    transfer_id: int
    hours: Decimal
    balance: Decimal = Field(description="转赠后的余额")


class PolicyIn(Input):
    auto_approve_rated: bool | None = Field(
        default=None, description="居民评 4 星及以上时自动审核通过"
    )
    allow_negative_balance: bool | None = Field(default=None, description="允许转赠后余额为负")


class PolicyOut(Output):
    auto_approve_rated: bool
    allow_negative_balance: bool
