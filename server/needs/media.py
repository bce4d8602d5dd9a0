"""Photo intake for needs (需求照片): sniff, limit, and store photos by their content.

The type of a photo is read from its first bytes only; a client's ``Content-Type`` and file name
are never trusted (a renamed file or a script named ``x.jpg`` is refused or stored as what it is).

``PhotoStore`` does blocking file I/O: callers run ``save``/``delete`` with ``asyncio.to_thread``.
It keeps no mutable state, and every write goes to its own temporary file that is renamed into
place, so concurrent saves (even of the same photo) are safe from any number of threads.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import aiohttp

from server.core import errors

ALLOWED = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
# A phone camera JPEG is 2-4 MB; the mini-app compresses before upload, so 5 MB leaves headroom
# for an uncompressed original while keeping 6 photos per need well under 32 MB of body.
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 6  # what the submit form shows; NeedSubmitIn.photos has the same limit
MAX_TEXT_FIELD_BYTES = 64 * 1024  # a need's description is at most 1000 characters
MAX_TEXT_FIELDS = 32  # the submit form has about 15; more is a client bug or abuse
PHOTO_FIELD = "photos"
READ_CHUNK_BYTES = 64 * 1024

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the month folder is the residents' month, not UTC's
_PREFIX_RE = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sniff_image_type(data: bytes) -> str | None:
    """The image type from the magic bytes (JPEG, PNG or WebP), or None for anything else."""
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class PhotoRejected(errors.DomainError):
    """A photo the needs list does not accept; ``code`` says why, ``message`` names the limit."""

    code: ClassVar[str] = "photo_rejected"
    default_message: ClassVar[str] = "照片无法上传"


class PhotoEmpty(PhotoRejected):
    status = 422
    code = "photo_empty"
    default_message = "照片是空的，请重新选择"


class PhotoTooLarge(PhotoRejected):
    status = 413
    code = "photo_too_large"
    default_message = f"照片不能超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB"


class PhotoTypeNotAllowed(PhotoRejected):
    status = 415
    code = "photo_type_not_allowed"
    default_message = "只支持 JPEG、PNG、WebP 格式的照片"


class TooManyPhotos(PhotoRejected):
    status = 422
    code = "too_many_photos"
    default_message = f"最多上传 {MAX_PHOTOS} 张照片"


def _megabytes(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{limit // 1024} KB"


def _too_large(max_bytes: int) -> PhotoTooLarge:
    return PhotoTooLarge(f"照片不能超过 {_megabytes(max_bytes)}", details={"max_bytes": max_bytes})


def check_photo(data: bytes, *, max_bytes: int = MAX_PHOTO_BYTES) -> str:
    """The sniffed content type of an acceptable photo; PhotoRejected otherwise."""
    if not data:
        raise PhotoEmpty()
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    content_type = sniff_image_type(data)
    if content_type is None:
        raise PhotoTypeNotAllowed(details={"allowed": sorted(ALLOWED)})
    return content_type


@dataclass(frozen=True)
class StoredPhoto:
    """A stored photo; ``key`` is the relative path a need keeps: ``needs/2026/11/<sha>.jpg``."""

    key: str
    content_type: str
    size: int
    sha256: str


class PhotoStore:
    """Photos under one root folder, named by their SHA-256 so a photo uploaded twice is one file.

    Because files are shared by content, ``delete`` a key only when no need refers to it any more.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(
        self,
        data: bytes,
        *,
        prefix: str = "needs",
        now: datetime | None = None,
        max_bytes: int = MAX_PHOTO_BYTES,
    ) -> StoredPhoto:
        """Check the photo and store it at ``<prefix>/<YYYY>/<MM>/<sha256><ext>`` (blocking)."""
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"invalid photo prefix {prefix!r}")
        content_type = check_photo(data, max_bytes=max_bytes)
        if now is None:
            now = datetime.now(SHANGHAI)
        elif now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(SHANGHAI)
        digest = hashlib.sha256(data).hexdigest()
        key = f"{prefix}/{local:%Y}/{local:%m}/{digest}{ALLOWED[content_type]}"
        path = self.open_path(key)
        try:
            # same name, same content: nothing to write, but the upload is fresh again, so the
            # orphan clean-up (photo_cleanup, by mtime) leaves it for the need it is meant for
            os.utime(path)
        except FileNotFoundError:
            self._write_atomically(path, data)
        return StoredPhoto(key=key, content_type=content_type, size=len(data), sha256=digest)

    def open_path(self, key: str) -> Path:
        """The file of a key; ValueError for keys that would leave the root (``..``, absolute)."""
        pure = PurePosixPath(key)
        if (
            not key
            or "\\" in key
            or "\x00" in key
            or pure.is_absolute()
            or any(part in ("", ".", "..") for part in key.split("/"))
        ):
            raise ValueError(f"invalid photo key {key!r}")
        root = self.root.resolve()
        path = (root / pure).resolve()
        if not path.is_relative_to(root):  # a symlink inside the root pointing out of it
            raise ValueError(f"invalid photo key {key!r}")
        return path

    def delete(self, key: str) -> None:
        """Remove a stored photo (blocking); a key already gone is not an error."""
        self.open_path(key).unlink(missing_ok=True)

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The temporary file sits in the target folder so os.replace is a same-filesystem rename:
        # readers see either no file or the whole photo, never half of one.
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o644)  # mkstemp makes 0600; a web server may serve these
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


