"""A mock of the WeChat mini-program and WeCom server APIs, served by aiohttp.

It answers like api.weixin.qq.com / qyapi.weixin.qq.com do (HTTP 200 with
``{"errcode", "errmsg"}`` on refusals), keeps everything in memory, and adds
``/dev/*`` endpoints that play the phone's part (``wx.login``,
``wx.requestSubscribeMessage``), fault injection, and an inspector of every call.

Nothing here imports ``server``: this package stands in for Tencent's servers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import itertools
import json
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from miniapp_mock import errors as e
from miniapp_mock.errors import DevRequestError, PlatformError

STATIC_DIR = Path(__file__).parent / "static"
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

TOKEN_OVERLAP_SECONDS = 300  # WeChat keeps a replaced access_token valid for 5 minutes
TOKEN_DAILY_QUOTA = 2000  # WeChat's daily access_token fetch limit per appid (45009 beyond)
CODE_TTL_SECONDS = 300  # a wx.login code is valid about 5 minutes, once
TOKEN_TTL_SECONDS = 7200
ROBOT_LIMIT_PER_MINUTE = 20  # WeCom group robot: 20 messages a minute per robot
# WeCom app messages: 30 a minute and 1000 an hour per member. The real platform's docs say
# messages over the limit are dropped ("超过部分会被丢弃不下发"); the mock refuses them with 45033
# instead so the sender can see and test its own throttling.
WECOM_MEMBER_LIMIT_PER_MINUTE = 30
WECOM_MEMBER_LIMIT_PER_HOUR = 1000
MAX_RECORDS = 10_000

SUBSCRIBE_THING_MAX = 20  # 'thing' values longer than this are refused with 47003
SUBSCRIBE_PHRASE_MAX = 5  # 'phrase' is at most 5 Chinese characters
SUBSCRIBE_NAME_MAX_CHINESE = 10  # 'name': 10 Chinese characters, or 20 letters/symbols
SUBSCRIBE_NAME_MAX_OTHER = 20
SUBSCRIBE_STRING_MAX = 32  # 'character_string', 'number' and 'letter'
SUBSCRIBE_SYMBOL_MAX = 5
SUBSCRIBE_PHONE_MAX = 17
SUBSCRIBE_CAR_NUMBER_MAX = 8
SEC_CHECK_CONTENT_MAX = 2500  # msg_sec_check v2 accepts at most 2500 characters
RISKY_LABEL = 20001  # the project's contract; the real platform picks a label by category
PASS_LABEL = 100
ROBOT_TEXT_MAX_BYTES = 2048
ROBOT_MARKDOWN_MAX_BYTES = 4096
ROBOT_IMAGE_MAX_BYTES = 2 * 1024 * 1024
ROBOT_NEWS_MAX_ARTICLES = 8
WECOM_APP_CONTENT_MAX_BYTES = 2048

OPENID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "tpl-task-remind": {"thing1": "thing", "time2": "time", "phrase3": "phrase"},
    "tpl-need-status": {"thing1": "thing", "phrase2": "phrase", "time3": "time", "thing4": "thing"},
    "tpl-invitation": {
        "name1": "name",
        "thing2": "thing",
        "date3": "date",
        "character_string4": "character_string",
    },
    "tpl-overdue-warning": {
        "thing1": "thing",
        "number2": "number",
        "time3": "time",
        "thing4": "thing",
    },
    "tpl-activity-signup": {
        "thing1": "thing",
        "time2": "time",
        "thing3": "thing",
        "phone_number4": "phone_number",
    },
    "tpl-booking-status": {
        "thing1": "thing",
        "phrase2": "phrase",
        "time3": "time",
        "thing4": "thing",
    },
}
TEMPLATE_TITLES: dict[str, str] = {
    "tpl-task-remind": "任务提醒",
    "tpl-need-status": "需求状态变更通知",
    "tpl-invitation": "邀请通知",
    "tpl-overdue-warning": "超时预警",
    "tpl-activity-signup": "活动报名成功通知",
    "tpl-booking-status": "预约状态通知",
}


@dataclass
class MockConfig:
    """Everything the mock platform can be told; defaults suit the demo."""

    apps: dict[str, str] = field(default_factory=lambda: {"wx-demo-appid": "wx-demo-secret"})
    corp_id: str = "ww-demo-corp"
    corp_secret: str = "ww-demo-secret"
    agent_id: int = 1000002
    code_ttl_seconds: int = CODE_TTL_SECONDS
    token_ttl_seconds: int = TOKEN_TTL_SECONDS
    token_overlap_seconds: int = TOKEN_OVERLAP_SECONDS
    token_daily_quota: int = TOKEN_DAILY_QUOTA
    flagged_words: list[str] = field(default_factory=lambda: ["赌博", "诈骗", "代开发票"])
    robot_limit_per_minute: int = ROBOT_LIMIT_PER_MINUTE
    robot_keys: frozenset[str] | None = None  # None: any key is a configured robot
    wecom_member_limit_per_minute: int = WECOM_MEMBER_LIMIT_PER_MINUTE
    wecom_member_limit_per_hour: int = WECOM_MEMBER_LIMIT_PER_HOUR
    templates: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TEMPLATES.items()}
    )
    issue_unionid: bool = False  # only apps bound to an open-platform account get unionid
    # The real jscode2session answers JSON labelled text/plain; clients must not insist on
    # application/json (aiohttp: resp.json(content_type=None)).
    jscode2session_content_type: str = "text/plain"
    max_records: int = MAX_RECORDS
    clock: Callable[[], float] = time.time


@dataclass
class LoginCode:
    code: str
    openid: str
    appid: str
    expires_at: float


@dataclass
class TokenGrant:
    token: str
    owner: str  # appid, or corp_id for WeCom
    family: str  # "token", "stable_token" or "wecom"
    expires_at: float
    replaced_at: float | None = None


@dataclass
class Injection:
    errcode: int
    http_status: int
    remaining: int


@dataclass
class Delivery:
    """A message the platform accepted for delivery."""

    id: int
    at: str
    channel: str  # "subscribe", "wecom_app" or "wecom_robot"
    recipient: str
    payload: dict[str, Any]


@dataclass
class Call:
    """One platform call as the endpoint logic sees it."""

    query: dict[str, str]
    body: Any
    body_invalid: bool

    def json_object(self, bad_errcode: int = e.DATA_FORMAT_ERROR) -> dict[str, Any]:
        if self.body_invalid or not isinstance(self.body, dict):
            raise PlatformError(bad_errcode)
        return self.body


class MockState:
    """All of the mock platform's memory; one per app."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget everything (tokens, codes, consents, limits, records)."""
        self.codes: dict[str, LoginCode] = {}
        self.known_openids: set[str] = set()
        self.tokens: dict[str, TokenGrant] = {}
        self.current_tokens: dict[tuple[str, str], str] = {}  # (family, owner) -> token
        self.fetch_counts: Counter[tuple[str, str, int]] = Counter()
        self.consents: Counter[tuple[str, str]] = Counter()  # (openid, template_id) -> left
        self.robot_sends: dict[str, deque[float]] = {}
        self.member_sends: dict[str, deque[float]] = {}
        self.injections: dict[str, deque[Injection]] = {}
        self.records: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.deliveries: deque[Delivery] = deque(maxlen=self.config.max_records)
        self._ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        # msgids stay below 2**53 so the inspector (JavaScript) shows them exactly.
        self._msgids = itertools.count(1_900_000_000_000_001)

    def now(self) -> float:
        return self.config.clock()

    def iso_now(self) -> str:
        return dt.datetime.fromtimestamp(self.now(), BEIJING).isoformat(timespec="milliseconds")

    # --- wx.login and consents (the phone's side) ---

    def issue_login_code(self, *, openid: str, appid: str) -> LoginCode:
        """What wx.login hands the phone: a one-time code for this openid."""
        login = LoginCode(
            code=secrets.token_hex(16),
            openid=openid,
            appid=appid,
            expires_at=self.now() + self.config.code_ttl_seconds,
        )
        self.codes[login.code] = login
        self.known_openids.add(openid)
        return login

    def grant_consents(self, *, openid: str, template_id: str, accept: int) -> dict[str, int]:
        """What wx.requestSubscribeMessage does when the user taps 允许 `accept` times."""
        self.known_openids.add(openid)
        self.consents[(openid, template_id)] += accept
        return self.consents_of(openid)

    def consents_of(self, openid: str) -> dict[str, int]:
        return {
            template_id: self.consents[(openid, template_id)]
            for template_id in self.config.templates
        }

    # --- access tokens ---

    def issue_token(self, *, family: str, owner: str) -> TokenGrant:
        """A new token; the previous one of the same family stays valid for the overlap."""
        now = self.now()
        previous = self.tokens.get(self.current_tokens.get((family, owner), ""))
        if previous is not None and previous.replaced_at is None:
            previous.replaced_at = now
        grant = TokenGrant(
            token=secrets.token_urlsafe(96),
            owner=owner,
            family=family,
            expires_at=now + self.config.token_ttl_seconds,
        )
        self.tokens[grant.token] = grant
        self.current_tokens[(family, owner)] = grant.token
        self._forget_old_tokens(now)
        return grant

    def _forget_old_tokens(self, now: float) -> None:
        # Keep expired tokens a day so callers still see 42001 rather than 40001.
        stale = [t for t, g in self.tokens.items() if g.expires_at < now - 86_400]
        for token in stale:
            del self.tokens[token]

    def current_token(self, *, family: str, owner: str) -> TokenGrant | None:
        """The latest token of a family if it is still fully valid."""
        grant = self.tokens.get(self.current_tokens.get((family, owner), ""))
        return grant if grant is not None and self.now() < grant.expires_at else None

    def check_token(self, token: str | None, *, wecom: bool) -> TokenGrant:
        """The grant behind an access_token, or the platform's refusal."""
        unknown = e.INVALID_ACCESS_TOKEN if wecom else e.INVALID_CREDENTIAL
        if not token:
            raise PlatformError(e.ACCESS_TOKEN_MISSING)
        grant = self.tokens.get(token)
        if grant is None or (grant.family == "wecom") != wecom:
            raise PlatformError(unknown)
        now = self.now()
        if now >= grant.expires_at:
            raise PlatformError(e.ACCESS_TOKEN_EXPIRED)
        if grant.replaced_at is not None:
            if now >= grant.replaced_at + self.config.token_overlap_seconds:
                raise PlatformError(unknown)
        return grant

    def count_fetch(self, *, family: str, owner: str) -> None:
        """Count one token fetch against the daily quota (days start at 00:00 Beijing)."""
        day = int((self.now() + 8 * 3600) // 86_400)
        key = (family, owner, day)
        if self.fetch_counts[key] >= self.config.token_daily_quota:
            raise PlatformError(e.API_QUOTA)
        self.fetch_counts[key] += 1

    # --- rate windows ---

    def within_rate(self, window: deque[float], *, seconds: float, limit: int) -> bool:
        """True when fewer than `limit` sends happened in the last `seconds`."""
        now = self.now()
        return sum(1 for at in window if at > now - seconds) < limit

    # --- fault injection and records ---

    def inject(self, *, path: str, errcode: int, http_status: int, times: int) -> int:
        self.injections.setdefault(path, deque()).append(Injection(errcode, http_status, times))
        return self.pending_injections(path)

    def pending_injections(self, path: str) -> int:
        return sum(i.remaining for i in self.injections.get(path, ()))

    def take_injection(self, path: str) -> Injection | None:
        queue = self.injections.get(path)
        if not queue:
            return None
        injection = queue[0]
        injection.remaining -= 1
        if injection.remaining <= 0:
            queue.popleft()
        return injection

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"id": next(self._ids), "at": self.iso_now(), **entry}
        self.records.append(entry)
        return entry

    def deliver(self, *, channel: str, recipient: str, payload: dict[str, Any]) -> Delivery:
        delivery = Delivery(next(self._delivery_ids), self.iso_now(), channel, recipient, payload)
        self.deliveries.append(delivery)
        return delivery

    def next_msgid(self) -> int:
        return next(self._msgids)


