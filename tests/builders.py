"""Small builders for test data, going through the services the app itself uses."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from server.accounts.models import Person, Role
from server.accounts.service import grant_role
from server.org.models import Community, Grid, GridLevel, Household, Street
from server.org.service import create_grid


@dataclass
class Town:
    """One street, one community, two compounds with a building each, two households a building."""

    street: Street
    community: Community
    community_grid: Grid
    compounds: list[Grid]
    buildings: list[Grid]
    households: list[Household]
    people: dict[str, Person] = field(default_factory=dict)


async def build_town(name: str = "测试", join_code: str = "TEST01") -> Town:
    street = await Street.create(name=f"{name}街道", code=f"{name}-street")
    community = await Community.create(
        street=street, name=f"{name}社区", code=f"{name}-community", join_code=join_code
    )
    top = await create_grid(community=community, name=f"{name}社区网格", level=GridLevel.COMMUNITY)
    compounds, buildings, households = [], [], []
    for index in (1, 2):
        compound = await create_grid(
            community=community, name=f"{index}号小区", level=GridLevel.BRANCH, parent=top
        )
        building = await create_grid(
            community=community, name="1号楼", level=GridLevel.BUILDING, parent=compound
        )
        compounds.append(compound)
        buildings.append(building)
        for room in ("101", "102"):
            households.append(
                await Household.create(community=community, grid=building, label=f"1单元{room}")
            )
    return Town(street, community, top, compounds, buildings, households)


async def add_person(town: Town, key: str, role: Role | None, **place: object) -> Person:
    """A person with a demo openid and (optionally) one role in the town."""
    person = await Person.create(openid=f"test-{key}", name=key)
    if role is Role.STREET_ADMIN:
        await grant_role(person_id=person.id, role=role, street_id=town.street.id)
    elif role is not None:
        await grant_role(person_id=person.id, role=role, **place)  # type: ignore[arg-type]
    town.people[key] = person
    return person


async def login(client: TestClient, mock: TestServer, openid: str) -> str:
    """Log in as the phone does (a wx.login code, then wx-login); returns the session token."""
    async with client.session.post(mock.make_url("/dev/login-code"), json={"openid": openid}) as r:
        assert r.status == 200, await r.text()
        code = (await r.json())["code"]
    response = await client.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status == 200, await response.text()
    return str((await response.json())["token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A real, decodable PNG of white pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


async def upload_photo(client: TestClient, token: str, data: bytes | None = None) -> str:
    """Upload one photo as the phone does (multipart, field ``photos``); returns its key."""
    form = aiohttp.FormData()
    form.add_field("photos", data or png_bytes(), filename="photo.png", content_type="image/png")
    response = await client.post("/api/v1/media/photos", data=form, headers=auth(token))
    assert response.status == 201, await response.text()
    return str((await response.json())["photos"][0]["key"])
