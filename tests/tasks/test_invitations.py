"""Invitation waves: wave 1 to the top K, declines and timeouts to the next wave, escalation when
nobody is left, the first accept wins (also under real concurrency), and assigning by hand."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient

from server.accounts.service import load_principal
from server.core.appkeys import SETTINGS
from server.core.clock import utcnow
from server.needs.models import Need, NeedEvent, NeedStatus
from server.notify.models import OutboxMessage
from server.tasks import service
from server.tasks.models import InvitationStatus, Task, TaskEvent, TaskInvitation
from tests.conftest import DATABASE_URL, ON_POSTGRES
from tests.tasks.conftest import (
    World,
    accept,
    accepted_need,
    pending_invitations,
    set_policy,
    start_matching,
)


async def _invitees(need_id: int, status: InvitationStatus | None = None) -> list[int]:
    query = TaskInvitation.filter(need_id=need_id)
    if status is not None:
        query = query.filter(status=status)
    return [i.volunteer_id for i in await query.order_by("wave", "rank")]


async def test_wave_one_goes_to_the_top_k_with_a_notification_each(
    client: TestClient, world: World
) -> None:
    await set_policy(client, world, wave_size=2)
    need_id = await accepted_need(client, world)
    body = await start_matching(client, world, need_id)
    assert body["invited"] == 2 and body["need"]["status"] == "matching"
    # v1 names the needed skill (水电维修), then the rest by id
    assert await _invitees(need_id) == [world.ids["v1"], world.ids["v2"]]
    outbox = await OutboxMessage.filter(kind="task_invitation").order_by("id")
    assert [m.recipient_id for m in outbox] == [world.ids["v1"], world.ids["v2"]]
    assert outbox[0].payload["need_id"] == need_id and outbox[0].payload["wave"] == 1

    (invitation,) = await pending_invitations(client, world, "v1")
    assert invitation["wave"] == 1 and invitation["status_label"] == "待回复"
    assert invitation["explanation"][0].startswith("技能：具备“水电维修”")  # the ranking's reasons
    assert await pending_invitations(client, world, "v3") == []

    staff = await client.get(f"/api/v1/needs/{need_id}/invitations", headers=world.h("member"))
    assert staff.status == 200
    rows = (await staff.json())["items"]
    assert [(r["volunteer_name"], r["wave"], r["status"]) for r in rows] == [
        ("v1", 1, "pending"),
        ("v2", 1, "pending"),
    ]
    hidden = await client.get(f"/api/v1/needs/{need_id}/invitations", headers=world.h("v1"))
    assert hidden.status == 404


async def test_only_staff_start_matching_and_only_from_accepted(
    client: TestClient, world: World
) -> None:
    need_id = await accepted_need(client, world)
    refused = await client.post(f"/api/v1/needs/{need_id}/matching", json={}, headers=world.h("v1"))
    assert refused.status == 404
    await start_matching(client, world, need_id)
    again = await client.post(
        f"/api/v1/needs/{need_id}/matching", json={}, headers=world.h("secretary")
    )
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "illegal_transition"


async def test_declines_and_timeouts_move_to_the_next_wave_then_escalate_once(
    client: TestClient, world: World
) -> None:
    await set_policy(client, world, wave_size=2, max_waves=5, wave_timeout_minutes=30)
    settings = client.app[SETTINGS]
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    first = await pending_invitations(client, world, "v1")
    response = await client.post(
        f"/api/v1/invitations/{first[0]['id']}/decline",
        json={"reason": "今天不在家"},
        headers=world.h("v1"),
    )
    assert response.status == 200
    # v2 still has to answer: no new wave yet
    assert await _invitees(need_id, InvitationStatus.PENDING) == [world.ids["v2"]]
    (second,) = await pending_invitations(client, world, "v2")
    await client.post(f"/api/v1/invitations/{second['id']}/decline", json={}, headers=world.h("v2"))
    # the whole wave declined: wave 2 goes out at once, to people not asked before
    wave_two = await TaskInvitation.filter(need_id=need_id, wave=2).order_by("rank")
    assert [i.volunteer_id for i in wave_two] == [world.ids["v3"], world.ids["v4"]]
    declined = await TaskInvitation.get(id=first[0]["id"])
    assert (declined.status, declined.decline_reason) == (InvitationStatus.DECLINED, "今天不在家")

    # nobody answers wave 2: the bot's minute after the timeout sends wave 3 (only v5 is left)
    early = await service.expire_waves(now=utcnow() + dt.timedelta(minutes=10), settings=settings)
    assert early.expired == 0
    later = utcnow() + dt.timedelta(minutes=31)
    result = await service.expire_waves(now=later, settings=settings)
    assert (result.expired, result.waves, result.escalated) == (2, 1, 0)
    assert await _invitees(need_id, InvitationStatus.PENDING) == [world.ids["v5"]]
    assert await _invitees(need_id, InvitationStatus.EXPIRED) == [world.ids["v3"], world.ids["v4"]]

    # wave 3 times out too and nobody is left: the secretary is told once, even by two bots at once
    results = await asyncio.gather(
        *(
            service.expire_waves(now=later + dt.timedelta(minutes=31), settings=settings)
            for _ in range(2)
        )
    )
    assert sum(r.escalated for r in results) == 1
    assert await NeedEvent.filter(need_id=need_id, action="unmatched").count() == 1
    unmatched = await OutboxMessage.filter(kind="task_unmatched")
    assert len(unmatched) == 1
    assert unmatched[0].community_id == world.town.community.id
    assert unmatched[0].payload["invited"] == 5
    event = await NeedEvent.get(need_id=need_id, action="unmatched")
    assert "无人接单" in event.note
    assert (await Need.get(id=need_id)).status is NeedStatus.MATCHING  # waits for 派单


async def test_max_waves_reached_escalates(client: TestClient, world: World) -> None:
    await set_policy(client, world, wave_size=1, max_waves=1)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    (invitation,) = await pending_invitations(client, world, "v1")
    await client.post(
        f"/api/v1/invitations/{invitation['id']}/decline", json={}, headers=world.h("v1")
    )
    assert await TaskInvitation.filter(need_id=need_id).count() == 1
    assert await OutboxMessage.filter(kind="task_unmatched").count() == 1


async def test_no_volunteer_at_all_escalates_at_once(client: TestClient, world: World) -> None:
    from server.volunteers.models import VolunteerProfile

    await VolunteerProfile.filter(community_id=world.town.community.id).delete()
    need_id = await accepted_need(client, world)
    body = await start_matching(client, world, need_id)
    assert body["invited"] == 0
    (message,) = await OutboxMessage.filter(kind="task_unmatched")
    assert message.payload["text"] == "没有可邀请的志愿者，请书记派单"


async def test_first_accept_wins_and_the_others_are_withdrawn(
    client: TestClient, world: World
) -> None:
    await set_policy(client, world, wave_size=3)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    late = (await pending_invitations(client, world, "v2"))[0]
    detail = await accept(client, world, "v1", need_id)
    assert (
        detail["task"]["status"] == "accepted" and detail["task"]["volunteer_id"] == world.ids["v1"]
    )
    need = await Need.get(id=need_id)
    assert (need.status, need.assignee_id) == (NeedStatus.ASSIGNED, world.ids["v1"])
    seen = await client.get(f"/api/v1/needs/{need_id}", headers=world.h("resident"))
    assert (await seen.json())["need"]["assignee_id"] == world.ids["v1"]
    assert await _invitees(need_id, InvitationStatus.WITHDRAWN) == [
        world.ids["v2"],
        world.ids["v3"],
    ]
    withdrawn = await OutboxMessage.filter(kind="task_invitation_withdrawn").order_by("id")
    assert [m.recipient_id for m in withdrawn] == [world.ids["v2"], world.ids["v3"]]
    assert await pending_invitations(client, world, "v2") == []

    response = await client.post(f"/api/v1/invitations/{late['id']}/accept", headers=world.h("v2"))
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "task_taken" and "已被其他志愿者接下" in error["message"]
    assert await Task.filter(need_id=need_id).count() == 1
    # someone else's invitation is not found, not refused
    other = await client.post(f"/api/v1/invitations/{late['id']}/accept", headers=world.h("v1"))
    assert other.status == 404


async def test_an_expired_invitation_cannot_be_accepted(client: TestClient, world: World) -> None:
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    (invitation,) = await pending_invitations(client, world, "v1")
    await TaskInvitation.filter(id=invitation["id"]).update(
        expires_at=utcnow() - dt.timedelta(seconds=1)
    )
    response = await client.post(
        f"/api/v1/invitations/{invitation['id']}/accept", headers=world.h("v1")
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "invitation_closed"


async def test_a_volunteer_with_a_full_hand_cannot_accept(client: TestClient, world: World) -> None:
    from server.volunteers.models import VolunteerProfile

    await VolunteerProfile.filter(person_id=world.ids["v1"]).update(max_concurrent_tasks=1)
    first, second = (
        await accepted_need(client, world),
        await accepted_need(client, world, title="阳台水管漏水"),
    )
    await start_matching(client, world, first)
    await start_matching(client, world, second)
    await accept(client, world, "v1", first)
    invitation = [
        i for i in await pending_invitations(client, world, "v1") if i["need_id"] == second
    ]
    response = await client.post(
        f"/api/v1/invitations/{invitation[0]['id']}/accept", headers=world.h("v1")
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "task_limit_reached"


async def _race_setup(client: TestClient, world: World) -> tuple[int, list[int]]:
    await set_policy(client, world, wave_size=2)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    ids = [(await pending_invitations(client, world, who))[0]["id"] for who in ("v1", "v2")]
    return need_id, ids


async def _exactly_one_won(need_id: int) -> int:
    tasks = await Task.filter(need_id=need_id)
    assert len(tasks) == 1
    assert await NeedEvent.filter(need_id=need_id, action="assign").count() == 1
    assert await TaskEvent.filter(task_id=tasks[0].id, action="accept").count() == 1
    statuses = sorted(i.status.value for i in await TaskInvitation.filter(need_id=need_id))
    assert statuses == ["accepted", "withdrawn"]
    need = await Need.get(id=need_id)
    assert need.status is NeedStatus.ASSIGNED and need.assignee_id == tasks[0].volunteer_id
    return tasks[0].volunteer_id


async def test_two_accepts_at_the_same_instant_over_http(client: TestClient, world: World) -> None:
    """Two phones tap 接单 at once: one task, the other a clear 409 (on every backend)."""
    need_id, (first, second) = await _race_setup(client, world)
    responses = await asyncio.gather(
        client.post(f"/api/v1/invitations/{first}/accept", headers=world.h("v1")),
        client.post(f"/api/v1/invitations/{second}/accept", headers=world.h("v2")),
    )
    assert sorted(r.status for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status == 409)
    assert (await loser.json())["error"]["code"] == "task_taken"
    winner = next(r for r in responses if r.status == 200)
    assert (await winner.json())["task"]["volunteer_id"] == await _exactly_one_won(need_id)


@pytest.mark.skipif(not ON_POSTGRES, reason="real row locks need PostgreSQL")
async def test_two_accepts_on_two_connections_both_waiting_on_the_row(
    client: TestClient, world: World
) -> None:
    """Both accepts are provably in flight at once: a third connection holds the need's row until
    PostgreSQL shows both transactions waiting for it, then lets go; exactly one wins."""
    import asyncpg

    need_id, (first, second) = await _race_setup(client, world)
    settings = client.app[SETTINGS]
    principals = [await load_principal(person_id=world.ids[who]) for who in ("v1", "v2")]
    blocker = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT id FROM need WHERE id = $1 FOR UPDATE", need_id)
        racers = [
            asyncio.ensure_future(
                service.accept_invitation(
                    principal=principal, invitation_id=invitation_id, settings=settings
                )
            )
            for principal, invitation_id in zip(principals, (first, second), strict=True)
        ]
        for _ in range(500):
            await blocker.execute("SELECT pg_stat_clear_snapshot()")  # else cached per transaction
            waiting = await blocker.fetchval(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.01)
        assert waiting == 2
        await transaction.commit()
        results = await asyncio.gather(*racers, return_exceptions=True)
    finally:
        await blocker.close()
    won = [r for r in results if isinstance(r, service.TaskView)]
    lost = [r for r in results if isinstance(r, service.TaskTaken)]
    assert len(won) == 1 and len(lost) == 1, results
    assert won[0].task.volunteer_id == await _exactly_one_won(need_id)


async def test_the_secretary_assigns_by_hand(client: TestClient, world: World) -> None:
    await set_policy(client, world, wave_size=2)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    url = f"/api/v1/needs/{need_id}/assign"

    outsider = await client.post(
        url, json={"volunteer_id": world.ids["outsider"]}, headers=world.h("secretary")
    )
    assert outsider.status == 422
    member = await client.post(
        url, json={"volunteer_id": world.ids["v5"]}, headers=world.h("member")
    )
    assert member.status == 403
    volunteer = await client.post(
        url, json={"volunteer_id": world.ids["v5"]}, headers=world.h("v1")
    )
    assert volunteer.status == 404

    response = await client.post(
        url,
        json={"volunteer_id": world.ids["v5"], "note": "老党员，住得近"},
        headers=world.h("secretary"),
    )
    assert response.status == 201, await response.text()
    task = (await response.json())["task"]
    assert (task["volunteer_id"], task["assigned_by_id"]) == (
        world.ids["v5"],
        world.ids["secretary"],
    )
    assert await _invitees(need_id, InvitationStatus.WITHDRAWN) == [
        world.ids["v1"],
        world.ids["v2"],
    ]
    (message,) = await OutboxMessage.filter(kind="task_assigned")
    assert message.recipient_id == world.ids["v5"]
    event = await NeedEvent.get(need_id=need_id, action="assign")
    assert event.actor_id == world.ids["secretary"]

    staff = await client.get(f"/api/v1/needs/{need_id}/task", headers=world.h("member"))
    assert staff.status == 200
    assert (await staff.json())["task"]["id"] == task["id"]
    again = await client.post(
        url, json={"volunteer_id": world.ids["v4"]}, headers=world.h("secretary")
    )
    assert again.status == 409


async def test_an_accepted_need_can_be_assigned_without_matching(
    client: TestClient, world: World
) -> None:
    need_id = await accepted_need(client, world)
    response = await client.post(
        f"/api/v1/needs/{need_id}/assign",
        json={"volunteer_id": world.ids["v3"]},
        headers=world.h("secretary"),
    )
    assert response.status == 201
    assert (await Need.get(id=need_id)).assignee_id == world.ids["v3"]


async def test_the_bot_starts_matching_for_needs_left_unassigned(
    client: TestClient, world: World
) -> None:
    settings = client.app[SETTINGS]
    need_id = await accepted_need(client, world)
    accepted_at = (await Need.get(id=need_id)).status_changed_at
    soon = await service.run_wave_minute(
        now=accepted_at + dt.timedelta(minutes=settings.task_auto_match_after_minutes - 1),
        settings=settings,
    )
    assert soon.started == 0
    later = await service.run_wave_minute(
        now=accepted_at + dt.timedelta(minutes=settings.task_auto_match_after_minutes),
        settings=settings,
    )
    assert later.started == 1
    assert (await Need.get(id=need_id)).status is NeedStatus.MATCHING
    assert await TaskInvitation.filter(need_id=need_id).count() == settings.task_wave_size
    event = await NeedEvent.get(need_id=need_id, action="start_matching")
    assert event.actor_id is None and "自动" in event.note


async def test_invitations_of_a_cancelled_need_are_withdrawn(
    client: TestClient, world: World
) -> None:
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    response = await client.post(
        f"/api/v1/needs/{need_id}/cancel",
        json={"reason": "自己修好了"},
        headers=world.h("resident"),
    )
    assert response.status == 200
    result = await service.expire_waves(now=utcnow(), settings=client.app[SETTINGS])
    assert result.withdrawn == 5
    assert await _invitees(need_id, InvitationStatus.PENDING) == []
    assert await pending_invitations(client, world, "v1") == []


async def test_the_bot_job_runs_the_wave_minute(client: TestClient, world: World) -> None:
    from bot.jobs import JobContext, all_jobs, run_task_waves
    from server.core.appkeys import REDIS

    assert "task_waves" in {job.name for job in all_jobs("Asia/Shanghai")}
    need_id = await accepted_need(client, world)
    await Need.filter(id=need_id).update(status_changed_at=utcnow() - dt.timedelta(hours=1))
    context = JobContext(redis=client.app[REDIS], worker_id="test", settings=client.app[SETTINGS])
    await run_task_waves(context)
    assert (await Need.get(id=need_id)).status is NeedStatus.MATCHING
    assert await OutboxMessage.filter(kind="task_invitation").count() == 5


async def test_the_database_refuses_a_second_open_task_for_a_need(
    client: TestClient, world: World
) -> None:
    from tortoise.exceptions import IntegrityError

    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    detail = await accept(client, world, "v1", need_id)
    task = await Task.get(id=detail["task"]["id"])
    with pytest.raises(IntegrityError):
        await Task.create(
            need_id=need_id,
            volunteer_id=world.ids["v2"],
            open_need_id=need_id,
            accepted_at=utcnow(),
        )
    assert task.open_need_id == need_id


async def test_task_policy_is_the_secretarys_and_null_means_the_setting(
    client: TestClient, world: World
) -> None:
    url = f"/api/v1/communities/{world.town.community.id}/task-policy"
    settings = client.app[SETTINGS]
    defaults = await (await client.get(url, headers=world.h("secretary"))).json()
    assert defaults == {
        "wave_size": settings.task_wave_size,
        "wave_timeout_minutes": settings.task_wave_timeout_minutes,
        "max_waves": settings.task_max_waves,
        "checkin_max_distance_m": settings.task_checkin_max_distance_m,
        "hours_cap": settings.task_hours_cap,
    }
    assert (await client.get(url, headers=world.h("v1"))).status == 403
    refused = await client.put(url, json={"wave_size": 3}, headers=world.h("member"))
    assert refused.status == 403
    changed = await set_policy(client, world, wave_size=3, hours_cap=4)
    assert (changed["wave_size"], changed["hours_cap"], changed["max_waves"]) == (
        3,
        4.0,
        settings.task_max_waves,
    )
    assert await set_policy(client, world) == defaults
    bad = await client.put(url, json={"wave_size": 0}, headers=world.h("secretary"))
    assert bad.status == 422
