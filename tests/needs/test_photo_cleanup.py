"""照片清理: the bot's ``photo_cleanup`` job deletes uploads a day old that nothing refers to, and
``run-job photo_cleanup --dry-run`` lists them without deleting."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.guard import dry_run
from bot.jobs import JobContext, all_jobs, clean_up_photos
from server.core.appkeys import REDIS
from server.core.config import Settings
from server.needs import photo_cleanup
from server.needs.media import PhotoStore
from tests.builders import png_bytes, upload_photo
from tests.needs.conftest import NEAR, Roles, assign, post, submit

NOW = dt.datetime(2026, 11, 30, 20, 10, tzinfo=dt.UTC)  # 04:10 in Shanghai, the job's time


def _age(root: Path, key: str, age: dt.timedelta, *, now: dt.datetime = NOW) -> None:
    """Make the file of a key look last written ``age`` before ``now``."""
    stamp = (now - age).timestamp()
    os.utime(root / key, (stamp, stamp))


async def _stored(client: TestClient, roles: Roles) -> tuple[int, dict[str, str]]:
    """Keys referred to by a need, a task and a shared item, and two the resident never used;
    and the need's id."""
    keys = {"need": await upload_photo(client, roles.tokens["resident"], png_bytes(1, 1))}
    need_id = await submit(client, roles, photos=[keys["need"]])
    task_id = await assign(client, roles, need_id, "volunteer")
    await post(client, roles, "volunteer", f"/api/v1/tasks/{task_id}/check-in", NEAR)
    keys["task"] = await upload_photo(client, roles.tokens["volunteer"], png_bytes(2, 1))
    await post(
        client,
        roles,
        "volunteer",
        f"/api/v1/tasks/{task_id}/check-out",
        {**NEAR, "photos": [keys["task"]]},
    )
    keys["shared"] = await upload_photo(client, roles.tokens["volunteer"], png_bytes(3, 1))
    await post(
        client,
        roles,
        "volunteer",
        f"/api/v1/communities/{roles.town.community.id}/shared-resources",
        {"kind": "item", "title": "折叠梯", "photos": [keys["shared"]]},
    )
    keys["old"] = await upload_photo(client, roles.tokens["resident"], png_bytes(4, 1))
    keys["fresh"] = await upload_photo(client, roles.tokens["resident"], png_bytes(5, 1))
    return need_id, keys


def _present(root: Path, keys: dict[str, str]) -> set[str]:
    return {name for name, key in keys.items() if (root / key).is_file()}


async def test_old_orphans_go_referenced_and_fresh_photos_stay(
    client: TestClient, settings: Settings, roles: Roles
) -> None:
    root = settings.photo_root
    need_id, keys = await _stored(client, roles)
    for name in ("need", "task", "shared"):
        _age(root, keys[name], dt.timedelta(days=30))  # old, but in use
    _age(root, keys["old"], dt.timedelta(hours=25))
    _age(root, keys["fresh"], dt.timedelta(hours=23))
    crashed = Path(keys["old"]).parent / ".upload-abc123.tmp"  # a write that never finished
    (root / crashed).write_bytes(b"\xff\xd8\xff half a photo")
    _age(root, crashed.as_posix(), dt.timedelta(days=2))
    (root / "exports").mkdir()
    (root / "exports" / "2026-10.csv").write_text("not a photo")  # not ours to judge
    _age(root, "exports/2026-10.csv", dt.timedelta(days=60))
    ctx = JobContext(redis=client.app[REDIS], worker_id="job-test", settings=settings, now=NOW)

    (job,) = [job for job in all_jobs(settings.timezone) if job.name == "photo_cleanup"]
    lines = await dry_run(job, ctx)
    assert len(lines) == 2
    assert lines[1].startswith(f"删除 {keys['old']}（") and "最后写入 2026-11-30 03:10" in lines[1]
    assert lines[0].startswith(f"删除 {crashed.as_posix()}（")
    assert _present(root, keys) == set(keys) and (root / crashed).is_file()  # nothing deleted

    summary = await clean_up_photos(ctx)
    assert summary.startswith("删除 2 张无人引用的照片")
    assert "保留 3 张已引用的、1 张 24 小时内上传的" in summary
    assert _present(root, keys) == {"need", "task", "shared", "fresh"}
    assert not (root / crashed).exists() and (root / "exports" / "2026-10.csv").is_file()
    # the links of the photos in use still open
    need = await client.get(f"/api/v1/needs/{need_id}", headers=roles.h("resident"))
    (url,) = (await need.json())["need"]["photo_urls"]
    assert (await client.get(url.removeprefix(settings.public_url))).status == 200

    # a day later the fresh one is old, and goes too
    later = dataclasses.replace(ctx, now=NOW + dt.timedelta(hours=2))
    assert (await clean_up_photos(later)).startswith("删除 1 张")
    assert _present(root, keys) == {"need", "task", "shared"}


