"""Request and response shapes of group activities (志愿活动); hours are decimal strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from server.activities.models import ActivityStatus, SignupStatus
from server.activities.rules import CAPACITY_MAX
from server.core.schemas import Input, Output

TITLE_MAX = 64
DESCRIPTION_MAX = 2000
PLACE_MAX = 128
REASON_MAX = 200


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class ActivityPath(Input):
    activity_id: int = Field(ge=1)


class ActivityIn(Input):
    title: str = Field(min_length=2, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    starts_at: dt.datetime
    ends_at: dt.datetime
    signup_deadline: dt.datetime | None = Field(default=None, description="默认为开始时间")
    place: str = Field(min_length=1, max_length=PLACE_MAX, description="活动地点")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    capacity: int = Field(ge=1, le=CAPACITY_MAX, description="名额")
    skills: list[str] = Field(
        default_factory=list, max_length=12, description="需要的技能（具备其一即可报名）"
    )
    hours: Decimal | None = Field(
        default=None, description="每位签到者记入的时长；默认按活动时长（半小时取整，最多 8）"
    )

    @model_validator(mode="after")
    def _check(self) -> ActivityIn:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat 和 lng 必须同时填写")
        return self


class ActivityPatch(Input):
    """Only the fields given change; the audit row keeps each before and after."""

    title: str | None = Field(default=None, min_length=2, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    signup_deadline: dt.datetime | None = None
    place: str | None = Field(default=None, min_length=1, max_length=PLACE_MAX)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    capacity: int | None = Field(default=None, ge=1, le=CAPACITY_MAX)
    skills: list[str] | None = Field(default=None, max_length=12)
    hours: Decimal | None = None
    note: str = Field(default="", max_length=REASON_MAX, description="修改原因（写入记录）")

    @model_validator(mode="after")
    def _check(self) -> ActivityPatch:
        if ("lat" in self.model_fields_set) != ("lng" in self.model_fields_set):
            raise ValueError("lat 和 lng 必须同时修改")
        return self


class ActivityCancelIn(Input):
    reason: str = Field(min_length=2, max_length=REASON_MAX)


class ActivityCheckInIn(Input):
    code: str = Field(min_length=1, max_length=16)


class AttendanceIn(Input):
    volunteer_id: int = Field(ge=1)
    attended: bool = True


class ActivityListQuery(Input):
    scope: Literal["upcoming", "past", "all"] = Field(
        default="upcoming", description="upcoming：未结束的；past：已结束或已取消的"
    )
    limit: int = Field(default=50, ge=1, le=200)


class MySignupsQuery(Input):
    scope: Literal["upcoming", "all"] = "upcoming"


class MySignupOut(Output):
    status: SignupStatus
    status_label: str
    signed_up_at: dt.datetime
    waitlist_position: int | None = Field(description="候补第几位（1 起）；有名额时为空")
    attended: bool
    attended_at: dt.datetime | None


class ActivityOut(Output):
    id: int
    community_id: int
    title: str
    description: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    signup_deadline: dt.datetime
    place: str
    lat: float | None
    lng: float | None
    capacity: int
    skills: list[str]
    hours: Decimal
    status: ActivityStatus
    status_label: str
    cancel_reason: str
    confirmed: int = Field(description="已报名人数")
    waitlisted: int = Field(description="候补人数")
    places_left: int
    my_signup: MySignupOut | None = None


class ActivityListOut(Output):
    items: list[ActivityOut]


class ActivityEventOut(Output):
    action: str
    from_status: str
    to_status: str
    changes: dict
    note: str
    actor_id: int | None
    created_at: dt.datetime


class ActivityDetailOut(Output):
    activity: ActivityOut
    events: list[ActivityEventOut] = Field(description="变更记录（仅书记可见）")


class SignupOut(Output):
    activity: ActivityOut
    signup: MySignupOut


class AttendeeOut(Output):
    volunteer_id: int
    name: str
    status: SignupStatus
    signed_up_at: dt.datetime
    waitlist_position: int | None
    attended_at: dt.datetime | None
    marked_by_secretary: bool


class RosterOut(Output):
    activity: ActivityOut
    confirmed: list[AttendeeOut]
    waitlist: list[AttendeeOut] = Field(description="候补，先报先补")
    attended: int


class CheckinCodeOut(Output):
    code: str
    expires_at: dt.datetime
    opens_at: dt.datetime = Field(description="志愿者最早可签到的时间")


class CloseOut(Output):
    activity: ActivityOut
    credited: int = Field(description="本次记入时间存折（待审核）的人数；重复结束为 0")
    attended: int
    hours_each: Decimal
