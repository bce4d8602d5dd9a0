"""为民实事清单 over HTTP: the public list, monthly progress, the lifecycle, reminders, digest."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.jobs import JobContext, remind_project_updates
from server.accounts.models import Role
from server.accounts.service import load_principal
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.redis import make_redis
from server.digest.queries import projects_for_community
from server.notify.models import OutboxMessage
from server.projects import service
from server.projects.lifecycle import Action, IllegalTransition
from server.projects.models import Project, ProjectEvent, ProjectStatus
from tests.builders import Town, add_person, auth, build_town, login

ROLES = {
    "secretary": Role.SECRETARY,
    "member": Role.GRID_MEMBER,
    "volunteer": Role.VOLUNTEER,
    "resident": Role.RESIDENT,
}


@dataclass
class World:
    town: Town
    tokens: dict[str, str]

    def id(self, key: str) -> int:
        return self.town.people[key].id


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    other = await build_town("别处", "ELSE01")
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "volunteer", Role.VOLUNTEER, community=town.community)
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "outsider", Role.RESIDENT, household=other.households[0])
    await add_person(town, "stranger", Role.SECRETARY, community=other.community)
    tokens = {key: await login(client, mock_wechat, f"test-{key}") for key in town.people}
    return World(town, tokens)


def due(days: int = 60) -> str:
    return (utcnow() + dt.timedelta(days=days)).date().isoformat()


async def create(client: TestClient, world: World, who: str = "secretary", **changes: Any) -> Any:
    body = {
        "title": "加装电梯",
        "description": "3号楼加装电梯，方便老人上下楼",
        "plan": "11月征求意见，12月开工",
        "owner_id": world.id("member"),
        "due_date": due(),
        **changes,
    }
    return await client.post(
        f"/api/v1/communities/{world.town.community.id}/projects",
        json=body,
        headers=auth(world.tokens[who]),
    )


async def created(client: TestClient, world: World, **changes: Any) -> dict[str, Any]:
    response = await create(client, world, **changes)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def act(
    client: TestClient, world: World, who: str, project: int, action: str, note: str = ""
) -> ClientResponse:
    return await client.post(
        f"/api/v1/projects/{project}/transitions",
        json={"action": action, "note": note},
        headers=auth(world.tokens[who]),
    )


async def report(
    client: TestClient,
    world: World,
    who: str,
    project: int,
    percent: int,
    note: str = "完成方案公示",
) -> ClientResponse:
    return await client.post(
        f"/api/v1/projects/{project}/updates",
        json={"percent": percent, "note": note},
        headers=auth(world.tokens[who]),
    )


async def test_the_secretary_lists_a_project_that_the_community_can_see(
    client: TestClient, world: World
) -> None:
    project = await created(client, world)
    assert project["status"] == "planned"
    assert project["status_label"] == "已立项"
    assert project["owner_name"] == "member"
    assert (project["percent"], project["updated_this_month"], project["overdue"]) == (
        0,
        False,
        False,
    )

    url = f"/api/v1/communities/{world.town.community.id}/projects"
    for who in ("resident", "volunteer", "member", "secretary"):
        response = await client.get(url, headers=auth(world.tokens[who]))
        assert response.status == 200, who
        assert [p["title"] for p in (await response.json())["items"]] == ["加装电梯"]
    # another community's people do not see it
    for who in ("outsider", "stranger"):
        response = await client.get(url, headers=auth(world.tokens[who]))
        assert response.status == 404
        response = await client.get(
            f"/api/v1/projects/{project['id']}", headers=auth(world.tokens[who])
        )
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("who", "changes", "status", "code"),
    [
        ("member", {}, 403, "permission_denied"),
        ("resident", {}, 403, "permission_denied"),
        ("stranger", {}, 403, "permission_denied"),
        ("secretary", {"owner_id": "resident"}, 422, "validation_error"),
        ("secretary", {"owner_id": "stranger"}, 422, "validation_error"),
        ("secretary", {"due_date": "2020-01-01"}, 422, "validation_error"),
        ("secretary", {"title": "x"}, 422, "validation_error"),
        ("secretary", {"due_date": "明年"}, 422, "validation_error"),
    ],
)
async def test_creating_is_refused_clearly(
    client: TestClient,
    world: World,
    who: str,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    if isinstance(changes.get("owner_id"), str):
        changes = {**changes, "owner_id": world.id(changes["owner_id"])}
    response = await create(client, world, who, **changes)
    assert response.status == status
    body = await response.json()
    assert body["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
    assert await Project.all().count() == 0


async def test_a_first_report_starts_the_project_and_the_timeline_shows_it(
    client: TestClient, world: World
) -> None:
    project = (await created(client, world))["id"]
    response = await report(client, world, "member", project, 30, "完成意见征求，签字率 90%")
    assert response.status == 201, await response.text()
    out = await response.json()
    assert (out["status"], out["percent"], out["updated_this_month"]) == ("in_progress", 30, True)
    assert out["last_note"] == "完成意见征求，签字率 90%"

    # neither a resident nor a volunteer who is not the owner may report
    for who in ("resident", "volunteer"):
        response = await report(client, world, who, project, 50)
        assert response.status == 403
    for bad in (-1, 101):
        response = await report(client, world, "member", project, bad)
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "validation_error"

    detail = await (
        await client.get(f"/api/v1/projects/{project}", headers=auth(world.tokens["resident"]))
    ).json()
    assert [(u["percent"], u["author_name"]) for u in detail["updates"]] == [(30, "member")]
    assert [(e["action"], e["from_status"], e["to_status"]) for e in detail["events"]] == [
        ("create", None, "planned"),
        ("start", "planned", "in_progress"),
    ]


async def test_the_lifecycle_refuses_what_the_table_does_not_allow(
    client: TestClient, world: World
) -> None:
    project = (await created(client, world))["id"]
    # finishing needs the work to have started
    response = await act(client, world, "secretary", project, "finish")
    assert response.status == 409
    error = (await response.json())["error"]
    assert (error["code"], error["details"]["status"]) == ("illegal_transition", "planned")
    # escalating to the joint meeting needs a reason
    response = await act(client, world, "member", project, "escalate")
    assert response.status == 422
    assert (
        await act(client, world, "member", project, "escalate", "管线迁改需多部门协调")
    ).status == 200
    # only the secretary resumes after the joint meeting, or cancels
    assert (await act(client, world, "member", project, "resume")).status == 403
    assert (await act(client, world, "member", project, "cancel", "不做了")).status == 403
    assert (await act(client, world, "resident", project, "resume")).status == 403
    assert (await act(client, world, "secretary", project, "resume")).status == 200
    response = await act(client, world, "member", project, "finish")
    assert response.status == 200
    assert ((await response.json())["status"], (await response.json())["percent"]) == ("done", 100)
    # a finished project takes no more reports and cannot be cancelled
    response = await report(client, world, "member", project, 100)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "project_closed"
    assert (await act(client, world, "secretary", project, "cancel", "重复立项")).status == 409
    response = await act(client, world, "secretary", project, "explode")
    assert response.status == 422
    events = (
        await ProjectEvent.filter(project_id=project)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert events == ["create", "escalate", "resume", "finish"]


async def test_two_concurrent_changes_of_one_project_exactly_one_wins(
    client: TestClient, world: World
) -> None:
    project = (await created(client, world))["id"]
    principal = await load_principal(person_id=world.id("secretary"))

    async def change(action: Action, note: str) -> str:
        try:
            await service.transition(
                principal=principal,
                project_id=project,
                action=action,
                note=note,
                now=utcnow(),
                timezone="Asia/Shanghai",
            )
        except IllegalTransition:
            return "refused"
        return "done"

    results = await asyncio.gather(
        change(Action.CANCEL, "重复立项"), change(Action.ESCALATE, "需要协调")
    )
    assert sorted(results) == ["done", "refused"]
    assert await ProjectEvent.filter(project_id=project).exclude(action="create").count() == 1


@pytest_asyncio.fixture
async def ctx(settings: Settings) -> AsyncIterator[JobContext]:
    redis = make_redis(settings)
    yield JobContext(redis=redis, worker_id="bot-a", settings=settings)
    await redis.aclose()


async def test_owners_without_a_report_this_month_are_reminded_once(
    client: TestClient, world: World, ctx: JobContext
) -> None:
    quiet = (await created(client, world, title="老旧小区路灯改造"))["id"]
    busy = (await created(client, world, title="社区食堂"))["id"]
    done = (await created(client, world, title="健身器材更新"))["id"]
    assert (await report(client, world, "member", busy, 40)).status == 201
    assert (await report(client, world, "member", done, 90)).status == 201
    assert (await act(client, world, "secretary", done, "finish")).status == 200

    # this month's report is in for 'busy', none for 'quiet'; 'done' needs none
    now = utcnow()
    run = JobContext(redis=ctx.redis, worker_id="bot-a", settings=ctx.settings, now=now)
    assert await remind_project_updates(run) == "提醒 1 个为民实事项目填报本月进度"
    rows = await OutboxMessage.filter(kind="project_update_reminder")
    assert [(r.recipient_id, r.payload["project_id"]) for r in rows] == [
        (world.id("member"), quiet)
    ]
    assert "老旧小区路灯改造" in rows[0].payload["text"]
    # the next day's run (catch-up window) and a second bot add nothing
    later = JobContext(
        redis=ctx.redis, worker_id="bot-b", settings=ctx.settings, now=now + dt.timedelta(days=1)
    )
    same_month = service.local_month(now + dt.timedelta(days=1), "Asia/Shanghai") == (
        service.local_month(now, "Asia/Shanghai")
    )
    if same_month:  # (on the last day of a month the next day is a new month)
        assert await remind_project_updates(later) == "提醒 0 个为民实事项目填报本月进度"
    assert await remind_project_updates(run) == "提醒 0 个为民实事项目填报本月进度"
    # next month both active projects are due again
    next_month = JobContext(
        redis=ctx.redis, worker_id="bot-a", settings=ctx.settings, now=now + dt.timedelta(days=32)
    )
    assert await remind_project_updates(next_month) == "提醒 2 个为民实事项目填报本月进度"


async def test_the_weekly_digest_shows_active_projects(client: TestClient, world: World) -> None:
    project = (await created(client, world, title="加装电梯"))["id"]
    assert (await report(client, world, "member", project, 45)).status == 201
    finished = (await created(client, world, title="楼道照明"))["id"]
    assert (await report(client, world, "member", finished, 80)).status == 201
    assert (await act(client, world, "member", finished, "finish")).status == 200
    progress = await projects_for_community(world.town.community.id)
    assert [(p.name, p.percent, p.note) for p in progress] == [("加装电梯", 45, "推进中")]
    assert await Project.filter(status=ProjectStatus.DONE).count() == 1


async def test_the_list_filters_by_status(client: TestClient, world: World) -> None:
    await created(client, world, title="加装电梯")
    started = (await created(client, world, title="楼道照明"))["id"]
    assert (await report(client, world, "member", started, 10)).status == 201
    url = f"/api/v1/communities/{world.town.community.id}/projects"
    headers = auth(world.tokens["resident"])
    response = await client.get(url, params={"status": "in_progress"}, headers=headers)
    assert [p["title"] for p in (await response.json())["items"]] == ["楼道照明"]
    response = await client.get(url, params={"status": "later"}, headers=headers)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "validation_error"
