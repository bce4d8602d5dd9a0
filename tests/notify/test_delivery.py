"""Delivery to the mock WeChat platform, asserting what the platform recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from aiohttp.test_utils import TestClient
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role
from server.core.appkeys import HTTP_SESSION, REDIS
from server.core.config import Settings
from server.notify.dispatcher import Dispatcher, build_dispatcher
from server.notify.models import (
    Delivery,
    DeliveryStatus,
    InboxItem,
    OutboxMessage,
    OutboxStatus,
    SubscribeConsent,
    Urgency,
)
from server.notify.service import (
    enqueue,
    record_consents,
    set_community_robot,
    set_wecom_user,
)
from tests.builders import Town, add_person, auth, build_town, login
from tests.conftest import ON_POSTGRES
from tests.notify.conftest import Bot, FakeClock, Platform

SUBSCRIBE = "/cgi-bin/message/subscribe/send"
TEMPLATE = "tpl-need-status"
LONG_TITLE = "三号楼二单元楼道里的声控灯坏了好几天晚上很黑"  # 23 characters


async def resident(town: Town, key: str = "resident") -> Person:
    return await add_person(town, key, Role.RESIDENT, household=town.households[0])


async def consent(person: Person, times: int = 1) -> None:
    for _ in range(times):
        await record_consents(
            person_id=person.id, results={TEMPLATE: "accept"}, known_template_ids=[TEMPLATE]
        )


async def need_status(
    person: Person, *, title: str = "楼道灯坏了", urgency: Urgency = Urgency.NORMAL
) -> OutboxMessage:
    await enqueue(
        kind="need_status",
        payload={"need_id": 1, "title": title, "status": "accepted", "status_label": "已受理"},
        recipient_id=person.id,
        urgency=urgency,
    )
    return await OutboxMessage.filter(recipient_id=person.id).order_by("-id").first()  # type: ignore[return-value]


async def consents_left(person: Person) -> int:
    row = await SubscribeConsent.get_or_none(person_id=person.id, template_id=TEMPLATE)
    return row.remaining if row else 0


async def delivery_of(message: OutboxMessage) -> Delivery:
    return await Delivery.get(message_id=message.id)


# --- subscribe messages ---


async def test_a_status_change_reaches_the_residents_phone_and_inbox(
    platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent(person.openid or "", TEMPLATE)
    await consent(person)
    message = await need_status(person, title=LONG_TITLE)

    report = await bot.run()

    assert (report.sent, report.pushes) == (1, 1)
    sent = await platform.accepted("subscribe_send")
    assert len(sent) == 1
    body = sent[0]["request"]["body"]
    assert body["touser"] == "test-resident"
    assert body["template_id"] == TEMPLATE
    assert body["page"] == "pages/needs/detail?id=1"
    assert body["data"]["thing1"]["value"] == LONG_TITLE[:19] + "…"  # cut to 20 characters
    assert body["data"]["phrase2"]["value"] == "已受理"
    await message.refresh_from_db()
    assert message.status is OutboxStatus.SENT
    inbox = await InboxItem.get(person_id=person.id)
    assert inbox.body.startswith(f"您的需求“{LONG_TITLE}”已受理")  # the inbox keeps all of it
    assert await consents_left(person) == 0
    assert (await platform.consents_left("test-resident"))[TEMPLATE] == 0
    assert report.max_duplicate_window > 0


async def test_each_send_uses_one_consent_and_then_the_inbox_only(
    platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", TEMPLATE, accept=2)
    await consent(person, times=2)
    for _ in range(3):
        await need_status(person)

    await bot.run()

    assert len(await platform.accepted("subscribe_send")) == 2
    assert await InboxItem.filter(person_id=person.id).count() == 3
    skipped = await Delivery.filter(status=DeliveryStatus.SKIPPED)
    assert [d.last_error for d in skipped] == ["订阅次数已用完，仅站内信"]
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 3


async def test_a_person_without_openid_gets_the_inbox_only(platform: Platform, bot: Bot) -> None:
    town = await build_town()
    person = await resident(town)
    await Person.filter(id=person.id).update(openid=None)
    await consent(person)
    message = await need_status(person)

    await bot.run()

    assert await platform.records("subscribe_send") == []
    assert (await delivery_of(message)).last_error == "没有微信 openid，仅站内信"
    assert await InboxItem.filter(person_id=person.id).count() == 1
    assert await consents_left(person) == 1  # nothing was used


async def test_consents_are_counted_from_what_the_client_reports(
    client: TestClient, platform: Platform
) -> None:
    town = await build_town()
    await resident(town)
    token = await login(client, platform.server, "test-resident")
    res = {"errMsg": "requestSubscribeMessage:ok", TEMPLATE: "accept", "tpl-task-remind": "reject"}
    body = {"results": res}  # wx.requestSubscribeMessage's res, passed on as it is
    for _ in range(2):
        response = await client.post("/api/v1/notify/consents", json=body, headers=auth(token))
        assert response.status == 200, await response.text()
    templates = {t["template_id"]: t["remaining"] for t in (await response.json())["templates"]}
    assert templates[TEMPLATE] == 2
    assert templates["tpl-task-remind"] == 0
    response = await client.get("/api/v1/notify/consents", headers=auth(token))
    names = {t["name"]: t["remaining"] for t in (await response.json())["templates"]}
    assert names["need_status"] == 2
    bad = await client.post(
        "/api/v1/notify/consents", json={"results": {"tpl-nope": "accept"}}, headers=auth(token)
    )
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "validation_error"


# --- each error code ---


@pytest.mark.parametrize(
    ("errcode", "reason_start", "consents_after"),
    [
        (43101, "43101 用户拒收", 0),  # the platform says none are left: believe it
        (40003, "40003 openid 无效", 1),  # refused before delivery: the consent is given back
        (47003, "47003 模板数据不符合要求", 1),
        (40037, "40037 订阅消息模板 id 无效", 1),
    ],
)
async def test_permanent_refusals_fall_back_to_the_inbox_without_retrying(
    platform: Platform,
    bot: Bot,
    clock: FakeClock,
    errcode: int,
    reason_start: str,
    consents_after: int,
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", TEMPLATE)
    await consent(person)
    message = await need_status(person)
    await platform.fail_next(SUBSCRIBE, errcode=errcode)

    report = await bot.run()

    assert report.failed == 1
    await message.refresh_from_db()
    assert message.status is OutboxStatus.FAILED
    assert message.last_error.startswith(reason_start)
    delivery = await delivery_of(message)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error.endswith("已改为仅站内信")
    assert await InboxItem.filter(person_id=person.id).count() == 1
    assert await consents_left(person) == consents_after
    clock.advance(24 * 3600)
    await bot.run()
    assert len(await platform.records("subscribe_send")) == 1  # never retried


@pytest.mark.parametrize(
    ("errcode", "http_status"),
    [(45009, 200), (-1, 200), (None, 500), (None, 503)],
)
async def test_transient_failures_retry_with_backoff(
    platform: Platform,
    bot: Bot,
    clock: FakeClock,
    settings: Settings,
    errcode: int | None,
    http_status: int,
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", TEMPLATE)
    await consent(person)
    message = await need_status(person)
    await platform.fail_next(SUBSCRIBE, errcode=errcode, http_status=http_status)

    report = await bot.run()

    assert report.retrying == 1
    await message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert message.next_attempt_at is not None
    delay = (message.next_attempt_at - clock.now).total_seconds()
    base = settings.notify_backoff_base_seconds
    assert base / 2 <= delay <= base
    assert await consents_left(person) == 1  # given back: it was not used
    await bot.run()  # not due yet
    assert len(await platform.records("subscribe_send")) == 1

    clock.advance(delay + 1)
    report = await bot.run()

    assert report.sent == 1
    assert len(await platform.accepted("subscribe_send")) == 1
    await message.refresh_from_db()
    assert message.status is OutboxStatus.SENT
    assert await consents_left(person) == 0


@pytest.mark.parametrize("errcode", [40001, 42001])  # token invalid, token expired
async def test_token_refused_with_40001_is_refreshed_and_retried_once(
    platform: Platform, bot: Bot, caplog: pytest.LogCaptureFixture, errcode: int
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", TEMPLATE)
    await consent(person)
    first = await need_status(person)
    await platform.fail_next(SUBSCRIBE, errcode=errcode)

    with caplog.at_level(logging.INFO, logger="dangqun.wechat"):
        await bot.run()

    calls = await platform.records("subscribe_send")
    assert [c["errcode"] for c in calls] == [errcode, 0]
    tokens = await platform.records("stable_token")
    assert [t["preview"] for t in tokens][-1] == "force_refresh"
    # the first token, the refused one handed back by stable_token, then a forced new one: the
    # day's fetches are counted across processes (Beijing day) and logged with each fetch
    assert await bot.dispatcher.wechat.token_fetches_today() == len(tokens) == 3
    fetch_logs = [r.getMessage() for r in caplog.records if "fetches today" in r.getMessage()]
    assert [line[-1] for line in fetch_logs] == ["1", "2", "3"]
    await first.refresh_from_db()
    assert first.status is OutboxStatus.SENT

    # refused twice: one retry only, then the message waits for its backoff
    await platform.consent("test-resident", TEMPLATE)
    await consent(person)
    second = await need_status(person)
    await platform.fail_next(SUBSCRIBE, errcode=errcode, times=2)
    await bot.run()
    calls = await platform.records("subscribe_send")
    assert [c["errcode"] for c in calls] == [errcode, 0, errcode, errcode]
    await second.refresh_from_db()
    assert (second.status, second.attempts) == (OutboxStatus.PENDING, 1)


async def test_after_the_attempt_limit_a_message_is_dead_listed_and_retried(
    client: TestClient, platform: Platform, bot: Bot, clock: FakeClock, settings: Settings
) -> None:
    town = await build_town()
    person = await resident(town)
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await platform.consent("test-resident", TEMPLATE)
    await consent(person)
    message = await need_status(person)
    attempts = settings.notify_max_attempts
    await platform.fail_next(SUBSCRIBE, errcode=45009, times=attempts)

    for _ in range(attempts):
        await bot.run()
        clock.advance(settings.notify_backoff_max_seconds + 1)

    await message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, attempts)
    assert message.last_error.startswith("45009")
    token = await login(client, platform.server, secretary.openid or "")
    response = await client.get("/api/v1/notify/dead", headers=auth(token))
    assert response.status == 200, await response.text()
    items = (await response.json())["items"]
    assert [(i["id"], i["kind"], i["attempts"]) for i in items] == [
        (message.id, "need_status", attempts)
    ]
    outsider_town = await build_town("别处", "ELSE01")
    other = await add_person(
        outsider_town, "other-secretary", Role.SECRETARY, community=outsider_town.community
    )
    other_token = await login(client, platform.server, other.openid or "")
    response = await client.get("/api/v1/notify/dead", headers=auth(other_token))
    assert (await response.json())["items"] == []
    resident_token = await login(client, platform.server, "test-resident")
    response = await client.get("/api/v1/notify/dead", headers=auth(resident_token))
    assert response.status == 403

    response = await client.post(
        "/api/v1/notify/dead/retry", json={"ids": [message.id]}, headers=auth(other_token)
    )
    assert (await response.json()) == {"requeued": 0}  # not theirs
    response = await client.post(
        "/api/v1/notify/dead/retry", json={"ids": [message.id]}, headers=auth(token)
    )
    assert (await response.json()) == {"requeued": 1}
    await message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
    report = await bot.run()
    assert report.sent == 1
    await message.refresh_from_db()
    assert message.status is OutboxStatus.SENT
    assert len(await platform.accepted("subscribe_send")) == 1


# --- quiet hours ---


async def test_quiet_hours_hold_normal_messages_until_morning_but_not_emergencies(
    platform: Platform, bot: Bot, clock: FakeClock
) -> None:
    clock.now = dt.datetime(2026, 11, 23, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", TEMPLATE, accept=2)
    await consent(person, times=2)
    normal = await need_status(person, title="普通通知")
    emergency = await need_status(person, title="紧急通知", urgency=Urgency.EMERGENCY)

    report = await bot.run()

    assert (report.sent, report.deferred) == (1, 1)
    sent = await platform.accepted("subscribe_send")
    assert [s["request"]["body"]["data"]["thing1"]["value"] for s in sent] == ["紧急通知"]
    await normal.refresh_from_db()
    assert normal.status is OutboxStatus.PENDING
    assert normal.next_attempt_at == dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)  # 07:00
    assert await InboxItem.filter(person_id=person.id).count() == 2  # the inbox does not wait
    await emergency.refresh_from_db()
    assert emergency.status is OutboxStatus.SENT

    clock.now = dt.datetime(2026, 11, 23, 23, 0, 1, tzinfo=dt.UTC)
    await bot.run()
    sent = await platform.accepted("subscribe_send")
    assert [s["request"]["body"]["data"]["thing1"]["value"] for s in sent] == [
        "紧急通知",
        "普通通知",
    ]


# --- WeCom app messages ---


async def staff_town() -> tuple[Town, Person, Person, Person]:
    town = await build_town()
    grid_member = await add_person(
        town, "grid", Role.GRID_MEMBER, community=town.community, grid=town.compounds[0]
    )
    other_grid = await add_person(
        town, "grid2", Role.GRID_MEMBER, community=town.community, grid=town.compounds[1]
    )
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    return town, grid_member, other_grid, secretary


async def test_new_needs_reach_the_grid_member_on_wecom_and_everyone_in_the_inbox(
    platform: Platform, bot: Bot
) -> None:
    town, grid_member, other_grid, secretary = await staff_town()
    await set_wecom_user(person_id=grid_member.id, userid="zhangsan")
    await enqueue(
        kind="need_submitted",
        payload={"need_id": 9, "title": "独居老人需要买药", "grid_id": town.buildings[0].id},
        community_id=town.community.id,
        urgency=Urgency.URGENT,
    )

    await bot.run()

    sent = await platform.accepted("wecom_app")
    assert len(sent) == 1
    body = sent[0]["request"]["body"]
    assert body["touser"] == "zhangsan"
    assert body["msgtype"] == "markdown"
    assert "独居老人需要买药" in body["markdown"]["content"]
    assert "【紧急】" in body["markdown"]["content"]
    # the member of the other compound's grid and the secretary are not addressed
    assert await InboxItem.filter(person_id=grid_member.id).count() == 1
    assert await InboxItem.filter(person_id=other_grid.id).count() == 0
    assert await InboxItem.filter(person_id=secretary.id).count() == 0


async def test_a_need_in_a_grid_nobody_works_goes_to_the_secretary(
    platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await set_wecom_user(person_id=secretary.id, userid="shuji")
    await enqueue(
        kind="need_submitted",
        payload={"need_id": 9, "title": "买药", "grid_id": town.buildings[1].id},
        community_id=town.community.id,
    )
    await bot.run()
    assert [r["request"]["body"]["touser"] for r in await platform.accepted("wecom_app")] == [
        "shuji"
    ]


async def test_a_grid_member_without_wecom_gets_the_inbox_only(
    platform: Platform, bot: Bot
) -> None:
    town, grid_member, _, _ = await staff_town()
    await enqueue(
        kind="need_sla_warning",
        payload={
            "need_id": 9,
            "title": "买药",
            "text": "受理时限还剩 6 分钟",
            "grid_id": town.buildings[0].id,
        },
        community_id=town.community.id,
    )
    await bot.run()
    assert await platform.records("wecom_app") == []
    delivery = await Delivery.get(person_id=grid_member.id)
    assert (delivery.status, delivery.last_error) == (
        DeliveryStatus.SKIPPED,
        "未绑定企业微信，仅站内信",
    )
    item = await InboxItem.get(person_id=grid_member.id)
    assert item.body == "需求“买药”：受理时限还剩 6 分钟"


async def test_street_escalations_reach_secretaries_and_street_admins(
    platform: Platform, bot: Bot
) -> None:
    town, grid_member, _, secretary = await staff_town()
    admin = await add_person(town, "admin", Role.STREET_ADMIN)
    for person, userid in ((grid_member, "g1"), (secretary, "s1"), (admin, "a1")):
        await set_wecom_user(person_id=person.id, userid=userid)
    await enqueue(
        kind="need_overdue",
        payload={
            "need_id": 9,
            "title": "买药",
            "level": 3,
            "level_label": "街道",
            "text": "超时",
            "grid_id": town.buildings[0].id,
        },
        community_id=town.community.id,
        urgency=Urgency.URGENT,
    )
    await bot.run()
    assert sorted(r["request"]["body"]["touser"] for r in await platform.accepted("wecom_app")) == [
        "a1",
        "s1",
    ]


async def test_wecom_app_messages_stay_within_30_per_member_per_minute(
    platform: Platform, bot: Bot, clock: FakeClock
) -> None:
    _, _, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    for index in range(35):
        await enqueue(
            kind="weekly_digest",
            payload={"title": f"周报{index}", "text": "x"},
            recipient_id=secretary.id,
        )

    report = await bot.run()

    assert report.pushes == 30
    assert report.deferred == 5
    assert len(await platform.accepted("wecom_app")) == 30
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_app"))  # never 45033
    waiting = await OutboxMessage.filter(status=OutboxStatus.PENDING)
    assert len(waiting) == 5 and all(m.attempts == 0 for m in waiting)
    clock.advance(61)
    await bot.run()
    assert len(await platform.accepted("wecom_app")) == 35


HOUR = dt.timedelta(hours=1)


def member_dispatcher(
    client: TestClient,
    settings: Settings,
    clock: FakeClock,
    *,
    per_minute: int = 30,
    per_hour: int,
    worker_id: str = "test-bot",
    **overrides: object,
) -> Dispatcher:
    """A bot process with WeCom's per-member limits lowered so a test can reach them."""
    lowered = settings.model_copy(
        update={
            "notify_wecom_member_per_minute": per_minute,
            "notify_wecom_member_per_hour": per_hour,
            **overrides,
        }
    )
    return build_dispatcher(
        settings=lowered,
        redis=client.app[REDIS],
        http=client.app[HTTP_SESSION],
        worker_id=worker_id,
        clock=clock,
    )


