"""Hand-written SQL for the hot paths (bearer auth, submitting a need), on both backends.

The ORM builds every query anew (about 0.3 ms of CPU per query here, against 0.05 ms for the
statement itself on SQLite), which is most of a request's cost on the paths every request or
every resident's submission takes. Those few queries are written out here once, with
PostgreSQL's ``$1`` placeholders; for SQLite they become ``?1`` (numbered parameters, same
order). Rows come back as dicts; ``instance`` turns a full row into a model instance the way the
ORM's own reads do, and ``insert`` writes an instance with the ORM's cached INSERT statement and
value conversions. Everything else keeps using the ORM.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

PLACEHOLDER = re.compile(r"\$(\d+)")
M = TypeVar("M", bound=Model)


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


async def fetch_one(
    sql: str, *args: Any, using_db: BaseDBAsyncClient | None = None
) -> dict | None:
    """The first row of one statement, or None."""
    rows = await fetch(sql, *args, using_db=using_db)
    return rows[0] if rows else None


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


async def insert(
    obj: Model, *, using_db: BaseDBAsyncClient | None = None, ignore_conflicts: bool = False
) -> bool:
    """Write a new instance (built by its constructor, so defaults are set) with the ORM's value
    conversions (auto-now fields get their moment here, as in ``save()``) and its generated
    primary key set; False when ``ignore_conflicts`` skipped it."""
    names, sql = _insert_sql(type(obj), ignore_conflicts)
    fields_map = obj._meta.fields_map
    values = [fields_map[name].to_db_value(getattr(obj, name), obj) for name in names]
    row = await fetch_one(sql, *values, using_db=using_db)
    if row is None:
        return False
    obj.pk = next(iter(row.values()))
    obj._saved_in_db = True
    return True
