"""Logging in with a wx.login code, sessions, logout, and the WeChat client's token handling."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from miniapp_mock import MOCK_STATE
from server.core.appkeys import REDIS, WECHAT
from server.wechat.client import WeChatError
from tests.builders import auth, login


async def code_for(client: TestClient, mock: TestServer, openid: str) -> str:
    async with client.session.post(mock.make_url("/dev/login-code"), json={"openid": openid}) as r:
        return str((await r.json())["code"])


async def test_good_code_logs_in_and_creates_the_person_once(
    client: TestClient, mock_wechat: TestServer
) -> None:
    code = await code_for(client, mock_wechat, "oResident001")
    response = await client.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status == 200
    body = await response.json()
    assert body["first_login"] is True
    assert body["expires_in"] == 7 * 24 * 3600
    assert body["person"]["name"] == "微信用户" and body["person"]["roles"] == []

    me = await client.get("/api/v1/me", headers=auth(body["token"]))
    assert me.status == 200
    assert (await me.json())["id"] == body["person"]["id"]

    again = await login(client, mock_wechat, "oResident001")
    me_again = await (await client.get("/api/v1/me", headers=auth(again))).json()
    assert me_again["id"] == body["person"]["id"]  # same openid, same person


async def test_reused_code_is_refused(client: TestClient, mock_wechat: TestServer) -> None:
    code = await code_for(client, mock_wechat, "oResident002")
    first = await client.post("/api/v1/auth/wx-login", json={"code": code})
    assert first.status == 200
    second = await client.post("/api/v1/auth/wx-login", json={"code": code})
    assert second.status == 401
    error = (await second.json())["error"]
    assert error["code"] == "not_authenticated"
    assert error["details"] == {"wechat_errcode": 40029}
    assert "重新" in error["message"]


async def test_unknown_code_is_refused(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/wx-login", json={"code": "never-issued"})
    assert response.status == 401
    assert (await response.json())["error"]["details"] == {"wechat_errcode": 40029}


async def test_expired_session_is_401_session_expired(
    client: TestClient, mock_wechat: TestServer
) -> None:
    token = await login(client, mock_wechat, "oResident003")
    redis = client.app[REDIS]
    keys = [key async for key in redis.scan_iter(match="session:*")]
    assert len(keys) == 1
    await redis.pexpire(keys[0], 1)  # let the session's TTL run out
    await asyncio.sleep(0.05)
    response = await client.get("/api/v1/me", headers=auth(token))
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "session_expired"


async def test_missing_or_malformed_token_is_401(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "not_authenticated"


async def test_logout_ends_the_session(client: TestClient, mock_wechat: TestServer) -> None:
    token = await login(client, mock_wechat, "oResident004")
    assert (await client.post("/api/v1/auth/logout", headers=auth(token))).status == 204
    response = await client.get("/api/v1/me", headers=auth(token))
    assert response.status == 401


async def test_profile_update_checks_the_phone(client: TestClient, mock_wechat: TestServer) -> None:
    token = await login(client, mock_wechat, "oResident005")
    bad = await client.patch("/api/v1/me", json={"phone": "12345"}, headers=auth(token))
    assert bad.status == 422
    assert (await bad.json())["error"]["details"][0]["field"] == "phone"
    good = await client.patch(
        "/api/v1/me", json={"name": "王大妈", "phone": "13800138000"}, headers=auth(token)
    )
    assert good.status == 200
    assert (await good.json())["name"] == "王大妈"


async def test_wechat_down_is_502(client: TestClient, mock_wechat: TestServer) -> None:
    async with client.session.post(
        mock_wechat.make_url("/dev/fail-next"),
        json={"path": "/sns/jscode2session", "errcode": -1, "http_status": 503},
    ) as r:
        assert r.status == 200
    code = await code_for(client, mock_wechat, "oResident006")
    response = await client.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "upstream_unavailable"


async def test_access_token_is_fetched_once_by_many_callers(
    client: TestClient, mock_wechat: TestServer
) -> None:
    wechat = client.app[WECHAT]
    tokens = await asyncio.gather(*(wechat.access_token() for _ in range(20)))
    assert len(set(tokens)) == 1
    fetches = [r for r in mock_wechat.app[MOCK_STATE].records if r["kind"] == "stable_token"]
    assert len(fetches) == 1
    assert await wechat.token_fetches_today() == 1


async def test_token_error_is_retried_once_with_a_new_token(
    client: TestClient, mock_wechat: TestServer
) -> None:
    wechat = client.app[WECHAT]
    state = mock_wechat.app[MOCK_STATE]
    payload = {"version": 2, "openid": "oResident007", "scene": 1, "content": "楼道灯坏了"}
    await code_for(client, mock_wechat, "oResident007")  # the platform now knows this openid
    async with client.session.post(
        mock_wechat.make_url("/dev/fail-next"),
        json={"path": "/wxa/msg_sec_check", "errcode": 40001, "times": 1},
    ):
        pass
    result = await wechat.call("/wxa/msg_sec_check", payload)
    assert result["result"]["suggest"] == "pass"
    assert [r["kind"] for r in state.records if r["kind"] != "jscode2session"].count(
        "msg_sec_check"
    ) == 2

    # Twice refused: one retry only, then the error reaches the caller (no unbounded loop).
    async with client.session.post(
        mock_wechat.make_url("/dev/fail-next"),
        json={"path": "/wxa/msg_sec_check", "errcode": 42001, "times": 5},
    ):
        pass
    before = sum(1 for r in state.records if r["kind"] == "msg_sec_check")
    try:
        await wechat.call("/wxa/msg_sec_check", payload)
    except WeChatError as exc:
        assert exc.errcode == 42001
    else:
        raise AssertionError("a second token error must reach the caller")
    assert sum(1 for r in state.records if r["kind"] == "msg_sec_check") - before == 2
