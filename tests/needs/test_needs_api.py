"""党群通 over HTTP: submitting, triage, the resident's confirm/cancel/reopen, reading by role."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.accounts.service import load_principal
from server.core import rawsql
from server.core.appkeys import SETTINGS
from server.needs import service
from server.needs.lifecycle import Action
from server.needs.models import Need, NeedEvent, NeedStatus
from server.notify.models import OutboxMessage
from tests.builders import Town, add_person, auth, build_town, login
from tests.conftest import ON_POSTGRES


@dataclass
class World:
    town: Town
    resident: str
    neighbour: str
    member: str  # grid member of the first compound (the resident's)
    other_member: str  # grid member of the second compound
    secretary: str
    volunteer: str


@pytest_asyncio.fixture
async def world(client: TestClient, mock_wechat: TestServer) -> World:
    town = await build_town()
    for household in town.households:
        household.lat, household.lng = 44.5500, 129.6300
        await household.save()
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "neighbour", Role.RESIDENT, household=town.households[1])
    await add_person(town, "member", Role.GRID_MEMBER, grid=town.compounds[0])
    await add_person(town, "other-member", Role.GRID_MEMBER, grid=town.compounds[1])
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "volunteer", Role.VOLUNTEER, community=town.community)
    tokens = {}
    for key in ("resident", "neighbour", "member", "other-member", "secretary", "volunteer"):
        tokens[key] = await login(client, mock_wechat, f"test-{key}")
    return World(
        town,
        tokens["resident"],
        tokens["neighbour"],
        tokens["member"],
        tokens["other-member"],
        tokens["secretary"],
        tokens["volunteer"],
    )


NEED = {
    "category": "daily_life",
    "title": "楼道灯坏了",
    "description": "三楼楼道灯不亮，晚上老人上下楼看不清。",
    "urgency": "urgent",
    "lat": 44.5500,
    "lng": 129.6300,
}


async def submit(client: TestClient, token: str, body: dict | None = None, **headers: str) -> dict:
    response = await client.post(
        "/api/v1/needs", json=body or NEED, headers={**auth(token), **headers}
    )
    assert response.status in (200, 201), await response.text()
    return await response.json()


async def test_resident_submits_and_follows_a_need(client: TestClient, world: World) -> None:
    body = await submit(client, world.resident)
    need = body["need"]
    assert (need["status"], need["status_label"], need["category_label"]) == (
        "submitted",
        "已提交",
        "日常生活",
    )
    assert need["household_id"] == world.town.households[0].id
    assert body["replayed"] is False and body["possible_duplicates"] == []
    outbox = await OutboxMessage.get(kind="need_submitted")
    assert outbox.community_id == world.town.community.id

    detail = await client.get(f"/api/v1/needs/{need['id']}", headers=auth(world.resident))
    assert detail.status == 200
    timeline = (await detail.json())["timeline"]
    assert [(e["action"], e["to_status"]) for e in timeline] == [("submit", "submitted")]


async def test_idempotency_key_replays_and_refuses_a_different_body(
    client: TestClient, world: World
) -> None:
    first = await submit(client, world.resident, **{"Idempotency-Key": "k-1"})
    again = await client.post(
        "/api/v1/needs", json=NEED, headers={**auth(world.resident), "Idempotency-Key": "k-1"}
    )
    assert again.status == 200
    replay = await again.json()
    assert replay["replayed"] is True and replay["need"]["id"] == first["need"]["id"]
    different = await client.post(
        "/api/v1/needs",
        json={**NEED, "title": "另一件事"},
        headers={**auth(world.resident), "Idempotency-Key": "k-1"},
    )
    assert different.status == 409
    assert (await different.json())["error"]["code"] == "idempotency_key_reused"
    assert await Need.all().count() == 1


async def test_concurrent_retries_with_one_key_create_one_need(
    client: TestClient, world: World
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/needs",
                json=NEED,
                headers={**auth(world.resident), "Idempotency-Key": "same-key"},
            )
            for _ in range(5)
        )
    )
    bodies = [await r.json() for r in responses]
    assert sorted(r.status for r in responses) == [200, 200, 200, 200, 201]
    assert len({b["need"]["id"] for b in bodies}) == 1
    assert await Need.all().count() == 1


async def test_rate_limit_is_429_with_retry_after(client: TestClient, world: World) -> None:
    limit = client.app[SETTINGS].need_submissions_per_hour
    assert limit == 10
    for index in range(limit):
        await submit(
            client, world.resident, {**NEED, "title": f"第{index}件事", "lat": None, "lng": None}
        )
    response = await client.post("/api/v1/needs", json=NEED, headers=auth(world.resident))
    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert (await response.json())["error"]["code"] == "too_many_requests"
    assert await Need.all().count() == limit


async def test_flagged_text_is_refused_and_nothing_is_stored(
    client: TestClient, world: World
) -> None:
    response = await client.post(
        "/api/v1/needs",
        json={**NEED, "description": "有人在楼下组织赌博"},
        headers=auth(world.resident),
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "content_rejected"
    assert await Need.all().count() == 0
    assert await NeedEvent.all().count() == 0


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's single writer")
async def test_a_database_kept_locked_answers_503_and_the_retry_succeeds(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rawsql, "WAIT_SECONDS", 0.2)
    # another process (a ``dangqun`` command, say) holds SQLite's write lock
    blocker = sqlite3.connect(rawsql.client().filename, isolation_level=None)  # type: ignore[attr-defined]
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = await client.post(
            "/api/v1/needs", json=NEED, headers={**auth(world.resident), "Idempotency-Key": "k1"}
        )
        assert response.status == 503
        error = (await response.json())["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"] == "数据库繁忙，请稍后再试"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await Need.all().count() == 0
    assert await OutboxMessage.all().count() == 0
    retried = await submit(client, world.resident, **{"Idempotency-Key": "k1"})
    assert await Need.all().count() == 1
    assert await NeedEvent.filter(need_id=retried["need"]["id"]).count() == 1


async def test_nearby_open_need_of_the_same_category_is_offered(
    client: TestClient, world: World
) -> None:
    first = await submit(client, world.resident)
    near = await submit(client, world.neighbour, {**NEED, "lat": 44.5502, "lng": 129.6301})
    assert [d["id"] for d in near["possible_duplicates"]] == [first["need"]["id"]]
    assert near["possible_duplicates"][0]["distance_m"] < 50
    far = await submit(client, world.neighbour, {**NEED, "lat": 44.5510, "lng": 129.6300})
    assert far["possible_duplicates"] == []  # about 110 m away
    other_kind = await submit(client, world.neighbour, {**NEED, "category": "sanitation"})
    assert other_kind["possible_duplicates"] == []


async def test_grid_member_enters_a_need_for_a_resident_without_a_phone(
    client: TestClient, world: World
) -> None:
    household = world.town.households[1]
    body = {**NEED, "on_behalf": {"household_id": household.id, "resident_name": "刘奶奶"}}
    created = await submit(client, world.member, body)
    need = created["need"]
    reporter = await Person.get(id=need["reporter_id"])
    assert reporter.name == "刘奶奶" and reporter.openid is None
    assert need["entered_by_id"] is not None
    timeline = (
        await (await client.get(f"/api/v1/needs/{need['id']}", headers=auth(world.member))).json()
    )["timeline"]
    assert timeline[0]["action"] == "submit_on_behalf"

    outside = {
        **NEED,
        "on_behalf": {"household_id": world.town.households[2].id, "resident_name": "张爷爷"},
    }
    refused = await client.post("/api/v1/needs", json=outside, headers=auth(world.member))
    assert refused.status == 403


async def test_resident_without_a_household_is_told_to_bind(
    client: TestClient, world: World, mock_wechat: TestServer
) -> None:
    stranger = await login(client, mock_wechat, "oStranger")
    response = await client.post("/api/v1/needs", json=NEED, headers=auth(stranger))
    assert response.status == 422
    assert "绑定" in (await response.json())["error"]["message"]


async def test_who_sees_a_need(client: TestClient, world: World) -> None:
    need_id = (await submit(client, world.resident))["need"]["id"]
    for token, status in (
        (world.resident, 200),
        (world.member, 200),
        (world.secretary, 200),
        (world.neighbour, 404),
        (world.other_member, 404),
        (world.volunteer, 404),
    ):
        response = await client.get(f"/api/v1/needs/{need_id}", headers=auth(token))
        assert response.status == status
    assert (await client.get("/api/v1/needs/999999", headers=auth(world.secretary))).status == 404


async def test_triage_by_grid_staff(client: TestClient, world: World) -> None:
    need_id = (await submit(client, world.resident))["need"]["id"]
    url = f"/api/v1/needs/{need_id}/triage"
    by_resident = await client.post(url, json={"action": "accept"}, headers=auth(world.resident))
    assert by_resident.status == 403
    by_other_grid = await client.post(
        url, json={"action": "accept"}, headers=auth(world.other_member)
    )
    assert by_other_grid.status == 404
    no_reason = await client.post(url, json={"action": "reject"}, headers=auth(world.member))
    assert no_reason.status == 422
    accepted = await client.post(url, json={"action": "accept"}, headers=auth(world.member))
    assert accepted.status == 200
    assert (await accepted.json())["status"] == "accepted"
    again = await client.post(url, json={"action": "accept"}, headers=auth(world.member))
    assert again.status == 409
    error = (await again.json())["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"] == {"status": "accepted", "action": "accept"}
    assert "已受理" in error["message"]
    status_messages = await OutboxMessage.filter(kind="need_status").values_list(
        "payload", flat=True
    )
    assert [p["status"] for p in status_messages] == ["accepted"]


async def test_reject_with_a_reason_the_resident_reads(client: TestClient, world: World) -> None:
    need_id = (await submit(client, world.resident))["need"]["id"]
    response = await client.post(
        f"/api/v1/needs/{need_id}/triage",
        json={"action": "reject", "reason": "属于物业维修范围，已转告物业"},
        headers=auth(world.secretary),
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "rejected" and body["reject_reason"].startswith("属于物业")


async def test_merge_into_the_original(client: TestClient, world: World) -> None:
    original = (await submit(client, world.resident))["need"]["id"]
    duplicate = (await submit(client, world.neighbour))["need"]["id"]
    url = f"/api/v1/needs/{duplicate}/triage"
    to_itself = await client.post(
        url, json={"action": "merge", "merge_into": duplicate}, headers=auth(world.member)
    )
    assert to_itself.status == 422
    merged = await client.post(
        url, json={"action": "merge", "merge_into": original}, headers=auth(world.member)
    )
    assert merged.status == 200
    assert (await merged.json())["merged_into_id"] == original


async def test_resident_cancels_before_assignment_only(client: TestClient, world: World) -> None:
    need_id = (await submit(client, world.resident))["need"]["id"]
    by_neighbour = await client.post(
        f"/api/v1/needs/{need_id}/cancel", json={}, headers=auth(world.neighbour)
    )
    assert by_neighbour.status == 404
    cancelled = await client.post(
        f"/api/v1/needs/{need_id}/cancel",
        json={"reason": "已自己修好"},
        headers=auth(world.resident),
    )
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"

    assigned_id = (await submit(client, world.resident, {**NEED, "title": "第二件事"}))["need"][
        "id"
    ]
    secretary = await load_principal(person_id=world.town.people["secretary"].id)
    await service.accept_need(principal=secretary, need_id=assigned_id, due_at=None, note="")
    await service._act(principal=None, need_id=assigned_id, action=Action.ASSIGN)
    late = await client.post(
        f"/api/v1/needs/{assigned_id}/cancel", json={}, headers=auth(world.resident)
    )
    assert late.status == 409


async def _done_need(client: TestClient, world: World) -> int:
    need_id = (await submit(client, world.resident))["need"]["id"]
    secretary = await load_principal(person_id=world.town.people["secretary"].id)
    await service.accept_need(principal=secretary, need_id=need_id, due_at=None, note="")
    await service._act(principal=None, need_id=need_id, action=Action.ASSIGN)
    await service._act(principal=secretary, need_id=need_id, action=Action.START)
    await service._act(principal=secretary, need_id=need_id, action=Action.FINISH)
    return int(need_id)


async def test_resident_confirms_rates_and_reopens(client: TestClient, world: World) -> None:
    need_id = await _done_need(client, world)
    bad_rating = await client.post(
        f"/api/v1/needs/{need_id}/confirm", json={"rating": 6}, headers=auth(world.resident)
    )
    assert bad_rating.status == 422
    by_staff = await client.post(
        f"/api/v1/needs/{need_id}/confirm", json={"rating": 5}, headers=auth(world.secretary)
    )
    assert by_staff.status == 403
    confirmed = await client.post(
        f"/api/v1/needs/{need_id}/confirm",
        json={"rating": 4, "comment": "修得很快"},
        headers=auth(world.resident),
    )
    assert confirmed.status == 200
    assert (await confirmed.json())["rating"] == 4
    reopened = await client.post(
        f"/api/v1/needs/{need_id}/reopen",
        json={"reason": "灯又不亮了"},
        headers=auth(world.resident),
    )
    assert reopened.status == 200 and (await reopened.json())["status"] == "reopened"
    timeline = (
        await (await client.get(f"/api/v1/needs/{need_id}", headers=auth(world.resident))).json()
    )["timeline"]
    assert [e["to_status"] for e in timeline] == [
        "submitted",
        "accepted",
        "assigned",
        "in_progress",
        "done",
        "confirmed",
        "reopened",
    ]
    assert timeline[-1]["note"] == "灯又不亮了"


async def test_reopen_window_closes_after_seven_days(client: TestClient, world: World) -> None:
    import datetime as dt

    need_id = await _done_need(client, world)
    resident = await load_principal(person_id=world.town.people["resident"].id)
    await service.confirm_need(principal=resident, need_id=need_id, rating=5, comment="")
    await Need.filter(id=need_id).update(
        confirmed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    )
    response = await client.post(
        f"/api/v1/needs/{need_id}/reopen", json={"reason": "又坏了"}, headers=auth(world.resident)
    )
    assert response.status == 409
    assert "7 天" in (await response.json())["error"]["message"]


async def test_unrated_needs_are_auto_confirmed(client: TestClient, world: World) -> None:
    import datetime as dt

    need_id = await _done_need(client, world)
    fresh_id = await _done_need(client, world)
    await Need.filter(id=need_id).update(
        status_changed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    )
    count = await service.auto_confirm_done(
        older_than=dt.timedelta(days=7), now=dt.datetime.now(dt.UTC)
    )
    assert count == 1
    assert (await Need.get(id=need_id)).status is NeedStatus.CONFIRMED
    assert (await Need.get(id=fresh_id)).status is NeedStatus.DONE


async def test_two_concurrent_transitions_exactly_one_wins(
    client: TestClient, world: World
) -> None:
    need_id = (await submit(client, world.resident))["need"]["id"]
    url = f"/api/v1/needs/{need_id}/triage"
    accept = client.post(url, json={"action": "accept"}, headers=auth(world.member))
    reject = client.post(
        url, json={"action": "reject", "reason": "重复提交"}, headers=auth(world.secretary)
    )
    responses = await asyncio.gather(accept, reject)
    assert sorted(r.status for r in responses) == [200, 409]
    need = await Need.get(id=need_id)
    assert await NeedEvent.filter(need_id=need_id).count() == 2  # submit + the one winner
    assert need.version == 2


async def test_queues_filter_and_page(client: TestClient, world: World) -> None:
    ids = []
    for index in range(5):
        ids.append(
            (
                await submit(
                    client,
                    world.resident,
                    {
                        **NEED,
                        "title": f"第{index}件事",
                        "category": "daily_life" if index % 2 else "safety",
                    },
                )
            )["need"]["id"]
        )
    community = world.town.community.id
    page1 = await (
        await client.get(
            "/api/v1/needs",
            params={"scope": "queue", "community_id": community, "limit": 2},
            headers=auth(world.secretary),
        )
    ).json()
    assert [n["id"] for n in page1["items"]] == ids[::-1][:2]
    page2 = await (
        await client.get(
            "/api/v1/needs",
            params={
                "scope": "queue",
                "community_id": community,
                "limit": 2,
                "cursor": page1["next_cursor"],
            },
            headers=auth(world.secretary),
        )
    ).json()
    assert [n["id"] for n in page2["items"]] == ids[::-1][2:4]

    safety = await (
        await client.get(
            "/api/v1/needs",
            params={"scope": "queue", "community_id": community, "category": "safety"},
            headers=auth(world.member),
        )
    ).json()
    assert sorted(n["id"] for n in safety["items"]) == sorted(ids[0::2])
    other_grid = await (
        await client.get(
            "/api/v1/needs",
            params={"scope": "queue", "community_id": community},
            headers=auth(world.other_member),
        )
    ).json()
    assert other_grid["items"] == []
    bad = await client.get(
        "/api/v1/needs",
        params={"scope": "queue", "community_id": community, "status": "nope"},
        headers=auth(world.secretary),
    )
    assert bad.status == 422
    not_staff = await client.get(
        "/api/v1/needs",
        params={"scope": "queue", "community_id": community},
        headers=auth(world.volunteer),
    )
    assert not_staff.status == 403
    mine = await (await client.get("/api/v1/needs", headers=auth(world.resident))).json()
    assert len(mine["items"]) == 5
    overdue = await (
        await client.get(
            "/api/v1/needs",
            params={"scope": "queue", "community_id": community, "overdue": "true"},
            headers=auth(world.secretary),
        )
    ).json()
    assert overdue["items"] == []