MOCK_STATE = web.AppKey("miniapp_mock_state", MockState)
PAGES: web.AppKey[dict[str, str]] = web.AppKey("miniapp_mock_pages")


# --- subscribe-message field rules (pure) ---

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CLOCK_RE = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_DATE_CN_RE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_DATE_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME_POINT_RE = re.compile(
    rf"(?:(\d{{4}}年\d{{1,2}}月\d{{1,2}}日|\d{{4}}-\d{{1,2}}-\d{{1,2}})\s*)?{_CLOCK_RE}"
)
_DATE_POINT_RE = re.compile(
    rf"(\d{{4}}年\d{{1,2}}月\d{{1,2}}日|\d{{4}}-\d{{1,2}}-\d{{1,2}})(?:\s*{_CLOCK_RE})?"
)
_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")
_AMOUNT_RE = re.compile(r"[¥￥]?\d+(?:\.\d{1,2})?元?")
_CAR_NUMBER_RE = re.compile(rf"[{_CJK}]?[A-Za-z0-9]{{1,7}}[{_CJK}]?")


def _is_real_date(text: str | None) -> bool:
    if text is None:
        return True
    match = _DATE_CN_RE.fullmatch(text) or _DATE_ISO_RE.fullmatch(text)
    if match is None:
        return False
    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _points(value: str, pattern: re.Pattern[str]) -> bool:
    """A point in time, or a range 'a~b', where each point matches `pattern`."""
    parts = [p.strip() for p in re.split("[~～]", value)]
    if len(parts) > 2:
        return False
    for part in parts:
        match = pattern.fullmatch(part)
        if match is None or not _is_real_date(match[1]):
            return False
    return True