async def _read_limited(part: aiohttp.BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as they exceed ``limit`` (the rest is left unread)."""
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK_BYTES):
        data.extend(chunk)
        if len(data) > limit:
            return None
    return bytes(data)


async def read_multipart_photos(
    reader: aiohttp.MultipartReader,
    *,
    max_photos: int = MAX_PHOTOS,
    max_bytes: int = MAX_PHOTO_BYTES,
) -> tuple[dict[str, str], list[bytes]]:
    """Text fields and checked photo bytes of a ``multipart/form-data`` body.

    Photos are the file parts named ``photos``; each is read in chunks and refused as soon as it
    passes ``max_bytes``, so at most ``max_bytes`` plus one chunk is held per photo. Every photo is
    checked like ``PhotoStore.save`` does, so a bad upload fails before anything is written.
    """
    fields: dict[str, str] = {}
    photos: list[bytes] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise errors.ValidationFailed("不支持嵌套的 multipart 内容")
        name = part.name
        if not name:
            raise errors.ValidationFailed("表单中有未命名的字段")
        if name == PHOTO_FIELD:
            if len(photos) >= max_photos:
                raise TooManyPhotos(f"最多上传 {max_photos} 张照片", details={"max": max_photos})
            data = await _read_limited(part, max_bytes)
            if data is None:
                raise _too_large(max_bytes)
            check_photo(data, max_bytes=max_bytes)
            photos.append(data)
            continue
        if part.filename is not None:
            raise errors.ValidationFailed(
                f"文件只能通过「{PHOTO_FIELD}」字段上传", details=_field(name)
            )
        if name in fields:
            raise errors.ValidationFailed(f"字段「{name}」重复", details=_field(name))
        if len(fields) >= MAX_TEXT_FIELDS:
            raise errors.ValidationFailed("表单字段过多", details={"max": MAX_TEXT_FIELDS})
        raw = await _read_limited(part, MAX_TEXT_FIELD_BYTES)
        if raw is None:
            raise errors.PayloadTooLarge(
                f"字段「{name}」内容过长（最多 {MAX_TEXT_FIELD_BYTES // 1024} KB）",
                details=_field(name),
            )
        try:
            fields[name] = raw.decode(part.get_charset(default="utf-8"))
        except (LookupError, UnicodeDecodeError):
            raise errors.ValidationFailed(
                f"字段「{name}」不是有效的文本", details=_field(name)
            ) from None
    return fields, photos


def _field(name: str) -> dict[str, Any]:
    return {"field": name, "location": "body"}
