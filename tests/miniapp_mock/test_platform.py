"""The mock WeChat/WeCom platform answers like the real one, over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from miniapp_mock import MOCK_STATE, MockConfig, create_mock_app, field_problem

APPID, SECRET = "wx-demo-appid", "wx-demo-secret"
START = 1_790_000_000.0  # a fixed instant; the platform's clock is injected


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Client = TestClient[web.Request, web.Application]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(request: pytest.FixtureRequest, clock: FakeClock) -> MockConfig:
    """Demo defaults; a test may override fields with parametrize(..., indirect=True)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return MockConfig(clock=clock, **overrides)


@pytest_asyncio.fixture
async def client(config: MockConfig) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_mock_app(config))) as test_client:
        yield test_client


async def post(client: Client, path: str, body: Any, **params: str) -> dict[str, Any]:
    resp = await client.post(path, json=body, params=params)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def get(client: Client, path: str, **params: str) -> dict[str, Any]:
    resp = await client.get(path, params=params)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = json.loads(await resp.text())
    return result


async def login_code(client: Client, openid: str = "o-resident-1") -> str:
    code: str = (await post(client, "/dev/login-code", {"openid": openid}))["code"]
    return code


async def exchange(client: Client, code: str, secret: str = SECRET) -> dict[str, Any]:
    return await get(
        client,
        "/sns/jscode2session",
        appid=APPID,
        secret=secret,
        js_code=code,
        grant_type="authorization_code",
    )


async def fetch_token(client: Client) -> str:
    answer = await get(
        client, "/cgi-bin/token", grant_type="client_credential", appid=APPID, secret=SECRET
    )
    token: str = answer["access_token"]
    return token


async def stable_token(client: Client, force_refresh: bool = False) -> dict[str, Any]:
    return await post(
        client,
        "/cgi-bin/stable_token",
        {
            "grant_type": "client_credential",
            "appid": APPID,
            "secret": SECRET,
            "force_refresh": force_refresh,
        },
    )


async def sec_check(
    client: Client, token: str, content: str = "楼道灯坏了", **overrides: Any
) -> dict[str, Any]:
    body = {"version": 2, "openid": "o-resident-1", "scene": 2, "content": content, **overrides}
    return await post(client, "/wxa/msg_sec_check", body, access_token=token)


def task_remind(openid: str = "o-resident-1", **data: str) -> dict[str, Any]:
    values = {
        "thing1": "帮王奶奶买菜",
        "time2": "2026年11月22日 15:01",
        "phrase3": "待处理",
        **data,
    }
    return {
        "touser": openid,
        "template_id": "tpl-task-remind",
        "page": "pages/task/detail?id=7",
        "data": {key: {"value": value} for key, value in values.items()},
        "miniprogram_state": "formal",
        "lang": "zh_CN",
    }


async def grant(
    client: Client,
    openid: str = "o-resident-1",
    accept: int = 1,
    template_id: str = "tpl-task-remind",
) -> dict[str, int]:
    answer = await post(
        client, "/dev/consents", {"openid": openid, "template_id": template_id, "accept": accept}
    )
    consents: dict[str, int] = answer["consents"]
    return consents


# --- login ---


async def test_a_login_code_works_once(client: Client) -> None:
    code = await login_code(client, "o-resident-1")
    first = await exchange(client, code)
    assert first["openid"] == "o-resident-1"
    assert first["session_key"]
    assert await exchange(client, code) == {"errcode": 40029, "errmsg": "invalid code"}


async def test_an_expired_code_is_refused(client: Client, clock: FakeClock) -> None:
    code = await login_code(client)
    clock.advance(301)
    assert (await exchange(client, code))["errcode"] == 40029


async def test_unknown_code_and_wrong_secret_are_refused(client: Client) -> None:
    assert (await exchange(client, "no-such-code"))["errcode"] == 40029
    code = await login_code(client)
    assert (await exchange(client, code, secret="wrong"))["errcode"] == 40125
    assert (await exchange(client, code))["openid"] == "o-resident-1"  # a refusal spends nothing


async def test_jscode2session_answers_json_labelled_text_plain_like_wechat(client: Client) -> None:
    resp = await client.get(
        "/sns/jscode2session",
        params={
            "appid": APPID,
            "secret": SECRET,
            "js_code": await login_code(client),
            "grant_type": "authorization_code",
        },
    )
    assert resp.content_type == "text/plain"
    assert json.loads(await resp.text())["openid"] == "o-resident-1"