def _has_chinese(value: str) -> bool:
    return re.search(f"[{_CJK}]", value) is not None


def field_problem(field_type: str, value: str) -> str | None:
    """Why WeChat would refuse this subscribe-message value, or None if it is fine."""
    if value == "":
        return "is empty"
    size = len(value)
    if field_type == "thing":
        ok = size <= SUBSCRIBE_THING_MAX
        limit = f"exceeds {SUBSCRIBE_THING_MAX} characters"
    elif field_type == "phrase":
        ok = size <= SUBSCRIBE_PHRASE_MAX and re.fullmatch(f"[{_CJK}]+", value) is not None
        limit = f"must be at most {SUBSCRIBE_PHRASE_MAX} Chinese characters"
    elif field_type == "name":
        most = SUBSCRIBE_NAME_MAX_CHINESE if _has_chinese(value) else SUBSCRIBE_NAME_MAX_OTHER
        ok = size <= most
        limit = f"exceeds {most} characters"
    elif field_type == "character_string":
        ok = re.fullmatch(rf"[\x21-\x7e]{{1,{SUBSCRIBE_STRING_MAX}}}", value) is not None
        limit = f"must be at most {SUBSCRIBE_STRING_MAX} letters, digits or symbols"
    elif field_type == "number":
        digits = sum(ch.isdigit() for ch in value)
        ok = _NUMBER_RE.fullmatch(value) is not None and digits <= SUBSCRIBE_STRING_MAX
        limit = f"must be a number of at most {SUBSCRIBE_STRING_MAX} digits"
    elif field_type == "letter":
        ok = re.fullmatch(rf"[A-Za-z]{{1,{SUBSCRIBE_STRING_MAX}}}", value) is not None
        limit = f"must be at most {SUBSCRIBE_STRING_MAX} letters"
    elif field_type == "symbol":
        ok = size <= SUBSCRIBE_SYMBOL_MAX and not any(ch.isalnum() or ch.isspace() for ch in value)
        limit = f"must be at most {SUBSCRIBE_SYMBOL_MAX} symbols"
    elif field_type == "time":
        ok = _points(value, _TIME_POINT_RE)
        limit = "time format invalid"
    elif field_type == "date":
        ok = _points(value, _DATE_POINT_RE)
        limit = "date format invalid"
    elif field_type == "amount":
        ok = _AMOUNT_RE.fullmatch(value) is not None
        limit = "amount format invalid"
    elif field_type == "phone_number":
        ok = re.fullmatch(rf"[\d+\-]{{1,{SUBSCRIBE_PHONE_MAX}}}", value) is not None
        limit = "phone_number format invalid"
    elif field_type == "car_number":
        ok = size <= SUBSCRIBE_CAR_NUMBER_MAX and _CAR_NUMBER_RE.fullmatch(value) is not None
        limit = "car_number format invalid"
    else:  # a type the mock does not know: hold it to the 'thing' limit
        ok = size <= SUBSCRIBE_THING_MAX
        limit = f"exceeds {SUBSCRIBE_THING_MAX} characters"
    return None if ok else limit


