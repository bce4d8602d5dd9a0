"""Photos of needs (需求照片): store a person's uploads, check the keys a need refers to, serve one.

A key names its uploader: ``needs/p<person id>/<YYYY>/<MM>/<sha256>.<ext>``. A need may refer only
to photos its submitter uploaded (the grid member's own, for 代办) and that are stored, a task's
check-out (签退) only to the volunteer's own, and a shared item (共享家) only to the lister's own
(``check_own_photos``, the one rule), so nobody can attach somebody else's photo, and so get a
link to it or show it to the community, by copying a key out of a URL.
File I/O runs in worker threads (``asyncio.to_thread``); the event loop only waits.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from redis.asyncio import Redis

from server.accounts.permissions import Principal
from server.core import errors
from server.core.config import Settings
from server.needs.media import (
    ALLOWED,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    PhotoRejected,
    PhotoStore,
    StoredPhoto,
)
from server.needs.photo_links import PhotoLinks

KEY_RE = re.compile(
    r"needs/p([1-9][0-9]{0,9})/[0-9]{4}/(?:0[1-9]|1[0-2])/[0-9a-f]{64}\.(?:jpg|png|webp)"
)
CONTENT_TYPES = {extension: content_type for content_type, extension in ALLOWED.items()}
UPLOAD_RATE_WINDOW_SECONDS = 3600
# Boundaries, part headers and a few small text fields around six photos.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + MULTIPART_OVERHEAD_BYTES


class NoPhotos(PhotoRejected):
    status = 422
    code = "no_photos"
    default_message = "请选择要上传的照片"


class PhotoKeyInvalid(errors.ValidationFailed):
    code = "photo_key_invalid"
    default_message = "照片无效或已失效，请重新上传"


def photo_store(settings: Settings) -> PhotoStore:
    """The store under ``DANGQUN_MEDIA_ROOT`` (it holds no state: cheap to make per request)."""
    return PhotoStore(settings.photo_root)


def photo_links(settings: Settings) -> PhotoLinks:
    return PhotoLinks(
        base_url=settings.public_url,
        secret=settings.media_url_secret.encode(),
        ttl_seconds=settings.media_url_ttl_seconds,
    )


def owner_prefix(person_id: int) -> str:
    return f"needs/p{person_id}"


def key_owner(key: str) -> int | None:
    """The person who uploaded the photo of this key, or ``None`` for a key not made here."""
    match = KEY_RE.fullmatch(key)
    return int(match.group(1)) if match else None


async def _count_upload(*, redis: Redis, person_id: int, photos: int, per_hour: int) -> None:
    now = int(time.time())
    key = f"rate:photo_upload:{person_id}:{now // UPLOAD_RATE_WINDOW_SECONDS}"
    count = await redis.incrby(key, photos)
    if count == photos:
        await redis.expire(key, UPLOAD_RATE_WINDOW_SECONDS)
    if count > per_hour:
        raise errors.TooManyRequests(
            f"每小时最多上传 {per_hour} 张照片，请稍后再试",
            retry_after=UPLOAD_RATE_WINDOW_SECONDS - now % UPLOAD_RATE_WINDOW_SECONDS,
            details={"limit": per_hour, "window_seconds": UPLOAD_RATE_WINDOW_SECONDS},
        )


def _save_all(store: PhotoStore, photos: Sequence[bytes], prefix: str) -> list[StoredPhoto]:
    return [store.save(data, prefix=prefix) for data in photos]


async def store_photos(
    *,
    principal: Principal,
    photos: Sequence[bytes],
    store: PhotoStore,
    redis: Redis,
    per_hour: int,
) -> list[StoredPhoto]:
    """Store checked photos under the uploader's own prefix (at most ``per_hour`` an hour)."""
    if not photos:
        raise NoPhotos(details={"field": "photos", "max": MAX_PHOTOS})
    await _count_upload(
        redis=redis, person_id=principal.person_id, photos=len(photos), per_hour=per_hour
    )
    return await asyncio.to_thread(_save_all, store, photos, owner_prefix(principal.person_id))


def _field(index: int, message: str) -> list[dict[str, object]]:
    return [{"field": f"photos.{index}", "location": "body", "message": message}]


async def check_own_photos(
    *, person_id: int, keys: Sequence[str], store: PhotoStore, kept: Collection[str] = ()
) -> None:
    """The photo keys a person attaches (to a need they submit, to a task they check out of, to a
    shared item they list or edit): each uploaded by them, stored, and given once; 422
    ``photo_key_invalid`` otherwise. ``kept``: the keys already attached to what is edited, which
    may stay whoever uploaded them (a secretary edits a local unit's item another one listed)."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key not in kept and key_owner(key) != person_id:
            raise PhotoKeyInvalid(
                f"第 {index + 1} 张照片无效：请使用本人上传照片得到的 key",
                details=_field(index, "不是本人上传的照片"),
            )
        if key in seen:
            raise PhotoKeyInvalid(
                f"第 {index + 1} 张照片重复", details=_field(index, "与前面的照片重复")
            )
        seen.add(key)
    if not keys:
        return  # most needs come without photos: no trip to a thread for nothing
    stored = await asyncio.to_thread(lambda: [store.open_path(key).is_file() for key in keys])
    for index, present in enumerate(stored):
        if not present:
            raise PhotoKeyInvalid(
                f"第 {index + 1} 张照片不存在，请重新上传", details=_field(index, "照片不存在")
            )


async def photo_file(
    *, key: str, expires: int, sig: str, links: PhotoLinks, store: PhotoStore
) -> tuple[Path, str]:
    """The file and content type of a photo link: 403 for a link not made here or expired, 404
    for a photo no longer stored."""
    links.check(key, expires, sig)
    if KEY_RE.fullmatch(key) is None:
        raise errors.NotFound("照片不存在")
    path = await asyncio.to_thread(_stored_file, store, key)
    if path is None:
        raise errors.NotFound("照片不存在")
    return path, CONTENT_TYPES[path.suffix]


def _stored_file(store: PhotoStore, key: str) -> Path | None:
    path = store.open_path(key)  # resolves symlinks: file system calls, so in the thread
    return path if path.is_file() else None