async def digests_for(person: Person, count: int, *, prefix: str = "周报") -> list[str]:
    """``count`` WeCom app messages to one member, each with a markdown of its own."""
    names = [f"{prefix}{index:02d}" for index in range(count)]
    for name in names:
        await enqueue(
            kind="weekly_digest",
            payload={"title": name, "text": "x", "markdown": f"**{name}**"},
            recipient_id=person.id,
        )
    return names


async def wecom_contents(platform: Platform, userid: str) -> list[str]:
    """Markdown of each app message the platform accepted for this member, sorted (the sends
    of one round run concurrently, so which of them win the last places is not fixed)."""
    return sorted(
        r["request"]["body"]["markdown"]["content"].strip("*")
        for r in await platform.accepted("wecom_app")
        if r["request"]["body"]["touser"] == userid
    )


async def test_wecom_app_messages_over_the_hourly_limit_wait_for_the_window_then_go_once(
    client: TestClient, settings: Settings, platform: Platform, clock: FakeClock
) -> None:
    platform.limit_wecom_members(per_minute=30, per_hour=5)
    dispatcher = member_dispatcher(client, settings, clock, per_hour=5)
    _, _, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    names = await digests_for(secretary, 8)
    start = clock.now

    report = await dispatcher.drain()

    assert (report.pushes, report.deferred, report.dead) == (5, 3, 0)
    first = await wecom_contents(platform, "lisi")
    assert len(set(first)) == len(first) == 5 and set(first) < set(names)
    waiting = await OutboxMessage.filter(status=OutboxStatus.PENDING).order_by("id")
    assert len(waiting) == 3 and all(m.attempts == 0 and m.last_error == "" for m in waiting)
    # back when the hour since the first send is over, not before and not much later
    for message in waiting:
        assert message.next_attempt_at is not None
        assert start + HOUR <= message.next_attempt_at <= start + HOUR + dt.timedelta(seconds=1)
    pending = Delivery.filter(status=DeliveryStatus.PENDING, channel="wecom_app")
    assert await pending.count() == 3

    clock.advance(HOUR.total_seconds() - 1)  # still inside the hour: nothing is due
    assert (await dispatcher.drain()).claimed == 0
    clock.now = max(m.next_attempt_at for m in waiting if m.next_attempt_at is not None)
    report = await dispatcher.drain()

    assert (report.pushes, report.sent) == (3, 3)
    assert await wecom_contents(platform, "lisi") == names  # each exactly once
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_app"))  # never 45033
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 8