# --- endpoint logic: plain functions of (state, call) that return the JSON answer ---


def _require_app(state: MockState, appid: str | None, secret: str | None) -> str:
    if not appid:
        raise PlatformError(e.APPID_MISSING)
    if appid not in state.config.apps:
        raise PlatformError(e.INVALID_APPID)
    if not secret:
        raise PlatformError(e.APPSECRET_MISSING)
    if not secrets.compare_digest(secret, state.config.apps[appid]):
        raise PlatformError(e.INVALID_APPSECRET)
    return appid


def get_token(state: MockState, call: Call) -> dict[str, Any]:
    """GET /cgi-bin/token: a new access_token on every call; the old one overlaps 5 min."""
    if call.query.get("grant_type") != "client_credential":
        raise PlatformError(e.INVALID_GRANT_TYPE)
    appid = _require_app(state, call.query.get("appid"), call.query.get("secret"))
    state.count_fetch(family="token", owner=appid)
    grant = state.issue_token(family="token", owner=appid)
    return {"access_token": grant.token, "expires_in": state.config.token_ttl_seconds}


def get_stable_token(state: MockState, call: Call) -> dict[str, Any]:
    """POST /cgi-bin/stable_token: the same token while valid, unless force_refresh.

    Like the real platform, stable tokens are kept apart from /cgi-bin/token ones:
    fetching one kind never replaces the other.
    """
    body = call.json_object()
    if body.get("grant_type") != "client_credential":
        raise PlatformError(e.INVALID_GRANT_TYPE)
    appid = _require_app(state, _str(body.get("appid")), _str(body.get("secret")))
    state.count_fetch(family="stable_token", owner=appid)
    current = state.current_token(family="stable_token", owner=appid)
    if current is not None and body.get("force_refresh") is not True:
        grant = current
    else:
        grant = state.issue_token(family="stable_token", owner=appid)
    return {"access_token": grant.token, "expires_in": int(grant.expires_at - state.now())}


def jscode2session(state: MockState, call: Call) -> dict[str, Any]:
    """GET /sns/jscode2session: trade a wx.login code (once, before it expires) for an openid."""
    appid = _require_app(state, call.query.get("appid"), call.query.get("secret"))
    grant_type = call.query.get("grant_type")
    if grant_type is not None and grant_type != "authorization_code":
        raise PlatformError(e.INVALID_GRANT_TYPE)
    code = call.query.get("js_code")
    if not code:
        raise PlatformError(e.CODE_MISSING)
    login = state.codes.pop(code, None)
    if login is None or login.appid != appid or state.now() >= login.expires_at:
        raise PlatformError(e.INVALID_CODE)
    answer: dict[str, Any] = {
        "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
        "openid": login.openid,
    }
    if state.config.issue_unionid:
        answer["unionid"] = "oU" + hashlib.sha1(login.openid.encode()).hexdigest()[:26]
    return answer


def subscribe_send(state: MockState, call: Call) -> dict[str, Any]:
    """POST /cgi-bin/message/subscribe/send: spend one of the user's consents."""
    state.check_token(call.query.get("access_token"), wecom=False)
    body = call.json_object()
    openid = body.get("touser")
    if not isinstance(openid, str) or openid not in state.known_openids:
        raise PlatformError(e.INVALID_OPENID)
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or template_id not in state.config.templates:
        raise PlatformError(e.INVALID_TEMPLATE_ID)
    fields = state.config.templates[template_id]
    data = body.get("data")
    if not isinstance(data, dict):
        raise PlatformError(e.ARGUMENT_INVALID, "argument invalid! data is empty")
    for key, field_type in fields.items():
        entry = data.get(key)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str):
            raise PlatformError(e.ARGUMENT_INVALID, f"argument invalid! data.{key}.value is empty")
        problem = field_problem(field_type, value)
        if problem is not None:
            raise PlatformError(e.ARGUMENT_INVALID, f"argument invalid! data.{key}.value {problem}")
    state_name = body.get("miniprogram_state", "formal")
    if state_name not in ("developer", "trial", "formal"):
        raise PlatformError(e.ARGUMENT_INVALID, "argument invalid! miniprogram_state invalid")
    if body.get("lang", "zh_CN") not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
        raise PlatformError(e.ARGUMENT_INVALID, "argument invalid! lang invalid")
    if state.consents[(openid, template_id)] < 1:
        raise PlatformError(e.USER_REFUSED)
    state.consents[(openid, template_id)] -= 1
    msgid = state.next_msgid()
    state.deliver(
        channel="subscribe",
        recipient=openid,
        payload={
            "msgid": msgid,
            "template_id": template_id,
            "title": TEMPLATE_TITLES.get(template_id, template_id),
            "page": body.get("page"),
            "data": {key: data[key]["value"] for key in fields},
        },
    )
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def msg_sec_check(state: MockState, call: Call) -> dict[str, Any]:
    """POST /wxa/msg_sec_check (v2): 'risky' when the text holds a flagged word."""
    state.check_token(call.query.get("access_token"), wecom=False)
    body = call.json_object()
    if body.get("version") != 2:
        raise PlatformError(e.DATA_FORMAT_ERROR, "data format error, version must be 2")
    openid = body.get("openid")
    if not isinstance(openid, str) or openid not in state.known_openids:
        raise PlatformError(e.INVALID_OPENID)
    if body.get("scene") not in (1, 2, 3, 4):
        raise PlatformError(e.DATA_FORMAT_ERROR, "data format error, scene must be 1-4")
    content = body.get("content")
    if not isinstance(content, str) or not content or len(content) > SEC_CHECK_CONTENT_MAX:
        raise PlatformError(e.DATA_FORMAT_ERROR, "data format error, content invalid")
    text = "".join(str(body.get(k) or "") for k in ("content", "title", "nickname", "signature"))
    hits = [word for word in state.config.flagged_words if word and word in text]
    if hits:
        detail = [
            {
                "strategy": "content_model",
                "errcode": 0,
                "suggest": "risky",
                "label": RISKY_LABEL,
                "prob": 90,
            },
            *(
                {
                    "strategy": "keyword",
                    "errcode": 0,
                    "suggest": "risky",
                    "label": RISKY_LABEL,
                    "level": 20,
                    "keyword": word,
                }
                for word in hits
            ),
        ]
        result = {"suggest": "risky", "label": RISKY_LABEL}
    else:
        detail = [
            {
                "strategy": "content_model",
                "errcode": 0,
                "suggest": "pass",
                "label": PASS_LABEL,
                "prob": 0,
            }
        ]
        result = {"suggest": "pass", "label": PASS_LABEL}
    return {
        "errcode": 0,
        "errmsg": "ok",
        "result": result,
        "detail": detail,
        "trace_id": secrets.token_hex(12),
    }


