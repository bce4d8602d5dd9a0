"""Check-out photos (签退照片): only the volunteer's own stored uploads are accepted, and signed
links to them go to the volunteer, staff over the need and the resident who reported it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from yarl import URL

from server.core.appkeys import SETTINGS
from server.needs.models import Need, NeedStatus
from server.tasks.models import Task, TaskEvent, TaskStatus
from tests.builders import png_bytes, upload_photo
from tests.tasks.conftest import HOME, World, accept, accepted_need, set_policy, start_matching

NEAR = {"lat": HOME[0] + 0.001, "lng": HOME[1]}


async def _in_progress(client: TestClient, world: World) -> tuple[int, int]:
    """A need v1 accepted and checked in to: (need id, task id)."""
    await set_policy(client, world, wave_size=2)
    need_id = await accepted_need(client, world)
    await start_matching(client, world, need_id)
    task_id = int((await accept(client, world, "v1", need_id))["task"]["id"])
    response = await client.post(
        f"/api/v1/tasks/{task_id}/check-in", json=NEAR, headers=world.h("v1")
    )
    assert response.status == 200, await response.text()
    return need_id, task_id


async def _check_out(client: TestClient, world: World, task_id: int, photos: list[str]) -> tuple:
    response = await client.post(
        f"/api/v1/tasks/{task_id}/check-out",
        json={**NEAR, "note": "修好了", "photos": photos},
        headers=world.h("v1"),
    )
    return response.status, await response.json()


async def test_someone_elses_or_a_missing_photo_is_refused_and_nothing_is_written(
    client: TestClient, world: World
) -> None:
    need_id, task_id = await _in_progress(client, world)
    own = await upload_photo(client, world.tokens["v1"], png_bytes(3, 1))
    residents = (await Need.get(id=need_id)).photos[0]  # the resident's upload, seen by v1
    others = await upload_photo(client, world.tokens["v2"], png_bytes(4, 1))
    missing = await upload_photo(client, world.tokens["v1"], png_bytes(5, 1))
    client.app[SETTINGS].photo_root.joinpath(missing).unlink()  # uploaded once, gone since

    for photos, index, message in (
        ([own, residents], 1, "不是本人上传的照片"),
        ([others], 0, "不是本人上传的照片"),
        ([own, missing], 1, "照片不存在"),
        ([own, own], 1, "与前面的照片重复"),
        (["2026/11/fixed.jpg"], 0, "不是本人上传的照片"),
    ):
        status, body = await _check_out(client, world, task_id, photos)
        assert (status, body["error"]["code"]) == (422, "photo_key_invalid"), body
        (detail,) = body["error"]["details"]
        assert (detail["field"], detail["message"]) == (f"photos.{index}", message)

    task = await Task.get(id=task_id)
    assert (task.status, task.photos, task.checkout_at) == (TaskStatus.IN_PROGRESS, [], None)
    assert (await Need.get(id=need_id)).status is NeedStatus.IN_PROGRESS
    assert not await TaskEvent.filter(task_id=task_id, action="check_out").exists()

    status, body = await _check_out(client, world, task_id, [own])
    assert status == 200, body
    assert body["task"]["photos"] == [own] and len(body["task"]["photo_urls"]) == 1


async def test_links_go_to_the_volunteer_staff_and_the_reporter_only(
    client: TestClient, world: World
) -> None:
    need_id, task_id = await _in_progress(client, world)
    first = await upload_photo(client, world.tokens["v1"], png_bytes(6, 1))
    second = await upload_photo(client, world.tokens["v1"], png_bytes(7, 1))
    status, body = await _check_out(client, world, task_id, [first, second])
    assert status == 200, body

    seen: dict[str, list[str]] = {}
    for who in ("v1", "secretary", "member", "resident"):
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=world.h(who))
        assert response.status == 200, (who, await response.text())
        task = (await response.json())["task"]
        assert task["photos"] == [first, second]
        seen[who] = task["photo_urls"]
        assert [URL(url).path for url in seen[who]] == [
            f"/api/v1/media/photos/{first}",
            f"/api/v1/media/photos/{second}",
        ]
    photo = await client.get(URL(seen["resident"][1]).path_qs)  # the evidence opens
    assert (photo.status, photo.content_type) == (200, "image/png")
    assert await photo.read() == png_bytes(7, 1)

    # the resident and staff also reach it from the need
    for who in ("resident", "secretary"):
        response = await client.get(f"/api/v1/needs/{need_id}/task", headers=world.h(who))
        assert response.status == 200, (who, await response.text())
        assert len((await response.json())["task"]["photo_urls"]) == 2
    listed = await client.get("/api/v1/me/tasks?status=done", headers=world.h("v1"))
    (item,) = (await listed.json())["items"]
    assert len(item["task"]["photo_urls"]) == 2

    # another volunteer (invited to the same need) and a volunteer elsewhere: no task, no links
    for who in ("v2", "outsider"):
        for url in (f"/api/v1/tasks/{task_id}", f"/api/v1/needs/{need_id}/task"):
            response = await client.get(url, headers=world.h(who))
            body = await response.json()
            assert response.status == 404, (who, url, body)
            assert "photo_urls" not in str(body) and first not in str(body)
