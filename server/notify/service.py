"""Enqueueing notifications: domain code calls ``enqueue`` inside its own transaction."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from server.core import errors
from server.notify.models import OutboxMessage, OutboxStatus, Urgency

KIND_MAX = 48  # column width of OutboxMessage.kind
DEDUPE_KEY_MAX = 128  # column width of OutboxMessage.dedupe_key


async def enqueue(
    *,
    kind: str,
    payload: dict[str, Any],
    recipient_id: int | None = None,
    community_id: int | None = None,
    urgency: Urgency = Urgency.NORMAL,
    dedupe_key: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> None:
    """Write one outbox row in the caller's transaction (a repeated dedupe key is kept once)."""
    if recipient_id is None and community_id is None:
        raise errors.ValidationFailed("通知必须有接收人或所属社区")
    if not kind or len(kind) > KIND_MAX:
        raise errors.ValidationFailed(f"通知类型长度应为 1-{KIND_MAX} 个字符")
    if dedupe_key is not None and len(dedupe_key) > DEDUPE_KEY_MAX:
        raise errors.ValidationFailed(f"去重键最多 {DEDUPE_KEY_MAX} 个字符")
    message = OutboxMessage(
        kind=kind,
        payload=payload,
        recipient_id=recipient_id,
        community_id=community_id,
        urgency=urgency,
        dedupe_key=dedupe_key,
    )
    # ON CONFLICT DO NOTHING: a duplicate must not abort the caller's PostgreSQL transaction.
    await OutboxMessage.bulk_create([message], ignore_conflicts=True, using_db=using_db)


async def outbox_depth() -> dict[str, int]:
    """Messages per delivery status (every status present, zero when none)."""
    rows = (
        await OutboxMessage.all().annotate(n=Count("id")).group_by("status").values("status", "n")
    )
    counts = {status.value: 0 for status in OutboxStatus}
    for row in rows:
        counts[str(row["status"])] = int(row["n"])
    return counts
