"""Hand-written SQL for the hot paths (bearer auth, submitting a need), on both backends.

The ORM builds every query anew (about 0.3 ms of CPU per query here, against 0.05 ms for the
statement itself on SQLite), which is most of a request's cost on the paths every request or
every resident's submission takes. Those few statements are written out here once, with
PostgreSQL's ``$1`` placeholders (``?1`` on SQLite: numbered parameters, same order); everything
else keeps using the ORM.

* ``read``: committed rows, outside any transaction (on SQLite from a read-only second
  connection, so reads do not queue behind the one writer);
* ``fetch``: any statement on the ORM's connection or the caller's transaction;
* ``insert_statement`` / ``row_statement``: INSERTs with the ORM's own value conversions;
* ``run_script``: several statements in one transaction, as a generator that yields them and is
  sent their rows; on SQLite the scripts that wait together are written in one trip to the
  database thread with one commit (group commit, ``_SqliteWriter``).
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

import aiosqlite
from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

PLACEHOLDER = re.compile(r"\$(\d+)")
M = TypeVar("M", bound=Model)
T = TypeVar("T")
Statement = tuple[str, Sequence[Any]]
Script = Generator[Statement, list[dict], T]


@functools.lru_cache(maxsize=256)
def _sqlite_sql(sql: str) -> str:
    return PLACEHOLDER.sub(r"?\1", sql)


def client(using_db: BaseDBAsyncClient | None = None) -> BaseDBAsyncClient:
    """The connection to run on: the caller's transaction, else the default connection."""
    return using_db if using_db is not None else connections.get("default")


def is_sqlite(db: BaseDBAsyncClient) -> bool:
    return bool(db.capabilities.dialect == "sqlite")


async def fetch(sql: str, *args: Any, using_db: BaseDBAsyncClient | None = None) -> list[dict]:
    """The rows of one statement written with ``$1``… placeholders, as dicts."""
    db = client(using_db)
    if is_sqlite(db):
        sql = _sqlite_sql(sql)
    return await db.execute_query_dict(sql, list(args))


async def read(sql: str, *args: Any) -> list[dict]:
    """The rows of a read outside any transaction: committed data. On SQLite it goes to a
    second, read-only connection of this process (WAL lets it read while the one writer writes),
    so reads are not queued behind the writer's lock; inside a transaction it reads there."""
    db = client()
    if is_sqlite(db) and not isinstance(db, TransactionalDBClient):
        reader = await _reader(db)
        if reader is not None:
            try:
                rows = await reader.execute_fetchall(_sqlite_sql(sql), args)
            except sqlite3.OperationalError as exc:
                raise OperationalError(exc) from exc
            return [dict(row) for row in rows]
    return await fetch(sql, *args)


async def read_one(sql: str, *args: Any) -> dict | None:
    """The first row of ``read``, or None."""
    rows = await read(sql, *args)
    return rows[0] if rows else None


# The reader of each SQLite client (ORM connection), opened on first use; ``close_readers``
# closes them with the ORM (server.core.db.orm_context).
_READERS: dict[int, tuple[BaseDBAsyncClient, aiosqlite.Connection]] = {}
READER_BUSY_TIMEOUT_MS = 5000


async def _reader(db: BaseDBAsyncClient) -> aiosqlite.Connection | None:
    entry = _READERS.get(id(db))
    if entry is not None and entry[0] is db:
        return entry[1]
    filename = getattr(db, "filename", ":memory:")
    if filename == ":memory:" or "mode=memory" in filename:
        return None  # a second connection would open a different, empty database
    pending = aiosqlite.connect(filename, isolation_level=None)
    # a reader left open (the ORM closed some other way) must not keep the process alive
    pending._thread.daemon = True
    reader = await pending
    reader.row_factory = sqlite3.Row
    await reader.execute("PRAGMA query_only = 1")
    await reader.execute(f"PRAGMA busy_timeout = {READER_BUSY_TIMEOUT_MS}")
    entry = _READERS.get(id(db))
    if entry is not None and entry[0] is db:  # another task opened one meanwhile: keep that
        await reader.close()
        return entry[1]
    _READERS[id(db)] = (db, reader)
    return reader


async def close_readers() -> None:
    """Close every reader opened by ``read`` and forget the SQLite writers (when the ORM's
    connections close)."""
    _WRITERS.clear()
    while _READERS:
        _, (_, reader) = _READERS.popitem()
        await reader.close()


def instance(model: type[M], row: dict) -> M:
    """A model instance from a full row of its table (``SELECT *``), as the ORM would read it."""
    return model._init_from_db(**row)


def columns(model: type[Model], alias: str, prefix: str = "") -> str:
    """``alias."col" AS "<prefix>col", …`` for every column of the model: a full row in a join."""
    return ", ".join(
        f'{alias}."{column}" AS "{prefix}{column}"' for column in model._meta.db_fields
    )


def split(row: dict, prefix: str) -> tuple[dict, dict]:
    """(the columns without ``prefix``, the prefixed ones with it stripped) of a joined row."""
    plain, prefixed = {}, {}
    for key, value in row.items():
        if key.startswith(prefix):
            prefixed[key[len(prefix) :]] = value
        else:
            plain[key] = value
    return plain, prefixed


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[Model], ignore_conflicts: bool) -> tuple[tuple[str, ...], str]:
    meta = model._meta
    names = tuple(
        name
        for name in meta.fields_db_projection
        if not (name == meta.pk_attr and meta.fields_map[name].generated)
    )
    cols = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in names)
    marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = (
        f'INSERT INTO "{meta.db_table}" ({cols}) VALUES ({marks}){conflict}'
        f' RETURNING "{meta.db_pk_column}"'
    )
    return names, sql


