"""Open311 shapes and the pure rules behind them: services, the status mapping, parsing parameters.

No I/O here: what a GeoReport field means for a need is decided in one place and tested directly.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from server.needs.models import CATEGORY_LABELS, STATUS_LABELS, Category, NeedStatus
from server.needs.schemas import DESCRIPTION_MAX, TITLE_MAX
from server.open311.errors import BadRequest, NotFound, Open311Error

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-01-15T00:00:00+08:00"  # when our GeoReport service list last changed
FORMATS = {"json": "application/json", "xml": "text/xml"}
SERVICE_TYPE = "realtime"  # a need is created while the client waits: its id comes back at once

OPEN = "open"
CLOSED = "closed"

# GeoReport knows two statuses, we know twelve. "closed" means "resolved, nothing more will
# happen"; a need is closed once it is confirmed (rated), closed, rejected, merged or cancelled.
# DONE stays open on purpose: the volunteer has finished, but under 共评 a need is only resolved
# when its resident confirms it (or the rating window runs out and it is confirmed
# automatically); clients that tell their users "your request was resolved" should not say so
# before the resident has. status_notes says "已完成，等待居民评价" meanwhile.
OPEN311_STATUS: dict[NeedStatus, str] = {
    NeedStatus.SUBMITTED: OPEN,
    NeedStatus.ACCEPTED: OPEN,
    NeedStatus.MATCHING: OPEN,
    NeedStatus.ASSIGNED: OPEN,
    NeedStatus.IN_PROGRESS: OPEN,
    NeedStatus.REOPENED: OPEN,
    NeedStatus.DONE: OPEN,
    NeedStatus.CONFIRMED: CLOSED,
    NeedStatus.CLOSED: CLOSED,
    NeedStatus.REJECTED: CLOSED,
    NeedStatus.MERGED: CLOSED,
    NeedStatus.CANCELLED: CLOSED,
}


def statuses_for(open311_status: str) -> list[NeedStatus]:
    """Our statuses that show as this GeoReport status."""
    return [status for status, shown in OPEN311_STATUS.items() if shown == open311_status]


def status_notes(
    status: NeedStatus, *, reject_reason: str = "", merged_into_id: int | None = None
) -> str:
    """Our Chinese status label, with the reason where the status has one."""
    label = STATUS_LABELS[status]
    if status is NeedStatus.REJECTED and reject_reason:
        return f"{label}：{reject_reason}"
    if status is NeedStatus.MERGED and merged_into_id is not None:
        return f"{label}：已合并到 #{merged_into_id}"
    if status is NeedStatus.DONE:
        return f"{label}，等待居民评价"
    return label


@dataclass(frozen=True)
class ServiceSpec:
    """How one category of needs presents itself as an Open311 service."""

    description: str
    keywords: tuple[str, ...]
    group: str


SERVICES: dict[Category, ServiceSpec] = {
    Category.SPACE: ServiceSpec(
        "公共空间的占用与管理：楼道堆物、占道、停车、违建等",
        ("楼道堆物", "占道", "停车", "违建", "公共空间"),
        "环境与设施",
    ),
    Category.SAFETY: ServiceSpec(
        "安全隐患：消防、燃气、电梯、用电、治安等",
        ("消防", "燃气", "电梯", "用电", "治安", "隐患"),
        "平安建设",
    ),
    Category.SANITATION: ServiceSpec(
        "环境卫生：垃圾清运、清扫保洁、绿化、污水、异味等",
        ("垃圾", "保洁", "绿化", "污水", "异味"),
        "环境与设施",
    ),
    Category.CULTURE_SPORTS: ServiceSpec(
        "文化体育：活动场地、健身器材、文艺活动、图书等",
        ("文艺", "健身", "活动", "场地", "图书"),
        "社区服务",
    ),
    Category.POLICY: ServiceSpec(
        "政策咨询与宣传：社保、医保、养老、补贴、证明办理等",
        ("政策", "咨询", "社保", "医保", "养老", "补贴"),
        "社区服务",
    ),
    Category.DAILY_LIFE: ServiceSpec(
        "日常生活帮扶：小修小补、助老助残、代购代办、照护陪伴等",
        ("维修", "助老", "助残", "代购", "代办", "陪伴"),
        "社区服务",
    ),
    Category.DISPUTE: ServiceSpec(
        "矛盾纠纷化解：邻里纠纷、噪音扰民、物业矛盾等",
        ("邻里", "纠纷", "调解", "噪音", "物业"),
        "平安建设",
    ),
    Category.OTHER: ServiceSpec("其他需求", ("其他",), "其他"),
}


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]]  # none of our services asks for extra fields


class ServiceRequestOut(BaseModel):
    """One need as the public sees it: masked, no reporter, no household."""

    service_request_id: str
    status: str
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str
    address_id: None  # household ids would tell which flat asked
    zipcode: None
    lat: float | None
    long: float | None
    media_url: str | None  # a photo of the public view (render.request_out): none


class CreatedOut(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: None


class TokenOut(BaseModel):
    service_request_id: str
    token: str


class ErrorOut(BaseModel):
    code: int
    description: str


class EndpointOut(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class DiscoveryOut(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


def service_out(category: Category) -> ServiceOut:
    spec = SERVICES[category]
    return ServiceOut(
        service_code=category.value,
        service_name=CATEGORY_LABELS[category],
        description=spec.description,
        metadata=False,
        type=SERVICE_TYPE,
        keywords=",".join(spec.keywords),
        group=spec.group,
    )


def parse_service_code(value: str | None, *, unknown: type[Open311Error]) -> Category:
    """The category of a service code: 400 when missing, ``unknown`` when not ours."""
    if not value:
        raise BadRequest("缺少 service_code")
    try:
        return Category(value)
    except ValueError:
        raise unknown(f"未知的 service_code：{value}") from None


# --- GET requests parameters -------------------------------------------------------------

WINDOW = dt.timedelta(days=90)  # GeoReport: a query spans at most 90 days (the default span)
RESULTS_MAX = 1000  # GeoReport: at most the first 1000 requests


@dataclass(frozen=True)
class RequestQuery:
    """What GET requests asks for; ``ids`` (when given) override every other filter."""

    ids: tuple[int, ...] = ()
    categories: tuple[Category, ...] = ()
    statuses: tuple[NeedStatus, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_ids(value: str | None) -> tuple[int, ...]:
    ids = []
    for item in _items(value):
        if not item.isascii() or not item.isdigit() or int(item) < 1:
            raise BadRequest(f"service_request_id 无效：{item}")
        ids.append(int(item))
    if len(ids) > RESULTS_MAX:
        raise BadRequest(f"service_request_id 最多 {RESULTS_MAX} 个")
    return tuple(dict.fromkeys(ids))


_LOST_PLUS_RE = re.compile(r" (\d{2}:?\d{2})$")


def parse_datetime(value: str, *, field: str, tz: dt.tzinfo) -> dt.datetime:
    """A W3C date/time (``2026-01-01T00:00:00Z``, with an offset, or a date: midnight local)."""
    value = value.strip()
    if "T" in value:  # an unencoded "+08:00" in a query string arrives as " 08:00"
        value = _LOST_PLUS_RE.sub(r"+\1", value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{field} 格式无效：{value}（应为 W3C 时间，如 2026-01-01T00:00:00+08:00）"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def date_window(
    start: dt.datetime | None, end: dt.datetime | None, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The searched span: the last 90 days by default, 90 days from (or to) the one date given."""
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if end < start:
        raise BadRequest("end_date 早于 start_date")
    if end - start > WINDOW:
        raise BadRequest(f"start_date 到 end_date 最多 {WINDOW.days} 天")
    return start, end


