"""共享清单 over HTTP: who may list and see it, filters, search, paging, pause and unlist."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.sharing.conftest import HALL, World, book, error_of, share, shared


async def listing(
    client: TestClient, world: World, who: str = "neighbour", **query: str
) -> dict[str, object]:
    response = await client.get(
        f"/api/v1/communities/{world.community_id}/shared-resources",
        params=query,
        headers=world.h(who),
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


def titles(page: dict[str, object]) -> list[str]:
    return [item["title"] for item in page["items"]]  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("who", ["resident", "volunteer", "member", "secretary"])
async def test_people_of_the_community_list_what_they_share(
    client: TestClient, world: World, who: str
) -> None:
    response = await share(client, world, who)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["owner_id"] == world.ids[who]
    assert body["owner_name"] == who
    assert (body["kind"], body["kind_label"], body["status"]) == ("item", "物品", "active")
    assert (body["max_loan_days"], body["max_booking_hours"]) == (3, None)
    assert (body["photos"], body["photo_urls"]) == ([], [])
    assert titles(await listing(client, world)) == ["铝合金折叠梯"]


async def test_a_secretary_lists_a_local_units_space_on_its_behalf(
    client: TestClient, world: World
) -> None:
    response = await share(client, world, "resident", **HALL)
    assert response.status == 403
    assert (await error_of(response))["message"] == "只有社区书记可以代驻地单位发布共享"

    response = await share(client, world, "secretary", **HALL)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["unit_name"] == "市供电公司第三党支部"
    assert (body["kind_label"], body["max_booking_hours"], body["max_loan_days"]) == (
        "场地",
        3,
        None,
    )
    assert body["needs_approval"] is False


async def test_outsiders_do_not_see_the_list_and_street_admins_only_read_it(
    client: TestClient, world: World
) -> None:
    resource = await shared(client, world)
    for who in ("outsider", "stranger"):
        for url in (
            f"/api/v1/communities/{world.community_id}/shared-resources",
            f"/api/v1/shared-resources/{resource}",
        ):
            response = await client.get(url, headers=world.h(who))
            assert response.status == 404, (who, url)
            assert (await error_of(response))["code"] == "not_found"
        response = await book(client, world, resource, who)
        assert response.status == 404
        assert (await share(client, world, who)).status == 404

    assert titles(await listing(client, world, "admin")) == ["铝合金折叠梯"]
    response = await share(client, world, "admin")
    assert response.status == 403
    assert "只有本社区" in (await error_of(response))["message"]
    response = await book(client, world, resource, "admin")
    assert response.status == 403


async def test_the_list_filters_by_kind_searches_text_and_pages_newest_first(
    client: TestClient, world: World
) -> None:
    ladder = await shared(client, world)
    hall = await shared(client, world, "secretary", **HALL)
    drill = await shared(
        client, world, "volunteer", title="电钻", description="冲击钻，含钻头", location="1号楼"
    )
    haircut = await shared(
        client,
        world,
        "volunteer",
        kind="skill",
        title="理发",
        description="给行动不便的老人上门理发",
        max_loan_days=None,
        max_booking_hours=2,
    )
    assert titles(await listing(client, world)) == [
        "理发",
        "电钻",
        "党群服务中心活动室",
        "铝合金折叠梯",
    ]
    assert titles(await listing(client, world, kind="item")) == ["电钻", "铝合金折叠梯"]
    assert titles(await listing(client, world, kind="skill")) == ["理发"]
    assert titles(await listing(client, world, q="老人")) == ["理发"]  # description
    assert titles(await listing(client, world, q="二楼")) == ["党群服务中心活动室"]  # location
    assert titles(await listing(client, world, q="供电")) == ["党群服务中心活动室"]  # unit
    assert titles(await listing(client, world, q="梯", kind="space")) == []

    first = await listing(client, world, limit="3")
    assert titles(first) == ["理发", "电钻", "党群服务中心活动室"]
    second = await listing(client, world, limit="3", cursor=str(first["next_cursor"]))
    assert (titles(second), second["next_cursor"]) == (["铝合金折叠梯"], None)
    assert sorted([ladder, hall, drill, haircut]) == [ladder, hall, drill, haircut]

    response = await client.get(
        f"/api/v1/communities/{world.community_id}/shared-resources",
        params={"kind": "car"},
        headers=world.h("neighbour"),
    )
    assert response.status == 422
    assert (await error_of(response))["code"] == "validation_error"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "梯"}, "title", "至少 2 个字符"),
        ({"kind": "car"}, "kind", "取值无效"),
        ({"max_loan_days": 400}, "max_loan_days", "应不大于 90"),
        ({"max_booking_hours": 2}, "max_booking_hours", "物品按天借用"),
        ({"kind": "space", "max_loan_days": 2}, "max_loan_days", "场地和技能按小时预约"),
        ({"photos": [f"p{i}.jpg" for i in range(7)]}, "photos", "最多 6 项"),
    ],
)
async def test_bad_listings_are_refused_with_the_field_named(
    client: TestClient, world: World, changes: dict[str, object], field: str, message: str
) -> None:
    response = await share(client, world, **changes)
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "validation_error"
    assert message in error["message"]
    assert field in str(error["details"])


async def test_owners_pause_unlist_and_reopen(client: TestClient, world: World) -> None:
    resource = await shared(client, world)
    url = f"/api/v1/shared-resources/{resource}"

    response = await client.patch(url, json={"status": "paused"}, headers=world.h("neighbour"))
    assert response.status == 403
    response = await client.patch(url, json={"status": "paused"}, headers=world.h("resident"))
    assert response.status == 200, await response.text()
    assert (await response.json())["status_label"] == "暂停"
    # a paused resource stays on the list, but takes no booking
    assert titles(await listing(client, world)) == ["铝合金折叠梯"]
    response = await book(client, world, resource)
    assert response.status == 409
    error = await error_of(response)
    assert (error["code"], error["message"]) == ("resource_unavailable", "该共享暂停预约或已下架")

    response = await client.patch(url, json={"status": "unlisted"}, headers=world.h("resident"))
    assert response.status == 200
    assert titles(await listing(client, world)) == []
    assert (await client.get(url, headers=world.h("neighbour"))).status == 404
    assert titles(await listing(client, world, "resident", mine="true")) == ["铝合金折叠梯"]

    response = await client.patch(
        url, json={"status": "active", "max_loan_days": 5}, headers=world.h("resident")
    )
    assert response.status == 200
    assert (await response.json())["max_loan_days"] == 5
    assert (await book(client, world, resource)).status == 201
    response = await client.patch(url, json={"title": None}, headers=world.h("resident"))
    assert response.status == 422
