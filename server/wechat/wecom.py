"""An asyncio WeCom (企业微信) client: app messages with a Redis-cached token, and group robots.

Like the mini-program client, one owner refreshes the token under a Redis lock, and a token
error (40014/42001/40001) is retried once with a fresh token, never more.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from redis.asyncio import Redis

from server.wechat.client import (
    WeChatError,
    WeChatUnavailable,
    count_token_fetch,
    token_fetches_on,
)

log = logging.getLogger("dangqun.wecom")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # WeCom says 40014 for an unknown token
TOKEN_EXPIRY_MARGIN_SECONDS = 300
TOKEN_LOCK_SECONDS = 15


async def _post_json(
    http: aiohttp.ClientSession,
    url: str,
    *,
    params: dict[str, str] | None,
    json: Any,
    client_timeout: aiohttp.ClientTimeout,
    method: str = "POST",
) -> dict[str, Any]:
    try:
        async with http.request(
            method, url, params=params, json=json, timeout=client_timeout
        ) as response:
            if response.status >= 400:
                raise WeChatUnavailable(f"HTTP {response.status} from {url.split('?')[0]}")
            data = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise WeChatUnavailable(f"{url.split('?')[0]}: {exc!r}") from exc
    if not isinstance(data, dict):
        raise WeChatUnavailable("answer is not a JSON object")
    errcode = int(data.get("errcode") or 0)
    if errcode:
        raise WeChatError(errcode, str(data.get("errmsg", "")))
    return data


class WecomClient:
    """Sends WeCom app messages (and group-robot webhooks) from ``api_base``."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        redis: Redis,
        api_base: str,
        corp_id: str,
        corp_secret: str,
        agent_id: int,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._http = http
        self._redis = redis
        self._base = api_base.rstrip("/")
        self._corp_id = corp_id
        self._secret = corp_secret
        self.agent_id = agent_id
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._token_key = f"wecom:access_token:{corp_id}"
        self._lock_key = f"wecom:access_token_lock:{corp_id}"

    async def access_token(self, *, stale: str | None = None) -> str:
        """The current token; with ``stale``, replace that one (it was refused)."""
        cached = await self._redis.get(self._token_key)
        if cached and cached != stale:
            return str(cached)
        async with self._redis.lock(
            self._lock_key, timeout=TOKEN_LOCK_SECONDS, blocking_timeout=TOKEN_LOCK_SECONDS
        ):
            cached = await self._redis.get(self._token_key)
            if cached and cached != stale:
                return str(cached)
            if stale:
                await self._redis.delete(self._token_key)
            data = await _post_json(
                self._http,
                f"{self._base}/cgi-bin/gettoken",
                params={"corpid": self._corp_id, "corpsecret": self._secret},
                json=None,
                client_timeout=self._timeout,
                method="GET",
            )
            token = str(data["access_token"])
            ttl = max(60, int(data.get("expires_in", 7200)) - TOKEN_EXPIRY_MARGIN_SECONDS)
            await self._redis.set(self._token_key, token, ex=ttl)
            fetches = await count_token_fetch(self._redis, f"wecom:token_fetches:{self._corp_id}")
            log.info(
                "fetched WeCom access token (replacing a refused one: %s); fetches today: %d",
                bool(stale),
                fetches,
            )
            return token

    async def token_fetches_today(self) -> int:
        """Access-token fetches of this corp today (Beijing day), across processes."""
        return await token_fetches_on(self._redis, f"wecom:token_fetches:{self._corp_id}")

    async def send_app_markdown(self, *, userid: str, content: str) -> dict[str, Any]:
        """An app message (markdown) to one member; one retry with a new token on token errors."""
        payload = {
            "touser": userid,
            "msgtype": "markdown",
            "agentid": self.agent_id,
            "markdown": {"content": content},
        }
        url = f"{self._base}/cgi-bin/message/send"
        token = await self.access_token()
        try:
            return await _post_json(
                self._http,
                url,
                params={"access_token": token},
                json=payload,
                client_timeout=self._timeout,
            )
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.warning("WeCom token refused (%s); refreshing once", exc.errcode)
        token = await self.access_token(stale=token)
        return await _post_json(
            self._http,
            url,
            params={"access_token": token},
            json=payload,
            client_timeout=self._timeout,
        )

    async def send_robot(self, *, webhook_url: str, message: dict[str, Any]) -> dict[str, Any]:
        """A group-robot message (``{"msgtype": ..., ...}``) to its webhook URL."""
        return await _post_json(
            self._http, webhook_url, params=None, json=message, client_timeout=self._timeout
        )
