"""Hand-written SQL for the hot paths (bearer auth, submitting a need), on both backends.

The ORM builds every query anew (about 0.3 ms of CPU per query here, against 0.05 ms for the
statement itself on SQLite), which is most of a request's cost on the paths every request or
every resident's submission takes. Those few statements are written out here once, with
PostgreSQL's ``$1`` placeholders (``?1`` on SQLite: numbered parameters, same order); everything
else keeps using the ORM.

* ``read``: committed rows of an indexed read, outside any transaction;
* ``fetch``: any statement on the ORM's connection or the caller's transaction;
* ``insert_statement`` / ``row_statement``: INSERTs with the ORM's own value conversions;
* ``run_script``: several statements in one transaction, as a generator that yields them and is
  sent their rows.

On SQLite, ``read`` and ``run_script`` use a connection of rawsql's own on the event loop's
thread, and the scripts that wait together are written in one transaction with one commit
(group commit, ``_SqliteConnection``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from server.core import errors
from server.core.db import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger("dangqun.rawsql")
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
    """The rows of a read outside any transaction: committed data; inside a transaction it reads
    there. For reads on an index (a handful of rows): on SQLite they run on the event loop's own
    thread, on rawsql's own connection (``_SqliteConnection``)."""
    db = client()
    if is_sqlite(db) and not isinstance(db, TransactionalDBClient) and _is_file(db):
        return await _sqlite(db).read(_sqlite_sql(sql), args)
    return await fetch(sql, *args)


async def read_one(sql: str, *args: Any) -> dict | None:
    """The first row of ``read``, or None."""
    rows = await read(sql, *args)
    return rows[0] if rows else None


# SQLite: rawsql keeps a connection of its own per ORM client (database file), for its reads and
# its scripts, used on the event loop's thread only (``_SqliteConnection``). A statement here
# takes a few microseconds in SQLite; a trip to a database thread and back costs about 90 of CPU,
# and under load far more in wall time: the thread must win the GIL back from a busy event loop
# after every statement. The connection never waits inside SQLite (that would block the loop):
# refused (BUSY: another process is writing, a ``dangqun`` command say, or the WAL is being
# recovered), a statement is tried again every RETRY_SECONDS, for up to WAIT_SECONDS, while the
# loop runs on; then the request gets a 503.
RETRY_SECONDS = 0.002
WAIT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000
_SQLITE_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_file(db: BaseDBAsyncClient) -> bool:
    filename = getattr(db, "filename", ":memory:")
    # a second connection to an in-memory database would open a different, empty one
    return not (filename == ":memory:" or "mode=memory" in filename)


def _open(db: BaseDBAsyncClient, *pragmas: str) -> sqlite3.Connection:
    filename = db.filename  # type: ignore[attr-defined]
    connection = sqlite3.connect(
        filename,
        timeout=0,  # never wait inside SQLite: _when_free waits instead
        isolation_level=None,  # autocommit; a batch says BEGIN itself
        check_same_thread=False,  # one thread at a time uses it; ``close`` may run elsewhere
        uri=filename.startswith("file:"),
    )
    connection.row_factory = sqlite3.Row
    for pragma in pragmas:
        connection.execute(f"PRAGMA {pragma}")
    return connection


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in _SQLITE_BUSY


async def _when_free(attempt: Callable[[], T]) -> T:
    """``attempt()``, tried again while SQLite answers BUSY (see above), then a 503."""
    deadline: float | None = None
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise OperationalError(exc) from exc
            now = asyncio.get_running_loop().time()
            deadline = deadline if deadline is not None else now + WAIT_SECONDS
            if now >= deadline:
                raise errors.ServiceUnavailable("数据库繁忙，请稍后再试") from exc
        await asyncio.sleep(RETRY_SECONDS)


async def _read_here(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict]:
    return await _when_free(lambda: [dict(row) for row in connection.execute(sql, args).fetchall()])


async def close() -> None:
    """Close rawsql's SQLite connections (when the ORM's close: server.core.db.close_orm)."""
    while _SQLITE:
        _, sqlite = _SQLITE.popitem()
        await sqlite.close()


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
# but build statements: on SQLite it runs whole inside a batch's transaction, on the loop's
# thread, where nothing may be awaited.


async def run_script(script: Script[T], *, using_db: BaseDBAsyncClient | None = None) -> T:
    """Run a script in one transaction: the caller's (``using_db``, or the ORM transaction this
    task is in), else its own. On SQLite, scripts in their own transactions are group-committed
    (``_SqliteConnection``)."""
    db = client(using_db)
    if isinstance(db, TransactionalDBClient):
        return await _run_awaiting(script, db)
    if is_sqlite(db) and _is_file(db):
        return await _sqlite(db).run(script)
    async with in_transaction() as transaction:
        return await _run_awaiting(script, transaction)