async def test_dev_login_code_rejects_a_malformed_openid(client: Client) -> None:
    resp = await client.post("/dev/login-code", json={"openid": "bad openid!"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_openid"


# --- access tokens ---


async def test_a_new_token_leaves_the_old_one_valid_for_five_minutes(
    client: Client, clock: FakeClock
) -> None:
    await login_code(client)  # makes o-resident-1 known for msg_sec_check
    old = await fetch_token(client)
    new = await fetch_token(client)
    assert new != old
    clock.advance(299)
    assert (await sec_check(client, old))["errcode"] == 0
    clock.advance(2)
    assert (await sec_check(client, old))["errcode"] == 40001
    assert (await sec_check(client, new))["errcode"] == 0
    clock.advance(7200)
    assert (await sec_check(client, new))["errcode"] == 42001


async def test_wrong_appid_or_secret_gets_no_token(client: Client) -> None:
    wrong_app = await get(
        client, "/cgi-bin/token", grant_type="client_credential", appid="wx-other", secret=SECRET
    )
    wrong_secret = await get(
        client, "/cgi-bin/token", grant_type="client_credential", appid=APPID, secret="nope"
    )
    assert wrong_app["errcode"] == 40013
    assert wrong_secret["errcode"] == 40125


async def test_stable_token_is_reused_until_force_refresh(client: Client, clock: FakeClock) -> None:
    await login_code(client)
    first = await stable_token(client)
    clock.advance(100)
    again = await stable_token(client)
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == first["expires_in"] - 100

    refreshed = await stable_token(client, force_refresh=True)
    assert refreshed["access_token"] != first["access_token"]
    assert (await stable_token(client))["access_token"] == refreshed["access_token"]
    clock.advance(299)
    assert (await sec_check(client, first["access_token"]))["errcode"] == 0
    clock.advance(1)
    assert (await sec_check(client, first["access_token"]))["errcode"] == 40001
    assert (await sec_check(client, refreshed["access_token"]))["errcode"] == 0


async def test_stable_token_does_not_replace_a_client_credential_token(client: Client) -> None:
    await login_code(client)
    plain = await fetch_token(client)
    await stable_token(client, force_refresh=True)
    assert (await sec_check(client, plain))["errcode"] == 0


@pytest.mark.parametrize("config", [{"token_daily_quota": 3}], indirect=True)
async def test_daily_fetch_quota_answers_45009_until_the_next_day(
    client: Client, clock: FakeClock
) -> None:
    for _ in range(3):
        assert "access_token" in await stable_token(client)
    assert (await stable_token(client))["errcode"] == 45009
    clock.advance(86_400)
    assert "access_token" in await stable_token(client)


# --- subscribe messages ---


async def test_a_send_spends_one_consent_and_reaches_the_user(client: Client) -> None:
    token = await fetch_token(client)
    assert (await grant(client, accept=2))["tpl-task-remind"] == 2
    answer = await post(
        client, "/cgi-bin/message/subscribe/send", task_remind(), access_token=token
    )
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and isinstance(answer["msgid"], int)
    left = await get(client, "/dev/consents", openid="o-resident-1")
    assert left["consents"]["tpl-task-remind"] == 1
    inbox = await get(client, "/dev/messages", openid="o-resident-1")
    assert inbox["items"][0]["data"]["thing1"] == "帮王奶奶买菜"


async def test_without_consent_the_user_refuses(client: Client) -> None:
    token = await fetch_token(client)
    await grant(client, accept=1)
    send = task_remind()
    assert (await post(client, "/cgi-bin/message/subscribe/send", send, access_token=token))[
        "errcode"
    ] == 0
    refused = await post(client, "/cgi-bin/message/subscribe/send", send, access_token=token)
    assert refused == {"errcode": 43101, "errmsg": "user refuse to accept the msg"}


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"touser": "o-stranger"}, 40003),
        ({"template_id": "tpl-nope"}, 40037),
        ({"data": task_remind(thing1="一" * 21)["data"]}, 47003),
        ({"data": task_remind(phrase3="处理中了吗啊")["data"]}, 47003),
        ({"data": task_remind(time2="明天下午")["data"]}, 47003),
        ({"data": {"thing1": {"value": "缺字段"}}}, 47003),
    ],
)
async def test_bad_sends_are_refused_without_spending_a_consent(
    client: Client, change: dict[str, Any], errcode: int
) -> None:
    token = await fetch_token(client)
    await grant(client, accept=1)
    answer = await post(
        client, "/cgi-bin/message/subscribe/send", {**task_remind(), **change}, access_token=token
    )
    assert answer["errcode"] == errcode
    left = await get(client, "/dev/consents", openid="o-resident-1")
    assert left["consents"]["tpl-task-remind"] == 1


