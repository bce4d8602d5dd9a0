"""The ``dangqun`` command: run the API, the bot, the mock WeChat platform, or all of them."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from server.core.config import Settings, SettingsError, load_settings

log = logging.getLogger("dangqun")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "host", None):
        overrides["host"] = args.host
    return load_settings(**overrides)


def _configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if not verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)


def _until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until Ctrl-C or SIGTERM sets ``stop``, then let it clean up."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


async def _migrate(settings: Settings) -> None:
    from server.core.db import apply_migrations

    def progress(event: str, app_label: str, name: str) -> None:
        if event.endswith("done"):
            print(f"  已应用数据库迁移 {name}", file=sys.stderr)

    await apply_migrations(settings, progress=progress)


async def _seed(settings: Settings) -> None:
    from tortoise import Tortoise

    from dangqun.progress import ProgressBar
    from server.core.db import init_orm
    from server.org.seed import seed_demo

    await init_orm(settings)
    try:
        summary = await seed_demo(progress=ProgressBar("生成演示社区"))
        if settings.is_dev:
            from server.open311.service import DEMO_KEY, ensure_demo_key

            if await ensure_demo_key():
                print(f"已创建 Open311 演示密钥 {DEMO_KEY}（仅开发模式可用）", file=sys.stderr)
    finally:
        await Tortoise.close_connections()
    state = "已生成" if summary.created else "已存在，未重复生成"
    print(
        f"演示数据{state}：{summary.communities} 个社区，{summary.grids} 个网格，"
        f"{summary.households} 户，{summary.volunteers} 名志愿者，{summary.residents} 名居民",
        file=sys.stderr,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings(args)
    asyncio.run(_migrate(settings))
    print("数据库结构已是最新。", file=sys.stderr)


def cmd_seed_demo(args: argparse.Namespace) -> None:
    settings = _settings(args)

    async def main() -> None:
        await _migrate(settings)
        await _seed(settings)

    asyncio.run(main())


async def _serve(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    from server.core.middleware import JsonAccessLogger

    runner = web.AppRunner(app, access_log_class=JsonAccessLogger, handle_signals=False)
    await runner.setup()
    # What start-up created lives as long as the process: keeping it out of the garbage
    # collector's full passes keeps those passes from blocking the event loop for tens of ms.
    gc.collect()
    gc.freeze()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> None:
    from server.app import create_app

    settings = _settings(args)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)  # one JSON line per request
    print(
        f"API: {settings.public_url}/api/v1  文档: {settings.public_url}/api/docs", file=sys.stderr
    )
    _until_signal(lambda stop: _serve(create_app(settings), settings.host, settings.port, stop))


def cmd_bot_run(args: argparse.Namespace) -> None:
    from bot.runner import run_bot

    settings = _settings(args)
    _until_signal(lambda stop: run_bot(settings, stop))


def cmd_bot_jobs(args: argparse.Namespace) -> None:
    from apscheduler.triggers.base import BaseTrigger

    from bot.jobs import all_jobs

    settings = _settings(args)
    import datetime as dt
    from zoneinfo import ZoneInfo

    now = dt.datetime.now(ZoneInfo(settings.timezone))
    for job in all_jobs(settings.timezone):
        trigger: BaseTrigger = job.trigger
        next_run = trigger.get_next_fire_time(None, now)
        when = next_run.strftime("%Y-%m-%d %H:%M:%S") if next_run else "—"
        print(f"{job.name:<20} 下次运行 {when}  {job.description}")


def cmd_mock_wechat(args: argparse.Namespace) -> None:
    from miniapp_mock import MockConfig, create_mock_app

    settings = _settings(args)
    port = args.mock_port
    config = MockConfig(
        apps={settings.wechat_app_id: settings.wechat_app_secret},
        corp_id=settings.wecom_corp_id,
        corp_secret=settings.wecom_corp_secret,
        agent_id=settings.wecom_agent_id,
    )
    print(
        f"模拟微信平台: http://{settings.host}:{port}  手机端: http://{settings.host}:{port}/app/"
        f"  检查器: http://{settings.host}:{port}/inspector/",
        file=sys.stderr,
    )
    _until_signal(lambda stop: _serve(create_mock_app(config), settings.host, port, stop))


def cmd_demo(args: argparse.Namespace) -> None:
    from dangqun.demo import run_demo

    settings = _settings(args)

    async def main(stop: asyncio.Event) -> None:
        await _migrate(settings)
        await _seed(settings)
        await run_demo(settings, stop)

    _until_signal(main)


async def _with_orm(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    from tortoise import Tortoise

    from server.core.db import init_orm

    await init_orm(settings)
    try:
        await work()
    finally:
        await Tortoise.close_connections()


def cmd_open311_key_create(args: argparse.Namespace) -> None:
    from server.open311.errors import Open311Error
    from server.open311.service import create_key

    async def work() -> None:
        try:
            key = await create_key(street_code=args.street, name=args.name or "")
        except Open311Error as exc:
            print(exc.description, file=sys.stderr)
            raise SystemExit(1) from exc
        print(key)
        print(
            f"已为街道 {args.street} 创建 Open311 密钥（只显示这一次，请立即保存）",
            file=sys.stderr,
        )

    asyncio.run(_with_orm(_settings(args), work))


def cmd_open311_key_list(args: argparse.Namespace) -> None:
    from zoneinfo import ZoneInfo

    from server.open311.service import list_keys

    settings = _settings(args)
    tz = ZoneInfo(settings.timezone)

    async def work() -> None:
        keys = await list_keys()
        if not keys:
            print("还没有 Open311 密钥。用 dangqun open311-key create --street CODE 创建。")
        for key in keys:
            created = key.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            state = (
                f"已停用 {key.revoked_at.astimezone(tz):%Y-%m-%d %H:%M}"
                if key.revoked_at
                else "有效"
            )
            print(
                f"#{key.id:<4} {key.key_prefix}…  街道 {key.street.code:<16} "
                f"创建于 {created}  {state}  {key.name}"
            )

    asyncio.run(_with_orm(settings, work))


def cmd_open311_key_revoke(args: argparse.Namespace) -> None:
    from server.open311.service import revoke_key

    async def work() -> None:
        key = await revoke_key(key_or_id=args.key)
        if key is None:
            print("找不到该密钥（可以给出密钥本身，或 list 显示的编号）", file=sys.stderr)
            raise SystemExit(1)
        print(f"已停用 Open311 密钥 #{key.id} {key.name}".rstrip(), file=sys.stderr)

    asyncio.run(_with_orm(_settings(args), work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dangqun",
        description=(
            "党群 Dangqun：社区需求、志愿服务与通知机器人的后端。设置用 DANGQUN_* 环境变量。"
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="打印更详细的日志（含访问日志）"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="命令")

    def add(
        name: str, handler: Callable[[argparse.Namespace], None], help_text: str
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    demo = add(
        "demo",
        cmd_demo,
        "一条命令跑起全部：迁移数据库、生成演示社区，并在一个进程里运行 API、机器人和模拟微信平台"
        "（数据在当前目录的 var/ 下）",
    )
    demo.add_argument("--port", type=int, help="监听端口（默认 DANGQUN_PORT 或 8080）")
    demo.add_argument("--host", help="监听地址（默认 127.0.0.1）")

    serve = add("serve", cmd_serve, "只运行 HTTP API（生产中可以开多个进程）")
    serve.add_argument("--port", type=int, help="监听端口（默认 DANGQUN_PORT 或 8080）")
    serve.add_argument("--host", help="监听地址（默认 127.0.0.1）")

    bot = add("bot", cmd_bot_run, "运行通知机器人（定时任务）；可开多个进程，不会重复发送")
    bot_sub = bot.add_subparsers(dest="bot_command", metavar="子命令")
    bot_sub.add_parser("run", help="运行机器人（默认）").set_defaults(handler=cmd_bot_run)
    bot_sub.add_parser("jobs", help="列出每个定时任务和下次运行时间").set_defaults(
        handler=cmd_bot_jobs
    )

    mock = add(
        "mock-wechat", cmd_mock_wechat, "单独运行模拟微信/企业微信平台（含手机端页面和消息检查器）"
    )
    mock.add_argument("--mock-port", type=int, default=8081, help="监听端口（默认 8081）")
    mock.add_argument("--host", help="监听地址（默认 127.0.0.1）")

    add(
        "migrate",
        cmd_migrate,
        "把数据库结构迁移到最新（SQLite 或 PostgreSQL，按 DANGQUN_DATABASE_URL）",
    )
    add("seed-demo", cmd_seed_demo, "迁移并生成演示社区（可重复运行，不会重复生成）")

    keys = add(
        "open311-key",
        cmd_open311_key_list,
        "管理 Open311（GeoReport v2）接口的 api_key：每个密钥向一个街道的社区提交需求",
    )
    keys_sub = keys.add_subparsers(dest="open311_command", metavar="子命令")
    create = keys_sub.add_parser(
        "create", help="创建密钥并打印一次（库里只存它的 SHA-256）", description="创建密钥"
    )
    create.add_argument("--street", required=True, help="街道代码，如 demo-street")
    create.add_argument("--name", help="密钥的用途或使用方，如“12345 热线”")
    create.set_defaults(handler=cmd_open311_key_create)
    keys_sub.add_parser("list", help="列出所有密钥（默认）").set_defaults(
        handler=cmd_open311_key_list
    )
    revoke = keys_sub.add_parser("revoke", help="停用密钥", description="停用密钥")
    revoke.add_argument("key", metavar="KEY", help="密钥本身，或 list 显示的编号")
    revoke.set_defaults(handler=cmd_open311_key_revoke)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        args.handler(args)
    except (SettingsError, ValidationError) as exc:
        print(f"设置有误：{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
