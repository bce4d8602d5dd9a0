"""Booking reminders (到期提醒 / 逾期提醒): before the end to the borrower, after it to both,
each once whatever the reruns, bots and catch-ups. Clocks are fixed: every run is given its now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.guard import catch_up, dry_run
from bot.jobs import Job, JobContext, all_jobs, send_booking_reminders
from server.accounts.service import load_principal
from server.core.appkeys import HTTP_SESSION, REDIS
from server.core.config import Settings
from server.notify.dispatcher import build_dispatcher
from server.notify.models import InboxItem, OutboxMessage, Urgency
from server.notify.policy import QuietHours
from server.notify.service import record_consents
from server.sharing import schemas, service
from server.sharing.models import BookingReminder, BookingStatus, ResourceKind
from server.sharing.reminders import send_due_reminders
from server.sharing.rules import (
    BookingAction,
    ReminderKind,
    due_reminder,
    is_overdue,
    reminder_urgency,
)
from tests.sharing.conftest import HALL, World, shared

# Monday 2026-12-07 10:00 in Shanghai
BASE = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)
TZ = "Asia/Shanghai"


# --- the rules (pure) ---

START = BASE + HOUR
LOAN_END = START + 3 * DAY


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (LOAN_END - DAY - SECOND, None),
        (LOAN_END - DAY, ReminderKind.RETURN),  # a loan over a day: 24 hours ahead
        (LOAN_END - SECOND, ReminderKind.RETURN),
        (LOAN_END, None),  # ended: too late for "due soon", too early for "overdue"
        (LOAN_END + 59 * MINUTE, None),
        (LOAN_END + HOUR, ReminderKind.OVERDUE),
        (LOAN_END + 29 * DAY, ReminderKind.OVERDUE),
        (LOAN_END + 30 * DAY, None),  # forgotten that long: for people to settle
    ],
)
def test_which_reminder_is_due_around_a_loans_end(
    now: dt.datetime, expected: ReminderKind | None
) -> None:
    assert due_reminder(start_at=START, end_at=LOAN_END, now=now) is expected


def test_short_bookings_are_reminded_two_hours_ahead_but_never_before_they_start() -> None:
    end = START + DAY  # exactly a day is not "over a day"
    assert due_reminder(start_at=START, end_at=end, now=end - 2 * HOUR - SECOND) is None
    assert due_reminder(start_at=START, end_at=end, now=end - 2 * HOUR) is ReminderKind.RETURN
    hour = START + HOUR  # a one-hour space booking: reminded from its start
    assert due_reminder(start_at=START, end_at=hour, now=START - SECOND) is None
    assert due_reminder(start_at=START, end_at=hour, now=START) is ReminderKind.RETURN


def test_quiet_hours_never_hold_a_return_reminder_past_its_use() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    quiet = QuietHours.from_settings("22:00", "07:00", TZ)

    def urgency(now: str, end: str) -> Urgency:
        moment = dt.datetime.fromisoformat(now).replace(tzinfo=shanghai)
        end_at = dt.datetime.fromisoformat(end).replace(tzinfo=shanghai)
        return reminder_urgency(
            ReminderKind.RETURN, end_at=end_at, now=moment, quiet_ends_at=quiet.ends_at(moment)
        )

    assert urgency("2026-12-07 15:00", "2026-12-07 17:00") is Urgency.NORMAL  # daytime
    assert urgency("2026-12-07 23:00", "2026-12-08 23:00") is Urgency.NORMAL  # 07:00 is in time
    # a loan ending at 06:30: the 04:30 reminder would wait until 07:00, after the end
    assert urgency("2026-12-08 04:30", "2026-12-08 06:30") is Urgency.URGENT
    moment = dt.datetime(2026, 12, 8, 4, 30, tzinfo=shanghai)
    overdue = reminder_urgency(
        ReminderKind.OVERDUE, end_at=moment, now=moment, quiet_ends_at=quiet.ends_at(moment)
    )
    assert overdue is Urgency.NORMAL  # an overdue notice waits for the morning


def test_overdue_means_held_past_the_end() -> None:
    end = START + DAY
    assert is_overdue(ResourceKind.ITEM, BookingStatus.PICKED_UP, end, end)
    assert not is_overdue(ResourceKind.ITEM, BookingStatus.PICKED_UP, end, end - SECOND)
    assert not is_overdue(ResourceKind.ITEM, BookingStatus.APPROVED, end, end + DAY)  # not taken
    assert not is_overdue(ResourceKind.ITEM, BookingStatus.RETURNED, end, end + DAY)
    assert is_overdue(ResourceKind.SPACE, BookingStatus.APPROVED, end, end + DAY)


# --- the job on the database ---


async def loan(
    world: World,
    resource: int,
    *,
    start: dt.datetime = START,
    end: dt.datetime = LOAN_END,
    who: str = "neighbour",
    owner: str = "resident",
    pick_up: bool = True,
) -> int:
    """A booking made at BASE (and handed over at its start): its id."""
    view = await service.book(
        principal=await load_principal(person_id=world.ids[who]),
        resource_id=resource,
        body=schemas.BookingIn(start_at=start, end_at=end),
        now=BASE,
        timezone=TZ,
    )
    if pick_up:
        await service.transition(
            principal=await load_principal(person_id=world.ids[owner]),
            booking_id=view.booking.id,
            action=BookingAction.PICK_UP,
            note="",
            now=start,
            timezone=TZ,
        )
    return view.booking.id


async def reminders() -> list[tuple[str, int | None, str]]:
    """(kind, recipient, reminder) of every booking reminder in the outbox, in order."""
    rows = await OutboxMessage.filter(
        kind__in=["booking_return_reminder", "booking_overdue"]
    ).order_by("id")
    return [(r.kind, r.recipient_id, r.payload["reminder"]) for r in rows]


async def test_a_loan_is_reminded_before_its_end_and_reported_overdue_once_each(
    client: TestClient, world: World, settings: Settings
) -> None:
    booking = await loan(world, await shared(client, world, needs_approval=False))
    neighbour, resident = world.ids["neighbour"], world.ids["resident"]

    for now in (BASE, START, LOAN_END - DAY - MINUTE):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    scan = await send_due_reminders(now=LOAN_END - DAY, settings=settings)
    assert (scan.returns, scan.overdue) == (1, 0)
    for now in (LOAN_END - DAY, LOAN_END - HOUR, LOAN_END, LOAN_END + 59 * MINUTE):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == [("booking_return_reminder", neighbour, "return")]

    scan = await send_due_reminders(now=LOAN_END + HOUR + 2 * MINUTE, settings=settings)
    assert (scan.returns, scan.overdue) == (0, 1)
    for now in (LOAN_END + 2 * HOUR, LOAN_END + 5 * DAY):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == [
        ("booking_return_reminder", neighbour, "return"),
        ("booking_overdue", neighbour, "overdue"),
        ("booking_overdue", resident, "overdue"),
    ]
    rows = (
        await OutboxMessage.filter(kind__startswith="booking_")
        .exclude(kind="booking_created")
        .order_by("id")
    )
    assert [r.payload["text"] for r in rows] == [
        "您借用的“铝合金折叠梯”将于明天 11:00到期，请按时归还给resident。",
        "您借用的“铝合金折叠梯”已于今天 11:00到期，请尽快归还给resident。",
        "neighbour借用的“铝合金折叠梯”已于今天 11:00到期，仍未确认归还；"
        "如已归还，请在小程序中确认。",
    ]
    assert [r.urgency for r in rows] == [Urgency.NORMAL] * 3
    marks = (
        await BookingReminder.filter(booking_id=booking)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert marks == ["return", "overdue"]


async def test_returned_untaken_and_cancelled_bookings_get_no_reminder(
    client: TestClient, world: World, settings: Settings
) -> None:
    resource = await shared(client, world, needs_approval=False)
    returned = await loan(world, resource)
    await service.transition(
        principal=await load_principal(person_id=world.ids["resident"]),
        booking_id=returned,
        action=BookingAction.RETURN,
        note="",
        now=START + DAY,
        timezone=TZ,
    )
    # approved but never handed over: the borrower holds nothing to bring back
    await loan(world, resource, start=LOAN_END, end=LOAN_END + DAY, who="third", pick_up=False)
    cancelled = await loan(
        world, resource, start=LOAN_END + 2 * DAY, end=LOAN_END + 3 * DAY, pick_up=False
    )
    await service.transition(
        principal=await load_principal(person_id=world.ids["neighbour"]),
        booking_id=cancelled,
        action=BookingAction.CANCEL,
        note="",
        now=BASE,
        timezone=TZ,
    )
    for now in (LOAN_END - HOUR, LOAN_END + 2 * HOUR, LOAN_END + 2 * DAY, LOAN_END + 4 * DAY):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == []


async def test_a_bot_down_through_the_return_window_sends_only_the_overdue_notice(
    client: TestClient, world: World, settings: Settings
) -> None:
    await loan(world, await shared(client, world, needs_approval=False))
    await send_due_reminders(now=LOAN_END - DAY - HOUR, settings=settings)
    scan = await send_due_reminders(now=LOAN_END + 3 * HOUR, settings=settings)
    assert (scan.returns, scan.overdue) == (0, 1)
    assert [r[2] for r in await reminders()] == ["overdue", "overdue"]


async def test_a_space_booked_for_an_hour_is_reminded_when_it_starts(
    client: TestClient, world: World, settings: Settings
) -> None:
    hall = await shared(client, world, "secretary", **HALL)
    await loan(world, hall, end=START + HOUR, owner="secretary", pick_up=False)
    assert (await send_due_reminders(now=START - MINUTE, settings=settings)).written == 0
    assert (await send_due_reminders(now=START, settings=settings)).returns == 1
    row = await OutboxMessage.get(kind="booking_return_reminder")
    # a local unit's space: the borrower is told whom to tell by the unit's name
    assert row.payload["text"] == (
        "您预约的“党群服务中心活动室”将于今天 12:00结束，请按时结束使用并告知市供电公司第三党支部。"
    )


def booking_job(settings: Settings) -> Job:
    (job,) = [j for j in all_jobs(settings.timezone) if j.name == "booking_reminders"]
    return job


async def test_two_bots_and_concurrent_runs_write_each_reminder_once(
    client: TestClient, world: World, settings: Settings
) -> None:
    resource = await shared(client, world, needs_approval=False)
    await loan(world, resource)
    await loan(world, resource, start=LOAN_END, end=LOAN_END + 3 * DAY, who="third")
    now = LOAN_END - 20 * HOUR  # the first loan's return window
    bot_a = JobContext(redis=client.app[REDIS], worker_id="bot-a", settings=settings, now=now)
    bot_b = dataclasses.replace(bot_a, worker_id="bot-b")

    assert await send_booking_reminders(bot_a) == "写入 1 条到期提醒、0 条逾期提醒"
    assert await send_booking_reminders(bot_b) == "写入 0 条到期提醒、0 条逾期提醒"

    later = LOAN_END + 2 * HOUR  # the first is overdue, the second (picked up) due in 2 days
    scans = await asyncio.gather(
        *(send_due_reminders(now=later, settings=settings) for _ in range(4))
    )
    assert sum(scan.overdue for scan in scans) == 1
    assert [r[2] for r in await reminders()] == ["return", "overdue", "overdue"]
    assert await BookingReminder.all().count() == 2


async def test_the_job_slot_runs_once_and_a_starting_bot_catches_up(
    client: TestClient, world: World, settings: Settings
) -> None:
    await loan(world, await shared(client, world, needs_approval=False))
    job = booking_job(settings)
    ctx = JobContext(redis=client.app[REDIS], worker_id="bot-1", settings=settings)
    now = LOAN_END - 23 * HOUR + 2 * MINUTE  # two minutes after a 5-minute slot

    first = await catch_up([job], ctx, clock=lambda: now)
    second = await catch_up(
        [job], dataclasses.replace(ctx, worker_id="bot-2"), clock=lambda: now + MINUTE
    )

    assert [(o.slot, o.ran, o.result) for o in first] == [
        ("2026-12-09T04:00:00Z", True, "写入 1 条到期提醒、0 条逾期提醒")
    ]
    assert [o.ran for o in second] == [False]
    assert len(await reminders()) == 1


async def test_dry_run_lists_the_notices_and_keeps_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    await loan(world, await shared(client, world, needs_approval=False))
    ctx = JobContext(
        redis=client.app[REDIS], worker_id="cli", settings=settings, now=LOAN_END + 2 * HOUR
    )
    lines = await dry_run(booking_job(settings), ctx)
    assert [line.split("】")[0] for line in lines] == ["【booking_overdue", "【booking_overdue"]
    assert f"接收人 #{world.ids['resident']}" in lines[1]
    assert await reminders() == []
    assert await BookingReminder.all().count() == 0


async def test_the_reminder_reaches_the_borrowers_phone(
    client: TestClient, world: World, settings: Settings, mock_wechat: TestServer
) -> None:
    await loan(world, await shared(client, world, needs_approval=False))
    template = "tpl-booking-status"
    async with client.session.post(
        mock_wechat.make_url("/dev/consents"),
        json={"openid": "test-neighbour", "template_id": template, "accept": 1},
    ) as response:
        assert response.status == 200
    await record_consents(
        person_id=world.ids["neighbour"],
        results={template: "accept"},
        known_template_ids=[template],
    )
    now = LOAN_END - DAY
    dispatcher = build_dispatcher(
        settings=settings,
        redis=client.app[REDIS],
        http=client.app[HTTP_SESSION],
        worker_id="test-bot",
        clock=lambda: now,
    )
    await dispatcher.drain()  # the owner's "booking_created" (no consent: inbox only)
    await send_due_reminders(now=now, settings=settings)
    await dispatcher.drain()

    async with client.session.get(
        mock_wechat.make_url("/inspector/api/records?kind=subscribe_send&limit=100")
    ) as response:
        records = (await response.json())["items"]
    assert [(r["request"]["body"]["touser"], r["errcode"]) for r in records] == [
        ("test-neighbour", 0)
    ]
    assert records[0]["request"]["body"]["data"] == {
        "thing1": {"value": "铝合金折叠梯"},
        "phrase2": {"value": "即将到期"},
        "time3": {"value": "2026-12-10 11:00"},  # the end, Shanghai time
        "thing4": {"value": "请按时归还给resident"},
    }
    titles = await InboxItem.filter(kind__startswith="booking_").values_list("title", flat=True)
    assert sorted(titles) == ["借用即将到期", "您的共享有新预约"]


async def test_run_job_dry_run_on_the_command_line_prints_and_writes_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    from server.core.clock import utcnow
    from tests.bot.test_run_job_cli import dangqun

    resource = await shared(client, world, needs_approval=False)
    now = utcnow()
    booking = await service.book(
        principal=await load_principal(person_id=world.ids["neighbour"]),
        resource_id=resource,
        body=schemas.BookingIn(start_at=now - 2 * DAY, end_at=now - 2 * HOUR),
        now=now - 3 * DAY,
        timezone=TZ,
    )
    await service.transition(
        principal=await load_principal(person_id=world.ids["resident"]),
        booking_id=booking.booking.id,
        action=BookingAction.PICK_UP,
        note="",
        now=now - 2 * DAY,
        timezone=TZ,
    )

    code, out, err = await dangqun(settings, "bot", "run-job", "booking_reminders", "--dry-run")

    assert code == 0, err
    assert "== 全局：将写入 2 条待发消息 ==" in out
    assert f"【booking_overdue】给 接收人 #{world.ids['neighbour']}" in out
    assert "请尽快归还给resident" in out
    assert await reminders() == []
    assert await BookingReminder.all().count() == 0
    code, out, _ = await dangqun(settings, "bot", "jobs")
    assert "每 5 分钟" in next(line for line in out.splitlines() if "booking_reminders" in line)


async def test_a_loan_ending_before_quiet_hours_end_is_reminded_as_urgent(
    client: TestClient, world: World, settings: Settings
) -> None:
    early = dt.datetime(2026, 12, 7, 22, 30, tzinfo=dt.UTC)  # Tuesday 06:30 in Shanghai
    await loan(world, await shared(client, world, needs_approval=False), end=early)
    assert (await send_due_reminders(now=early - 2 * HOUR, settings=settings)).returns == 1
    row = await OutboxMessage.get(kind="booking_return_reminder")
    assert row.urgency is Urgency.URGENT  # 04:30: waiting until 07:00 would be after the end
    assert row.payload["when"] == "今天 06:30"