def insert_statement(obj: Model, *, ignore_conflicts: bool = False) -> Statement:
    """The INSERT … RETURNING pk of a new instance (built by its constructor, so defaults are
    set), with the ORM's value conversions (auto-now fields get their moment here, as in
    ``save()``)."""
    names, sql = _insert_sql(type(obj), ignore_conflicts)
    fields_map = obj._meta.fields_map
    return sql, [fields_map[name].to_db_value(getattr(obj, name), obj) for name in names]


def row_statement(
    model: type[Model], values: dict[str, Any], *, ignore_conflicts: bool = False
) -> Statement:
    """The INSERT … RETURNING pk of a row given as field values, for a row no one needs as a
    model instance (an audit row, an outbox row): the model's defaults fill the rest, auto-now
    fields get this moment; building an instance costs more than the statement itself."""
    names, sql = _insert_sql(model, ignore_conflicts)
    fields_map = model._meta.fields_map
    now = None
    row = []
    for name in names:
        field = fields_map[name]
        if name in values:
            value = values[name]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now = now or timezone.now()
        elif field.default is not None:
            value = field.default() if callable(field.default) else field.default
        elif field.null:
            value = None
        else:
            raise TypeError(f"{model.__name__}.{name} needs a value")
        row.append(field.to_db_value(value, model))
    return sql, row


def inserted(obj: Model, rows: list[dict]) -> bool:
    """Record the primary key an insert returned on its instance; False when a conflict skipped
    it (``ignore_conflicts``)."""
    if not rows:
        return False
    obj.pk = next(iter(rows[0].values()))
    obj._saved_in_db = True
    return True


# --- scripts: several statements in one transaction -----------------------------------------
#
# A script is a generator: it yields (sql, values) and is sent each statement's rows back, so a
# later statement can use what an earlier one returned (the new need's id). It must do nothing
# but build statements: on SQLite it runs whole in the database thread.


async def run_script(script: Script[T], *, using_db: BaseDBAsyncClient | None = None) -> T:
    """Run a script in one transaction: the caller's (``using_db``, or the ORM transaction this
    task is in), else its own. On SQLite, scripts in their own transactions go to the writer
    (``_SqliteWriter``)."""
    db = client(using_db)
    if isinstance(db, TransactionalDBClient):
        return await _run_awaiting(script, db)
    if is_sqlite(db):
        return await _writer(db).run(script)
    async with in_transaction() as transaction:
        return await _run_awaiting(script, transaction)


class _SqliteWriter:
    """Group commit for SQLite's one connection. The ORM lets one task at a time use it and
    holds it until that task is run again; under load that is a turn of a busy event loop per
    use, the one connection idle meanwhile. Scripts queue here instead, and every script waiting
    goes to the database thread in one trip and one transaction, each script in a savepoint of
    its own (one failing rolls back alone): the connection held once, one commit for all."""

    def __init__(self, db: BaseDBAsyncClient) -> None:
        self.db = db
        self.waiting: list[tuple[Script[Any], asyncio.Future[Any]]] = []
        self.draining = False
        self.task: asyncio.Task[None] | None = None  # referenced, so it is not collected mid-way

    async def run(self, script: Script[T]) -> T:
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.waiting.append((script, done))
        if not self.draining:
            self.draining = True
            self.task = asyncio.get_running_loop().create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    async with self.db.acquire_connection() as connection:
                        outcomes = await connection._execute(
                            _run_batch_in_sqlite_thread, connection._conn, [s for s, _ in batch]
                        )
                except Exception as exc:  # the connection failed: every script fails
                    outcomes = [(False, exc)] * len(batch)
                except BaseException:  # cancelled (the loop is closing): so are the waiting
                    for _, done in batch + self.waiting:
                        done.cancel()
                    self.waiting = []
                    raise
                for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue  # its request was cancelled meanwhile
                    if ok:
                        done.set_result(value)
                    else:
                        done.set_exception(_translated(value))
        finally:
            self.draining = False


_WRITERS: dict[int, _SqliteWriter] = {}


def _writer(db: BaseDBAsyncClient) -> _SqliteWriter:
    writer = _WRITERS.get(id(db))
    if writer is None or writer.db is not db:
        writer = _WRITERS[id(db)] = _SqliteWriter(db)
    return writer


def _translated(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


def _run_batch_in_sqlite_thread(
    connection: sqlite3.Connection, scripts: list[Script[Any]]
) -> list[tuple[bool, Any]]:
    """One transaction for the batch, a savepoint per script: a failing script rolls back to its
    savepoint alone, and the batch's pages go to the WAL once, at the one COMMIT."""
    outcomes: list[tuple[bool, Any]] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for script in scripts:
            connection.execute("SAVEPOINT script")
            try:
                outcomes.append((True, _run_statements(connection, script)))
            except Exception as exc:
                connection.execute("ROLLBACK TO script")
                outcomes.append((False, exc))
            connection.execute("RELEASE script")
        connection.execute("COMMIT")
    except BaseException as exc:  # BEGIN or COMMIT failed (e.g. the disk is full): none stands
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if not isinstance(exc, Exception):
            raise
        return [(False, exc)] * len(scripts)
    return outcomes


async def _run_awaiting(script: Script[T], db: BaseDBAsyncClient) -> T:
    rows: list[dict] | None = None
    while True:
        try:
            sql, values = script.send(rows)  # type: ignore[arg-type]  # None starts it
        except StopIteration as done:
            return done.value
        rows = await fetch(sql, *values, using_db=db)


def _run_statements(connection: sqlite3.Connection, script: Script[T]) -> T:
    rows: list[dict] | None = None
    while True:
        try:
            sql, values = script.send(rows)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value
        cursor = connection.execute(_sqlite_sql(sql), values)
        rows = [dict(row) for row in cursor.fetchall()]