def wecom_gettoken(state: MockState, call: Call) -> dict[str, Any]:
    """GET /wecom/cgi-bin/gettoken: WeCom returns the same token while it is valid."""
    corp_id = call.query.get("corpid")
    if corp_id != state.config.corp_id:
        raise PlatformError(e.INVALID_APPID, "invalid corpid")
    secret = call.query.get("corpsecret") or ""
    if not secrets.compare_digest(secret, state.config.corp_secret):
        raise PlatformError(e.INVALID_CREDENTIAL, "invalid credential")
    grant = state.current_token(family="wecom", owner=corp_id)
    if grant is None:
        grant = state.issue_token(family="wecom", owner=corp_id)
    return {
        "errcode": 0,
        "errmsg": "ok",
        "access_token": grant.token,
        "expires_in": int(grant.expires_at - state.now()),
    }


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def wecom_app_send(state: MockState, call: Call) -> dict[str, Any]:
    """POST /wecom/cgi-bin/message/send: an app message (text or markdown) to members."""
    state.check_token(call.query.get("access_token"), wecom=True)
    body = call.json_object(e.INVALID_PARAMETER)
    if body.get("agentid") != state.config.agent_id:
        raise PlatformError(e.INVALID_AGENTID)
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "markdown"):
        raise PlatformError(e.INVALID_MSGTYPE)
    section = body.get(msgtype)
    content = section.get("content") if isinstance(section, dict) else None
    if not isinstance(content, str) or not content:
        raise PlatformError(e.EMPTY_CONTENT)
    if msgtype == "markdown" and len(content.encode()) > WECOM_APP_CONTENT_MAX_BYTES:
        raise PlatformError(
            e.INVALID_PARAMETER,
            f"markdown.content exceed max length {WECOM_APP_CONTENT_MAX_BYTES}. "
            "invalid Request Parameter",
        )
    # Text longer than the limit is cut, not refused, by the real platform.
    content = _truncate_utf8(content, WECOM_APP_CONTENT_MAX_BYTES)
    touser = body.get("touser")
    members = [m for m in touser.split("|") if m] if isinstance(touser, str) else []
    if not members and not body.get("toparty") and not body.get("totag"):
        raise PlatformError(e.WECOM_ALL_RECIPIENTS_INVALID)
    cfg = state.config
    now = state.now()
    for member in members:
        window = state.member_sends.setdefault(member, deque())
        while window and window[0] <= now - 3600:
            window.popleft()
        if not state.within_rate(
            window, seconds=60, limit=cfg.wecom_member_limit_per_minute
        ) or not state.within_rate(window, seconds=3600, limit=cfg.wecom_member_limit_per_hour):
            raise PlatformError(e.WECOM_MEMBER_LIMIT, f"user frequency limit, user: {member}")
    for member in members:
        state.member_sends[member].append(now)
    msgid = secrets.token_urlsafe(24)
    state.deliver(
        channel="wecom_app",
        recipient=touser if isinstance(touser, str) else "",
        payload={"msgid": msgid, "msgtype": msgtype, "content": content},
    )
    return {
        "errcode": 0,
        "errmsg": "ok",
        "invaliduser": "",
        "invalidparty": "",
        "invalidtag": "",
        "unlicenseduser": "",
        "msgid": msgid,
    }


