"""Orphan uploads (无人引用的照片): photos uploaded but never attached, deleted after a day.

A phone uploads photos first and submits the need (or the check-out) after; photos of a form that
was given up stay on disk with nothing pointing at them. The bot's ``photo_cleanup`` job deletes
stored photos whose file was last written more than ``ORPHAN_AGE`` ago and that no need, task or
shared item (共享家) refers to, plus upload temporary files a crash left behind.

The age comes from the file's mtime: uploading a stored photo again touches it
(``PhotoStore.save``), so a photo somebody is about to attach is always fresh. What remains is a
photo uploaded more than a day ago, never attached, and attached during the seconds of a run at
night; its links then answer 404, as for any photo no longer stored.

File system calls run in worker threads (``asyncio.to_thread``), deletions in batches, so the
event loop (and the bot's other jobs) never waits on the disk for long.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from tortoise.models import Model

from server.needs.media import PhotoStore
from server.needs.models import Need
from server.needs.photos import KEY_RE
from server.sharing.models import SharedResource
from server.tasks.models import Task

# The phone submits within minutes of uploading; a day leaves room for a form left open overnight.
ORPHAN_AGE = dt.timedelta(hours=24)
DELETE_BATCH = 200  # files removed per worker-thread call
REFERENCE_BATCH = 1000  # rows read per query when collecting the keys in use
PHOTO_FOLDER = "needs"  # every upload key starts here (photos.owner_prefix)
# PhotoStore._write_atomically names its temporary files so; one left behind is a crashed write
TEMP_PREFIX, TEMP_SUFFIX = ".upload-", ".tmp"
# Every model that keeps photo keys in a ``photos`` JSON list.
REFERRING_MODELS: tuple[type[Model], ...] = (Need, Task, SharedResource)


@dataclass(frozen=True)
class StoredFile:
    """One file under the photo folder: its key (path relative to the media root), size, mtime."""

    key: str
    size: int
    modified: dt.datetime

    def describe(self) -> str:
        """A Chinese line for ``run-job photo_cleanup --dry-run``."""
        return f"删除 {self.key}（{_size(self.size)}，最后写入 {self.modified:%Y-%m-%d %H:%M}）"


@dataclass(frozen=True)
class OrphanScan:
    """What a run found: the files to delete and how many it keeps, and why."""

    orphans: list[StoredFile]
    referenced: int
    fresh: int

    @property
    def orphan_bytes(self) -> int:
        return sum(orphan.size for orphan in self.orphans)


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


def _is_upload(key: str, name: str) -> bool:
    return KEY_RE.fullmatch(key) is not None or (
        name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
    )


def stored_files(root: Path, timezone: ZoneInfo) -> list[StoredFile]:
    """The photos and upload temporary files under the photo folder (blocking: run in a thread).

    Anything else under the media root is never listed, so never deleted."""
    folder = root / PHOTO_FOLDER
    found: list[StoredFile] = []
    for directory, _, names in os.walk(folder):  # a missing folder walks as empty
        relative = Path(directory).relative_to(root).as_posix()
        for name in names:
            key = f"{relative}/{name}"
            if not _is_upload(key, name):
                continue
            try:
                stat = os.stat(os.path.join(directory, name), follow_symlinks=False)
            except FileNotFoundError:  # removed since the folder was read
                continue
            modified = dt.datetime.fromtimestamp(stat.st_mtime, tz=timezone)
            found.append(StoredFile(key=key, size=stat.st_size, modified=modified))
    return found


async def referenced_keys() -> set[str]:
    """Every photo key a need, a task or a shared item refers to (read in batches by id)."""
    keys: set[str] = set()
    for model in REFERRING_MODELS:
        last_id = 0
        while True:
            rows = (
                await model.filter(id__gt=last_id)
                .order_by("id")
                .limit(REFERENCE_BATCH)
                .values_list("id", "photos")
            )
            for row_id, photos in rows:
                keys.update(photos or ())
                last_id = row_id
            if len(rows) < REFERENCE_BATCH:
                break
    return keys


async def find_orphans(
    *, store: PhotoStore, now: dt.datetime, timezone: str, older_than: dt.timedelta = ORPHAN_AGE
) -> OrphanScan:
    """The stored uploads nothing refers to and last written before ``now - older_than``.

    Files are listed before the references are read: a photo attached meanwhile is seen as
    referenced, never as an orphan."""
    files = await asyncio.to_thread(stored_files, store.root, ZoneInfo(timezone))
    in_use = await referenced_keys()
    cutoff = now - older_than
    orphans: list[StoredFile] = []
    referenced = fresh = 0
    for stored in sorted(files, key=lambda f: f.key):
        if stored.key in in_use:
            referenced += 1
        elif stored.modified >= cutoff:
            fresh += 1
        else:
            orphans.append(stored)
    return OrphanScan(orphans=orphans, referenced=referenced, fresh=fresh)


def _delete_batch(store: PhotoStore, batch: Sequence[StoredFile], cutoff: float) -> list[str]:
    """Remove the files of a batch still untouched since the cutoff (blocking); their keys."""
    deleted: list[str] = []
    for stored in batch:
        path = store.root / stored.key  # a key of stored_files: relative, inside the root
        try:
            if path.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue  # uploaded again since the scan: somebody is about to attach it
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(stored.key)
    return deleted


async def delete_orphans(
    *,
    store: PhotoStore,
    orphans: Sequence[StoredFile],
    now: dt.datetime,
    older_than: dt.timedelta = ORPHAN_AGE,
) -> list[str]:
    """Delete the orphans of a scan, ``DELETE_BATCH`` per worker-thread call; the keys removed."""
    cutoff = (now - older_than).timestamp()
    deleted: list[str] = []
    for start in range(0, len(orphans), DELETE_BATCH):
        batch = orphans[start : start + DELETE_BATCH]
        deleted.extend(await asyncio.to_thread(_delete_batch, store, batch, cutoff))
    return deleted
