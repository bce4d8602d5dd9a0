"""Domain code enqueues notifications inside its own transaction."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from tortoise.transactions import in_transaction

from server.core import errors
from server.notify.models import OutboxMessage, OutboxStatus, Urgency
from server.notify.service import enqueue, outbox_depth
from tests.builders import add_person, build_town


async def test_enqueue_writes_a_pending_row_in_the_callers_transaction(client: TestClient) -> None:
    town = await build_town()
    person = await add_person(town, "resident", None)
    async with in_transaction() as connection:
        await enqueue(
            kind="need_status",
            payload={"need_id": 1, "status": "accepted"},
            recipient_id=person.id,
            urgency=Urgency.URGENT,
            dedupe_key="need:1:accepted",
            using_db=connection,
        )
    message = await OutboxMessage.get(dedupe_key="need:1:accepted")
    assert (message.recipient_id, message.kind, message.status) == (
        person.id,
        "need_status",
        OutboxStatus.PENDING,
    )
    assert message.payload == {"need_id": 1, "status": "accepted"}
    assert (await outbox_depth())["pending"] == 1


async def test_a_rolled_back_change_sends_nothing(client: TestClient) -> None:
    town = await build_town()
    person = await add_person(town, "resident", None)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with in_transaction() as connection:
            await enqueue(
                kind="need_status", payload={}, recipient_id=person.id, using_db=connection
            )
            raise Boom
    assert await OutboxMessage.all().count() == 0


async def test_a_repeated_dedupe_key_is_kept_once_and_the_transaction_goes_on(
    client: TestClient,
) -> None:
    town = await build_town()
    person = await add_person(town, "resident", None)
    async with in_transaction() as connection:
        for _ in range(3):
            await enqueue(
                kind="task_reminder",
                payload={"task_id": 7},
                recipient_id=person.id,
                dedupe_key="task:7:t-2h",
                using_db=connection,
            )
        # the transaction is still usable after the ignored duplicates (PostgreSQL would abort
        # it on a plain unique violation)
        await enqueue(
            kind="weekly_digest",
            payload={},
            community_id=town.community.id,
            using_db=connection,
        )
    assert await OutboxMessage.filter(dedupe_key="task:7:t-2h").count() == 1
    assert await OutboxMessage.all().count() == 2


async def test_a_message_needs_somebody_to_go_to(client: TestClient) -> None:
    with pytest.raises(errors.ValidationFailed):
        await enqueue(kind="need_status", payload={})