def _robot_problem(msgtype: Any, body: dict[str, Any]) -> PlatformError | None:
    """Why the group robot would refuse this message shape, or None."""

    def param(message: str) -> PlatformError:
        return PlatformError(e.INVALID_PARAMETER, f"{message}. invalid Request Parameter")

    if msgtype not in ("text", "markdown", "image", "news"):
        return PlatformError(e.INVALID_MSGTYPE)
    section = body.get(msgtype)
    if not isinstance(section, dict):
        return param(f"{msgtype} missing")
    if msgtype in ("text", "markdown"):
        content = section.get("content")
        if not isinstance(content, str) or not content:
            return PlatformError(e.EMPTY_CONTENT)
        limit = ROBOT_TEXT_MAX_BYTES if msgtype == "text" else ROBOT_MARKDOWN_MAX_BYTES
        if len(content.encode()) > limit:
            return param(f"{msgtype}.content exceed max length {limit}")
        for key in ("mentioned_list", "mentioned_mobile_list"):
            mentioned = section.get(key, [])
            if not isinstance(mentioned, list) or not all(isinstance(m, str) for m in mentioned):
                return param(f"{msgtype}.{key} invalid")
    elif msgtype == "image":
        encoded, digest = section.get("base64"), section.get("md5")
        if not isinstance(encoded, str) or not isinstance(digest, str):
            return param("image.base64 and image.md5 are required")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return param("image.base64 invalid")
        if not raw or len(raw) > ROBOT_IMAGE_MAX_BYTES:
            return PlatformError(e.INVALID_IMAGE_SIZE)
        if hashlib.md5(raw).hexdigest() != digest.lower():
            return param("image.md5 not match")
    else:
        articles = section.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= ROBOT_NEWS_MAX_ARTICLES:
            return param(f"news.articles size must be 1-{ROBOT_NEWS_MAX_ARTICLES}")
        for index, article in enumerate(articles):
            if not isinstance(article, dict):
                return param(f"news.articles[{index}] invalid")
            for key in ("title", "url"):
                if not isinstance(article.get(key), str) or not article[key]:
                    return param(f"news.articles[{index}].{key} is empty")
    return None


def wecom_robot_send(state: MockState, call: Call) -> dict[str, Any]:
    """POST /wecom/cgi-bin/webhook/send?key=: a group robot message, 20 a minute per key."""
    key = call.query.get("key")
    keys = state.config.robot_keys
    if not key or (keys is not None and key not in keys):
        raise PlatformError(e.INVALID_WEBHOOK_URL)
    body = call.json_object(e.INVALID_PARAMETER)
    window = state.robot_sends.setdefault(key, deque())
    now = state.now()
    while window and window[0] <= now - 60:
        window.popleft()
    if len(window) >= state.config.robot_limit_per_minute:
        raise PlatformError(e.ROBOT_RATE_LIMIT)
    msgtype = body.get("msgtype")
    problem = _robot_problem(msgtype, body)
    if problem is not None:
        raise problem
    window.append(now)
    section = dict(body[str(msgtype)])
    if "base64" in section:
        section["base64"] = f"<{len(section['base64'])} base64 chars>"
    state.deliver(
        channel="wecom_robot", recipient=_mask_partial(key), payload={"msgtype": msgtype, **section}
    )
    return {"errcode": 0, "errmsg": "ok"}


# --- inspector: masking and one-line summaries ---

_SECRET_KEYS = {"secret", "corpsecret", "appsecret", "session_key"}
_PARTIAL_KEYS = {"access_token", "js_code", "code", "key"}


def _mask_partial(value: str) -> str:
    return f"{value[:4]}…({len(value)})" if len(value) > 4 else "****"