async def test_a_send_held_back_by_the_minute_limit_keeps_its_hourly_slot_free(
    client: TestClient, settings: Settings, platform: Platform, clock: FakeClock
) -> None:
    platform.limit_wecom_members(per_minute=3, per_hour=5)
    dispatcher = member_dispatcher(client, settings, clock, per_minute=3, per_hour=5)
    _, _, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    names = await digests_for(secretary, 8)
    start = clock.now

    assert (await dispatcher.drain()).pushes == 3  # the minute is full: 5 wait a minute
    clock.advance(61)
    report = await dispatcher.drain()

    # the minute's refusals took nothing from the hour: its last 2 places are used now
    assert (report.pushes, report.deferred) == (2, 3)
    first = await wecom_contents(platform, "lisi")
    assert len(set(first)) == len(first) == 5 and set(first) < set(names)
    waiting = await OutboxMessage.filter(status=OutboxStatus.PENDING)
    assert len(waiting) == 3
    assert all(m.next_attempt_at is not None and m.next_attempt_at >= start + HOUR for m in waiting)

    clock.now = start + HOUR + dt.timedelta(seconds=1)
    assert (await dispatcher.drain()).pushes == 3
    assert await wecom_contents(platform, "lisi") == names
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_app"))


async def test_a_wecom_send_waiting_for_the_hour_repeats_none_of_the_messages_other_channels(
    client: TestClient, settings: Settings, platform: Platform, clock: FakeClock
) -> None:
    platform.limit_wecom_members(per_minute=30, per_hour=1)
    dispatcher = member_dispatcher(client, settings, clock, per_hour=1)
    town, _, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    for week in ("第47周", "第48周"):  # to the community: its secretary on WeCom, and its robot
        payload = {"title": week, "text": "x", "markdown": f"**{week}**"}
        await enqueue(kind="weekly_digest", payload=payload, community_id=town.community.id)

    report = await dispatcher.drain()
    assert (report.sent, report.deferred) == (1, 1)
    assert len(await wecom_contents(platform, "lisi")) == 1
    assert len(await platform.accepted("wecom_robot")) == 1  # both weeks in one robot message

    clock.advance(HOUR.total_seconds() + 1)
    assert (await dispatcher.drain()).sent == 1

    assert await wecom_contents(platform, "lisi") == ["第47周", "第48周"]
    assert len(await platform.accepted("wecom_robot")) == 1
    assert await InboxItem.filter(person_id=secretary.id).count() == 2
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 4


