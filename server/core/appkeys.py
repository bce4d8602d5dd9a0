"""Every typed ``web.AppKey`` of the API application, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from server.core.config import Settings
from server.core.metrics import Metrics
from server.wechat.client import WeChatClient

if TYPE_CHECKING:  # routes imports this module (through validation)
    from server.core.routes import RouteRegistry

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
WECHAT: web.AppKey[WeChatClient] = web.AppKey("wechat")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ROUTES: web.AppKey[RouteRegistry] = web.AppKey("routes")
