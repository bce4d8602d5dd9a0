"""The one-process demo: API, mock WeChat platform (under /mock) and bot on one event loop."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bot.runner import run_bot
from miniapp_mock import MockConfig, create_mock_app
from server.app import create_app
from server.core.appkeys import REDIS
from server.core.config import Settings
from server.core.middleware import JsonAccessLogger

MOCK_PREFIX = "/mock"


def build_demo_app(settings: Settings) -> web.Application:
    """The API app with the mock platform mounted at /mock and / leading to the phone client."""
    app = create_app(settings)
    mock = create_mock_app(
        MockConfig(
            apps={settings.wechat_app_id: settings.wechat_app_secret},
            corp_id=settings.wecom_corp_id,
            corp_secret=settings.wecom_corp_secret,
            agent_id=settings.wecom_agent_id,
        )
    )
    app.add_subapp(MOCK_PREFIX, mock)

    async def index(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{MOCK_PREFIX}/app/")

    app.router.add_get("/", index)
    return app


async def run_demo(settings: Settings, stop: asyncio.Event) -> None:
    """Serve everything until ``stop`` is set, then shut down in order."""
    app = build_demo_app(settings)
    runner = web.AppRunner(app, access_log_class=JsonAccessLogger, handle_signals=False)
    await runner.setup()
    bot_task = None
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        base = settings.public_url
        print(
            "\n党群 Dangqun 演示已启动（Ctrl-C 停止）\n"
            f"  手机端小程序（模拟）: {base}{MOCK_PREFIX}/app/\n"
            f"  API:                 {base}/api/v1\n"
            f"  API 文档:            {base}/api/docs\n"
            f"  微信平台消息检查器:  {base}{MOCK_PREFIX}/inspector/\n"
            f"  健康检查:            {base}/readyz   指标: {base}/metrics\n",
            file=sys.stderr,
            flush=True,
        )
        bot_task = asyncio.create_task(
            run_bot(settings, stop, redis=app[REDIS], own_database=False), name="bot"
        )
        await stop.wait()
    finally:
        stop.set()
        if bot_task is not None:
            await bot_task
        await runner.cleanup()
        print("已停止。", file=sys.stderr)
