"""Hand-written SQL (server.core.rawsql): scripts commit or roll back as units, concurrent ones
each alone; reads outside a transaction see committed rows only and never wait for a writer."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.core import rawsql
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


async def test_concurrent_scripts_fail_alone(client: TestClient) -> None:
    await Street.create(name="已有", code="taken")
    batches: list[int] = []
    original = rawsql._run_batch_in_sqlite_thread

    def counting(connection: object, scripts: list) -> list:
        batches.append(len(scripts))
        return original(connection, scripts)  # type: ignore[arg-type]

    rawsql._run_batch_in_sqlite_thread = counting  # type: ignore[assignment]
    try:
        outcomes = await asyncio.gather(
            *(rawsql.run_script(two_streets(f"ok-{n}a", f"ok-{n}b")) for n in range(5)),
            rawsql.run_script(two_streets("doomed", "taken")),  # second insert breaks `unique`
            *(rawsql.run_script(two_streets(f"ok-{n}a", f"ok-{n}b")) for n in range(5, 10)),
            return_exceptions=True,
        )
    finally:
        rawsql._run_batch_in_sqlite_thread = original  # type: ignore[assignment]

    assert isinstance(outcomes[5], IntegrityError)
    assert all(isinstance(o, list) for n, o in enumerate(outcomes) if n != 5)
    # the failed script's first street was rolled back with it; every other script committed
    assert await codes() == {"taken"} | {f"ok-{n}{x}" for n in range(10) for x in "ab"}
    if not ON_POSTGRES:
        # SQLite's one connection: the scripts that queued together went in one trip
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
