"""The WeChat API client's access token: shared through Redis, remembered briefly per process."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from server.core.appkeys import REDIS, WECHAT


async def stable_token_calls(client: TestClient, mock: TestServer) -> int:
    url = mock.make_url("/inspector/api/records?kind=stable_token&limit=1000")
    async with client.session.get(url) as reply:
        return len((await reply.json())["items"])


async def test_a_process_reuses_its_token_and_replaces_a_refused_one(
    client: TestClient, mock_wechat: TestServer
) -> None:
    wechat, redis = client.app[WECHAT], client.app[REDIS]
    token = await wechat.access_token()
    assert await stable_token_calls(client, mock_wechat) == 1
    await redis.delete(wechat._token_key)  # gone from Redis: this process still has it
    assert await wechat.access_token() == token
    assert await stable_token_calls(client, mock_wechat) == 1
    # refused by the platform (the caller hands it back as stale): a new one, shared again
    fresh = await wechat.access_token(stale=token)
    assert fresh != token
    assert await redis.get(wechat._token_key) == fresh
    assert await wechat.access_token() == fresh
