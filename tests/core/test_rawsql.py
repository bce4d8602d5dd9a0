"""Hand-written SQL (server.core.rawsql): scripts commit or roll back as units, concurrent ones
each alone; reads outside a transaction see committed rows only and never wait for a writer."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from server.core import errors, rawsql
from server.org.models import Street
from tests.conftest import ON_POSTGRES

STREET_BY_CODE = 'SELECT "id", "name" FROM "street" WHERE "code" = $1'


def two_streets(first: str, second: str) -> rawsql.Script[list[int]]:
    """Insert two streets; the second's id depends on nothing, but the script reads the first's
    returned id as a real one would."""
    one = Street(name="一", code=first)
    rawsql.inserted(one, (yield rawsql.insert_statement(one)))
    two = Street(name="二", code=second)
    rawsql.inserted(two, (yield rawsql.insert_statement(two)))
    return [one.id, two.id]


async def codes() -> set[str]:
    return set(await Street.all().values_list("code", flat=True))


async def test_a_script_commits_its_statements_and_returns_what_it_built(
    client: TestClient,
) -> None:
    ids = await rawsql.run_script(two_streets("s-a", "s-b"))
    assert sorted(await Street.filter(code__in=["s-a", "s-b"]).values_list("id", flat=True)) == ids
    assert (await rawsql.read_one(STREET_BY_CODE, "s-b")) == {"id": ids[1], "name": "二"}


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the SQLite writer runs (nothing on PostgreSQL)."""
    sizes: list[int] = []
    real = rawsql._run_batch

    def counting(connection: sqlite3.Connection, scripts: list) -> list:
        sizes.append(len(scripts))
        return real(connection, scripts)

    monkeypatch.setattr(rawsql, "_run_batch", counting)
    return sizes


async def test_concurrent_scripts_fail_alone(client: TestClient, batches: list[int]) -> None:
    await Street.create(name="已有", code="taken")
    outcomes = await asyncio.gather(
        *(rawsql.run_script(two_streets(f"ok-{n}a", f"ok-{n}b")) for n in range(5)),
        rawsql.run_script(two_streets("doomed", "taken")),  # second insert breaks `unique`
        *(rawsql.run_script(two_streets(f"ok-{n}a", f"ok-{n}b")) for n in range(5, 10)),
        return_exceptions=True,
    )

    assert isinstance(outcomes[5], IntegrityError)
    assert all(isinstance(o, list) for n, o in enumerate(outcomes) if n != 5)
    # the failed script's first street was rolled back with it; every other script committed
    assert await codes() == {"taken"} | {f"ok-{n}{x}" for n in range(10) for x in "ab"}
    if not ON_POSTGRES:
        # SQLite's one writer: the scripts that queued together went in one transaction
        assert sum(batches) == 11 and len(batches) < 11


async def test_a_script_in_an_orm_transaction_is_part_of_it(client: TestClient) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await Street.create(name="先", code="orm-first")
            await rawsql.run_script(two_streets("in-a", "in-b"))
            assert {"orm-first", "in-a", "in-b"} <= await codes()
            raise RuntimeError("roll back")
    assert await codes() == set()


async def test_reads_see_committed_rows_without_waiting_for_a_writer(client: TestClient) -> None:
    written, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with in_transaction():
            await Street.create(name="未提交", code="pending")
            assert await rawsql.read_one(STREET_BY_CODE, "pending") is not None  # its own row
            written.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await written.wait()
    # outside the transaction, while it is open: no uncommitted row, and no wait for it (on
    # SQLite the writer holds the one read-write connection until it commits)
    assert await asyncio.wait_for(rawsql.read_one(STREET_BY_CODE, "pending"), timeout=5) is None
    release.set()
    await task
    assert await rawsql.read_one(STREET_BY_CODE, "pending") is not None


