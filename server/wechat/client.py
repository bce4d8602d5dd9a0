"""An asyncio WeChat mini-program API client on aiohttp (wechatpy's client is synchronous).

One owner refreshes the access token: the token is cached in Redis and fetched under a Redis
lock, so N server and bot processes make one fetch, not N. A token error (40001/42001) is retried
once with a fresh token, never more.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from redis.asyncio import Redis

log = logging.getLogger("dangqun.wechat")

TOKEN_ERRORS = frozenset({40001, 42001})  # invalid / expired access_token: refresh once
ERR_INVALID_CODE = 40029  # jscode2session: unknown, used or expired wx.login code
ERR_CODE_RATE_LIMITED = 45011  # jscode2session called too often for one user
TOKEN_EXPIRY_MARGIN_SECONDS = 300  # refresh 5 min early: the platform overlaps old and new 5 min
TOKEN_LOCK_SECONDS = 15  # longest a token fetch may hold the lock
# A process reuses the token it last read for up to a minute without asking Redis (every content
# check and send needs one): a token another process replaces stays valid for 5 more minutes, and
# a refused one is replaced at once (``call``'s retry passes it as stale).
TOKEN_MEMO_SECONDS = 60.0
FETCH_COUNTER_TTL_SECONDS = 2 * 24 * 3600
PLATFORM_TZ = ZoneInfo("Asia/Shanghai")  # WeChat and WeCom reset daily quotas at Beijing midnight


def quota_day(now: dt.datetime | None = None) -> str:
    """The platform's day (Beijing time) a token fetch counts against."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(PLATFORM_TZ).date().isoformat()


async def count_token_fetch(redis: Redis, prefix: str) -> int:
    """Count one token fetch against today's quota; returns today's count so far."""
    counter = f"{prefix}:{quota_day()}"
    fetches = int(await redis.incr(counter))
    await redis.expire(counter, FETCH_COUNTER_TTL_SECONDS)
    return fetches


async def token_fetches_on(redis: Redis, prefix: str, day: str | None = None) -> int:
    """Token fetches counted on a day (today by default)."""
    value = await redis.get(f"{prefix}:{day or quota_day()}")
    return int(value or 0)


class WeChatError(Exception):
    """The platform answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """The platform could not be reached or answered with something that is not its JSON."""


@dataclass(frozen=True)
class CodeSession:
    openid: str
    session_key: str
    unionid: str | None = None


class WeChatClient:
    """Calls the mini-program server API at ``api_base`` (the real one, or the mock)."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        redis: Redis,
        api_base: str,
        app_id: str,
        app_secret: str,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._http = http
        self._redis = redis
        self._base = api_base.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._token_key = f"wechat:access_token:{app_id}"
        self._lock_key = f"wechat:access_token_lock:{app_id}"
        self._memo: tuple[str, float] | None = None  # (token, until when on the monotonic clock)

    async def _request(
        self, method: str, path: str, *, params: dict[str, str], json: Any = None
    ) -> dict[str, Any]:
        try:
            async with self._http.request(
                method, f"{self._base}{path}", params=params, json=json, timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise WeChatUnavailable(f"HTTP {response.status} from {path}")
                data = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise WeChatUnavailable(f"{path}: {exc!r}") from exc
        if not isinstance(data, dict):
            raise WeChatUnavailable(f"{path}: answer is not a JSON object")
        errcode = int(data.get("errcode") or 0)
        if errcode:
            raise WeChatError(errcode, str(data.get("errmsg", "")))
        return data

    async def code_to_session(self, code: str) -> CodeSession:
        """``jscode2session``: exchange a one-time ``wx.login`` code for the user's openid."""
        data = await self._request(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self._app_id,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("jscode2session answered without an openid")
        return CodeSession(
            openid=openid,
            session_key=str(data.get("session_key", "")),
            unionid=data.get("unionid"),
        )

    async def access_token(self, *, stale: str | None = None) -> str:
        """The current access token; with ``stale``, replace that token (it was refused)."""
        if self._memo is not None:
            token, until = self._memo
            if token != stale and time.monotonic() < until:
                return token
        self._memo = None
        cached = await self._redis.get(self._token_key)
        if cached and cached != stale:
            return self._remember(str(cached))
        async with self._redis.lock(
            self._lock_key, timeout=TOKEN_LOCK_SECONDS, blocking_timeout=TOKEN_LOCK_SECONDS
        ):
            cached = await self._redis.get(self._token_key)
            if cached and cached != stale:
                return self._remember(str(cached))  # another process refreshed it meanwhile
            token, expires_in = await self._fetch_token(force_refresh=False)
            if token == stale:
                token, expires_in = await self._fetch_token(force_refresh=True)
            ttl = max(60, expires_in - TOKEN_EXPIRY_MARGIN_SECONDS)
            await self._redis.set(self._token_key, token, ex=ttl)
            return self._remember(token)

    def _remember(self, token: str) -> str:
        self._memo = (token, time.monotonic() + TOKEN_MEMO_SECONDS)
        return token

    async def _fetch_token(self, *, force_refresh: bool) -> tuple[str, int]:
        data = await self._request(
            "POST",
            "/cgi-bin/stable_token",
            params={},
            json={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._secret,
                "force_refresh": force_refresh,
            },
        )
        fetches = await count_token_fetch(self._redis, f"wechat:token_fetches:{self._app_id}")
        log.info(
            "fetched access token (force_refresh=%s); fetches today: %d", force_refresh, fetches
        )
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST to a token-protected API; one retry with a new token on 40001/42001."""
        token = await self.access_token()
        try:
            return await self._request("POST", path, params={"access_token": token}, json=payload)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.warning("access token refused (%s); refreshing once", exc.errcode)
        token = await self.access_token(stale=token)
        return await self._request("POST", path, params={"access_token": token}, json=payload)

    async def token_fetches_today(self) -> int:
        """Access-token fetches of this app today (Beijing day), across processes."""
        return await token_fetches_on(self._redis, f"wechat:token_fetches:{self._app_id}")