# Group commit: a commit writes every page the transaction touched to the WAL (a need touches a
# dozen index pages), so a batch waits this long for more scripts before it begins.
GROUP_COMMIT_SECONDS = 0.002
# A batch runs on the loop's thread (about 0.3 ms a need): at most this many scripts at once.
BATCH_LIMIT = 64
# SQLite checkpoints (copies the WAL into the database file and syncs both: milliseconds) at the
# commit that fills the WAL, on the committing thread. rawsql's connection does not: after
# this many commits a checkpoint runs in a worker thread instead, off the event loop (PASSIVE: it
# waits for neither readers nor the writer).
CHECKPOINT_EVERY_COMMITS = 100


class _SqliteConnection:
    """rawsql's own SQLite connection, on the loop's thread (see above). Reads run at once, and
    see committed rows: nothing awaits inside a transaction here, so between batches there is
    none open. Scripts are group-committed: every script waiting goes in one transaction, each
    in a savepoint of its own (one failing rolls back alone), with one commit for all, taken
    turn about with the ORM's own statements and transactions (its lock). SQLite's write lock
    is never held across an await: the ORM (and other processes) wait at most one batch. Its
    page cache stays warm: it wrote most of what it reads."""

    def __init__(self, db: BaseDBAsyncClient) -> None:
        self.db = db
        pragmas = getattr(db, "pragmas", {})
        self.connection = _open(
            db,
            # the ORM's, but for journal_size_limit: with it, the commit that starts the WAL
            # over after a checkpoint truncates the file, seen taking 100 ms here
            *(
                f"{name} = {pragmas[name]}"
                for name in ("foreign_keys", "synchronous")
                if name in pragmas
            ),
            "wal_autocheckpoint = 0",
        )
        self.commits = 0
        self.checkpoint: asyncio.Future[None] | None = None
        self.waiting: list[tuple[Script[Any], asyncio.Future[Any]]] = []
        self.draining = False
        self.task: asyncio.Task[None] | None = None  # referenced, so it is not collected mid-way

    async def read(self, sql: str, args: Sequence[Any]) -> list[dict]:
        return await _read_here(self.connection, sql, args)

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
                try:
                    await asyncio.sleep(GROUP_COMMIT_SECONDS)  # more scripts join meanwhile
                    # the ORM's lock: no ORM statement or transaction of this process runs
                    # meanwhile (an open transaction that had read would find our commit a
                    # conflict when it writes: SQLite's BUSY_SNAPSHOT, no waiting helps)
                    async with self.db.acquire_connection():
                        await _when_free(lambda: self.connection.execute("BEGIN IMMEDIATE"))
                        batch = self._take()  # nothing awaits from here to the commit
                        outcomes = _run_batch(self.connection, [s for s, _ in batch])
                except Exception as exc:  # SQLite stayed locked, or failed: the batch fails
                    batch = self._take()
                    outcomes = [(False, exc)] * len(batch)
                except BaseException:  # cancelled (the loop is closing): so are the waiting
                    for _, done in self.waiting:
                        done.cancel()
                    self.waiting = []
                    raise
                else:
                    self._checkpoint_now_and_then()
                for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue  # its request was cancelled meanwhile
                    if ok:
                        done.set_result(value)
                    else:
                        done.set_exception(_translated(value))
        finally:
            self.draining = False

    def _take(self) -> list[tuple[Script[Any], asyncio.Future[Any]]]:
        batch, self.waiting = self.waiting[:BATCH_LIMIT], self.waiting[BATCH_LIMIT:]
        return batch

    def _checkpoint_now_and_then(self) -> None:
        self.commits += 1
        if self.commits < CHECKPOINT_EVERY_COMMITS:
            return
        if self.checkpoint is not None and not self.checkpoint.done():
            return
        self.commits = 0
        self.checkpoint = asyncio.ensure_future(asyncio.to_thread(_checkpoint, self.db))

    async def close(self) -> None:
        if self.checkpoint is not None:
            await asyncio.gather(self.checkpoint, return_exceptions=True)
        self.connection.close()


def _checkpoint(db: BaseDBAsyncClient) -> None:
    """A PASSIVE checkpoint on a connection of its own (in a worker thread)."""
    try:
        connection = _open(db)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:  # the next one catches up; the ORM's connection also checkpoints
        log.warning("SQLite checkpoint failed", exc_info=True)


# by id of the ORM client, opened on first use; closed by ``close`` with the ORM
_SQLITE: dict[int, _SqliteConnection] = {}


def _sqlite(db: BaseDBAsyncClient) -> _SqliteConnection:
    sqlite = _SQLITE.get(id(db))
    if sqlite is None or sqlite.db is not db:
        sqlite = _SQLITE[id(db)] = _SqliteConnection(db)
    return sqlite


def _translated(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


def _run_batch(
    connection: sqlite3.Connection, scripts: list[Script[Any]]
) -> list[tuple[bool, Any]]:
    """The scripts in the transaction the caller began, a savepoint per script: a failing script
    rolls back to its savepoint alone, and the batch's pages go to the WAL once, at the COMMIT."""
    outcomes: list[tuple[bool, Any]] = []
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
    except BaseException as exc:  # COMMIT failed (e.g. the disk is full): none stands
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
