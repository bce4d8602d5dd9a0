"""Task reminders (服务提醒): T-24h and T-2h to the volunteer, T-2h to the resident, each once.

Clocks are fixed: every run of the reminder job is given its ``now``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.guard import catch_up, dry_run, run_slot
from bot.jobs import JobContext, all_jobs
from server.core.appkeys import HTTP_SESSION, REDIS
from server.core.config import Settings
from server.notify.dispatcher import build_dispatcher
from server.notify.models import InboxItem, OutboxMessage, Urgency
from server.notify.policy import QuietHours
from server.notify.service import record_consents
from server.tasks.models import Task, TaskReminder, TaskStatus
from server.tasks.reminder_rules import (
    ReminderKind,
    ReminderPlan,
    due_reminder,
    local_when,
    plan_reminder,
)
from server.tasks.reminders import send_due_reminders
from tests.tasks.conftest import HOME, World, accept, accepted_need, set_policy, start_matching

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours.from_settings("22:00", "07:00", "Asia/Shanghai")
# Monday 2026-12-07 10:00 in Shanghai
BASE = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# --- the rules (pure) ---


@pytest.mark.parametrize(
    ("before_start", "expected"),
    [
        (dt.timedelta(hours=30), None),
        (dt.timedelta(hours=24, seconds=1), None),
        (dt.timedelta(hours=24), ReminderKind.DAY_BEFORE),
        (dt.timedelta(hours=3), ReminderKind.DAY_BEFORE),
        (dt.timedelta(hours=2, seconds=1), ReminderKind.DAY_BEFORE),
        (dt.timedelta(hours=2), ReminderKind.SOON),
        (dt.timedelta(minutes=1), ReminderKind.SOON),
        (dt.timedelta(0), None),  # started: too late to remind
        (-HOUR, None),
    ],
)
def test_which_reminder_is_due_before_the_start(
    before_start: dt.timedelta, expected: ReminderKind | None
) -> None:
    start = local("2026-12-08 16:00")
    assert due_reminder(starts_at=start, now=start - before_start) is expected


@pytest.mark.parametrize(
    ("start", "now", "need_urgency", "expected"),
    [
        # daytime: both reminders normal
        ("2026-12-08 16:00", "2026-12-07 16:00", Urgency.NORMAL, (ReminderKind.DAY_BEFORE, "n")),
        ("2026-12-08 16:00", "2026-12-08 14:00", Urgency.NORMAL, (ReminderKind.SOON, "n")),
        # 23:00 for a 23:00 task: the 24h reminder waits until 07:00, still long before
        ("2026-12-08 23:00", "2026-12-07 23:00", Urgency.NORMAL, (ReminderKind.DAY_BEFORE, "n")),
        # 08:00 task, reminded at 23:00 the night before: it would leave at 07:00, inside the
        # 2h window, so only the 2h reminder goes (at 07:00, one hour ahead)
        ("2026-12-08 08:00", "2026-12-07 23:00", Urgency.NORMAL, None),
        ("2026-12-08 08:00", "2026-12-08 06:00", Urgency.NORMAL, (ReminderKind.SOON, "n")),
        # 07:15 task: waiting for 07:00 leaves 15 minutes, too little: it goes at once
        ("2026-12-08 07:15", "2026-12-08 05:15", Urgency.NORMAL, (ReminderKind.SOON, "u")),
        # an urgent need's reminders never wait
        ("2026-12-08 08:00", "2026-12-07 23:00", Urgency.URGENT, (ReminderKind.DAY_BEFORE, "u")),
        ("2026-12-08 08:00", "2026-12-08 06:00", Urgency.EMERGENCY, (ReminderKind.SOON, "e")),
    ],
)
def test_quiet_hours_never_push_a_reminder_past_its_use(
    start: str, now: str, need_urgency: Urgency, expected: tuple[ReminderKind, str] | None
) -> None:
    urgencies = {"n": Urgency.NORMAL, "u": Urgency.URGENT, "e": Urgency.EMERGENCY}
    plan = plan_reminder(
        starts_at=local(start), now=local(now), quiet=QUIET, need_urgency=need_urgency
    )
    assert plan == (ReminderPlan(expected[0], urgencies[expected[1]]) if expected else None)


def test_start_times_read_as_people_say_them() -> None:
    now = local("2026-12-07 23:30")
    assert local_when(local("2026-12-07 23:45"), now=now, tz=SHANGHAI) == "今天 23:45"
    assert local_when(local("2026-12-08 09:00"), now=now, tz=SHANGHAI) == "明天 09:00"
    assert local_when(local("2026-12-09 09:00"), now=now, tz=SHANGHAI) == "后天 09:00"
    assert local_when(local("2026-12-14 09:00"), now=now, tz=SHANGHAI) == "12月14日（周一） 09:00"


# --- the job on the database ---


async def scheduled_task(
    client: TestClient,
    world: World,
    starts_at: dt.datetime | None,
    *,
    urgency: str = "normal",
    who: str = "v1",
) -> tuple[int, int]:
    """A need starting at ``starts_at`` that ``who`` accepted: (need id, task id)."""
    await set_policy(client, world, wave_size=5)
    changes: dict[str, object] = {"urgency": urgency}
    if starts_at is not None:
        changes["preferred_start"] = starts_at.isoformat()
        changes["preferred_end"] = (starts_at + 2 * HOUR).isoformat()
    need_id = await accepted_need(client, world, **changes)
    await start_matching(client, world, need_id)
    detail = await accept(client, world, who, need_id)
    return need_id, int(detail["task"]["id"])


async def reminders() -> list[tuple[str, int | None, str, str]]:
    """(kind, recipient, reminder, urgency) of every reminder in the outbox, in order."""
    rows = await OutboxMessage.filter(kind__startswith="task_reminder").order_by("id")
    return [(r.kind, r.recipient_id, r.payload["reminder"], r.urgency.value) for r in rows]


async def test_each_reminder_goes_once_at_its_time_whatever_the_reruns(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR  # Tuesday 16:00
    need_id, task_id = await scheduled_task(client, world, start)
    v1, resident = world.ids["v1"], world.ids["resident"]

    for now in (BASE, start - 24 * HOUR - MINUTE):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    scan = await send_due_reminders(now=start - 24 * HOUR, settings=settings)
    assert (scan.day_before, scan.soon) == (1, 0)
    for now in (start - 24 * HOUR, start - 23 * HOUR, start - 2 * HOUR - MINUTE):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == [("task_reminder", v1, "24h", "normal")]

    scan = await send_due_reminders(now=start - 2 * HOUR + 3 * MINUTE, settings=settings)
    assert (scan.day_before, scan.soon) == (0, 1)
    for now in (start - HOUR, start - MINUTE, start, start + HOUR):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == [
        ("task_reminder", v1, "24h", "normal"),
        ("task_reminder", v1, "2h", "normal"),
        ("task_reminder_resident", resident, "2h", "normal"),
    ]
    rows = await OutboxMessage.filter(kind__startswith="task_reminder").order_by("id")
    assert rows[0].payload["text"] == (
        "提醒：您接下的志愿服务“厨房水管漏水”将于明天 16:00开始，"
        "地点：幸福里社区阳光小区3号楼2单元502。如不能前往，请尽早告知社区。"
    )
    assert rows[1].payload["when"] == "今天 16:00"
    assert (
        rows[2].payload["text"]
        == "您的需求“厨房水管漏水”：志愿者v1将于今天 16:00前来服务，请留意。"
    )
    marks = await TaskReminder.filter(task_id=task_id).order_by("id").values_list("kind", flat=True)
    assert marks == ["24h", "2h"]
    assert need_id == rows[0].payload["need_id"]


async def test_a_bot_down_for_a_day_sends_only_the_reminder_still_due(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR
    await scheduled_task(client, world, start)
    # nothing ran from 24 h before the start until 1 h before: the 24h reminder is moot
    await send_due_reminders(now=start - 25 * HOUR, settings=settings)
    scan = await send_due_reminders(now=start - HOUR, settings=settings)
    assert (scan.day_before, scan.soon) == (0, 1)
    assert [r[2] for r in await reminders()] == ["2h", "2h"]


async def test_a_task_taken_less_than_2_hours_ahead_gets_no_24h_reminder(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 90 * MINUTE
    await scheduled_task(client, world, start)
    for now in (BASE, BASE + 5 * MINUTE, BASE + 10 * MINUTE):
        await send_due_reminders(now=now, settings=settings)
    assert [r[:3] for r in await reminders()] == [
        ("task_reminder", world.ids["v1"], "2h"),
        ("task_reminder_resident", world.ids["resident"], "2h"),
    ]


async def test_started_finished_cancelled_and_untimed_tasks_get_no_reminder(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR
    untimed_need, _ = await scheduled_task(client, world, None)
    checked_in_need, checked_in = await scheduled_task(client, world, start)
    response = await client.post(
        f"/api/v1/tasks/{checked_in}/check-in",
        json={"lat": HOME[0], "lng": HOME[1]},
        headers=world.h("v1"),
    )
    assert response.status == 200, await response.text()
    cancelled_need, cancelled = await scheduled_task(client, world, start, who="v2")
    # no flow cancels a task yet; the job must still leave a cancelled one alone
    await Task.filter(id=cancelled).update(status=TaskStatus.CANCELLED, open_need_id=None)

    for now in (start - 24 * HOUR, start - HOUR):
        assert (await send_due_reminders(now=now, settings=settings)).written == 0
    assert await reminders() == []
    assert len({untimed_need, checked_in_need, cancelled_need}) == 3


async def test_an_urgent_needs_reminders_are_urgent(
    client: TestClient, world: World, settings: Settings
) -> None:
    await scheduled_task(client, world, BASE + 20 * HOUR, urgency="urgent")
    await send_due_reminders(now=BASE, settings=settings)
    assert [r[2:] for r in await reminders()] == [("24h", "urgent")]


async def test_concurrent_runs_write_each_reminder_once(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR
    await scheduled_task(client, world, start)
    await scheduled_task(client, world, start + HOUR)

    scans = await asyncio.gather(
        *(send_due_reminders(now=start - 20 * HOUR, settings=settings) for _ in range(4))
    )

    assert sum(scan.day_before for scan in scans) == 2
    assert [r[2] for r in await reminders()] == ["24h", "24h"]
    assert await TaskReminder.all().count() == 2


# --- the bot job ---


def reminder_job(settings: Settings):  # type: ignore[no-untyped-def]
    (job,) = [j for j in all_jobs(settings.timezone) if j.name == "task_reminders"]
    return job


async def test_the_job_slot_runs_once_and_a_starting_bot_catches_up(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR
    await scheduled_task(client, world, start)
    job = reminder_job(settings)
    ctx = JobContext(redis=client.app[REDIS], worker_id="bot-1", settings=settings)
    now = start - 23 * HOUR + 2 * MINUTE  # a bot starting 2 minutes after the 5-minute slot

    first = await catch_up([job], ctx, clock=lambda: now)
    second = await catch_up(
        [job], dataclasses.replace(ctx, worker_id="bot-2"), clock=lambda: now + MINUTE
    )

    assert [(o.slot, o.ran, o.result) for o in first] == [
        ("2026-12-07T09:00:00Z", True, "写入 1 条 24 小时提醒、0 条 2 小时提醒")
    ]
    assert [o.ran for o in second] == [False]  # the slot is done
    manual = await run_slot(job, ctx, slot="manual-x", clock=lambda: now + 2 * MINUTE)
    assert [o.result for o in manual] == ["写入 0 条 24 小时提醒、0 条 2 小时提醒"]
    assert len(await reminders()) == 1


async def test_dry_run_lists_the_reminders_and_keeps_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = BASE + 30 * HOUR
    await scheduled_task(client, world, start)
    ctx = JobContext(redis=client.app[REDIS], worker_id="cli", settings=settings, now=start - HOUR)
    lines = await dry_run(reminder_job(settings), ctx)
    assert [line.split("】")[0] for line in lines] == [
        "【task_reminder",
        "【task_reminder_resident",
    ]
    assert "志愿者v1将于今天 16:00前来服务" in lines[1]
    assert await reminders() == []
    assert await TaskReminder.all().count() == 0


# --- on the phone (the mock platform) ---


async def test_reminders_reach_the_volunteers_and_residents_phones(
    client: TestClient, world: World, settings: Settings, mock_wechat: TestServer
) -> None:
    start = BASE + 30 * HOUR
    await scheduled_task(client, world, start)
    now = {"t": start - 24 * HOUR}
    dispatcher = build_dispatcher(
        settings=settings,
        redis=client.app[REDIS],
        http=client.app[HTTP_SESSION],
        worker_id="test-bot",
        clock=lambda: now["t"],
    )

    await dispatcher.drain()  # the need's earlier notifications (no consent yet: inbox only)
    # the volunteer allowed two reminders, the resident one message, on the phone and to us
    for who, template, times in (("v1", "tpl-task-remind", 2), ("resident", "tpl-need-status", 1)):
        async with client.session.post(
            mock_wechat.make_url("/dev/consents"),
            json={"openid": f"test-{who}", "template_id": template, "accept": times},
        ) as response:
            assert response.status == 200
        for _ in range(times):
            await record_consents(
                person_id=world.ids[who],
                results={template: "accept"},
                known_template_ids=[template],
            )
    await send_due_reminders(now=now["t"], settings=settings)
    await dispatcher.drain()
    now["t"] = start - 2 * HOUR
    await send_due_reminders(now=now["t"], settings=settings)
    await dispatcher.drain()

    async with client.session.get(
        mock_wechat.make_url("/inspector/api/records?kind=subscribe_send&limit=100")
    ) as response:
        records = (await response.json())["items"]
    sent = [
        (r["request"]["body"]["touser"], r["request"]["body"]["template_id"], r["errcode"])
        for r in records
    ]
    assert sent == [
        ("test-v1", "tpl-task-remind", 0),
        ("test-v1", "tpl-task-remind", 0),
        ("test-resident", "tpl-need-status", 0),
    ]
    data = [r["request"]["body"]["data"] for r in records]
    assert data[0] == {
        "thing1": {"value": "厨房水管漏水"},
        "time2": {"value": "2026-12-08 16:00"},  # Shanghai time, in WeChat's time format
        "phrase3": {"value": "待服务"},
    }
    assert data[1]["phrase3"] == {"value": "即将开始"}
    assert data[2] == {
        "thing1": {"value": "厨房水管漏水"},
        "phrase2": {"value": "即将服务"},
        "time3": {"value": "2026-12-08 16:00"},
        "thing4": {"value": "志愿者v1将按时前来"},
    }
    titles = await InboxItem.filter(kind__startswith="task_reminder").values_list(
        "title", flat=True
    )
    assert sorted(titles) == ["志愿者即将前来服务", "服务任务提醒", "服务任务提醒"]