def parse_request_query(
    params: Mapping[str, str], *, now: dt.datetime, tz: dt.tzinfo
) -> RequestQuery:
    """The filters of GET requests, checked; 400 names the parameter at fault."""
    ids = parse_ids(params.get("service_request_id"))
    if ids:
        return RequestQuery(ids=ids)
    categories = tuple(
        parse_service_code(code, unknown=BadRequest) for code in _items(params.get("service_code"))
    )
    statuses: list[NeedStatus] = []
    for item in _items(params.get("status")):
        if item not in (OPEN, CLOSED):
            raise BadRequest(f"status 只能是 {OPEN} 或 {CLOSED}：{item}")
        statuses.extend(statuses_for(item))
    dates = {
        field: parse_datetime(value, field=field, tz=tz) if (value := params.get(field)) else None
        for field in ("start_date", "end_date")
    }
    start, end = date_window(dates["start_date"], dates["end_date"], now=now)
    return RequestQuery(
        categories=categories, statuses=tuple(dict.fromkeys(statuses)), start=start, end=end
    )


# --- POST requests ------------------------------------------------------------------------

ANONYMOUS_REPORTER = "Open311 用户"
PERSON_NAME_MAX = 32  # Person.name
PHONE_MAX = 20  # Person.phone
ADDRESS_MAX = 128  # Need.address
CONTACT_MAX = 254  # an e-mail address at most (RFC 5321)
REFERENCE_MAX = 64  # device_id, account_id
MEDIA_URL_MAX = 500  # Open311Submission.media_url
MEDIA_URL_SCHEMES = ("http", "https")  # a link staff can open; not javascript:, data:, file:
_PHONE_RE = re.compile(r"^\+?[0-9 ()\-]{3,20}$")
_CJK_RE = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class SubmissionIn:
    """A GeoReport POST requests, checked (``api_key`` is checked before this)."""

    category: Category
    description: str
    lat: float | None = None
    lng: float | None = None
    address_string: str = ""
    address_id: int | None = None
    first_name: str = ""
    last_name: str = ""
    phone: str | None = None
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    media_url: str = ""

    @property
    def title(self) -> str:
        """The first line of the description, cut to the length of a title."""
        first_line = next(
            (line.strip() for line in self.description.splitlines() if line.strip()), ""
        )
        return first_line[:TITLE_MAX]

    @property
    def reporter_name(self) -> str:
        """李 + 娜 → "李娜" (a Chinese name puts the family name first); "John Smith"; anonymous."""
        first, last = self.first_name, self.last_name
        if not first and not last:
            return ANONYMOUS_REPORTER
        if _CJK_RE.search(first + last):
            name = last + first
        else:
            name = f"{first} {last}".strip()
        return name[:PERSON_NAME_MAX]