class _RefusedAtFirst:
    """A reader that SQLite refuses (BUSY, as while the WAL is recovered) ``refusals`` times."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.tries = 0
        self.real = sqlite3.connect(":memory:")
        self.real.row_factory = sqlite3.Row

    def execute(self, sql: str, args: Any) -> sqlite3.Cursor:
        self.tries += 1
        if self.tries <= self.refusals:
            refused = sqlite3.OperationalError("database is locked")
            refused.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise refused
        return self.real.execute(sql, args)


async def test_a_refused_sqlite_read_is_tried_again_without_blocking_the_loop() -> None:
    reader = _RefusedAtFirst(refusals=3)
    ticks = 0

    async def ticker() -> None:  # runs between the tries: the loop is never held
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    rows = await rawsql._read_here(reader, "SELECT ?1 AS one", (1,))  # type: ignore[arg-type]
    task.cancel()
    assert rows == [{"one": 1}]
    assert reader.tries == 4
    assert ticks >= 3


async def test_a_sqlite_read_refused_too_long_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rawsql, "WAIT_SECONDS", 0.02)
    reader = _RefusedAtFirst(refusals=10_000)
    with pytest.raises(errors.ServiceUnavailable):
        await rawsql._read_here(reader, "SELECT 1", ())  # type: ignore[arg-type]
    assert 2 <= reader.tries < 10_000


async def test_a_broken_sqlite_read_fails_at_once() -> None:
    reader = _RefusedAtFirst(refusals=0)
    with pytest.raises(OperationalError):
        await rawsql._read_here(reader, "SELECT nothing FROM nowhere", ())  # type: ignore[arg-type]
    assert reader.tries == 1


async def test_a_script_waits_for_an_orm_write_transaction_without_blocking(
    client: TestClient,
) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def orm_writer() -> None:
        async with in_transaction():
            await Street.create(name="先写", code="orm-holds")
            holding.set()
            await release.wait()

    holder = asyncio.create_task(orm_writer())
    await holding.wait()
    script = asyncio.create_task(rawsql.run_script(two_streets("after-a", "after-b")))
    await asyncio.sleep(0.05)  # the loop runs meanwhile: this test's own task gets here
    if not ON_POSTGRES:  # SQLite has one writer at a time: the script waits for the ORM's lock
        assert not script.done()
    release.set()
    await holder
    assert len(await asyncio.wait_for(script, timeout=5)) == 2
    assert await codes() == {"orm-holds", "after-a", "after-b"}


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's WAL checkpoints")
async def test_the_writer_checkpoints_in_a_worker_thread(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rawsql, "CHECKPOINT_EVERY_COMMITS", 2)
    threads: list[str] = []
    real = rawsql._checkpoint

    def recording(db: object) -> None:
        threads.append(threading.current_thread().name)
        real(db)  # type: ignore[arg-type]

    monkeypatch.setattr(rawsql, "_checkpoint", recording)
    for n in range(4):  # one at a time: four commits
        await rawsql.run_script(two_streets(f"c{n}a", f"c{n}b"))
    writer = rawsql._sqlite(rawsql.client())
    assert writer.checkpoint is not None
    await writer.checkpoint
    assert threads and threading.main_thread().name not in threads
    assert len(await codes()) == 8


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's group commit")
async def test_a_batch_holds_at_most_the_limit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, batches: list[int]
) -> None:
    monkeypatch.setattr(rawsql, "BATCH_LIMIT", 3)
    await asyncio.gather(*(rawsql.run_script(two_streets(f"b{n}a", f"b{n}b")) for n in range(10)))
    assert sum(batches) == 10 and max(batches) == 3
    assert len(await codes()) == 20


async def test_an_orm_transaction_that_read_can_still_write_after_a_script(
    client: TestClient,
) -> None:
    """SQLite refuses a write to a transaction whose snapshot a later commit made stale; the
    scripts take turns with the ORM's transactions, so that never happens in this process."""
    street = await Street.create(name="旧名", code="renamed")
    has_read, release = asyncio.Event(), asyncio.Event()

    async def orm_read_then_write() -> None:
        async with in_transaction():
            await Street.get(id=street.id)  # its snapshot starts here
            has_read.set()
            await release.wait()
            await Street.filter(id=street.id).update(name="新名")

    holder = asyncio.create_task(orm_read_then_write())
    await has_read.wait()
    script = asyncio.create_task(rawsql.run_script(two_streets("mid-a", "mid-b")))
    await asyncio.sleep(0.05)
    release.set()
    await holder
    await asyncio.wait_for(script, timeout=5)
    assert (await Street.get(id=street.id)).name == "新名"
    assert {"mid-a", "mid-b"} <= await codes()
