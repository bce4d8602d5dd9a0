"""The weekly digest from real rows: aggregate queries, the staff API, and who may read it."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Role
from server.digest.queries import digest_input
from tests.builders import add_person, auth, build_town, login
from tests.digest.builders import WEEK, fixed_week

AFTER_THE_WEEK = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)


async def test_aggregates_of_a_fixed_week(client: TestClient) -> None:
    town = await build_town()
    resident = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await fixed_week(town.buildings, resident)

    data = await digest_input(
        community_id=town.community.id, week=WEEK, timezone="Asia/Shanghai", now=AFTER_THE_WEEK
    )
    assert (data.new, data.finished, data.overdue) == (4, 3, 1)
    assert data.median_accept_seconds is not None
    assert abs(data.median_accept_seconds - 2 * 3600) < 1
    assert data.median_finish_seconds is not None
    assert abs(data.median_finish_seconds - 2 * 86400) < 1
    assert data.rating_counts == {5: 1, 3: 1, 4: 1}
    assert [(g.name, g.new, g.finished, g.overdue, g.ratings, g.satisfied) for g in data.grids] == [
        ("1号小区", 3, 2, 1, 2, 1),
        ("2号小区", 1, 1, 0, 1, 1),
    ]
    assert data.volunteer_hours == []  # nothing records hours yet
    assert data.projects == []


async def test_staff_read_the_digest_of_a_week_and_others_may_not(
    client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town()
    resident = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await fixed_week(town.buildings, resident)
    path = f"/api/v1/communities/{town.community.id}/digests"

    token = await login(client, mock_wechat, "test-secretary")
    response = await client.get(f"{path}/{WEEK}", headers=auth(token))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["week"], body["period"], body["new"], body["finished"]) == (
        WEEK,
        "3月2日—3月8日",
        4,
        3,
    )
    assert (body["median_accept"], body["median_finish"]) == ("2.0小时", "2.0天")
    assert body["satisfaction"] == 2 / 3
    assert "本周暂无志愿服务时长记录" in body["markdown"]
    assert "暂无为民实事项目" in body["markdown"]
    assert [grid["name"] for grid in body["grids"]] == ["1号小区", "2号小区"]

    latest = await client.get(f"{path}/latest", headers=auth(token))
    assert latest.status == 200
    assert (await latest.json())["week"] != WEEK  # the last complete week before today

    not_a_week = await client.get(f"{path}/2026-10", headers=auth(token))
    assert not_a_week.status == 404  # a path that names no week names no digest
    no_such_week = await client.get(f"{path}/2026-W54", headers=auth(token))
    assert no_such_week.status == 422
    assert (await no_such_week.json())["error"]["code"] == "validation_error"

    resident_token = await login(client, mock_wechat, "test-resident")
    denied = await client.get(f"{path}/{WEEK}", headers=auth(resident_token))
    assert denied.status == 403
    missing = await client.get("/api/v1/communities/999999/digests/latest", headers=auth(token))
    assert missing.status == 404


async def test_volunteer_hours_come_from_approved_passbook_claims(client: TestClient) -> None:
    from decimal import Decimal

    from server.accounts.service import load_principal
    from server.core.clock import utcnow
    from server.digest.queries import volunteer_hours_for_week
    from server.passbook.models import HoursClaim
    from server.passbook.service import approve_claims, credit_pending_hours

    town = await build_town()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    li = await add_person(town, "李志愿", Role.VOLUNTEER, community=town.community)
    wang = await add_person(town, "王志愿", Role.VOLUNTEER, community=town.community)
    zhao = await add_person(town, "赵志愿", Role.VOLUNTEER, community=town.community)
    cid = town.community.id
    for source_id, (person, hours) in enumerate(
        [(li, "1.5"), (wang, "3"), (li, "2"), (zhao, "4")], start=1
    ):
        await credit_pending_hours(
            volunteer_id=person.id,
            community_id=cid,
            hours=Decimal(hours),
            source_kind="task",
            source_id=source_id,
        )
    approve = await HoursClaim.filter(person_id__in=[li.id, wang.id]).values_list("id", flat=True)
    await approve_claims(
        principal=await load_principal(person_id=secretary.id),
        community_id=cid,
        claim_ids=list(approve),
        redis=None,
    )

    now = utcnow()
    rows = await volunteer_hours_for_week(
        cid, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    )
    # 赵's 4 hours are still pending: only approved hours count
    assert [(row.name, row.hours) for row in rows] == [("李志愿", 3.5), ("王志愿", 3.0)]
    earlier = await volunteer_hours_for_week(
        cid, now - dt.timedelta(days=8), now - dt.timedelta(days=1)
    )
    assert earlier == []
