"""Who sees what of a need: the rule itself (pure), then the detail, the lists and the export by
role over HTTP: 404 (not 403) for a need someone may not see."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient

from server.accounts.models import Person, Role
from server.accounts.permissions import Grant, Place, Principal
from server.needs.models import Need, NeedStatus
from server.needs.visibility import Access, access_to, can_see_contact, view_of
from tests.needs.conftest import (
    ADDRESS,
    BUILDING,
    PHONE,
    REPORTER_NAME,
    Roles,
    accept,
    assign,
    finish,
    submit,
)

PLACE = Place(street_id=1, community_id=10, grid_path="/1/2/3/", household_id=100)


def need(status: NeedStatus = NeedStatus.SUBMITTED, assignee: int | None = None) -> Need:
    return Need(
        reporter_id=1,
        entered_by_id=2,
        assignee_id=assignee,
        status=status,
        title="水管漏水",
        description=f"漏水了，电话 {PHONE}",
        address=ADDRESS,
        lat=44.551234,
        lng=129.631234,
        photos=["needs/p1/2026/11/a.png"],
        allow_call=False,
        rating_comment="",
    )


@pytest.mark.parametrize(
    ("person", "grants", "status", "assignee", "access"),
    [
        pytest.param(1, (), NeedStatus.SUBMITTED, None, Access.FULL, id="reporter"),
        pytest.param(2, (), NeedStatus.SUBMITTED, None, Access.FULL, id="entered-by"),
        pytest.param(
            3,
            (Grant(Role.GRID_MEMBER, 1, 10, "/1/2/"),),
            NeedStatus.SUBMITTED,
            None,
            Access.FULL,
            id="grid-member-above",
        ),
        pytest.param(
            3,
            (Grant(Role.GRID_MEMBER, 1, 10, "/1/4/"),),
            NeedStatus.SUBMITTED,
            None,
            None,
            id="grid-member-elsewhere",
        ),
        pytest.param(
            3, (Grant(Role.SECRETARY, 1, 10),), NeedStatus.DONE, None, Access.FULL, id="secretary"
        ),
        pytest.param(
            3, (Grant(Role.SECRETARY, 1, 11),), NeedStatus.DONE, None, None, id="other-secretary"
        ),
        pytest.param(
            3, (Grant(Role.STREET_ADMIN, 1),), NeedStatus.DONE, None, Access.FULL, id="street"
        ),
        pytest.param(
            3, (Grant(Role.STREET_ADMIN, 2),), NeedStatus.DONE, None, None, id="other-street"
        ),
        pytest.param(
            3,
            (Grant(Role.RESIDENT, 1, 10, "/1/2/3/", household_id=101),),
            NeedStatus.ACCEPTED,
            None,
            None,
            id="neighbour",
        ),
        pytest.param(
            7,
            (Grant(Role.VOLUNTEER, 1, 10),),
            NeedStatus.MATCHING,
            None,
            None,
            id="volunteer-unassigned",
        ),
        pytest.param(7, (), NeedStatus.ASSIGNED, 7, Access.CONTACT, id="assignee-assigned"),
        pytest.param(7, (), NeedStatus.IN_PROGRESS, 7, Access.CONTACT, id="assignee-in-progress"),
        pytest.param(7, (), NeedStatus.DONE, 7, Access.MASKED, id="assignee-after"),
        pytest.param(7, (), NeedStatus.CONFIRMED, 7, Access.MASKED, id="assignee-confirmed"),
        pytest.param(8, (), NeedStatus.ASSIGNED, 7, None, id="another-volunteer"),
    ],
)
async def test_the_rule(
    client: TestClient,  # models need the ORM set up, even unsaved
    person: int,
    grants: tuple[Grant, ...],
    status: NeedStatus,
    assignee: int | None,
    access: Access | None,
) -> None:
    assert access_to(Principal(person, grants), need(status, assignee), PLACE) is access


async def test_can_see_contact_only_while_the_task_is_open(client: TestClient) -> None:
    assert can_see_contact(7, need(NeedStatus.ASSIGNED, 7))
    assert not can_see_contact(7, need(NeedStatus.DONE, 7))
    assert not can_see_contact(8, need(NeedStatus.ASSIGNED, 7))


async def test_what_each_level_shows(client: TestClient) -> None:
    reporter = Person(id=1, name=REPORTER_NAME, phone=PHONE)
    full = view_of(need(), reporter, Access.FULL)
    assert (full.address, full.reporter_name, full.reporter_phone) == (
        ADDRESS,
        REPORTER_NAME,
        PHONE,
    )
    contact = view_of(need(NeedStatus.ASSIGNED, 7), reporter, Access.CONTACT)
    assert (contact.address, contact.lat, contact.photos) == (ADDRESS, 44.551234, need().photos)
    assert contact.reporter_phone is None  # the resident did not allow calls
    masked = view_of(need(NeedStatus.DONE, 7), reporter, Access.MASKED)
    assert (masked.address, masked.reporter_name, masked.reporter_phone) == (
        BUILDING,
        "王**",
        None,
    )
    assert (masked.lat, masked.lng, masked.photos) == (44.551, 129.631, [])
    assert PHONE not in masked.description and "138****5678" in masked.description


# --- over HTTP ----------------------------------------------------------------------------------


async def detail(client: TestClient, roles: Roles, who: str, need_id: int) -> dict | int:
    response = await client.get(f"/api/v1/needs/{need_id}", headers=roles.h(who))
    if response.status != 200:
        assert (await response.json())["error"]["code"] == "not_found"
        return response.status
    return await response.json()


async def test_detail_by_role(client: TestClient, roles: Roles) -> None:
    need_id = await submit(client, roles)
    far_id = await submit(client, roles, "far-resident")
    for who in ("resident", "member", "secretary", "admin"):
        body = await detail(client, roles, who, need_id)
        assert isinstance(body, dict), who
        assert (body["access"], body["need"]["address"]) == ("full", ADDRESS)
        assert (body["reporter_name"], body["reporter_phone"]) == (REPORTER_NAME, PHONE)
        assert [e["action"] for e in body["timeline"]] == ["submit"]
    for who in (
        "neighbour",
        "far-resident",
        "other-member",
        "volunteer",
        "other-secretary",
        "other-resident",
        "other-admin",
    ):
        assert await detail(client, roles, who, need_id) == 404, who
    # the other compound's grid member sees that compound's need, not the first
    assert isinstance(await detail(client, roles, "other-member", far_id), dict)
    assert await detail(client, roles, "member", far_id) == 404
    assert await detail(client, roles, "secretary", 999999) == 404


async def test_a_volunteer_sees_the_door_only_while_assigned(
    client: TestClient, roles: Roles
) -> None:
    need_id = await submit(client, roles)
    await accept(client, roles, need_id)
    assert await detail(client, roles, "volunteer", need_id) == 404  # before assignment

    response = await client.post(
        f"/api/v1/needs/{need_id}/assign",
        json={"volunteer_id": roles.ids["volunteer"]},
        headers=roles.h("secretary"),
    )
    assert response.status == 201, await response.text()
    task_id = (await response.json())["task"]["id"]
    during = await detail(client, roles, "volunteer", need_id)
    assert isinstance(during, dict)
    assert (during["access"], during["need"]["address"], during["reporter_phone"]) == (
        "contact",
        ADDRESS,
        PHONE,  # the resident allowed calls
    )
    assert during["timeline"] == []
    assert await detail(client, roles, "volunteer2", need_id) == 404

    await finish(client, roles, task_id, "volunteer")
    after = await detail(client, roles, "volunteer", need_id)
    assert isinstance(after, dict)
    assert after["access"] == "masked"
    assert (after["need"]["address"], after["reporter_name"], after["reporter_phone"]) == (
        BUILDING,
        "王**",
        None,
    )
    assert PHONE not in after["need"]["description"] and after["need"]["household_id"] is None
    assert after["need"]["lat"] == round(44.5500, 3) and after["need"]["photo_urls"] == []


async def test_no_phone_for_the_volunteer_when_calls_are_not_allowed(
    client: TestClient, roles: Roles
) -> None:
    need_id = await submit(client, roles, allow_call=False)
    await assign(client, roles, need_id, "volunteer")
    during = await detail(client, roles, "volunteer", need_id)
    assert isinstance(during, dict)
    assert (during["need"]["address"], during["reporter_phone"]) == (ADDRESS, None)
    staff = await detail(client, roles, "secretary", need_id)
    assert isinstance(staff, dict) and staff["reporter_phone"] == PHONE


async def queue(client: TestClient, roles: Roles, who: str, community_id: int) -> list[int] | int:
    response = await client.get(
        "/api/v1/needs",
        params={"scope": "queue", "community_id": community_id},
        headers=roles.h(who),
    )
    if response.status != 200:
        return response.status
    return [item["id"] for item in (await response.json())["items"]]


async def test_lists_by_role(client: TestClient, roles: Roles) -> None:
    need_id = await submit(client, roles)
    far_id = await submit(client, roles, "far-resident")
    community = roles.town.community.id
    assert await queue(client, roles, "secretary", community) == [far_id, need_id]
    assert await queue(client, roles, "admin", community) == [far_id, need_id]
    assert await queue(client, roles, "member", community) == [need_id]
    assert await queue(client, roles, "other-member", community) == [far_id]
    for who in ("resident", "volunteer", "other-secretary", "other-admin"):
        assert await queue(client, roles, who, community) == 403, who
    mine = await client.get("/api/v1/needs", headers=roles.h("resident"))
    assert [item["id"] for item in (await mine.json())["items"]] == [need_id]
    neighbours = await client.get("/api/v1/needs", headers=roles.h("neighbour"))
    assert (await neighbours.json())["items"] == []


async def test_the_queue_reads_time_bounds_in_any_time_zone(
    client: TestClient, roles: Roles
) -> None:
    need_id = await submit(client, roles)
    await submit(client, roles)
    # 00:30 on 1 October in Beijing (still 30 September in UTC) is in October
    await Need.filter(id=need_id).update(created_at=dt.datetime(2026, 9, 30, 16, 30, tzinfo=dt.UTC))
    response = await client.get(
        "/api/v1/needs",
        params={
            "scope": "queue",
            "community_id": roles.town.community.id,
            "created_from": "2026-10-01T00:00:00+08:00",
            "created_to": "2026-11-01T00:00:00+08:00",
        },
        headers=roles.h("secretary"),
    )
    assert [item["id"] for item in (await response.json())["items"]] == [need_id]


async def test_export_by_role(client: TestClient, roles: Roles) -> None:
    await submit(client, roles)
    community = roles.town.community.id
    url = f"/api/v1/communities/{community}/needs.xlsx"
    for who, status in (
        ("secretary", 200),
        ("admin", 200),
        ("member", 403),
        ("resident", 403),
        ("volunteer", 403),
        ("other-secretary", 403),
        ("other-admin", 403),
    ):
        response = await client.get(url, headers=roles.h(who))
        assert response.status == status, who
    missing = await client.get("/api/v1/communities/999999/needs.xlsx", headers=roles.h("admin"))
    assert missing.status == 404
    assert (await client.get(url)).status == 401
