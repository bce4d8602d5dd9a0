"""Photo intake: real types only, size and count limits, one file per photo, no path escapes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.core.middleware import request_context
from server.needs.media import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    PhotoRejected,
    PhotoStore,
    read_multipart_photos,
    sniff_image_type,
)
from tests.builders import png_bytes

NOV_3 = datetime(2026, 11, 3, 1, 30, tzinfo=UTC)


# The start of a JFIF file (SOI + APP0) and of a lossy WebP file (RIFF header + VP8 chunk).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
WEBP = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + struct.pack("<I", 18) + b"\x00" * 18
PNG = png_bytes()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(JPEG, "image/jpeg", id="jpeg"),
        pytest.param(PNG, "image/png", id="png"),
        pytest.param(WEBP, "image/webp", id="webp"),
        pytest.param(b"RIFF\x00\x00\x00\x00WAVEfmt ", None, id="riff-but-wave"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", None, id="gif"),
        pytest.param(b"<script>alert(1)</script>", None, id="text"),
        pytest.param(b"\xff\xd8", None, id="truncated-jpeg"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_sniff_reads_the_type_from_the_bytes(data: bytes, expected: str | None) -> None:
    assert sniff_image_type(data) == expected


def test_a_png_named_jpg_is_stored_as_png(tmp_path: Path) -> None:
    # The store never sees the name "photo.jpg" the phone sent: the bytes decide.
    stored = PhotoStore(tmp_path).save(PNG, now=NOV_3)

    assert stored.content_type == "image/png"
    assert stored.key == f"needs/2026/11/{hashlib.sha256(PNG).hexdigest()}.png"
    assert (tmp_path / stored.key).read_bytes() == PNG
    assert stored.size == len(PNG)


def test_a_text_file_pretending_to_be_jpeg_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PhotoRejected) as caught:
        PhotoStore(tmp_path).save(b"#!/bin/sh\nrm -rf /\n", now=NOV_3)

    assert caught.value.code == "photo_type_not_allowed"
    assert caught.value.message == "只支持 JPEG、PNG、WebP 格式的照片"
    assert list(tmp_path.iterdir()) == []


def test_a_photo_over_the_limit_is_refused(tmp_path: Path) -> None:
    too_big = JPEG + b"\x00" * (MAX_PHOTO_BYTES - len(JPEG) + 1)

    with pytest.raises(PhotoRejected) as caught:
        PhotoStore(tmp_path).save(too_big, now=NOV_3)

    assert caught.value.code == "photo_too_large"
    assert caught.value.message == "照片不能超过 5 MB"
    assert caught.value.status == 413


def test_an_empty_photo_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PhotoRejected) as caught:
        PhotoStore(tmp_path).save(b"", now=NOV_3)

    assert caught.value.code == "photo_empty"


def test_the_month_folder_is_the_month_in_china(tmp_path: Path) -> None:
    # 2026-10-31 16:30 UTC is already 1 November in Shanghai.
    stored = PhotoStore(tmp_path).save(JPEG, now=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))

    assert stored.key.startswith("needs/2026/11/")
    assert stored.key.endswith(".jpg")


def test_the_same_photo_twice_is_stored_once(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)

    first = store.save(WEBP, now=NOV_3)
    second = store.save(WEBP, now=NOV_3)

    assert first == second
    assert [path.name for path in (tmp_path / "needs/2026/11").iterdir()] == [
        f"{first.sha256}.webp"
    ]


async def test_concurrent_saves_of_one_photo_leave_one_whole_file(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    photo = png_bytes(64, 64)

    results = await asyncio.gather(
        *(asyncio.to_thread(store.save, photo, now=NOV_3) for _ in range(8))
    )

    assert len({result.key for result in results}) == 1
    files = list((tmp_path / "needs/2026/11").iterdir())
    assert [path.name for path in files] == [Path(results[0].key).name]  # no temp files left
    assert files[0].read_bytes() == photo


@pytest.mark.parametrize(
    "key",
    [
        "../secret.jpg",
        "needs/../../etc/passwd",
        "/etc/passwd",
        "needs/2026/11/..",
        "needs//x.jpg",
        "needs\\..\\x.jpg",
        "",
    ],
)
def test_keys_that_leave_the_root_are_refused(tmp_path: Path, key: str) -> None:
    store = PhotoStore(tmp_path / "photos")

    with pytest.raises(ValueError):
        store.open_path(key)
    with pytest.raises(ValueError):
        store.delete(key)


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "needs").symlink_to(tmp_path)
    (tmp_path / "secret.jpg").write_bytes(JPEG)

    with pytest.raises(ValueError):
        PhotoStore(root).open_path("needs/secret.jpg")


def test_delete_removes_the_file_and_tolerates_a_second_delete(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    stored = store.save(JPEG, now=NOV_3)

    store.delete(stored.key)
    store.delete(stored.key)

    assert not store.open_path(stored.key).exists()


# Multipart reading, through a real aiohttp server with the real error middleware.


async def upload_handler(request: web.Request) -> web.Response:
    fields, photos = await read_multipart_photos(await request.multipart())
    return web.json_response(
        {"fields": fields, "photos": [sniff_image_type(photo) for photo in photos]}
    )


@pytest_asyncio.fixture
async def upload_client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[request_context])
    app.router.add_post("/upload", upload_handler)
    async with TestClient(TestServer(app)) as client:
        yield client


def form(fields: dict[str, str], photos: list[tuple[str, bytes, str]]) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        data.add_field(name, value)
    for filename, content, content_type in photos:
        # A stream, as a real upload: aiohttp warns about multi-megabyte raw bytes bodies.
        data.add_field("photos", io.BytesIO(content), filename=filename, content_type=content_type)
    return data


@pytest.mark.asyncio(loop_scope="session")
async def test_multipart_gives_fields_and_photos(
    upload_client: TestClient[web.Request, web.Application],
) -> None:
    body = form(
        {"title": "楼道灯坏了", "description": "3号楼2单元楼道灯不亮"},
        # A PNG the phone called .jpg: sniffed as what it is.
        [("a.jpg", PNG, "image/jpeg"), ("b.jpg", JPEG, "image/jpeg"), ("c.webp", WEBP, "")],
    )

    response = await upload_client.post("/upload", data=body)

    assert response.status == 200
    assert await response.json() == {
        "fields": {"title": "楼道灯坏了", "description": "3号楼2单元楼道灯不亮"},
        "photos": ["image/png", "image/jpeg", "image/webp"],
    }


@pytest.mark.asyncio(loop_scope="session")
async def test_multipart_refuses_one_photo_too_many(
    upload_client: TestClient[web.Request, web.Application],
) -> None:
    body = form({}, [(f"{i}.jpg", JPEG, "image/jpeg") for i in range(MAX_PHOTOS + 1)])

    response = await upload_client.post("/upload", data=body)

    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "too_many_photos"
    assert error["message"] == f"最多上传 {MAX_PHOTOS} 张照片"


@pytest.mark.asyncio(loop_scope="session")
async def test_multipart_refuses_a_photo_over_the_limit(
    upload_client: TestClient[web.Request, web.Application],
) -> None:
    too_big = JPEG + b"\x00" * MAX_PHOTO_BYTES
    body = form({"title": "照片太大"}, [("big.jpg", too_big, "image/jpeg")])

    response = await upload_client.post("/upload", data=body)

    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "photo_too_large"
    assert error["message"] == "照片不能超过 5 MB"


@pytest.mark.asyncio(loop_scope="session")
async def test_multipart_refuses_a_file_that_is_not_an_image(
    upload_client: TestClient[web.Request, web.Application],
) -> None:
    body = form({}, [("photo.jpg", b"<?php system($_GET['c']); ?>", "image/jpeg")])

    response = await upload_client.post("/upload", data=body)

    assert response.status == 415
    assert (await response.json())["error"]["code"] == "photo_type_not_allowed"


@pytest.mark.asyncio(loop_scope="session")
async def test_multipart_refuses_an_overlong_text_field(
    upload_client: TestClient[web.Request, web.Application],
) -> None:
    body = form({"description": "长" * 30_000}, [])  # 90,000 bytes of UTF-8

    response = await upload_client.post("/upload", data=body)

    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"field": "description", "location": "body"}
