"""Photos of shared things: only the lister's own stored uploads, signed links for whoever sees
the thing, and the orphan clean-up reading what an edit left."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from server.accounts.models import Role
from server.core.config import Settings
from server.needs.media import PhotoStore
from server.needs.photo_cleanup import find_orphans
from server.sharing.models import SharedResource
from tests.builders import add_person, login, png_bytes, upload_photo
from tests.sharing.conftest import HALL, World, error_of, share, shared


async def upload(client: TestClient, world: World, who: str, width: int = 1) -> str:
    return await upload_photo(client, world.tokens[who], png_bytes(width, 1))


async def change(
    client: TestClient, world: World, who: str, resource_id: int, **body: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.patch(
        f"/api/v1/shared-resources/{resource_id}", json=body, headers=world.h(who)
    )
    return response.status, dict(await response.json())


async def opens(client: TestClient, url: str) -> int:
    return (await client.get(URL(url).path_qs)).status


async def test_a_listing_takes_only_the_listers_own_stored_photos(
    client: TestClient, world: World
) -> None:
    mine = await upload(client, world, "resident")
    theirs = await upload(client, world, "neighbour", width=2)  # e.g. copied out of a link
    me = world.ids["resident"]
    for photos, field, says in (
        ([theirs], "photos.0", "本人上传"),
        ([mine, theirs], "photos.1", "本人上传"),
        (["2026/11/ladder.jpg"], "photos.0", "本人上传"),
        ([f"needs/p{me}/2026/11/{'0' * 64}.png"], "photos.0", "不存在"),
        ([mine, mine], "photos.1", "重复"),
    ):
        response = await share(client, world, photos=photos)
        assert response.status == 422, photos
        error = await error_of(response)
        assert error["code"] == "photo_key_invalid"
        assert says in error["message"]
        assert error["details"][0]["field"] == field
    assert await SharedResource.all().count() == 0

    response = await share(client, world, photos=[mine])
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["photos"] == [mine]
    (url,) = body["photo_urls"]
    assert await opens(client, url) == 200


async def test_whoever_sees_a_shared_thing_gets_links_to_its_photos(
    client: TestClient, world: World
) -> None:
    key = await upload(client, world, "resident")
    resource = await shared(client, world, photos=[key])
    for who in ("neighbour", "volunteer", "secretary", "admin"):
        response = await client.get(f"/api/v1/shared-resources/{resource}", headers=world.h(who))
        assert response.status == 200, who
        (url,) = (await response.json())["photo_urls"]
        assert await opens(client, url) == 200
        response = await client.get(
            f"/api/v1/communities/{world.community_id}/shared-resources", headers=world.h(who)
        )
        [item] = (await response.json())["items"]
        assert len(item["photo_urls"]) == 1 and await opens(client, item["photo_urls"][0]) == 200
    for who in ("outsider", "stranger"):
        response = await client.get(f"/api/v1/shared-resources/{resource}", headers=world.h(who))
        assert response.status == 404


async def test_an_edit_keeps_the_photos_it_had_and_adds_only_the_editors_own(
    client: TestClient, world: World, settings: Settings
) -> None:
    first = await upload(client, world, "resident")
    resource = await shared(client, world, photos=[first])
    theirs = await upload(client, world, "neighbour", width=2)

    status, body = await change(client, world, "resident", resource, photos=[first, theirs])
    assert status == 422
    assert (body["error"]["code"], body["error"]["details"][0]["field"]) == (
        "photo_key_invalid",
        "photos.1",
    )
    assert (await SharedResource.get(id=resource)).photos == [first]

    second = await upload(client, world, "resident", width=3)
    status, body = await change(client, world, "resident", resource, photos=[second, first])
    assert status == 200, body
    assert body["photos"] == [second, first] and len(body["photo_urls"]) == 2
    status, body = await change(client, world, "resident", resource, photos=[second])
    assert status == 200 and body["photos"] == [second]

    # what the edit dropped is an orphan for the clean-up; what the thing shows is not
    scan = await find_orphans(
        store=PhotoStore(settings.photo_root),
        now=dt.datetime.now(dt.UTC),
        timezone=settings.timezone,
        older_than=dt.timedelta(0),
    )
    orphans = {orphan.key for orphan in scan.orphans}
    assert first in orphans and theirs in orphans
    assert second not in orphans and scan.referenced == 1


async def test_another_secretary_edits_a_local_units_photos_with_their_own(
    client: TestClient, world: World, mock_wechat: TestServer
) -> None:
    listed = await upload(client, world, "secretary")
    resource = await shared(client, world, "secretary", **HALL, photos=[listed])
    await add_person(world.town, "deputy", Role.SECRETARY, community=world.town.community)
    world.tokens["deputy"] = await login(client, mock_wechat, "test-deputy")
    unattached = await upload(client, world, "secretary", width=2)

    status, body = await change(client, world, "deputy", resource, photos=[listed, unattached])
    assert status == 422 and body["error"]["code"] == "photo_key_invalid"
    assert body["error"]["details"][0]["field"] == "photos.1"

    added = await upload(client, world, "deputy", width=3)
    status, body = await change(client, world, "deputy", resource, photos=[listed, added])
    assert status == 200, body
    assert body["photos"] == [listed, added]
