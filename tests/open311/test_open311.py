"""Open311 GeoReport v2 over HTTP, as an existing Open311 client sees it (JSON and XML)."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.accounts.service import load_principal
from server.core.clock import utcnow
from server.needs import service as needs_service
from server.needs.models import Need, NeedStatus
from server.needs.visibility import WITHHELD_TEXT
from server.open311 import service
from server.open311.models import Open311Submission
from server.open311.schemas import OPEN311_STATUS
from tests.builders import Town, add_person, auth, build_town, login, upload_photo

BASE = "/open311/v2"
LAT, LNG = 44.5500, 129.6300
PHONE = "13812345678"
ADDRESS = "测试社区1号小区1号楼1单元101"


@dataclass
class World:
    town: Town
    key: str
    secretary: Person


@pytest_asyncio.fixture
async def world(client: TestClient) -> World:
    town = await build_town()
    for index, household in enumerate(town.households):
        household.lat, household.lng = LAT + index * 0.0001, LNG
        household.address = ADDRESS if index == 0 else ""
        await household.save()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    key = await service.create_key(street_code=town.street.code, name="12345 热线")
    return World(town, key, secretary)


def form(world: World, **fields: Any) -> dict[str, str]:
    values = {
        "api_key": world.key,
        "service_code": "daily_life",
        "lat": str(LAT),
        "long": str(LNG),
        "description": f"三楼楼道灯坏了\n晚上看不清，请联系 {PHONE}",
        "first_name": "娜",
        "last_name": "李",
        "phone": PHONE,
        "email": "li.na@example.com",
    }
    values.update(fields)
    return {name: str(value) for name, value in values.items() if value is not None}


async def post(client: TestClient, data: dict[str, str], fmt: str = "json") -> Any:
    response = await client.post(f"{BASE}/requests.{fmt}", data=data)
    body = await response.read()
    return response, body


async def create(client: TestClient, world: World, **fields: Any) -> int:
    response, body = await post(client, form(world, **fields))
    assert response.status == 201, body.decode()
    return int((await response.json())[0]["service_request_id"])


async def get_json(client: TestClient, path: str, expect: int = 200, **params: str) -> Any:
    response = await client.get(f"{BASE}/{path}", params=params)
    assert response.status == expect, await response.text()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return await response.json()


async def get_xml(client: TestClient, path: str, expect: int = 200, **params: str) -> ET.Element:
    response = await client.get(f"{BASE}/{path}", params=params)
    assert response.status == expect, await response.text()
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    body = await response.read()
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(body)


def assert_error(body: Any, code: int) -> str:
    """A GeoReport JSON error: a list of exactly {code, description}."""
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == code
    assert body[0]["description"]
    return str(body[0]["description"])


# --- services ---------------------------------------------------------------------------


async def test_services_list_in_json(client: TestClient, world: World) -> None:
    services = await get_json(client, "services.json")
    assert len(services) == 8
    daily = next(s for s in services if s["service_code"] == "daily_life")
    assert daily["service_name"] == "日常生活"
    assert daily["metadata"] is False
    assert daily["type"] == "realtime"
    assert daily["group"] == "社区服务"
    assert "维修" in daily["keywords"].split(",")
    assert daily["description"]


async def test_services_list_in_xml(client: TestClient, world: World) -> None:
    root = await get_xml(client, "services.xml")
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == 8
    safety = next(s for s in services if s.findtext("service_code") == "safety")
    assert safety.findtext("service_name") == "安全管理"
    assert safety.findtext("metadata") == "false"
    assert safety.findtext("type") == "realtime"
    assert safety.findtext("group") == "平安建设"


async def test_service_definition_and_unknown_service(client: TestClient, world: World) -> None:
    definition = await get_json(client, "services/sanitation.json")
    assert definition == {"service_code": "sanitation", "attributes": []}
    root = await get_xml(client, "services/sanitation.xml")
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "sanitation"
    attributes = root.find("attributes")
    assert attributes is not None and list(attributes) == []

    body = await get_json(client, "services/potholes.json", expect=404)
    assert "potholes" in assert_error(body, 404)
    error = await get_xml(client, "services/potholes.xml", expect=404)
    assert error.tag == "errors"
    assert error.findtext("error/code") == "404"
    assert error.findtext("error/description")


async def test_unknown_jurisdiction_is_404_and_a_known_one_scopes_the_list(
    client: TestClient, world: World
) -> None:
    body = await get_json(client, "services.json", expect=404, jurisdiction_id="nowhere")
    assert "nowhere" in assert_error(body, 404)
    await get_json(client, "requests.json", expect=404, jurisdiction_id="nowhere")

    other = await build_town("其他", "TEST02")
    other_key = await service.create_key(street_code=other.street.code)
    mine = await create(client, world)
    theirs = await create(
        client, World(other, other_key, world.secretary), address_id=other.households[0].id
    )
    assert [r["service_request_id"] for r in await get_json(client, "requests.json")] == [
        str(theirs),
        str(mine),
    ]
    scoped = await get_json(client, "requests.json", jurisdiction_id=world.town.street.code)
    assert [r["service_request_id"] for r in scoped] == [str(mine)]
    await get_json(
        client, f"requests/{theirs}.json", expect=404, jurisdiction_id=world.town.street.code
    )
    # a key only submits into its own street
    response, _ = await post(client, form(world, jurisdiction_id=other.street.code))
    assert response.status == 403
    assert_error(await response.json(), 403)


# --- submitting -------------------------------------------------------------------------


async def test_post_creates_a_need_readable_in_both_formats_without_personal_data(
    client: TestClient, world: World
) -> None:
    response, body = await post(client, form(world, address_id=world.town.households[0].id))
    assert response.status == 201, body.decode()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    created = await response.json()
    assert len(created) == 1
    assert set(created[0]) == {"service_request_id", "service_notice", "account_id"}
    assert created[0]["account_id"] is None
    assert "测试社区" in created[0]["service_notice"]
    need_id = created[0]["service_request_id"]

    need = await Need.get(id=int(need_id))
    assert need.category.value == "daily_life"
    assert need.title == "三楼楼道灯坏了"
    assert need.urgency.value == "normal"
    assert need.status is NeedStatus.SUBMITTED
    assert need.household_id == world.town.households[0].id
    assert need.grid_id == world.town.buildings[0].id
    reporter = await Person.get(id=need.reporter_id)
    assert (reporter.name, reporter.phone, reporter.openid) == ("李娜", PHONE, None)
    submission = await Open311Submission.get(need_id=need.id).select_related("key")
    assert submission.key.name == "12345 热线"
    assert submission.email == "li.na@example.com"

    [shown] = await get_json(client, f"requests/{need_id}.json")
    assert shown["service_request_id"] == need_id
    assert shown["status"] == "open"
    assert shown["status_notes"] == "已提交"
    assert (shown["service_code"], shown["service_name"]) == ("daily_life", "日常生活")
    assert shown["agency_responsible"] == "测试社区"
    assert shown["address"] == "测试社区1号小区1号楼"  # the building, not the door
    assert shown["address_id"] is None
    assert shown["zipcode"] is None
    assert shown["media_url"] is None
    # nobody has read it yet (and no content check ran): the words wait for staff to accept it
    assert shown["description"] == WITHHELD_TEXT
    assert (shown["lat"], shown["long"]) == (LAT, LNG)
    assert shown["requested_datetime"].endswith("+08:00")
    assert dt.datetime.fromisoformat(shown["requested_datetime"]) <= utcnow()
    assert shown["expected_datetime"] is None or shown["expected_datetime"].endswith("+08:00")

    response = await client.get(f"{BASE}/requests/{need_id}.xml")
    text = await response.text()
    root = ET.fromstring(await response.read())
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert request.findtext("service_request_id") == need_id
    assert request.findtext("status") == "open"
    assert request.findtext("address") == "测试社区1号小区1号楼"
    address_id = request.find("address_id")
    assert address_id is not None and not address_id.text
    for private in (PHONE, "李娜", "1单元101", "li.na@example.com"):
        assert private not in text
        assert private not in str(shown)

    secretary = await load_principal(person_id=world.secretary.id)
    await needs_service.accept_need(principal=secretary, need_id=int(need_id), due_at=None, note="")
    [accepted] = await get_json(client, f"requests/{need_id}.json")
    assert accepted["status_notes"] == "已受理"
    assert "138****5678" in accepted["description"]  # accepted: shown, numbers masked
    assert PHONE not in accepted["description"]


async def test_post_with_lat_long_lands_in_the_nearest_building(
    client: TestClient, world: World
) -> None:
    near_second = world.town.households[2]  # second compound's building
    assert near_second.lat is not None
    need_id = await create(
        client, world, lat=str(near_second.lat + 0.00001), first_name="", last_name="", phone=""
    )
    need = await Need.get(id=need_id)
    assert need.grid_id == near_second.grid_id
    assert need.household_id is None  # a point near a flat is not that flat's need
    assert need.lat == pytest.approx(near_second.lat + 0.00001)
    reporter = await Person.get(id=need.reporter_id)
    assert (reporter.name, reporter.phone) == ("Open311 用户", None)


async def test_post_answers_in_xml(client: TestClient, world: World) -> None:
    response, body = await post(client, form(world), fmt="xml")
    assert response.status == 201
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(body)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert request.findtext("service_request_id", "").isdigit()
    assert request.findtext("service_notice")
    account_id = request.find("account_id")
    assert account_id is not None and not account_id.text


async def test_api_key_missing_invalid_revoked_or_demo_outside_dev(
    client: TestClient, world: World
) -> None:
    response, _ = await post(client, form(world, api_key="not-a-key"))
    assert response.status == 403
    assert_error(await response.json(), 403)

    response, _ = await post(client, form(world, api_key=None))
    assert response.status == 400
    assert "api_key" in assert_error(await response.json(), 400)

    await service.revoke_key(key_or_id=world.key)
    response, _ = await post(client, form(world))
    assert response.status == 403

    demo = await build_town("demo", "DEMO01")  # street code demo-street
    assert await service.ensure_demo_key()
    assert not await service.ensure_demo_key()
    response, _ = await post(
        client, form(world, api_key=service.DEMO_KEY, lat=str(LAT), address_id=None)
    )
    assert demo.street.code == service.DEMO_STREET_CODE
    assert response.status == 403  # the test app runs in test mode, not dev
    assert "开发模式" in assert_error(await response.json(), 403)
    assert await Need.all().count() == 0


@pytest.mark.parametrize(
    ("fields", "status", "mentions"),
    [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "potholes"}, 404, "potholes"),
        ({"description": "  "}, 400, "description"),
        ({"description": "长" * 1001}, 400, "1000"),
        ({"lat": None, "long": None}, 400, "lat"),
        ({"long": None}, 400, "long"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": None, "long": None, "address_string": "幸福路12号"}, 400, "lat"),
        ({"lat": "44.6500"}, 400, "1000"),  # 11 km north: no household of the street near
        ({"address_id": "abc"}, 400, "address_id"),
        ({"phone": "call me maybe"}, 400, "phone"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"media_url": "ftp://example.com/1.jpg"}, 400, "media_url"),
        ({"media_url": "/photos/1.jpg"}, 400, "media_url"),
        ({"media_url": "https://"}, 400, "media_url"),
        ({"media_url": "https://user:secret@example.com/1.jpg"}, 400, "media_url"),
        ({"media_url": "https://example.com/a b.jpg"}, 400, "media_url"),
        ({"media_url": "https://[::1/1.jpg"}, 400, "media_url"),
        ({"media_url": "https://example.com/" + "a" * 481}, 400, "500"),
    ],
)
async def test_post_refuses_what_it_cannot_use(
    client: TestClient,
    world: World,
    fields: dict[str, str | None],
    status: int,
    mentions: str,
) -> None:
    response, body = await post(client, form(world, **fields))
    assert response.status == status, body.decode()
    assert mentions in assert_error(await response.json(), status)
    assert await Need.all().count() == 0


async def test_address_id_must_be_a_household_of_the_keys_street(
    client: TestClient, world: World
) -> None:
    other = await build_town("其他", "TEST02")
    response, _ = await post(client, form(world, address_id=other.households[0].id))
    assert response.status == 400
    assert "address_id" in assert_error(await response.json(), 400)
    response, _ = await post(client, form(world, address_id="999999"))
    assert response.status == 400
    assert await Need.all().count() == 0


async def test_post_must_be_a_form(client: TestClient, world: World) -> None:
    response = await client.post(f"{BASE}/requests.json", json=form(world))
    assert response.status == 400
    assert "x-www-form-urlencoded" in assert_error(await response.json(), 400)


async def test_oversized_post_is_413_in_open311_shape(client: TestClient, world: World) -> None:
    body = urlencode(form(world, description="长" * 200_000)).encode()  # 1.8 MB > 1 MiB
    response = await client.post(
        f"{BASE}/requests.xml",
        data=io.BytesIO(body),  # raw bytes this large would trip aiohttp's ResourceWarning
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert ET.fromstring(await response.read()).findtext("error/code") == "413"


async def test_post_accepts_multipart(client: TestClient, world: World) -> None:
    import aiohttp

    data = aiohttp.FormData()
    for name, value in form(world).items():
        data.add_field(name, value)
    data.add_field("media", b"\x89PNG", filename="a.png", content_type="image/png")
    response = await client.post(f"{BASE}/requests.json", data=data)
    assert response.status == 201, await response.text()


# --- photos (media_url) -------------------------------------------------------------------


async def test_a_need_with_photos_is_read_without_them_as_in_the_public_list(
    client: TestClient, world: World, mock_wechat: TestServer
) -> None:
    """需求公示 shows no photos (they may show the inside of a home), so neither does Open311."""
    resident = await add_person(
        world.town, "resident", Role.RESIDENT, household=world.town.households[0]
    )
    token = await login(client, mock_wechat, resident.openid or "")
    key = await upload_photo(client, token)
    response = await client.post(
        "/api/v1/needs",
        json={
            "category": "daily_life",
            "title": "厨房水管漏水",
            "description": "漏水",
            "photos": [key],
        },
        headers=auth(token),
    )
    assert response.status == 201, await response.text()
    need_id = str((await response.json())["need"]["id"])
    secretary = await load_principal(person_id=world.secretary.id)
    await needs_service.accept_need(principal=secretary, need_id=int(need_id), due_at=None, note="")
    assert (await Need.get(id=int(need_id))).photos == [key]

    for path in ("requests.json", f"requests/{need_id}.json"):
        [shown] = await get_json(client, path)
        assert shown["service_request_id"] == need_id
        assert "media_url" in shown and shown["media_url"] is None
    for path in ("requests.xml", f"requests/{need_id}.xml"):
        response = await client.get(f"{BASE}/{path}")
        text = await response.text()
        [request] = ET.fromstring(await response.read()).findall("request")
        media_url = request.find("media_url")
        assert media_url is not None and not media_url.text
        assert key not in text and "/media/photos/" not in text


async def test_a_posted_media_url_is_kept_for_staff_and_never_published(
    client: TestClient, world: World
) -> None:
    link = "https://12345.example.gov.cn/photos/2026/11/leak.jpg?size=large"
    response, body = await post(client, form(world, media_url=link), fmt="xml")
    assert response.status == 201, body.decode()
    need_id = ET.fromstring(body).findtext("request/service_request_id")
    assert need_id is not None and need_id.isdigit()
    submission = await Open311Submission.get(need_id=int(need_id))
    assert submission.media_url == link

    [shown] = await get_json(client, f"requests/{need_id}.json")
    assert shown["media_url"] is None
    response = await client.get(f"{BASE}/requests/{need_id}.xml")
    text = await response.text()
    assert "12345.example.gov.cn" not in text
    assert ET.fromstring(await response.read()).findtext("request/media_url") == ""


# --- status ----------------------------------------------------------------------------


def test_every_status_of_ours_has_an_open311_status() -> None:
    assert set(OPEN311_STATUS) == set(NeedStatus)
    assert set(OPEN311_STATUS.values()) == {"open", "closed"}


async def test_rejected_and_merged_needs_are_closed_with_their_reason(
    client: TestClient, world: World
) -> None:
    kept = await create(client, world)
    rejected = await create(client, world, service_code="policy")
    merged = await create(client, world)
    secretary = await load_principal(person_id=world.secretary.id)
    await needs_service.reject_need(
        principal=secretary, need_id=rejected, reason=f"不属于社区职责，请拨打 {PHONE}"
    )
    await needs_service.merge_need(principal=secretary, need_id=merged, into_id=kept, note="")

    [shown] = await get_json(client, f"requests/{rejected}.json")
    assert shown["status"] == "closed"
    assert shown["status_notes"] == "未受理：不属于社区职责，请拨打 138****5678"
    need = await Need.get(id=rejected)
    assert dt.datetime.fromisoformat(shown["updated_datetime"]) == need.status_changed_at.replace(
        microsecond=0
    )
    assert shown["description"] == WITHHELD_TEXT  # a rejected need's words stay private
    [shown] = await get_json(client, f"requests/{merged}.json")
    assert (shown["status"], shown["status_notes"]) == ("closed", f"已合并：已合并到 #{kept}")
    assert shown["description"] == WITHHELD_TEXT
    root = await get_xml(client, f"requests/{merged}.xml")
    assert root.findtext("request/status") == "closed"

    open_ids = [r["service_request_id"] for r in await get_json(client, "requests.json")]
    assert open_ids == [str(merged), str(rejected), str(kept)]
    opened = await get_json(client, "requests.json", status="open")
    assert [r["service_request_id"] for r in opened] == [str(kept)]
    closed = await get_json(client, "requests.json", status="closed")
    assert [r["service_request_id"] for r in closed] == [str(merged), str(rejected)]
    both = await get_json(client, "requests.json", status="open,closed")
    assert len(both) == 3
    body = await get_json(client, "requests.json", expect=400, status="resolved")
    assert "status" in assert_error(body, 400)


async def test_done_stays_open_until_the_resident_confirms(
    client: TestClient, world: World
) -> None:
    need_id = await create(client, world)
    await Need.filter(id=need_id).update(status=NeedStatus.DONE)
    [shown] = await get_json(client, f"requests/{need_id}.json")
    assert (shown["status"], shown["status_notes"]) == ("open", "已完成，等待居民评价")
    await Need.filter(id=need_id).update(status=NeedStatus.CONFIRMED)
    [shown] = await get_json(client, f"requests/{need_id}.json")
    assert shown["status"] == "closed"


# --- querying --------------------------------------------------------------------------


async def _backdate(need_id: int, days: int) -> None:
    await Need.filter(id=need_id).update(created_at=utcnow() - dt.timedelta(days=days))


def _ids(requests: list[dict[str, Any]]) -> list[str]:
    return [request["service_request_id"] for request in requests]


async def test_dates_default_to_the_last_90_days_and_span_at_most_90(
    client: TestClient, world: World
) -> None:
    recent = await create(client, world)
    old = await create(client, world, service_code="safety")
    await _backdate(old, 120)

    assert _ids(await get_json(client, "requests.json")) == [str(recent)]
    start = (utcnow() - dt.timedelta(days=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (utcnow() - dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert _ids(await get_json(client, "requests.json", start_date=start, end_date=end)) == [
        str(old)
    ]
    # only a start: the 90 days from it; only an end: the 90 days up to it
    assert _ids(await get_json(client, "requests.json", start_date=start)) == [str(old)]
    assert _ids(await get_json(client, "requests.json", end_date=end)) == [str(old)]
    day = (utcnow() - dt.timedelta(days=121)).date().isoformat()  # a date: local midnight
    assert _ids(await get_json(client, "requests.json", start_date=day)) == [str(old)]

    now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = await get_json(client, "requests.json", expect=400, start_date=start, end_date=now)
    assert "90" in assert_error(body, 400)
    body = await get_json(client, "requests.json", expect=400, start_date=end, end_date=start)
    assert "end_date" in assert_error(body, 400)
    body = await get_json(client, "requests.json", expect=400, start_date="last tuesday")
    assert "start_date" in assert_error(body, 400)
    error = await get_xml(client, "requests.xml", expect=400, start_date="last tuesday")
    assert error.findtext("error/code") == "400"


async def test_service_code_filter(client: TestClient, world: World) -> None:
    daily = await create(client, world)
    safety = await create(client, world, service_code="safety")
    assert _ids(await get_json(client, "requests.json", service_code="safety")) == [str(safety)]
    both = await get_json(client, "requests.json", service_code="safety,daily_life")
    assert _ids(both) == [str(safety), str(daily)]
    body = await get_json(client, "requests.json", expect=400, service_code="potholes")
    assert "potholes" in assert_error(body, 400)


async def test_service_request_ids_override_every_other_filter(
    client: TestClient, world: World
) -> None:
    first = await create(client, world)
    second = await create(client, world)
    third = await create(client, world)
    await _backdate(first, 200)
    found = await get_json(
        client, "requests.json", service_request_id=f"{first}, {third}", status="closed"
    )
    assert _ids(found) == [str(third), str(first)]
    root = await get_xml(client, "requests.xml", service_request_id=str(second))
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [str(second)]
    body = await get_json(client, "requests.json", expect=400, service_request_id="1,x")
    assert_error(body, 400)


async def test_unknown_request_and_token_are_404(client: TestClient, world: World) -> None:
    assert_error(await get_json(client, "requests/424242.json", expect=404), 404)
    assert_error(await get_json(client, "requests/abc.json", expect=404), 404)
    body = await get_json(client, "tokens/12345.json", expect=404)
    assert "12345" in assert_error(body, 404)
    root = await get_xml(client, "tokens/12345.xml", expect=404)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "404"


async def test_unknown_paths_and_methods_answer_in_open311_errors(
    client: TestClient, world: World
) -> None:
    response = await client.get(f"{BASE}/nothing.xml")
    assert response.status == 404
    assert ET.fromstring(await response.read()).findtext("error/code") == "404"
    response = await client.get(f"{BASE}/services.csv")
    assert response.status == 404
    assert_error(await response.json(), 404)
    response = await client.delete(f"{BASE}/requests.json")
    assert response.status == 405
    assert "POST" in response.headers["Allow"]
    assert_error(await response.json(), 405)


async def test_discovery_names_the_endpoint_and_formats(client: TestClient, world: World) -> None:
    response = await client.get("/open311/discovery.json")
    assert response.status == 200
    discovery = await response.json()
    [endpoint] = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"application/json", "text/xml"}
    response = await client.get("/open311/discovery.xml")
    root = ET.fromstring(await response.read())
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "application/json",
        "text/xml",
    ]


# --- the admin command -------------------------------------------------------------------


def test_key_command_creates_lists_and_revokes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGQUN_")}
    env.update(DANGQUN_DATA_DIR=str(tmp_path), DANGQUN_MODE="dev")

    def dangqun(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dangqun", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=check,
        )

    dangqun("seed-demo")
    created = dangqun("open311-key", "create", "--street", "demo-street", "--name", "热线")
    key = created.stdout.strip()
    assert len(key) >= 32 and "只显示这一次" in created.stderr
    listed = dangqun("open311-key", "list").stdout
    assert key[:8] in listed and key not in listed and "热线" in listed
    assert "demo-ope" in listed  # seed-demo made the demo key in dev mode
    dangqun("open311-key", "revoke", key)
    assert "已停用" in dangqun("open311-key", "list").stdout
    missing = dangqun("open311-key", "create", "--street", "nowhere", check=False)
    assert missing.returncode == 1 and "nowhere" in missing.stderr


def test_generated_keys_never_start_like_an_option() -> None:
    from server.open311.service import new_key

    keys = [new_key() for _ in range(500)]
    assert all(key[0].isalnum() for key in keys)
    assert len(set(keys)) == 500
