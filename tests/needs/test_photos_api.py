"""Photos over HTTP: upload (types by content, limits, clear errors), keys checked on submit, and
signed links that only the people who may see the need get."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from yarl import URL

from server.core.appkeys import SETTINGS
from server.core.errors import NotFound
from server.needs.media import MAX_PHOTO_BYTES, MAX_PHOTOS
from server.needs.models import Need
from server.needs.photo_links import PhotoLinks, signature
from server.needs.photos import photo_file, photo_links, photo_store
from server.needs.reports import XLSX
from tests.builders import auth, png_bytes, upload_photo
from tests.needs.conftest import Roles, assign, finish, submit

# The start of a JFIF file (SOI + APP0): enough for the type to be read from the bytes.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
PNG = png_bytes()
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00"


def form(*files: tuple[bytes, str, str], **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    for content, filename, content_type in files:
        # a file object, as a phone's upload is: raw bytes over 1 MB make aiohttp warn
        data.add_field("photos", io.BytesIO(content), filename=filename, content_type=content_type)
    return data


async def upload(client: TestClient, token: str | None, data: aiohttp.FormData | bytes, **kw: str):
    headers = auth(token) if token else {}
    return await client.post("/api/v1/media/photos", data=data, headers={**headers, **kw})


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str, str]:
    body = await response.json()
    return response.status, body["error"]["code"], body["error"]["message"]


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def path_of(url: str) -> str:
    return URL(url).path_qs


async def test_upload_stores_photos_under_the_uploader_and_links_them(
    client: TestClient, roles: Roles
) -> None:
    response = await upload(
        client,
        roles.tokens["resident"],
        form((PNG, "a.png", "image/png"), (JPEG, "b.jpg", "image/jpeg")),
    )
    assert response.status == 201, await response.text()
    photos = (await response.json())["photos"]
    me = roles.ids["resident"]
    assert [(p["content_type"], p["size"]) for p in photos] == [
        ("image/png", len(PNG)),
        ("image/jpeg", len(JPEG)),
    ]
    assert photos[0]["key"].startswith(f"needs/p{me}/")
    assert photos[0]["key"].endswith(f"/{hashlib.sha256(PNG).hexdigest()}.png")
    stored = stored_files(client.app[SETTINGS].photo_root)
    assert sorted(path.read_bytes() for path in stored) == sorted([PNG, JPEG])
    assert {path.name for path in stored} == {p["key"].rsplit("/", 1)[1] for p in photos}

    served = await client.get(path_of(photos[1]["url"]))  # no Authorization: the link is enough
    assert (served.status, served.content_type) == (200, "image/jpeg")
    assert await served.read() == JPEG
    assert served.headers["Cache-Control"].startswith("private, max-age=")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_bytes_decide_the_type_not_the_name_or_content_type(
    client: TestClient, roles: Roles
) -> None:
    response = await upload(
        client, roles.tokens["resident"], form((PNG, "holiday.jpg", "image/jpeg"))
    )
    assert response.status == 201, await response.text()
    (photo,) = (await response.json())["photos"]
    assert photo["content_type"] == "image/png" and photo["key"].endswith(".png")
    served = await client.get(path_of(photo["url"]))
    assert served.content_type == "image/png"


@pytest.mark.parametrize(
    ("files", "status", "code", "says"),
    [
        pytest.param(
            [(GIF, "a.gif", "image/gif")], 415, "photo_type_not_allowed", "JPEG", id="gif"
        ),
        pytest.param(
            [(b"<script>alert(1)</script>", "x.jpg", "image/jpeg")],
            415,
            "photo_type_not_allowed",
            "JPEG、PNG、WebP",
            id="script-named-jpg",
        ),
        pytest.param([(b"", "a.jpg", "image/jpeg")], 422, "photo_empty", "空", id="empty"),
        pytest.param(
            [(PNG, f"{i}.png", "image/png") for i in range(MAX_PHOTOS + 1)],
            422,
            "too_many_photos",
            f"最多上传 {MAX_PHOTOS} 张",
            id="seven",
        ),
        pytest.param(
            [(JPEG + b"\x00" * (MAX_PHOTO_BYTES - len(JPEG) + 1), "big.jpg", "image/jpeg")],
            413,
            "photo_too_large",
            "不能超过 5 MB",
            id="too-large",
        ),
    ],
)
async def test_bad_uploads_are_refused_with_a_clear_reason(
    client: TestClient,
    roles: Roles,
    files: list[tuple[bytes, str, str]],
    status: int,
    code: str,
    says: str,
) -> None:
    response = await upload(client, roles.tokens["resident"], form(*files))
    got_status, got_code, message = await error_of(response)
    assert (got_status, got_code) == (status, code)
    assert says in message
    assert stored_files(client.app[SETTINGS].photo_root) == []


async def test_not_multipart_no_photo_unknown_field_and_no_login(
    client: TestClient, roles: Roles
) -> None:
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    nothing = await upload(client, roles.tokens["resident"], b"--xyz--\r\n", **multipart)
    status, code, message = await error_of(nothing)
    assert (status, code) == (422, "no_photos") and "请选择" in message
    as_json = await client.post(
        "/api/v1/media/photos", json={"photos": ["x"]}, headers=roles.h("resident")
    )
    assert (await error_of(as_json))[:2] == (415, "unsupported_media_type")
    extra = await upload(
        client, roles.tokens["resident"], form((PNG, "a.png", "image/png"), caption="厨房")
    )
    status, code, message = await error_of(extra)
    assert (status, code) == (422, "validation_error") and "caption" in message
    anonymous = await upload(client, None, form((PNG, "a.png", "image/png")))
    assert (await error_of(anonymous))[:2] == (401, "not_authenticated")
    cut = await upload(
        client,
        roles.tokens["resident"],
        b'--xyz\r\nContent-Disposition: form-data; name="photos"; filename="a.png"\r\n\r\n'
        + PNG[:10],
        **multipart,
    )
    status, code, message = await error_of(cut)  # a cut-off body: refused, never a 500
    assert (status, code) == (422, "validation_error") and "不完整" in message


async def test_uploads_per_hour_are_limited(client: TestClient, roles: Roles) -> None:
    client.app[SETTINGS].photo_uploads_per_hour = 3
    ok = await upload(client, roles.tokens["resident"], form(*[(PNG, "a.png", "image/png")] * 3))
    assert ok.status == 201
    again = await upload(client, roles.tokens["resident"], form((JPEG, "b.jpg", "image/jpeg")))
    status, code, message = await error_of(again)
    assert (status, code) == (429, "too_many_requests") and "3 张" in message
    assert 0 < int(again.headers["Retry-After"]) <= 3600
    other = await upload(client, roles.tokens["neighbour"], form((JPEG, "b.jpg", "image/jpeg")))
    assert other.status == 201  # the limit is per person


async def test_submit_accepts_only_the_submitters_own_stored_photos(
    client: TestClient, roles: Roles
) -> None:
    mine = await upload_photo(client, roles.tokens["resident"])
    theirs = await upload_photo(client, roles.tokens["neighbour"], JPEG)
    me = roles.ids["resident"]
    never_uploaded = f"needs/p{me}/2026/11/{'0' * 64}.jpg"
    for photos, says in (
        ([theirs], "本人上传"),
        ([never_uploaded], "不存在"),
        (["2026/11/leak.jpg"], "本人上传"),
        ([f"needs/p{me}/../../../etc/passwd"], "本人上传"),
        ([mine, mine], "重复"),
    ):
        response = await client.post(
            "/api/v1/needs",
            json={
                "category": "daily_life",
                "title": "水管漏水",
                "description": "漏水",
                "photos": photos,
            },
            headers=roles.h("resident"),
        )
        status, code, message = await error_of(response)
        assert (status, code) == (422, "photo_key_invalid"), photos
        assert says in message
    assert await Need.all().count() == 0

    need_id = await submit(client, roles, photos=[mine])
    detail = await (
        await client.get(f"/api/v1/needs/{need_id}", headers=roles.h("resident"))
    ).json()
    assert detail["need"]["photos"] == [mine]
    (url,) = detail["need"]["photo_urls"]
    assert (await client.get(path_of(url))).status == 200


async def test_a_grid_member_attaches_their_own_photos_to_a_need_entered_for_a_resident(
    client: TestClient, roles: Roles
) -> None:
    key = await upload_photo(client, roles.tokens["member"])
    response = await client.post(
        "/api/v1/needs",
        json={
            "category": "daily_life",
            "title": "帮老人换灯泡",
            "description": "老人家里灯坏了",
            "photos": [key],
            "on_behalf": {"household_id": roles.town.households[0].id, "resident_name": "李奶奶"},
        },
        headers=roles.h("member"),
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["need"]["photos"] == [key]


async def photo_urls(client: TestClient, roles: Roles, who: str, need_id: int) -> list[str] | int:
    response = await client.get(f"/api/v1/needs/{need_id}", headers=roles.h(who))
    if response.status != 200:
        return response.status
    return list((await response.json())["need"]["photo_urls"])


async def test_only_people_who_see_the_need_get_links_to_its_photos(
    client: TestClient, roles: Roles
) -> None:
    key = await upload_photo(client, roles.tokens["resident"])
    need_id = await submit(client, roles, photos=[key])
    for who in ("resident", "member", "secretary", "admin"):
        urls = await photo_urls(client, roles, who, need_id)
        assert isinstance(urls, list) and len(urls) == 1, who
        assert (await client.get(path_of(urls[0]))).status == 200
    for who in ("neighbour", "other-member", "volunteer", "other-secretary", "other-admin"):
        assert await photo_urls(client, roles, who, need_id) == 404, who

    task_id = await assign(client, roles, need_id, "volunteer")
    during = await photo_urls(client, roles, "volunteer", need_id)
    assert isinstance(during, list) and len(during) == 1
    assert await photo_urls(client, roles, "volunteer2", need_id) == 404
    await finish(client, roles, task_id, "volunteer")
    assert await photo_urls(client, roles, "volunteer", need_id) == []  # masked after the task


async def test_links_cannot_be_forged_stretched_or_pointed_elsewhere(
    client: TestClient, roles: Roles
) -> None:
    key = await upload_photo(client, roles.tokens["resident"])
    other_key = await upload_photo(client, roles.tokens["neighbour"], JPEG)
    links = photo_links(client.app[SETTINGS])
    url = URL(links.url(key))

    async def status_and_code(target: URL) -> tuple[int, str | None]:
        response = await client.get(target.path_qs)
        if response.status == 200:
            return 200, None
        return response.status, (await response.json())["error"]["code"]

    assert await status_and_code(url) == (200, None)
    tampered = url.update_query(sig="0" * 64)
    assert await status_and_code(tampered) == (403, "photo_link_invalid")
    later = url.update_query(exp=int(url.query["exp"]) + 86400)
    assert await status_and_code(later) == (403, "photo_link_invalid")
    elsewhere = URL(links.url(other_key)).with_query(url.query)  # key B with key A's signature
    assert await status_and_code(elsewhere) == (403, "photo_link_invalid")
    assert await status_and_code(url.with_query({})) == (403, "photo_link_invalid")
    assert await status_and_code(url.update_query(sig="签名")) == (403, "photo_link_invalid")

    expired = URL(links.url(key, now=time.time() - 2 * 86400))
    assert await status_and_code(expired) == (403, "photo_link_expired")

    wrong_secret = PhotoLinks(links.base_url, b"another deployment's secret", 3600)
    assert await status_and_code(URL(wrong_secret.url(key))) == (403, "photo_link_invalid")

    # even a correctly signed link never leaves the media folder or finds a photo not stored
    store = photo_store(client.app[SETTINGS])
    for key_out in ("needs/p1/../../../../etc/passwd", "/etc/passwd"):
        expires = int(time.time()) + 600
        with pytest.raises(NotFound):
            await photo_file(
                key=key_out,
                expires=expires,
                sig=signature(links.secret, key_out, expires),
                links=links,
                store=store,
            )
    gone = URL(links.url(f"needs/p{roles.ids['resident']}/2026/11/{'a' * 64}.png"))
    assert await status_and_code(gone) == (404, "not_found")


async def test_the_api_document_describes_uploads_photos_and_the_export(
    client: TestClient,
) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    validate(document)
    paths = document["paths"]
    upload_op = paths["/api/v1/media/photos"]["post"]
    form_schema = upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form_schema["required"] == ["photos"]
    assert {"201", "401", "413", "415", "422", "429"} <= set(upload_op["responses"])
    photo_op = paths["/api/v1/media/photos/{key}"]["get"]  # the route's regex is not shown
    assert "security" not in photo_op and "403" in photo_op["responses"]
    export_op = paths["/api/v1/communities/{community_id}/needs.xlsx"]["get"]
    assert XLSX in export_op["responses"]["200"]["content"]
    assert "invalid_month" in export_op["responses"]["400"]["description"]
    assert "/api/v1/communities/{community_id}/public-needs" in paths
