"""The SLA scan: one warning at 80%, each escalation recorded once, even with two scanners."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.accounts.service import grant_role, load_principal
from server.needs import service
from server.needs.models import Need, NeedEvent
from server.notify.models import OutboxMessage
from tests.builders import add_person, auth, build_town, login

URGENT_TRIAGE = dt.timedelta(hours=4)  # DEFAULT_POLICY: urgent needs are triaged within 4 h


async def _urgent_need(client: TestClient, mock_wechat: TestServer) -> Need:
    town = await build_town()
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    token = await login(client, mock_wechat, "test-resident")
    response = await client.post(
        "/api/v1/needs",
        json={
            "category": "daily_life",
            "title": "水管漏水",
            "description": "厨房水管漏水",
            "urgency": "urgent",
        },
        headers=auth(token),
    )
    assert response.status == 201
    return await Need.get(id=(await response.json())["need"]["id"])


async def test_warning_then_escalations_each_once(
    client: TestClient, mock_wechat: TestServer
) -> None:
    need = await _urgent_need(client, mock_wechat)
    started = need.status_changed_at
    assert need.sla_due_at == started + URGENT_TRIAGE

    early = await service.scan_sla(now=started + URGENT_TRIAGE * 0.5)
    assert early == service.ScanResult(warnings=0, escalations=0)

    for _ in range(2):  # the second scan at the same moment adds nothing
        await service.scan_sla(now=started + URGENT_TRIAGE * 0.85)
    assert await OutboxMessage.filter(kind="need_sla_warning").count() == 1

    late = await service.scan_sla(now=started + URGENT_TRIAGE * 1.0)
    assert late.escalations == 1
    assert (await Need.get(id=need.id)).escalation_level == 1
    await service.scan_sla(now=started + URGENT_TRIAGE * 1.2)
    await service.scan_sla(now=started + URGENT_TRIAGE * 2.5)
    need = await Need.get(id=need.id)
    assert need.escalation_level == 3
    events = await NeedEvent.filter(need_id=need.id, action="escalate").order_by("id")
    assert [e.note.rsplit("上报", 1)[-1] for e in events] == ["网格员）", "街道）"]
    overdue = await OutboxMessage.filter(kind="need_overdue").order_by("id")
    assert [m.payload["level"] for m in overdue] == [1, 3]
    assert all(m.community_id == need.community_id for m in overdue)


async def test_two_scanners_at_once_record_one_escalation(
    client: TestClient, mock_wechat: TestServer
) -> None:
    need = await _urgent_need(client, mock_wechat)
    moment = need.status_changed_at + URGENT_TRIAGE * 1.6
    results = await asyncio.gather(service.scan_sla(now=moment), service.scan_sla(now=moment))
    assert sum(r.escalations for r in results) == 1
    assert await NeedEvent.filter(need_id=need.id, action="escalate").count() == 1
    assert await OutboxMessage.filter(kind="need_overdue").count() == 1


async def test_a_new_stage_restarts_the_clock(client: TestClient, mock_wechat: TestServer) -> None:
    need = await _urgent_need(client, mock_wechat)
    await service.scan_sla(now=need.status_changed_at + URGENT_TRIAGE * 1.1)
    assert (await Need.get(id=need.id)).escalation_level == 1
    person = await Person.create(name="书记")
    await grant_role(person_id=person.id, role=Role.SECRETARY, community=await need.community)
    secretary = await load_principal(person_id=person.id)
    accepted = await service.accept_need(principal=secretary, need_id=need.id, due_at=None, note="")
    assert accepted.escalation_level == 0
    assert accepted.sla_due_at == accepted.status_changed_at + dt.timedelta(hours=12)