async def test_bot_processes_share_each_members_hourly_limit(
    client: TestClient, settings: Settings, platform: Platform, clock: FakeClock
) -> None:
    platform.limit_wecom_members(per_minute=30, per_hour=5)
    dispatchers = [
        member_dispatcher(
            client, settings, clock, per_hour=5, worker_id=f"bot-{n}", notify_batch_size=3
        )
        for n in (1, 2, 3)
    ]
    _, grid_member, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    await set_wecom_user(person_id=grid_member.id, userid="zhangsan")
    names = {
        "lisi": await digests_for(secretary, 9, prefix="书记"),
        "zhangsan": await digests_for(grid_member, 7, prefix="网格"),
    }

    async def all_bots() -> int:
        reports = await asyncio.gather(*(d.drain() for d in dispatchers))
        return sum(r.pushes for r in reports)

    assert await all_bots() == 10  # 5 each, whichever process sent them
    for userid in names:
        assert len(await wecom_contents(platform, userid)) == 5
    assert await OutboxMessage.filter(status=OutboxStatus.PENDING).count() == 6

    clock.advance(HOUR.total_seconds() + 1)
    assert await all_bots() == 6
    for userid, expected in names.items():
        assert await wecom_contents(platform, userid) == expected  # once each
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_app"))
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 16