def sanitise(value: Any) -> Any:
    """A copy safe to show: secrets hidden, tokens and codes shortened, images summarised."""
    if isinstance(value, dict):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            if key in _SECRET_KEYS and isinstance(item, str):
                clean[key] = "******"
            elif key in _PARTIAL_KEYS and isinstance(item, str):
                clean[key] = _mask_partial(item)
            elif key == "base64" and isinstance(item, str):
                clean[key] = f"<{len(item)} base64 chars>"
            else:
                clean[key] = sanitise(item)
        return clean
    if isinstance(value, list):
        return [sanitise(item) for item in value]
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _preview(text: str, size: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def summarise(kind: str, query: dict[str, str], body: Any) -> tuple[str, str]:
    """(recipient, content preview) for the inspector's table."""
    data = _dict(body)
    if kind in ("token", "jscode2session"):
        return query.get("appid", ""), ""
    if kind == "stable_token":
        refresh = " force_refresh" if data.get("force_refresh") is True else ""
        return str(data.get("appid", "")), refresh.strip()
    if kind == "wecom_token":
        return query.get("corpid", ""), ""
    if kind == "subscribe_send":
        values = _dict(data.get("data"))
        text = " / ".join(str(v.get("value", "")) for v in values.values() if isinstance(v, dict))
        return str(data.get("touser", "")), _preview(f"[{data.get('template_id', '')}] {text}")
    if kind == "msg_sec_check":
        return str(data.get("openid", "")), _preview(str(data.get("content", "")))
    if kind in ("wecom_app", "wecom_robot"):
        msgtype = str(data.get("msgtype", ""))
        section = _dict(data.get(msgtype))
        if msgtype == "news":
            articles = section.get("articles") or []
            text = " | ".join(str(a.get("title", "")) for a in articles if isinstance(a, dict))
        elif msgtype == "image":
            text = "[图片]"
        else:
            text = str(section.get("content", ""))
        recipient = (
            str(data.get("touser", ""))
            if kind == "wecom_app"
            else _mask_partial(query.get("key", ""))
        )
        return recipient, _preview(f"[{msgtype}] {text}")
    return "", ""


# --- HTTP wiring ---


def _json(payload: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type=content_type,
    )


Endpoint = Callable[[MockState, Call], dict[str, Any]]


@dataclass(frozen=True)
class PlatformRoute:
    method: str
    path: str  # relative to wherever the mock app is served
    kind: str
    endpoint: Endpoint


PLATFORM_ROUTES: tuple[PlatformRoute, ...] = (
    PlatformRoute("GET", "/cgi-bin/token", "token", get_token),
    PlatformRoute("POST", "/cgi-bin/stable_token", "stable_token", get_stable_token),
    PlatformRoute("GET", "/sns/jscode2session", "jscode2session", jscode2session),
    PlatformRoute("POST", "/cgi-bin/message/subscribe/send", "subscribe_send", subscribe_send),
    PlatformRoute("POST", "/wxa/msg_sec_check", "msg_sec_check", msg_sec_check),
    PlatformRoute("GET", "/wecom/cgi-bin/gettoken", "wecom_token", wecom_gettoken),
    PlatformRoute("POST", "/wecom/cgi-bin/message/send", "wecom_app", wecom_app_send),
    PlatformRoute("POST", "/wecom/cgi-bin/webhook/send", "wecom_robot", wecom_robot_send),
)
PLATFORM_PATHS = {route.path for route in PLATFORM_ROUTES}


def _platform_handler(route: PlatformRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap endpoint logic with fault injection, errcode rendering and recording."""

    async def handler(request: web.Request) -> web.Response:
        state = request.app[MOCK_STATE]
        query = dict(request.query)
        raw = await request.read()
        body: Any = None
        body_invalid = False
        if raw:
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                body_invalid = True
        recipient, preview = summarise(route.kind, query, body)
        record = {
            "kind": route.kind,
            "method": request.method,
            "path": route.path,
            "recipient": recipient,
            "preview": preview,
            "request": {
                "query": sanitise(query),
                "body": sanitise(body) if not body_invalid else "<invalid json>",
            },
        }
        injection = state.take_injection(route.path)
        if injection is not None and injection.http_status >= 500:
            text = f"mock injected HTTP {injection.http_status}"
            state.record(
                {
                    **record,
                    "response": text,
                    "errcode": None,
                    "http_status": injection.http_status,
                    "injected": True,
                }
            )
            return web.Response(status=injection.http_status, text=text)
        if injection is not None:
            payload = PlatformError(injection.errcode).payload()
        else:
            try:
                payload = route.endpoint(state, Call(query, body, body_invalid))
            except PlatformError as refusal:
                payload = refusal.payload()
        state.record(
            {
                **record,
                "response": sanitise(payload),
                "errcode": payload.get("errcode", 0),
                "http_status": 200,
                "injected": injection is not None,
            }
        )
        content_type = "application/json"
        if route.kind == "jscode2session":
            content_type = state.config.jscode2session_content_type
        return _json(payload, content_type=content_type)

    handler.__name__ = f"platform_{route.kind}"
    return handler


# --- /dev endpoints: the phone's side, fault injection, reset ---


async def _dev_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DevRequestError("invalid_json", "请求体不是合法的 JSON") from exc
    if not isinstance(body, dict):
        raise DevRequestError("invalid_json", "请求体必须是 JSON 对象")
    return body


def _valid_openid(value: Any) -> str:
    if not isinstance(value, str) or OPENID_RE.fullmatch(value) is None:
        raise DevRequestError(
            "invalid_openid", "openid 须为 1-64 位字母、数字、下划线或连字符", {"openid": value}
        )
    return value


def _int_param(value: Any, name: str, *, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise DevRequestError("invalid_parameter", f"{name} 必须是整数", {name: value}) from exc
    if isinstance(value, bool) or not low <= number <= high:
        raise DevRequestError(
            "invalid_parameter", f"{name} 须在 {low} 到 {high} 之间", {name: value}
        )
    return number


async def dev_login_code(request: web.Request) -> web.Response:
    """POST /dev/login-code {openid, appid?}: the code wx.login would give this user."""
    state = request.app[MOCK_STATE]
    body = await _dev_body(request)
    openid = _valid_openid(body.get("openid"))
    appid = body.get("appid") or next(iter(state.config.apps))
    if appid not in state.config.apps:
        raise DevRequestError("unknown_appid", "未知的小程序 appid", {"appid": appid})
    login = state.issue_login_code(openid=openid, appid=appid)
    return _json(
        {
            "code": login.code,
            "expires_in": state.config.code_ttl_seconds,
            "openid": openid,
            "appid": appid,
        }
    )


async def dev_grant_consents(request: web.Request) -> web.Response:
    """POST /dev/consents {openid, template_id, accept}: the user taps 允许 `accept` times."""
    state = request.app[MOCK_STATE]
    body = await _dev_body(request)
    openid = _valid_openid(body.get("openid"))
    template_id = body.get("template_id")
    if template_id not in state.config.templates:
        raise DevRequestError(
            "unknown_template", "未知的订阅消息模板", {"template_id": template_id}
        )
    accept = _int_param(body.get("accept"), "accept", default=1, low=0, high=1000)
    consents = state.grant_consents(openid=openid, template_id=template_id, accept=accept)
    return _json({"openid": openid, "consents": consents})


async def dev_list_consents(request: web.Request) -> web.Response:
    """GET /dev/consents?openid=: the consents this user has left, per template."""
    state = request.app[MOCK_STATE]
    openid = _valid_openid(request.query.get("openid"))
    return _json({"openid": openid, "consents": state.consents_of(openid)})


async def dev_templates(request: web.Request) -> web.Response:
    """GET /dev/templates: the subscribe-message templates this mock knows."""
    state = request.app[MOCK_STATE]
    items = [
        {"template_id": tid, "title": TEMPLATE_TITLES.get(tid, tid), "fields": fields}
        for tid, fields in state.config.templates.items()
    ]
    return _json({"items": items})


async def dev_messages(request: web.Request) -> web.Response:
    """GET /dev/messages?openid=: subscribe messages delivered to this user (服务通知)."""
    state = request.app[MOCK_STATE]
    openid = _valid_openid(request.query.get("openid"))
    items = [
        {"id": d.id, "at": d.at, **d.payload}
        for d in reversed(state.deliveries)
        if d.channel == "subscribe" and d.recipient == openid
    ]
    return _json({"items": items})


async def dev_fail_next(request: web.Request) -> web.Response:
    """POST /dev/fail-next {path, errcode, times, http_status}: make the next calls fail."""
    state = request.app[MOCK_STATE]
    body = await _dev_body(request)
    path = body.get("path")
    if path not in PLATFORM_PATHS:
        raise DevRequestError(
            "unknown_path",
            "只能对平台接口注入故障",
            {"path": path, "paths": sorted(PLATFORM_PATHS)},
        )
    http_status = _int_param(body.get("http_status"), "http_status", default=200, low=200, high=599)
    if http_status != 200 and http_status < 500:
        raise DevRequestError("invalid_parameter", "http_status 只能是 200 或 5xx")
    if http_status == 200 and body.get("errcode") is None:
        raise DevRequestError("invalid_parameter", "需要 errcode（或 5xx 的 http_status）")
    errcode = _int_param(body.get("errcode"), "errcode", default=-1, low=-1, high=10**7)
    times = _int_param(body.get("times"), "times", default=1, low=1, high=10_000)
    pending = state.inject(path=path, errcode=errcode, http_status=http_status, times=times)
    return _json({"path": path, "pending": pending})


async def dev_reset(request: web.Request) -> web.Response:
    """POST /dev/reset: forget all state."""
    request.app[MOCK_STATE].reset()
    return _json({"ok": True})


# --- inspector ---


async def inspector_records(request: web.Request) -> web.Response:
    """GET /inspector/api/records?kind=&since_id=&limit=: calls received, oldest first."""
    state = request.app[MOCK_STATE]
    kind = request.query.get("kind") or None
    since_id = _int_param(request.query.get("since_id"), "since_id", default=-1, low=0, high=10**12)
    limit = _int_param(request.query.get("limit"), "limit", default=200, low=1, high=1000)
    matching = [r for r in state.records if kind is None or r["kind"] == kind]
    if since_id >= 0:
        items = [r for r in matching if r["id"] > since_id][:limit]
    else:
        items = matching[-limit:]
    last_id = state.records[-1]["id"] if state.records else max(since_id, 0)
    return _json({"items": items, "last_id": last_id})


async def inspector_summary(request: web.Request) -> web.Response:
    """GET /inspector/api/summary: counts by kind and by errcode."""
    state = request.app[MOCK_STATE]
    by_kind: Counter[str] = Counter()
    by_errcode: Counter[str] = Counter()
    by_kind_errcode: dict[str, Counter[str]] = {}
    for record in state.records:
        code = (
            str(record["errcode"])
            if record["errcode"] is not None
            else f"http_{record['http_status']}"
        )
        by_kind[record["kind"]] += 1
        by_errcode[code] += 1
        by_kind_errcode.setdefault(record["kind"], Counter())[code] += 1
    return _json(
        {
            "total": len(state.records),
            "by_kind": dict(by_kind),
            "by_errcode": dict(by_errcode),
            "by_kind_errcode": {k: dict(v) for k, v in by_kind_errcode.items()},
        }
    )


async def inspector_clear(request: web.Request) -> web.Response:
    """DELETE /inspector/api/records: forget the recorded calls (ids keep counting)."""
    request.app[MOCK_STATE].records.clear()
    return _json({"ok": True})


def _page(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=request.app[PAGES][name], content_type="text/html")

    return serve


async def _add_slash(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.path + "/")


@web.middleware
async def _dev_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DevRequestError as refusal:
        return _json(refusal.payload(), status=refusal.status)


def create_mock_app(config: MockConfig | None = None) -> web.Application:
    """The mock platform as an aiohttp app; serve it alone or mount it with add_subapp."""
    app = web.Application(middlewares=[_dev_errors], client_max_size=4 * 1024 * 1024)
    app[MOCK_STATE] = MockState(config or MockConfig())
    app[PAGES] = {
        name: (STATIC_DIR / name).read_text(encoding="utf-8")
        for name in ("phone.html", "inspector.html")
    }
    for route in PLATFORM_ROUTES:
        app.router.add_route(route.method, route.path, _platform_handler(route), name=route.kind)
    app.router.add_post("/dev/login-code", dev_login_code)
    app.router.add_post("/dev/consents", dev_grant_consents)
    app.router.add_get("/dev/consents", dev_list_consents)
    app.router.add_get("/dev/templates", dev_templates)
    app.router.add_get("/dev/messages", dev_messages)
    app.router.add_post("/dev/fail-next", dev_fail_next)
    app.router.add_post("/dev/reset", dev_reset)
    app.router.add_get("/inspector/api/records", inspector_records)
    app.router.add_delete("/inspector/api/records", inspector_clear)
    app.router.add_get("/inspector/api/summary", inspector_summary)
    app.router.add_get("/inspector/", _page("inspector.html"))
    app.router.add_get("/inspector", _add_slash)
    app.router.add_get("/app/", _page("phone.html"))
    app.router.add_get("/app", _add_slash)
    return app


__all__ = [
    "MOCK_STATE",
    "PLATFORM_PATHS",
    "Delivery",
    "MockConfig",
    "MockState",
    "create_mock_app",
    "field_problem",
]