async def test_a_47003_names_the_offending_field(client: Client) -> None:
    token = await fetch_token(client)
    await grant(client)
    answer = await post(
        client, "/cgi-bin/message/subscribe/send", task_remind(thing1="一" * 21), access_token=token
    )
    assert answer["errmsg"].startswith("argument invalid! data.thing1.value")


async def test_a_twenty_character_thing_is_accepted(client: Client) -> None:
    token = await fetch_token(client)
    await grant(client)
    answer = await post(
        client, "/cgi-bin/message/subscribe/send", task_remind(thing1="一" * 20), access_token=token
    )
    assert answer["errcode"] == 0


async def test_subscribe_send_checks_the_token(client: Client, clock: FakeClock) -> None:
    await grant(client)
    bad = await post(
        client, "/cgi-bin/message/subscribe/send", task_remind(), access_token="not-a-token"
    )
    assert bad["errcode"] == 40001
    token = await fetch_token(client)
    clock.advance(7200)
    expired = await post(
        client, "/cgi-bin/message/subscribe/send", task_remind(), access_token=token
    )
    assert expired == {"errcode": 42001, "errmsg": "access_token expired"}


@pytest.mark.parametrize(
    ("field_type", "value", "ok"),
    [
        ("thing", "一" * 20, True),
        ("thing", "一" * 21, False),
        ("phrase", "已完成", True),
        ("phrase", "done", False),
        ("name", "王小明", True),
        ("name", "Wang Xiaoming Junior", True),
        ("name", "王" * 11, False),
        ("character_string", "INV-2026-0042", True),
        ("character_string", "中文", False),
        ("number", "-12.5", True),
        ("number", "12个", False),
        ("time", "2026年11月22日 15:01", True),
        ("time", "2026-11-22 15:01", True),
        ("time", "15:01", True),
        ("time", "15:01~17:30", True),
        ("time", "2026-02-30 15:01", False),
        ("date", "2026年11月22日", True),
        ("date", "2026-11-22", True),
        ("date", "下周一", False),
        ("amount", "¥12.50", True),
        ("amount", "12元", True),
        ("phone_number", "+86-13800138000", True),
        ("car_number", "黑C12345", True),
        ("letter", "abc", True),
        ("symbol", "★", True),
        ("symbol", "★★★★★★", False),
        ("thing", "", False),
    ],
)
def test_template_field_rules_match_wechat(field_type: str, value: str, ok: bool) -> None:
    assert (field_problem(field_type, value) is None) is ok


# --- content security ---


async def test_msg_sec_check_flags_configured_words(client: Client) -> None:
    await login_code(client)
    token = await fetch_token(client)
    risky = await sec_check(client, token, "有人在楼下组织赌博")
    assert risky["errcode"] == 0
    assert risky["result"] == {"suggest": "risky", "label": 20001}
    assert any(d.get("keyword") == "赌博" for d in risky["detail"])
    clean = await sec_check(client, token, "楼道灯坏了，请帮忙修一下")
    assert clean["result"] == {"suggest": "pass", "label": 100}
    assert clean["trace_id"]


async def test_msg_sec_check_requires_v2_fields(client: Client) -> None:
    await login_code(client)
    token = await fetch_token(client)
    assert (await sec_check(client, token, version=1))["errcode"] == 47001
    assert (await sec_check(client, token, openid="o-stranger"))["errcode"] == 40003
    assert (await sec_check(client, token, scene=9))["errcode"] == 47001


# --- WeCom ---


async def wecom_token(client: Client) -> str:
    answer = await get(
        client, "/wecom/cgi-bin/gettoken", corpid="ww-demo-corp", corpsecret="ww-demo-secret"
    )
    token: str = answer["access_token"]
    return token


