"""Delivery rules with no I/O: quiet hours, retry backoff, and what each platform error means."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.notify.models import Urgency

# --- quiet hours (免打扰) ---


def parse_clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietHours:
    """A nightly window (local time) in which non-urgent pushes wait; start > end spans midnight."""

    start: dt.time
    end: dt.time
    tz: dt.tzinfo

    @classmethod
    def from_settings(cls, start: str, end: str, timezone: str) -> QuietHours:
        return cls(parse_clock(start), parse_clock(end), ZoneInfo(timezone))

    def ends_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the quiet window holding ``now`` ends (UTC), or None outside it."""
        if self.start == self.end:
            return None  # an empty window: quiet hours switched off
        local = now.astimezone(self.tz)
        clock = local.time()
        if self.start < self.end:
            inside = self.start <= clock < self.end
            end_day = local.date()
        else:  # spans midnight: 22:00-07:00
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + dt.timedelta(days=1) if clock >= self.start else local.date()
        if not inside:
            return None
        end_local = dt.datetime.combine(end_day, self.end, tzinfo=self.tz)
        return end_local.astimezone(dt.UTC)


def waits_for_quiet_hours(urgency: Urgency) -> bool:
    """Only normal messages wait out the night; urgent and emergency ones go at once."""
    return urgency is Urgency.NORMAL


# --- retry backoff ---


def backoff_seconds(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)`` capped, then 50-100% of it.

    The jitter keeps many messages that failed together (a platform outage) from retrying in one
    burst; keeping at least half keeps the growth visible.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    fraction = (rng or random).random()
    return ceiling * (0.5 + fraction / 2)


# --- platform errors ---


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # retry later with backoff
    PERMANENT = "permanent"  # never retry: inbox only, reason recorded
    NO_CONSENT = "no_consent"  # permanent, and our consent count was wrong: set it to zero


# errcodes that say "this message will never go through": retrying cannot help
PERMANENT_ERRORS: dict[int, str] = {
    40003: "openid 无效",
    40037: "订阅消息模板 id 无效",
    47003: "模板数据不符合要求",
    40008: "消息类型无效",
    40058: "消息参数无效",
    44004: "消息内容为空",
    81013: "企业微信成员无效",
    93000: "群机器人 webhook 无效",
}
NO_CONSENT_ERROR = 43101  # the user refused, or has no consent left for this template
# errcodes worth retrying: quotas, rate limits, a busy platform, a token that stayed invalid
TRANSIENT_ERRORS: dict[int, str] = {
    -1: "平台繁忙",
    40001: "access_token 无效",
    40014: "access_token 无效",
    42001: "access_token 过期",
    45009: "接口调用超过限额",
    45033: "成员接收消息太频繁",
    130101: "群机器人发送太频繁",
}


def classify_errcode(errcode: int) -> Outcome:
    """What a platform errcode means for this message (unknown codes are retried)."""
    if errcode == 0:
        return Outcome.SENT
    if errcode == NO_CONSENT_ERROR:
        return Outcome.NO_CONSENT
    if errcode in PERMANENT_ERRORS:
        return Outcome.PERMANENT
    return Outcome.TRANSIENT


def describe_errcode(errcode: int, errmsg: str = "") -> str:
    """A short reason for admins: the code, our words, the platform's words."""
    words = PERMANENT_ERRORS.get(errcode) or TRANSIENT_ERRORS.get(errcode)
    if errcode == NO_CONSENT_ERROR:
        words = "用户拒收或订阅次数已用完"
    text = f"{errcode} {words or '平台错误'}"
    return f"{text}: {errmsg}" if errmsg else text