# --- WeCom group robot ---


async def submitted(town: Town, count: int, *, start: int = 0) -> None:
    for index in range(start, start + count):
        await enqueue(
            kind="need_submitted",
            payload={
                "need_id": index,
                "title": f"需求{index:02d}",
                "grid_id": town.buildings[0].id,
            },
            community_id=town.community.id,
        )


async def test_events_that_pile_up_go_to_the_robot_as_one_message(
    platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    await submitted(town, 5)

    report = await bot.run()

    assert report.sent == 5
    sent = await platform.accepted("wecom_robot")
    assert len(sent) == 1
    content = sent[0]["request"]["body"]["markdown"]["content"]
    assert all(f"需求{i:02d}" in content for i in range(5))
    assert await Delivery.filter(channel="robot", status=DeliveryStatus.SENT).count() == 5


async def test_the_robot_limiter_keeps_under_18_a_minute_and_batches_the_backlog(
    platform: Platform, bot: Bot, clock: FakeClock
) -> None:
    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    for index in range(20):  # one event per round: no batching possible
        await submitted(town, 1, start=index)
        await bot.run()
        clock.advance(1)
    assert len(await platform.accepted("wecom_robot")) == 18
    await submitted(town, 3, start=20)
    await bot.run()
    assert len(await platform.accepted("wecom_robot")) == 18  # still inside the minute
    assert await Delivery.filter(channel="robot", status=DeliveryStatus.PENDING).count() == 5

    clock.advance(60)
    await bot.run()

    sent = await platform.accepted("wecom_robot")
    assert len(sent) == 19  # the 5 waiting events went as one message
    last = sent[-1]["request"]["body"]["markdown"]["content"]
    assert all(f"需求{i:02d}" in last for i in (18, 19, 20, 21, 22))
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_robot"))  # never 130101
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 23


async def test_robot_rate_limit_130101_is_retried(
    platform: Platform, bot: Bot, clock: FakeClock
) -> None:
    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    await submitted(town, 2)
    await platform.fail_next("/wecom/cgi-bin/webhook/send", errcode=130101)

    report = await bot.run()

    assert report.retrying == 2
    clock.advance(3600)
    await bot.run()
    assert [r["errcode"] for r in await platform.records("wecom_robot")] == [130101, 0]
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 2


async def test_a_bad_webhook_is_permanent(platform: Platform, bot: Bot) -> None:
    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    await submitted(town, 1)
    await platform.fail_next("/wecom/cgi-bin/webhook/send", errcode=93000)
    report = await bot.run()
    assert report.failed == 1
    message = await OutboxMessage.get()
    assert message.last_error.startswith("93000 群机器人 webhook 无效")


async def test_a_digest_image_follows_its_markdown_on_the_robot(
    platform: Platform, bot: Bot
) -> None:
    import base64

    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n fake chart").decode()
    await enqueue(
        kind="weekly_digest",
        payload={"markdown": "**本周**：新需求 3 件", "image_png_base64": png},
        community_id=town.community.id,
    )
    await bot.run()
    sent = await platform.accepted("wecom_robot")
    assert [r["request"]["body"]["msgtype"] for r in sent] == ["markdown", "image"]
    assert sent[0]["request"]["body"]["markdown"]["content"] == "**本周**：新需求 3 件"


async def test_two_dispatchers_share_one_robot_limit(
    client: TestClient, settings: Settings, platform: Platform, clock: FakeClock
) -> None:
    from server.core.appkeys import HTTP_SESSION, REDIS
    from server.notify.dispatcher import build_dispatcher

    town = await build_town()
    await set_community_robot(community_id=town.community.id, webhook_url=platform.robot_url("k1"))
    dispatchers = [
        build_dispatcher(
            settings=settings,
            redis=client.app[REDIS],
            http=client.app[HTTP_SESSION],
            worker_id=f"bot-{n}",
            clock=clock,
        )
        for n in (1, 2)
    ]
    for index in range(24):
        await submitted(town, 1, start=index)
        await dispatchers[index % 2].drain()
    assert len(await platform.accepted("wecom_robot")) == 18
    assert all(r["errcode"] == 0 for r in await platform.records("wecom_robot"))


async def test_a_refused_wecom_token_is_refreshed_once(platform: Platform, bot: Bot) -> None:
    _, _, _, secretary = await staff_town()
    await set_wecom_user(person_id=secretary.id, userid="lisi")
    await enqueue(kind="weekly_digest", payload={"text": "周报"}, recipient_id=secretary.id)
    await platform.fail_next("/wecom/cgi-bin/message/send", errcode=40014)

    report = await bot.run()

    assert report.sent == 1
    assert [r["errcode"] for r in await platform.records("wecom_app")] == [40014, 0]
    assert len(await platform.records("wecom_token")) == 2  # fetched, then replaced once
    assert await bot.dispatcher.wecom.token_fetches_today() == 2


async def test_an_unreachable_platform_is_transient(
    client: TestClient, settings: Settings, clock: FakeClock
) -> None:
    from server.core.appkeys import HTTP_SESSION, REDIS
    from server.notify.dispatcher import build_dispatcher

    town = await build_town()
    person = await resident(town)
    await consent(person)
    message = await need_status(person)
    nowhere = settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"})  # refused
    dispatcher = build_dispatcher(
        settings=nowhere,
        redis=client.app[REDIS],
        http=client.app[HTTP_SESSION],
        worker_id="test-bot",
        clock=clock,
    )

    report = await dispatcher.drain()

    assert report.retrying == 1
    await message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert message.last_error.startswith("平台不可用")
    assert await consents_left(person) == 1  # given back
    assert await InboxItem.filter(person_id=person.id).count() == 1  # the inbox does not wait


async def test_an_invitation_reaches_the_phone_with_its_date_in_wechat_format(
    platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    person = await resident(town)
    await platform.consent("test-resident", "tpl-invitation")
    await record_consents(
        person_id=person.id,
        results={"tpl-invitation": "accept"},
        known_template_ids=["tpl-invitation"],
    )
    expires = dt.datetime(2026, 11, 23, 16, 30, tzinfo=dt.UTC)  # 00:30 the next day in Shanghai
    await enqueue(
        kind="task_invitation",
        payload={
            "need_id": 7,
            "title": "陪老人去医院",
            "invitation_id": 12,
            "expires_at": expires.isoformat(),
        },
        recipient_id=person.id,
        urgency=Urgency.URGENT,
    )

    await bot.run()

    (sent,) = await platform.records("subscribe_send")
    assert sent["errcode"] == 0  # an ISO time in a 'date' field would be refused (47003)
    assert sent["request"]["body"]["data"]["date3"] == {"value": "2026年11月24日"}


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks need PostgreSQL")
async def test_a_claim_skips_rows_another_process_holds(bot: Bot, clock: FakeClock) -> None:
    town = await build_town()
    person = await resident(town)
    messages = [await need_status(person, title=f"第{i}条") for i in range(3)]
    locked, release = asyncio.Event(), asyncio.Event()

    async def other_process() -> None:
        async with in_transaction() as connection:
            rows = OutboxMessage.filter(id=messages[0].id).select_for_update()
            assert len(await rows.using_db(connection)) == 1
            locked.set()
            await release.wait()

    holder = asyncio.create_task(other_process())
    await locked.wait()
    try:
        claimed = await asyncio.wait_for(bot.dispatcher.claim(clock.now), 5)
    finally:
        release.set()
        await holder
    assert [m.id for m in claimed] == [messages[1].id, messages[2].id]
    assert [m.id for m in await bot.dispatcher.claim(clock.now)] == [messages[0].id]