async def test_an_old_photo_uploaded_again_is_fresh(
    client: TestClient, settings: Settings, roles: Roles
) -> None:
    root = settings.photo_root
    data = png_bytes(6, 1)
    key = await upload_photo(client, roles.tokens["resident"], data)
    _age(root, key, dt.timedelta(days=3), now=dt.datetime.now(dt.UTC))
    assert await upload_photo(client, roles.tokens["resident"], data) == key  # same content
    scan = await photo_cleanup.find_orphans(
        store=PhotoStore(root), now=dt.datetime.now(dt.UTC), timezone=settings.timezone
    )
    assert (scan.orphans, scan.fresh) == ([], 1)


async def test_orphans_are_deleted_in_batches(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PhotoStore(settings.photo_root)
    keys = [store.save(png_bytes(i, 1), prefix="needs/p7").key for i in range(1, 8)]
    for key in keys:
        _age(store.root, key, dt.timedelta(days=2))
    batches: list[int] = []
    real = photo_cleanup._delete_batch

    def counting(store: PhotoStore, batch: list, cutoff: float) -> list[str]:
        batches.append(len(batch))
        return real(store, batch, cutoff)

    monkeypatch.setattr(photo_cleanup, "DELETE_BATCH", 3)
    monkeypatch.setattr(photo_cleanup, "_delete_batch", counting)
    scan = await photo_cleanup.find_orphans(store=store, now=NOW, timezone=settings.timezone)
    deleted = await photo_cleanup.delete_orphans(store=store, orphans=scan.orphans, now=NOW)
    assert sorted(deleted) == sorted(keys) and batches == [3, 3, 1]
    assert not any((store.root / key).exists() for key in keys)


async def test_run_job_dry_run_lists_and_deletes_nothing(
    client: TestClient, settings: Settings, roles: Roles
) -> None:
    root = settings.photo_root
    key = await upload_photo(client, roles.tokens["resident"], png_bytes(8, 1))
    _age(root, key, dt.timedelta(hours=30), now=dt.datetime.now(dt.UTC))
    env = {name: value for name, value in os.environ.items() if not name.startswith("DANGQUN_")}
    env.update(
        DANGQUN_MODE="dev",
        DANGQUN_DATABASE_URL=settings.database_url,
        DANGQUN_MEDIA_ROOT=str(root),
    )

    async def run_job(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dangqun",
            "bot",
            "run-job",
            "photo_cleanup",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await run_job("--dry-run")
    assert code == 0, err
    assert "== 全局：将删除 1 张无人引用的照片 ==" in out and f"删除 {key}（" in out
    assert "未写入任何数据" in err and (root / key).is_file()

    started = time.time()
    code, out, err = await run_job()
    assert code == 0, err
    assert "photo_cleanup" in out and "已运行 删除 1 张无人引用的照片" in out
    assert not (root / key).exists() and time.time() - started < 60
