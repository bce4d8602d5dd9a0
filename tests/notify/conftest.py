"""Fixtures of the delivery tests: one fake clock shared by the mock platform and the dispatcher."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from miniapp_mock import MOCK_STATE, create_mock_app
from server.core.appkeys import HTTP_SESSION, REDIS
from server.core.config import Settings
from server.notify.dispatcher import Dispatcher, DispatchReport, build_dispatcher
from tests.conftest import mock_config

# Monday 10:00 in Shanghai: outside quiet hours
DAYTIME = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


@dataclasses.dataclass
class FakeClock:
    now: dt.datetime = DAYTIME

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    def timestamp(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def mock_wechat(clock: FakeClock) -> AsyncIterator[TestServer]:
    """The mock platform on a real port, on the same fake clock as the dispatcher."""
    config = dataclasses.replace(mock_config(), clock=clock.timestamp)
    server = TestServer(create_mock_app(config))
    await server.start_server()
    yield server
    await server.close()


class Platform:
    """The test's side of the mock platform: what the phone does, faults, and what it recorded."""

    def __init__(self, client: TestClient, server: TestServer) -> None:
        self.client = client
        self.server = server

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.client.session.request(method, self.url(path), **kwargs) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def consent(self, openid: str, template_id: str, accept: int = 1) -> None:
        """The user taps 允许 in wx.requestSubscribeMessage (the platform's side)."""
        body = {"openid": openid, "template_id": template_id, "accept": accept}
        await self._json("POST", "/dev/consents", json=body)

    async def consents_left(self, openid: str) -> dict[str, int]:
        return (await self._json("GET", f"/dev/consents?openid={openid}"))["consents"]

    async def fail_next(
        self, path: str, *, errcode: int | None = None, times: int = 1, http_status: int = 200
    ) -> None:
        body: dict[str, Any] = {"path": path, "times": times, "http_status": http_status}
        if errcode is not None:
            body["errcode"] = errcode
        await self._json("POST", "/dev/fail-next", json=body)

    async def records(self, kind: str) -> list[dict[str, Any]]:
        return (await self._json("GET", f"/inspector/api/records?kind={kind}&limit=1000"))["items"]

    async def accepted(self, kind: str) -> list[dict[str, Any]]:
        """Calls of this kind the platform accepted (errcode 0)."""
        return [r for r in await self.records(kind) if r["errcode"] == 0]

    def limit_wecom_members(self, *, per_minute: int, per_hour: int) -> None:
        """Lower the platform's own per-member limits (45033 beyond them) for a test."""
        config = self.server.app[MOCK_STATE].config
        config.wecom_member_limit_per_minute = per_minute
        config.wecom_member_limit_per_hour = per_hour

    def robot_url(self, key: str) -> str:
        return self.url(f"/wecom/cgi-bin/webhook/send?key={key}")


@pytest_asyncio.fixture
async def platform(client: TestClient, mock_wechat: TestServer) -> Platform:
    return Platform(client, mock_wechat)


class Bot:
    """A dispatcher as the bot runs it, on the test app's Redis and HTTP session."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def run(self) -> DispatchReport:
        return await self.dispatcher.drain()


@pytest_asyncio.fixture
async def bot(client: TestClient, settings: Settings, clock: FakeClock) -> Bot:
    dispatcher = build_dispatcher(
        settings=settings,
        redis=client.app[REDIS],
        http=client.app[HTTP_SESSION],
        worker_id="test-bot",
        clock=clock,
    )
    return Bot(dispatcher)
