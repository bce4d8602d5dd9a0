"""The in-app inbox (站内信) over HTTP: always written, unread counts, cursor pages."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.accounts.models import Role
from server.notify.service import enqueue
from tests.builders import add_person, auth, build_town, login
from tests.notify.conftest import Bot, Platform


async def test_inbox_pages_counts_and_marks_read(
    client: TestClient, platform: Platform, bot: Bot
) -> None:
    town = await build_town()
    person = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    neighbour = await add_person(town, "neighbour", Role.RESIDENT, household=town.households[1])
    for index in range(5):
        await enqueue(
            kind="need_status",
            payload={"need_id": index, "title": f"需求{index}", "status_label": "已受理"},
            recipient_id=person.id,
        )
    await enqueue(kind="need_status", payload={"title": "别人的"}, recipient_id=neighbour.id)
    await bot.run()  # no consents: inbox only
    token = await login(client, platform.server, "test-resident")
    headers = auth(token)

    response = await client.get("/api/v1/inbox/unread-count", headers=headers)
    assert (await response.json()) == {"unread": 5}
    first = await (await client.get("/api/v1/inbox?limit=3", headers=headers)).json()
    assert [i["title"] for i in first["items"]] == ["需求进度更新"] * 3
    assert [i["body"][:8] for i in first["items"]] == [
        "您的需求“需求4",
        "您的需求“需求3",
        "您的需求“需求2",
    ]
    assert first["unread"] == 5
    assert first["items"][0]["link"] == "/pages/needs/detail?id=4"
    second = await (
        await client.get(f"/api/v1/inbox?limit=3&cursor={first['next_cursor']}", headers=headers)
    ).json()
    assert [i["body"][5:8] for i in second["items"]] == ["需求1", "需求0"]
    assert second["next_cursor"] is None

    item_id = first["items"][0]["id"]
    response = await client.post(f"/api/v1/inbox/{item_id}/read", headers=headers)
    assert response.status == 200
    assert (await response.json())["read_at"] is not None
    assert (await (await client.get("/api/v1/inbox/unread-count", headers=headers)).json()) == {
        "unread": 4
    }
    unread = await (await client.get("/api/v1/inbox?unread_only=true", headers=headers)).json()
    assert item_id not in [i["id"] for i in unread["items"]]

    neighbours_item = (
        await (
            await client.get(
                "/api/v1/inbox",
                headers=auth(await login(client, platform.server, "test-neighbour")),
            )
        ).json()
    )["items"][0]["id"]
    response = await client.post(f"/api/v1/inbox/{neighbours_item}/read", headers=headers)
    assert response.status == 404

    response = await client.post("/api/v1/inbox/read-all", headers=headers)
    assert (await response.json()) == {"updated": 4, "unread": 0}
    bad = await client.get("/api/v1/inbox?cursor=nonsense", headers=headers)
    assert bad.status == 422
    assert (await client.get("/api/v1/inbox")).status == 401