def app_markdown(touser: str = "zhangsan", agentid: int = 1000002) -> dict[str, Any]:
    return {
        "touser": touser,
        "msgtype": "markdown",
        "agentid": agentid,
        "markdown": {"content": "**新需求** 3 号楼漏水"},
    }


async def test_wecom_app_message_is_delivered(client: Client) -> None:
    token = await wecom_token(client)
    assert await wecom_token(client) == token  # WeCom reuses a valid token
    answer = await post(client, "/wecom/cgi-bin/message/send", app_markdown(), access_token=token)
    assert answer["errcode"] == 0 and answer["msgid"]
    assert client.app[MOCK_STATE].deliveries[-1].recipient == "zhangsan"


async def test_wecom_app_refusals(client: Client) -> None:
    token = await wecom_token(client)
    send = "/wecom/cgi-bin/message/send"
    assert (await post(client, send, app_markdown(), access_token="nope"))["errcode"] == 40014
    assert (await post(client, send, app_markdown(agentid=1), access_token=token))[
        "errcode"
    ] == 40056
    wrong = await get(client, "/wecom/cgi-bin/gettoken", corpid="ww-demo-corp", corpsecret="x")
    assert wrong["errcode"] == 40001


async def test_wecom_app_member_limit_is_30_a_minute(client: Client, clock: FakeClock) -> None:
    token = await wecom_token(client)
    send = "/wecom/cgi-bin/message/send"
    for _ in range(30):
        assert (await post(client, send, app_markdown(), access_token=token))["errcode"] == 0
    assert (await post(client, send, app_markdown(), access_token=token))["errcode"] == 45033
    assert (await post(client, send, app_markdown("lisi"), access_token=token))["errcode"] == 0
    clock.advance(61)
    assert (await post(client, send, app_markdown(), access_token=token))["errcode"] == 0


async def test_robot_answers_130101_on_the_21st_message_in_a_minute(
    client: Client, clock: FakeClock
) -> None:
    message = {"msgtype": "text", "text": {"content": "今日待办 3 件"}}
    for _ in range(20):
        assert (await post(client, "/wecom/cgi-bin/webhook/send", message, key="k1"))[
            "errcode"
        ] == 0
    limited = await post(client, "/wecom/cgi-bin/webhook/send", message, key="k1")
    assert limited["errcode"] == 130101
    assert (await post(client, "/wecom/cgi-bin/webhook/send", message, key="k2"))["errcode"] == 0
    clock.advance(60)
    assert (await post(client, "/wecom/cgi-bin/webhook/send", message, key="k1"))["errcode"] == 0


async def test_robot_validates_message_shapes(client: Client) -> None:
    png = b"\x89PNG\r\n\x1a\n fake image bytes"
    image = {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()}
    article = {"title": "社区通知", "url": "https://example.org/n/1"}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"msgtype": "markdown", "markdown": {"content": "# 周报"}}, 0),
        ({"msgtype": "markdown", "markdown": {"content": "字" * 1366}}, 40058),  # 4098 bytes
        ({"msgtype": "text", "text": {"content": "a" * 2049}}, 40058),
        ({"msgtype": "image", "image": image}, 0),
        ({"msgtype": "image", "image": {**image, "md5": "0" * 32}}, 40058),
        ({"msgtype": "news", "news": {"articles": [article]}}, 0),
        ({"msgtype": "news", "news": {"articles": [article] * 9}}, 40058),
        ({"msgtype": "voice", "voice": {}}, 40008),
    ]
    for message, errcode in cases:
        answer = await post(client, "/wecom/cgi-bin/webhook/send", message, key="k1")
        assert answer["errcode"] == errcode, (message["msgtype"], answer)


@pytest.mark.parametrize("config", [{"robot_keys": frozenset({"known"})}], indirect=True)
async def test_robot_with_an_unknown_key_is_an_invalid_webhook(client: Client) -> None:
    message = {"msgtype": "text", "text": {"content": "hi"}}
    assert (await post(client, "/wecom/cgi-bin/webhook/send", message, key="other"))[
        "errcode"
    ] == 93000
    assert (await post(client, "/wecom/cgi-bin/webhook/send", message, key="known"))["errcode"] == 0


