"""Pure delivery rules, table-driven: field cutting, quiet hours, backoff, errors, routing."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from miniapp_mock.platform import field_problem
from server.notify.fields import fit_template_data, fit_value
from server.notify.models import Urgency
from server.notify.policy import (
    Outcome,
    QuietHours,
    backoff_seconds,
    classify_errcode,
    waits_for_quiet_hours,
)
from server.notify.render import TEMPLATE_FIELDS, render, robot_batches
from server.notify.routing import Audience, Channel, Route, routes_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        ("thing", "楼道灯坏了", "楼道灯坏了"),
        (
            "thing",
            "一二三四五六七八九十一二三四五六七八九十",
            "一二三四五六七八九十一二三四五六七八九十",
        ),
        (
            "thing",
            "一二三四五六七八九十一二三四五六七八九十多",
            "一二三四五六七八九十一二三四五六七八九…",
        ),
        ("thing", "  换行\n和   空格 ", "换行 和 空格"),
        ("thing", "", "-"),
        ("phrase", "已受理", "已受理"),
        ("phrase", "已受理，等待志愿者", "已受理等待"),
        ("phrase", "done", "有更新"),
        ("name", "张三", "张三"),
        ("name", "欧阳一二三四五六七八九", "欧阳一二三四五六七…"),
        ("name", "Alexander Hamilton-Burr", "Alexander Hamilton-…"),
        ("character_string", "NEED-2026-00042", "NEED-2026-00042"),
        ("character_string", "编号A-1 2", "A-12"),
        ("character_string", "x" * 40, "x" * 32),
        ("number", "共 12 件", "12"),
        ("number", "无", "0"),
        ("phone_number", "138 0013 8000", "13800138000"),
        ("amount", "12.5", "12.5元"),
        ("letter", "ab12cd", "abcd"),
        ("symbol", "a!b?", "!?"),
        ("time", dt.datetime(2026, 11, 22, 8, 30, tzinfo=dt.UTC), "2026-11-22 16:30"),
        ("date", dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.UTC), "2026年11月23日"),
        # payloads carry ISO times (JSON): formatted and shown in Beijing time too
        ("time", "2026-11-22T08:30:00+00:00", "2026-11-22 16:30"),
        ("date", "2026-11-22T20:00:00.123456+00:00", "2026年11月23日"),
        ("time", "2026年11月22日 16:30", "2026年11月22日 16:30"),  # already formatted: kept
    ],
)
def test_values_are_cut_to_wechat_field_limits(
    field_type: str, value: object, expected: str
) -> None:
    fitted = fit_value(field_type, value, tz=SHANGHAI)
    assert fitted == expected
    assert field_problem(field_type, fitted) is None  # the mock platform accepts it


def test_template_data_has_every_field_even_when_the_payload_lacks_some() -> None:
    data = fit_template_data(TEMPLATE_FIELDS["need_status"], {"thing1": "x" * 30}, tz=SHANGHAI)
    assert set(data) == {"thing1", "phrase2", "time3", "thing4"}
    assert len(data["thing1"]["value"]) == 20
    assert data["phrase2"]["value"] == "有更新"


def _at(local: str) -> dt.datetime:
    return dt.datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("local_now", "ends"),
    [
        ("2026-11-23 21:59", None),
        ("2026-11-23 22:00", "2026-11-24 07:00"),
        ("2026-11-23 23:30", "2026-11-24 07:00"),
        ("2026-11-24 00:10", "2026-11-24 07:00"),
        ("2026-11-24 06:59", "2026-11-24 07:00"),
        ("2026-11-24 07:00", None),
        ("2026-11-24 12:00", None),
    ],
)
def test_quiet_hours_span_midnight_in_shanghai(local_now: str, ends: str | None) -> None:
    quiet = QuietHours.from_settings("22:00", "07:00", "Asia/Shanghai")
    assert quiet.ends_at(_at(local_now)) == (_at(ends) if ends else None)


def test_a_daytime_quiet_window_and_an_empty_one() -> None:
    lunch = QuietHours.from_settings("12:00", "14:00", "Asia/Shanghai")
    assert lunch.ends_at(_at("2026-11-23 13:00")) == _at("2026-11-23 14:00")
    assert lunch.ends_at(_at("2026-11-23 23:00")) is None
    off = QuietHours.from_settings("00:00", "00:00", "Asia/Shanghai")
    assert off.ends_at(_at("2026-11-23 03:00")) is None


@pytest.mark.parametrize(
    ("urgency", "waits"),
    [(Urgency.NORMAL, True), (Urgency.URGENT, False), (Urgency.EMERGENCY, False)],
)
def test_only_normal_messages_wait_for_the_morning(urgency: Urgency, waits: bool) -> None:
    assert waits_for_quiet_hours(urgency) is waits


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("attempt", "fraction", "seconds"),
    [
        (1, 0.0, 15.0),
        (1, 1.0, 30.0),
        (2, 1.0, 60.0),
        (3, 0.5, 90.0),
        (8, 1.0, 3600.0),  # 30 * 2**7 = 3840, capped
        (20, 0.0, 1800.0),
    ],
)
def test_backoff_grows_exponentially_with_jitter_and_a_cap(
    attempt: int, fraction: float, seconds: float
) -> None:
    delay = backoff_seconds(attempt, base=30, cap=3600, rng=FixedRandom(fraction))
    assert delay == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (0, Outcome.SENT),
        (43101, Outcome.NO_CONSENT),
        (40003, Outcome.PERMANENT),
        (47003, Outcome.PERMANENT),
        (40037, Outcome.PERMANENT),
        (93000, Outcome.PERMANENT),
        (45009, Outcome.TRANSIENT),
        (130101, Outcome.TRANSIENT),
        (-1, Outcome.TRANSIENT),
        (40001, Outcome.TRANSIENT),
        (99999, Outcome.TRANSIENT),
    ],
)
def test_platform_errors_are_transient_or_permanent(errcode: int, outcome: Outcome) -> None:
    assert classify_errcode(errcode) is outcome


R, A, C = Route, Audience, Channel


@pytest.mark.parametrize(
    ("kind", "payload", "recipient", "community", "expected"),
    [
        ("need_status", {}, True, False, (R(A.RECIPIENT, C.SUBSCRIBE),)),
        (
            "need_submitted",
            {},
            False,
            True,
            (R(A.GRID_STAFF, C.WECOM_APP), R(A.COMMUNITY_ROBOT, C.ROBOT)),
        ),
        ("need_sla_warning", {}, False, True, (R(A.GRID_STAFF, C.WECOM_APP),)),
        ("need_overdue", {"level": 1}, False, True, (R(A.GRID_STAFF, C.WECOM_APP),)),
        (
            "need_overdue",
            {"level": 2},
            False,
            True,
            (
                R(A.GRID_STAFF, C.WECOM_APP),
                R(A.SECRETARIES, C.WECOM_APP),
                R(A.COMMUNITY_ROBOT, C.ROBOT),
            ),
        ),
        (
            "need_overdue",
            {"level": 3},
            False,
            True,
            (
                R(A.SECRETARIES, C.WECOM_APP),
                R(A.STREET_ADMINS, C.WECOM_APP),
                R(A.COMMUNITY_ROBOT, C.ROBOT),
            ),
        ),
        # a digest addressed to one secretary: that person, plus the community's robot
        (
            "weekly_digest",
            {},
            True,
            True,
            (R(A.RECIPIENT, C.WECOM_APP), R(A.COMMUNITY_ROBOT, C.ROBOT)),
        ),
        ("something_new", {}, True, False, (R(A.RECIPIENT, None),)),
        ("something_new", {}, False, True, (R(A.SECRETARIES, C.WECOM_APP),)),
    ],
)
def test_routing_table(
    kind: str, payload: dict, recipient: bool, community: bool, expected: tuple[Route, ...]
) -> None:
    assert routes_for(kind, payload, has_recipient=recipient, has_community=community) == expected


def test_robot_events_are_batched_within_the_size_limit() -> None:
    events = [f"**事件{i}** " + "字" * 300 for i in range(10)]  # about 900 bytes each
    batches = robot_batches(events, max_bytes=4096)
    assert [indexes for _, indexes in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(len(text.encode()) <= 4096 for text, _ in batches)
    assert "事件5" in batches[1][0]


def test_need_status_renders_for_inbox_and_subscribe() -> None:
    content = render(
        "need_status",
        {"need_id": 7, "title": "楼道灯坏了", "status_label": "已受理", "note": ""},
        created_at=dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC),
    )
    assert content.body == "您的需求“楼道灯坏了”已受理。"
    assert content.link == "/pages/needs/detail?id=7"
    assert content.template == "need_status"
    assert content.template_values["phrase2"] == "已受理"