def _text(params: Mapping[str, str], field: str, limit: int) -> str:
    value = (params.get(field) or "").strip()
    if len(value) > limit:
        raise BadRequest(f"{field} 最多 {limit} 个字符")
    return value


def _coordinate(params: Mapping[str, str], field: str, bound: float) -> float | None:
    raw = (params.get(field) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{field} 不是数字：{raw}") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise BadRequest(f"{field} 超出范围：{raw}")
    return value


def _media_url(params: Mapping[str, str]) -> str:
    """The client's link to its photo: an absolute http(s) URL without a user or password.

    It is kept with the submission (``Open311Submission``), never fetched (a server that fetches
    what clients name can be pointed at its own network, and the bytes would skip the photo
    checks) and never published: GET shows the public view of a need, which has no photos."""
    value = _text(params, "media_url", MEDIA_URL_MAX)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        valid = (
            parts.scheme.lower() in MEDIA_URL_SCHEMES
            and bool(parts.hostname)
            and parts.username is None
            and parts.password is None
            and all(ch.isprintable() and not ch.isspace() for ch in value)
        )
    except ValueError:  # e.g. an unclosed IPv6 bracket
        valid = False
    if not valid:
        raise BadRequest("media_url 应为完整的 http 或 https 链接，如 https://example.com/1.jpg")
    return value


def parse_submission(params: Mapping[str, str]) -> SubmissionIn:
    """The fields of POST requests; 400 (404 for an unknown service_code, as GeoReport says)."""
    category = parse_service_code((params.get("service_code") or "").strip(), unknown=NotFound)
    description = (params.get("description") or "").strip()
    if not description:
        raise BadRequest("缺少 description（需求描述）")
    if len(description) > DESCRIPTION_MAX:
        raise BadRequest(f"description 最多 {DESCRIPTION_MAX} 字")
    lat = _coordinate(params, "lat", 90)
    lng = _coordinate(params, "long", 180)
    if (lat is None) != (lng is None):
        raise BadRequest("lat 和 long 必须同时提供")
    raw_address_id = (params.get("address_id") or "").strip()
    address_id = None
    if raw_address_id:
        if not raw_address_id.isascii() or not raw_address_id.isdigit():
            raise BadRequest(f"address_id 无效：{raw_address_id}")
        address_id = int(raw_address_id)
    address_string = _text(params, "address_string", ADDRESS_MAX)
    if lat is None and address_id is None and not address_string:
        raise BadRequest("缺少位置：请提供 lat 和 long、address_string 或 address_id")
    phone = _text(params, "phone", PHONE_MAX) or None
    if phone is not None and not _PHONE_RE.match(phone):
        raise BadRequest(f"phone 格式无效：{phone}")
    return SubmissionIn(
        category=category,
        description=description,
        lat=lat,
        lng=lng,
        address_string=address_string,
        address_id=address_id,
        first_name=_text(params, "first_name", PERSON_NAME_MAX),
        last_name=_text(params, "last_name", PERSON_NAME_MAX),
        phone=phone,
        email=_text(params, "email", CONTACT_MAX),
        device_id=_text(params, "device_id", REFERENCE_MAX),
        account_id=_text(params, "account_id", REFERENCE_MAX),
        media_url=_media_url(params),
    )