# --- fault injection, reset, inspector, pages ---


async def test_fail_next_injects_errcodes_then_recovers(client: Client) -> None:
    answer = await post(
        client, "/dev/fail-next", {"path": "/cgi-bin/stable_token", "errcode": 45009, "times": 2}
    )
    assert answer["pending"] == 2
    assert (await stable_token(client))["errcode"] == 45009
    assert (await stable_token(client))["errcode"] == 45009
    assert "access_token" in await stable_token(client)


async def test_fail_next_can_answer_with_a_server_error(client: Client) -> None:
    await post(client, "/dev/fail-next", {"path": "/cgi-bin/token", "http_status": 502})
    resp = await client.get(
        "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
    )
    assert resp.status == 502
    assert await fetch_token(client)


async def test_fail_next_refuses_paths_the_platform_does_not_have(client: Client) -> None:
    resp = await client.post("/dev/fail-next", json={"path": "/nope", "errcode": 1})
    assert resp.status == 400


async def test_reset_forgets_codes_tokens_and_consents(client: Client) -> None:
    code = await login_code(client)
    token = await fetch_token(client)
    await grant(client, accept=3)
    await post(client, "/dev/reset", {})
    assert (await exchange(client, code))["errcode"] == 40029
    assert (await sec_check(client, token))["errcode"] == 40001
    assert (await get(client, "/dev/consents", openid="o-resident-1"))["consents"][
        "tpl-task-remind"
    ] == 0


async def test_inspector_records_every_call_with_secrets_masked(client: Client) -> None:
    token = await fetch_token(client)
    code = await login_code(client)
    session = await exchange(client, code)
    await post(
        client,
        "/wecom/cgi-bin/webhook/send",
        {"msgtype": "text", "text": {"content": "hello"}},
        key="robot-key-123456",
    )
    records = (await get(client, "/inspector/api/records"))["items"]
    assert [r["kind"] for r in records] == ["token", "jscode2session", "wecom_robot"]
    dumped = json.dumps(records, ensure_ascii=False)
    for secret in (SECRET, token, code, session["session_key"], "robot-key-123456"):
        assert secret not in dumped
    assert records[2]["preview"] == "[text] hello"

    only_robot = await get(client, "/inspector/api/records", kind="wecom_robot")
    assert len(only_robot["items"]) == 1
    newer = await get(client, "/inspector/api/records", since_id=str(records[1]["id"]))
    assert [r["kind"] for r in newer["items"]] == ["wecom_robot"]

    summary = await get(client, "/inspector/api/summary")
    assert summary["by_kind"] == {"token": 1, "jscode2session": 1, "wecom_robot": 1}
    assert summary["by_errcode"] == {"0": 3}
    assert (await client.delete("/inspector/api/records")).status == 200
    assert (await get(client, "/inspector/api/records"))["items"] == []


@pytest.mark.parametrize("path", ["/app/", "/inspector/"])
async def test_pages_are_served_as_html(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "<html" in await resp.text()


async def test_the_mock_works_mounted_under_a_prefix(config: MockConfig) -> None:
    root = web.Application()
    root.add_subapp("/mock", create_mock_app(config))
    async with TestClient(TestServer(root)) as mounted:
        page = await mounted.get("/mock/app/")
        assert page.status == 200 and "党群服务" in await page.text()
        code = (await post(mounted, "/mock/dev/login-code", {"openid": "o-1"}))["code"]
        await post(mounted, "/mock/dev/fail-next", {"path": "/sns/jscode2session", "errcode": -1})
        busy = await get(
            mounted, "/mock/sns/jscode2session", appid=APPID, secret=SECRET, js_code=code
        )
        assert busy["errcode"] == -1
        answer = await get(
            mounted, "/mock/sns/jscode2session", appid=APPID, secret=SECRET, js_code=code
        )
        assert answer["openid"] == "o-1"


async def test_tokens_keep_working_after_days_of_silence(client: Client, clock: FakeClock) -> None:
    first = (await stable_token(client))["access_token"]
    await fetch_token(client)
    clock.advance(3 * 86_400)
    await fetch_token(client)  # forgets long-expired tokens, including the stable one
    fresh = (await stable_token(client))["access_token"]
    assert fresh != first
    await login_code(client)
    assert (await sec_check(client, fresh))["errcode"] == 0
