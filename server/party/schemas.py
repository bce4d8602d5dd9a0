"""Request and response shapes of 双报到 (hours are decimal strings)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field

from server.core.schemas import Input, Output
from server.party.models import RegistrationStatus
from server.party.progress import ProgressStatus

YEARLY_HOURS_MAX = Decimal(1000)


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class RegistrationPath(Input):
    registration_id: int = Field(ge=1)


class RegistrationIn(Input):
    community_id: int = Field(ge=1, description="居住地社区")
    work_unit: str = Field(min_length=2, max_length=64, description="工作单位")
    party_branch: str = Field(min_length=2, max_length=64, description="所在党支部")
    registered_on: dt.date | None = Field(default=None, description="报到日期，默认今天")


class EndIn(Input):
    reason: str = Field(min_length=2, max_length=200)


class YearQuery(Input):
    year: int | None = Field(default=None, ge=2000, le=2100, description="默认今年（北京时间）")


class MembersQuery(Input):
    year: int | None = Field(default=None, ge=2000, le=2100)
    status: Literal["all", "behind", "on_track", "done", "not_started"] = "all"
    party_branch: str | None = Field(default=None, max_length=64)
    work_unit: str | None = Field(default=None, max_length=64, description="包含即可")
    limit: int = Field(default=200, ge=1, le=1000)


class SettingIn(Input):
    yearly_hours: Decimal = Field(ge=0, le=YEARLY_HOURS_MAX, decimal_places=2)


class SettingOut(Output):
    community_id: int
    yearly_hours: Decimal = Field(description="每位报到党员每年应服务的时长")
    default: bool = Field(description="true：未设置，使用默认值")


class ProgressOut(Output):
    year: int
    approved_hours: Decimal = Field(description="今年在本社区审核通过的服务时长")
    pending_hours: Decimal = Field(description="待审核（不计入进度）")
    expected_year: Decimal = Field(description="今年应服务（年中报到按剩余天数折算）")
    expected_to_date: Decimal = Field(description="按天折算到今天应服务")
    behind_hours: Decimal
    remaining_hours: Decimal
    status: ProgressStatus
    status_label: str


class RegistrationOut(Output):
    id: int
    person_id: int
    name: str
    community_id: int
    community_name: str
    work_unit: str
    party_branch: str
    registered_on: dt.date
    status: RegistrationStatus
    status_label: str
    ended_at: dt.datetime | None
    ended_reason: str
    progress: ProgressOut | None = Field(description="仅已报到的有进度")


class RegistrationListOut(Output):
    items: list[RegistrationOut]


class MembersOut(Output):
    community_id: int
    year: int
    yearly_hours: Decimal
    as_of: dt.date
    total: int = Field(description="已报到党员数（筛选前）")
    behind: int = Field(description="其中进度落后的人数")
    items: list[RegistrationOut] = Field(description="落后最多的在前")
