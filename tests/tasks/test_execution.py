"""Doing the task: check-in and check-out (near the need), hours (rounded, capped, edited with an
audit row), who sees the door and the phone, and the volunteer figures for matching."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from server.core.clock import utcnow
from server.needs.models import Need, NeedEvent, NeedStatus
from server.tasks import service
from server.tasks.hours import is_valid_hours, round_hours, service_hours
from server.tasks.models import Task, TaskEvent
from server.volunteers.models import VolunteerProfile
from tests.builders import png_bytes, upload_photo
from tests.tasks.conftest import (
    ADDRESS,
    HOME,
    PHONE,
    World,
    accept,
    accepted_need,
    pending_invitations,
    set_policy,
    start_matching,
)

NEAR = {"lat": HOME[0] + 0.001, "lng": HOME[1]}  # about 111 m away
FAR = {"lat": HOME[0] + 0.01, "lng": HOME[1]}  # about 1.1 km away


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(0, 0.0), (10, 0.0), (15, 0.5), (44, 0.5), (45, 1.0), (74, 1.0), (75, 1.5), (150, 2.5)],
)
def test_hours_round_to_the_nearest_half_hour(minutes: int, expected: float) -> None:
    assert round_hours(minutes / 60) == expected


@pytest.mark.parametrize(
    ("minutes", "cap", "expected"),
    [(140, 8.0, 2.5), (11 * 60, 8.0, 8.0), (300, 4.0, 4.0), (-30, 8.0, 0.0)],
)
def test_service_hours_are_capped(minutes: int, cap: float, expected: float) -> None:
    start = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)
    assert service_hours(start, start + dt.timedelta(minutes=minutes), cap=cap) == expected


@pytest.mark.parametrize(
    ("hours", "valid"), [(0.0, True), (2.5, True), (3.0, True), (3.3, False), (-0.5, False)]
)
def test_edited_hours_are_whole_half_hours(hours: float, valid: bool) -> None:
    assert is_valid_hours(hours) is valid


async def _assigned(client: TestClient, world: World, **policy: object) -> tuple[int, int]:
    """A need v1 accepted: (need id, task id)."""
    await set_policy(client, world, wave_size=2, **policy)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    detail = await accept(client, world, "v1", need_id)
    return need_id, int(detail["task"]["id"])


async def _post(client: TestClient, world: World, who: str, url: str, body: dict) -> tuple:
    response = await client.post(url, json=body, headers=world.h(who))
    return response.status, await response.json()


async def test_check_in_and_out_drive_the_need_and_count_hours(
    client: TestClient, world: World
) -> None:
    need_id, task_id = await _assigned(client, world)
    base = f"/api/v1/tasks/{task_id}"

    status, body = await _post(client, world, "v1", f"{base}/check-out", NEAR)
    assert (status, body["error"]["code"]) == (409, "task_state_conflict")
    status, body = await _post(client, world, "v1", f"{base}/check-in", FAR)
    assert (status, body["error"]["code"]) == (422, "too_far")
    assert body["error"]["details"]["max_m"] == 500
    status, body = await _post(client, world, "v2", f"{base}/check-in", NEAR)
    assert status == 404  # not v2's task

    status, body = await _post(client, world, "v1", f"{base}/check-in", NEAR)
    assert status == 200, body
    assert body["task"]["status"] == "in_progress" and body["task"]["checkin_lat"] == NEAR["lat"]
    assert (await Need.get(id=need_id)).status is NeedStatus.IN_PROGRESS
    start = await NeedEvent.get(need_id=need_id, action="start")
    assert start.actor_id == world.ids["v1"]  # the assignee acts through change_status
    status, body = await _post(client, world, "v1", f"{base}/check-in", NEAR)
    assert status == 409

    # two hours twenty minutes on site
    await Task.filter(id=task_id).update(checkin_at=utcnow() - dt.timedelta(minutes=140))
    fixed = await upload_photo(client, world.tokens["v1"], png_bytes(2, 1))
    status, body = await _post(
        client,
        world,
        "v1",
        f"{base}/check-out",
        {**NEAR, "note": "换了新的水管接头", "photos": [fixed]},
    )
    assert status == 200, body
    task = body["task"]
    assert (task["status"], task["hours"], task["note"], task["photos"]) == (
        "done",
        2.5,
        "换了新的水管接头",
        [fixed],
    )
    need = await Need.get(id=need_id)
    assert need.status is NeedStatus.DONE and need.done_at is not None
    assert [e["action"] for e in body["events"]] == ["accept", "check_in", "check_out"]


async def test_hours_are_capped_and_the_distance_rule_can_be_off(
    client: TestClient, world: World
) -> None:
    _, task_id = await _assigned(client, world, checkin_max_distance_m=0, hours_cap=6)
    status, _ = await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-in", FAR)
    assert status == 200
    await Task.filter(id=task_id).update(checkin_at=utcnow() - dt.timedelta(hours=11))
    status, body = await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-out", FAR)
    assert status == 200 and body["task"]["hours"] == 6.0


async def test_the_secretary_edits_hours_with_an_audit_row(
    client: TestClient, world: World
) -> None:
    _, task_id = await _assigned(client, world)
    url = f"/api/v1/tasks/{task_id}/hours"
    body = {"hours": 3.5, "reason": "实际服务到中午"}
    early = await client.patch(url, json=body, headers=world.h("secretary"))
    assert early.status == 409  # not finished yet
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-in", NEAR)
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-out", NEAR)

    mine = await client.patch(url, json=body, headers=world.h("v1"))
    assert mine.status == 403
    member = await client.patch(url, json=body, headers=world.h("member"))
    assert member.status == 403
    stranger = await client.patch(url, json=body, headers=world.h("v2"))
    assert stranger.status == 404
    odd = await client.patch(url, json={**body, "hours": 3.3}, headers=world.h("secretary"))
    assert odd.status == 422
    silent = await client.patch(url, json={"hours": 3.5}, headers=world.h("secretary"))
    assert silent.status == 422

    response = await client.patch(url, json=body, headers=world.h("secretary"))
    assert response.status == 200, await response.text()
    task = (await response.json())["task"]
    assert (task["hours"], task["hours_edited_by_id"]) == (3.5, world.ids["secretary"])
    audit = await TaskEvent.get(task_id=task_id, action="edit_hours")
    assert (audit.hours_before, audit.hours_after, audit.note, audit.actor_id) == (
        0.0,
        3.5,
        "实际服务到中午",
        world.ids["secretary"],
    )


async def test_contact_is_visible_only_to_the_assignee_while_the_task_is_open(
    client: TestClient, world: World
) -> None:
    await set_policy(client, world, wave_size=2)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)

    # invited, not yet assigned: the building, not the door; no phone, no photos
    (invitation,) = await pending_invitations(client, world, "v1")
    need = invitation["need"]
    assert need["contact_visible"] is False
    assert need["address"] == "幸福里社区阳光小区3号楼"
    assert need["reporter_phone"] is None and need["photos"] == need["photo_urls"] == []
    assert need["reporter_name"] == "r***" and PHONE not in need["description"]
    assert need["lat"] == round(HOME[0], 3)

    detail = await accept(client, world, "v1", need_id)
    task_id = detail["task"]["id"]
    need = detail["need"]
    assert (need["contact_visible"], need["address"], need["reporter_phone"]) == (
        True,
        ADDRESS,
        PHONE,
    )
    assert PHONE in need["description"] and need["photos"] == (await Need.get(id=need_id)).photos
    (photo_url,) = need["photo_urls"]
    photo = await client.get(URL(photo_url).path_qs)  # the photo itself, through its link
    assert (photo.status, photo.content_type) == (200, "image/png")

    # another volunteer (even one who was invited) cannot open the task
    other = await client.get(f"/api/v1/tasks/{task_id}", headers=world.h("v2"))
    assert other.status == 404
    staff = await client.get(f"/api/v1/tasks/{task_id}", headers=world.h("member"))
    assert (await staff.json())["need"]["address"] == ADDRESS

    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-in", NEAR)
    during = await client.get(f"/api/v1/tasks/{task_id}", headers=world.h("v1"))
    assert (await during.json())["need"]["reporter_phone"] == PHONE
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-out", NEAR)

    # the task is closed: masked again, in the detail and in the list
    after = await client.get(f"/api/v1/tasks/{task_id}", headers=world.h("v1"))
    need = (await after.json())["need"]
    assert (need["contact_visible"], need["address"], need["reporter_phone"]) == (
        False,
        "幸福里社区阳光小区3号楼",
        None,
    )
    assert need["photos"] == need["photo_urls"] == []
    listed = await client.get("/api/v1/me/tasks?status=done", headers=world.h("v1"))
    (item,) = (await listed.json())["items"]
    assert item["need"]["reporter_phone"] is None
    assert (await client.get("/api/v1/me/tasks", headers=world.h("v1"))).status == 200
    assert (await (await client.get("/api/v1/me/tasks", headers=world.h("v1"))).json())[
        "items"
    ] == []


async def test_no_phone_when_the_resident_did_not_allow_calls(
    client: TestClient, world: World
) -> None:
    await set_policy(client, world, wave_size=1)
    need_id = await accepted_need(client, world, allow_call=False)
    await start_matching(client, world, need_id)
    detail = await accept(client, world, "v1", need_id)
    assert detail["need"]["address"] == ADDRESS
    assert detail["need"]["reporter_phone"] is None


@pytest.mark.parametrize(
    ("status", "assignee", "visible"),
    [
        (NeedStatus.MATCHING, None, False),
        (NeedStatus.ASSIGNED, 7, True),
        (NeedStatus.IN_PROGRESS, 7, True),
        (NeedStatus.ASSIGNED, 8, False),
        (NeedStatus.DONE, 7, False),
        (NeedStatus.CLOSED, 7, False),
    ],
)
def test_can_see_contact(status: NeedStatus, assignee: int | None, visible: bool) -> None:
    need = Need(status=status, assignee_id=assignee)
    assert service.can_see_contact(7, need) is visible


async def test_volunteer_stats_come_from_the_task_tables(client: TestClient, world: World) -> None:
    await set_policy(client, world, wave_size=2)
    first = await accepted_need(client, world)
    await start_matching(client, world, first)
    detail = await accept(client, world, "v1", first)
    task_id = detail["task"]["id"]
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-in", NEAR)
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-out", NEAR)
    rated = await client.post(
        f"/api/v1/needs/{first}/confirm", json={"rating": 4}, headers=world.h("resident")
    )
    assert rated.status == 200

    second = await accepted_need(client, world, title="阳台水管漏水")
    await start_matching(client, world, second)
    (v2_invitation,) = [
        i for i in await pending_invitations(client, world, "v2") if i["need_id"] == second
    ]
    await client.post(
        f"/api/v1/invitations/{v2_invitation['id']}/decline", json={}, headers=world.h("v2")
    )
    await accept(client, world, "v1", second)

    stats = await service.volunteer_stats([world.ids["v1"], world.ids["v2"], world.ids["v5"]])
    v1, v2, v5 = stats[world.ids["v1"]], stats[world.ids["v2"]], stats[world.ids["v5"]]
    assert (v1.active_tasks, v1.tasks_completed, v1.invitations_accepted) == (1, 1, 2)
    assert (v1.rating_sum, v1.rating_count) == (4, 1)
    assert v1.last_task_at is not None and v1.last_task_at > utcnow() - dt.timedelta(minutes=5)
    assert (v2.invitations_declined, v2.active_tasks, v2.last_task_at) == (1, 0, None)
    assert v5 == service.VolunteerStats()

    # the counters matching scores from (kept in the tasks' transactions) agree with the tables
    for key in ("v1", "v2", "v5"):
        profile = await VolunteerProfile.get(person_id=world.ids[key])
        truth = stats[world.ids[key]]
        assert (
            profile.active_tasks,
            profile.completed_count,
            profile.accepted_count,
            profile.declined_count,
            profile.rating_sum,
            profile.rating_count,
        ) == (
            truth.active_tasks,
            truth.tasks_completed,
            truth.invitations_accepted,
            truth.invitations_declined + truth.invitations_expired,
            truth.rating_sum,
            truth.rating_count,
        ), key


async def test_confirming_the_need_credits_the_hours_to_the_passbook_once(
    client: TestClient, world: World
) -> None:
    from server.passbook.models import ClaimStatus, HoursClaim
    from server.passbook.reconcile import reconcile

    need_id, task_id = await _assigned(client, world)
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-in", NEAR)
    await Task.filter(id=task_id).update(checkin_at=utcnow() - dt.timedelta(minutes=90))
    await _post(client, world, "v1", f"/api/v1/tasks/{task_id}/check-out", NEAR)
    assert not await HoursClaim.exists()  # done, but the resident has not confirmed yet

    status, body = await _post(
        client,
        world,
        "resident",
        f"/api/v1/needs/{need_id}/confirm",
        {"rating": 5, "comment": "好"},
    )
    assert status == 200, body
    claim = await HoursClaim.get(source_kind="task", source_id=task_id)
    assert (claim.person_id, claim.community_id, claim.status) == (
        world.ids["v1"],
        world.town.community.id,
        ClaimStatus.PENDING,
    )
    assert float(claim.hours) == 1.5
    assert (await reconcile(community_id=world.town.community.id)).ok

    # the hours are in the passbook now: the secretary rejects the claim instead of editing
    response = await client.patch(
        f"/api/v1/tasks/{task_id}/hours",
        json={"hours": 3.0, "reason": "补录"},
        headers=world.h("secretary"),
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "hours_already_credited"
    assert await HoursClaim.filter(source_kind="task").count() == 1
