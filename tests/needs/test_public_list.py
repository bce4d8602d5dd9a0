"""需求公示: a community's accepted needs and how they ended, for its people, with personal data
masked; what staff did not take on (submitted, rejected, merged, cancelled) is not shown."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient

from server.needs.models import Need
from tests.needs.conftest import BUILDING, PHONE, Roles, accept, assign, finish, post, submit

ID_CARD = "110101199003071234"


async def public(
    client: TestClient, roles: Roles, who: str | None = None, community: int | None = None, **q
) -> tuple[int, dict]:
    community = community or roles.town.community.id
    response = await client.get(
        f"/api/v1/communities/{community}/public-needs",
        params={k: str(v) for k, v in q.items()},
        headers=roles.h(who) if who else {},
    )
    return response.status, await response.json()


async def test_only_what_staff_took_on_is_shown_and_it_is_masked(
    client: TestClient, roles: Roles
) -> None:
    await submit(client, roles, title="还没人看的需求")
    rejected = await submit(client, roles, title="被驳回的需求")
    await post(
        client,
        roles,
        "secretary",
        f"/api/v1/needs/{rejected}/triage",
        {"action": "reject", "reason": "不属于社区服务范围"},
    )
    cancelled = await submit(client, roles, title="居民撤销的需求")
    await post(client, roles, "resident", f"/api/v1/needs/{cancelled}/cancel", {})
    accepted = await submit(
        client,
        roles,
        "far-resident",
        title="楼道灯坏了",
        category="safety",
        description="五楼楼道灯不亮",
    )
    await accept(client, roles, accepted)
    merged = await submit(client, roles, "neighbour", title="楼道灯也坏了", category="safety")
    await post(
        client,
        roles,
        "secretary",
        f"/api/v1/needs/{merged}/triage",
        {"action": "merge", "merge_into": accepted},
    )
    done = await submit(client, roles, description=f"水管漏水，电话 {PHONE}，身份证 {ID_CARD}")
    task_id = await assign(client, roles, done, "volunteer")
    await finish(client, roles, task_id, "volunteer")
    await post(
        client,
        roles,
        "resident",
        f"/api/v1/needs/{done}/confirm",
        {"rating": 5, "comment": f"师傅很好，有事打 {PHONE}"},
    )

    status, body = await public(client, roles, "neighbour")
    assert status == 200
    assert [item["id"] for item in body["items"]] == [done, accepted]
    item = body["items"][0]
    assert (item["status"], item["status_label"], item["outcome"]) == (
        "confirmed",
        "已评价",
        "已完成，居民评价 5 星",
    )
    assert (item["reporter_name"], item["address"], item["title"]) == (
        "王**",
        BUILDING,
        "厨房水管漏水",
    )
    assert PHONE not in item["description"] and ID_CARD not in item["description"]
    assert "138****5678" in item["description"] and "1****************4" in item["description"]
    assert PHONE not in item["rating_comment"] and item["rating"] == 5
    assert item["grid_name"] == "1号楼" and item["done_at"] is not None
    # no phone, no door, no coordinates, no photos, no ids of people or households
    assert not {"reporter_phone", "phone", "lat", "lng", "photos", "photo_urls"} & set(item)
    assert not {"reporter_id", "household_id", "assignee_id"} & set(item)
    assert body["items"][1]["outcome"] == "已受理，正在安排志愿者"
    assert body["items"][1]["address"] == "阳光小区5栋"


async def test_filters_and_pages_like_the_other_lists(client: TestClient, roles: Roles) -> None:
    ids = []
    for index in range(5):
        need_id = await submit(
            client, roles, title=f"第{index}件事", category="safety" if index % 2 else "daily_life"
        )
        await accept(client, roles, need_id)
        ids.append(need_id)
    newest_first = ids[::-1]

    _, first = await public(client, roles, "resident", limit=2)
    assert [item["id"] for item in first["items"]] == newest_first[:2]
    _, second = await public(client, roles, "resident", limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == newest_first[2:4]
    _, last = await public(client, roles, "resident", limit=2, cursor=second["next_cursor"])
    assert [item["id"] for item in last["items"]] == newest_first[4:]
    assert last["next_cursor"] is None

    _, safety = await public(client, roles, "resident", category="safety")
    assert sorted(item["id"] for item in safety["items"]) == sorted(ids[1::2])
    _, grid = await public(client, roles, "resident", grid_id=roles.town.compounds[1].id)
    assert grid["items"] == []
    _, by_status = await public(client, roles, "resident", status="accepted,done")
    assert len(by_status["items"]) == 5

    # created_from/created_to in any time zone: 00:30 on 1 October in Beijing is in October
    await Need.filter(id=ids[0]).update(created_at=dt.datetime(2026, 9, 30, 16, 30, tzinfo=dt.UTC))
    _, october = await public(
        client,
        roles,
        "resident",
        created_from="2026-10-01T00:00:00+08:00",
        created_to="2026-11-01T00:00:00+08:00",
    )
    assert [item["id"] for item in october["items"]] == [ids[0]]
    status, error = await public(client, roles, "resident", created_from="2026-11-01T00:00:00")
    assert (status, error["error"]["code"]) == (422, "validation_error")
    assert "时区" in error["error"]["message"]

    status, error = await public(client, roles, "resident", status="rejected")
    assert (status, error["error"]["code"]) == (422, "validation_error")
    assert "公示的状态" in error["error"]["message"]
    status, error = await public(client, roles, "resident", cursor="not-a-cursor")
    assert (status, error["error"]["code"]) == (422, "validation_error")


async def test_who_may_read_it(client: TestClient, roles: Roles) -> None:
    for who in ("resident", "neighbour", "far-resident", "volunteer", "member", "admin"):
        assert (await public(client, roles, who))[0] == 200, who
    for who in ("other-resident", "other-secretary", "other-admin"):
        status, body = await public(client, roles, who)
        assert (status, body["error"]["code"]) == (403, "permission_denied"), who
    assert (await public(client, roles, "admin", community=999999))[0] == 404
    assert (await public(client, roles))[0] == 401
    other = roles.other.community.id
    assert (await public(client, roles, "other-resident", community=other))[0] == 200
