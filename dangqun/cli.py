"""The ``dangqun`` command: run the API, the bot, the mock WeChat platform, or all of them."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

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
    from dangqun.progress import ProgressBar
    from server.core.db import close_orm, init_orm
    from server.org.seed import seed_demo

    await init_orm(settings)
    try:
        summary = await seed_demo(progress=ProgressBar("生成演示社区"))
        if settings.is_dev:
            from server.open311.service import DEMO_KEY, ensure_demo_key

            if await ensure_demo_key():
                print(f"已创建 Open311 演示密钥 {DEMO_KEY}（仅开发模式可用）", file=sys.stderr)
            from server.notify.service import ensure_demo_channels

            robots, members = await ensure_demo_channels(wecom_api_base=settings.wecom_api_base)
            if robots or members:
                print(
                    f"已在模拟平台上配置 {robots} 个社区群机器人、{members} 个企业微信账号",
                    file=sys.stderr,
                )
    finally:
        await close_orm()
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
    from bot.jobs import all_jobs
    from bot.slots import schedule_text

    settings = _settings(args)
    import datetime as dt
    from zoneinfo import ZoneInfo

    now = dt.datetime.now(ZoneInfo(settings.timezone))
    print(f"时区 {settings.timezone}")
    for job in all_jobs(settings.timezone, catch_up_hours=settings.digest_catch_up_hours):
        next_run = job.trigger.get_next_fire_time(None, now)
        when = next_run.strftime("%Y-%m-%d %H:%M:%S") if next_run else "—"
        hours = job.catch_up.total_seconds() / 3600 if job.catch_up else 0
        catch_up = f"（停机错过后 {hours:g} 小时内补跑）" if job.catch_up else ""
        print(
            f"{job.name:<20} {schedule_text(job.trigger):<10} 下次运行 {when}  "
            f"{job.description}{catch_up}"
        )


def cmd_bot_run_job(args: argparse.Namespace) -> None:
    import dataclasses

    from bot.guard import community_ids, dry_run, run_slot
    from bot.jobs import JobContext, all_jobs, worker_id
    from bot.slots import manual_slot_id
    from server.core import errors
    from server.core.clock import utcnow
    from server.core.redis import redis_context

    settings = _settings(args)
    jobs = {job.name: job for job in all_jobs(settings.timezone)}
    job = jobs.get(args.name)
    if job is None or not job.guarded:
        names = "、".join(name for name, job in jobs.items() if job.guarded)
        print(f"没有可手动运行的任务 {args.name!r}；可选：{names}", file=sys.stderr)
        raise SystemExit(2)
    if args.community is not None and not job.per_community:
        print(f"任务 {job.name} 不按社区运行，不能带 --community", file=sys.stderr)
        raise SystemExit(2)

    async def work() -> None:
        async with redis_context(settings) as redis:
            now = utcnow()
            slot = manual_slot_id(now)
            ctx = JobContext(redis=redis, worker_id=worker_id(), settings=settings, now=now)
            scopes = [args.community] if args.community is not None else None
            if args.community is not None:
                from server.org.service import community_place

                await community_place(community_id=args.community)  # 404 before any run
            if args.dry_run:
                total = 0
                scoped = scopes or (await community_ids() if job.per_community else [None])
                for community_id in scoped:
                    run_ctx = dataclasses.replace(ctx, slot=slot, community_id=community_id)
                    lines = await dry_run(job, run_ctx)
                    total += len(lines)
                    where = f"社区 #{community_id}" if community_id is not None else "全局"
                    print(f"== {where}：{job.preview.format(count=len(lines))} ==")
                    for line in lines:
                        print(line)
                print(f"预演结束：共 {total} 项，未写入任何数据。", file=sys.stderr)
                return
            for outcome in await run_slot(job, ctx, slot=slot, communities=scopes):
                scope = f"社区 #{outcome.community_id}" if outcome.community_id else "全局"
                state = "失败" if outcome.failed else ("已运行" if outcome.ran else "已跳过")
                print(f"{job.name} {slot} {scope}：{state} {outcome.result}".rstrip())

    try:
        asyncio.run(_with_orm(settings, work))
    except errors.DomainError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(1) from exc


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
    from server.core.db import close_orm, init_orm

    await init_orm(settings)
    try:
        await work()
    finally:
        await close_orm()


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


def cmd_passbook_reconcile(args: argparse.Namespace) -> None:
    from dangqun.progress import ProgressBar
    from server.passbook.reconcile import reconcile

    async def work() -> None:
        report = await reconcile(community_id=args.community, progress=ProgressBar("对账"))
        print(
            f"对账：{report.communities} 个社区，{report.accounts} 个账户，"
            f"{report.transfers} 笔转账，{report.entries} 条分录，合计 {report.total} 小时"
        )
        for problem in report.problems:
            print(f"  ✗ {problem}")
        if not report.ok:
            print(f"发现 {len(report.problems)} 处不一致", file=sys.stderr)
            raise SystemExit(1)
        print("账目一致：每笔转账合计为零，全部分录合计为零，每个余额等于其分录之和")

    asyncio.run(_with_orm(_settings(args), work))


def cmd_points_rebuild_boards(args: argparse.Namespace) -> None:
    from dangqun.progress import ProgressBar
    from server.core.redis import redis_context
    from server.points.boards import rebuild_boards

    settings = _settings(args)

    async def work() -> None:
        async with redis_context(settings) as redis:
            report = await rebuild_boards(
                redis, community_id=args.community, progress=ProgressBar("重建积分榜")
            )
        print(
            f"已从数据库重建积分榜：{report.communities} 个社区，"
            f"{report.awards} 条积分记录，{report.keys} 个 Redis 键"
        )

    asyncio.run(_with_orm(settings, work))


def cmd_notify_dispatch(args: argparse.Namespace) -> None:
    from bot.jobs import worker_id
    from server.notify.dispatcher import run_dispatch_loop

    settings = _settings(args)

    async def main(stop: asyncio.Event) -> None:
        report = await run_dispatch_loop(
            settings, stop, worker_id=worker_id(), until_empty=args.until_empty
        )
        print(
            f"已认领 {report.claimed} 次，发出 {report.pushes} 条推送；完成 {report.sent}，"
            f"部分改为站内信 {report.failed}，待重试 {report.retrying}，放弃 {report.dead}",
            file=sys.stderr,
        )

    _until_signal(main)


def cmd_notify_dead(args: argparse.Namespace) -> None:
    from server.notify.models import OutboxMessage, OutboxStatus

    async def work() -> None:
        rows = await OutboxMessage.filter(status=OutboxStatus.DEAD).order_by("id")
        if not rows:
            print("没有投递失败的通知。")
        for row in rows:
            who = f"接收人 {row.recipient_id}" if row.recipient_id else f"社区 {row.community_id}"
            print(f"#{row.id:<6} {row.kind:<20} {who:<12} 尝试 {row.attempts} 次  {row.last_error}")

    asyncio.run(_with_orm(_settings(args), work))


def cmd_notify_retry_dead(args: argparse.Namespace) -> None:
    from server.notify.service import retry_dead

    async def work() -> None:
        count = await retry_dead(ids=args.ids or None)
        print(f"已重新排队 {count} 条通知", file=sys.stderr)

    asyncio.run(_with_orm(_settings(args), work))


def cmd_notify_set_robot(args: argparse.Namespace) -> None:
    from server.core.errors import DomainError
    from server.notify.service import set_community_robot

    settings = _settings(args)
    url = args.url
    if args.key:
        url = f"{settings.wecom_api_base}/cgi-bin/webhook/send?key={args.key}"

    async def work() -> None:
        try:
            await set_community_robot(community_id=args.community, webhook_url=url)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            raise SystemExit(1) from exc
        state = "已清除" if url is None else "已设置"
        print(f"社区 {args.community} 的群机器人{state}", file=sys.stderr)

    asyncio.run(_with_orm(settings, work))


def cmd_notify_wecom_user(args: argparse.Namespace) -> None:
    from server.core.errors import DomainError
    from server.notify.service import set_wecom_user

    async def work() -> None:
        try:
            await set_wecom_user(person_id=args.person, userid=args.userid)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            raise SystemExit(1) from exc
        state = f"绑定为 {args.userid}" if args.userid else "已解除绑定"
        print(f"用户 {args.person} 的企业微信账号{state}", file=sys.stderr)

    asyncio.run(_with_orm(_settings(args), work))


def add_notify_commands(sub: Any) -> None:
    """``dangqun notify ...``: outbox delivery, dead messages, robots, WeCom members."""
    notify = sub.add_parser(
        "notify", help="通知投递：派发、失败重试、群机器人与企业微信账号", description="通知投递"
    )
    notify.set_defaults(handler=cmd_notify_dead)
    notify_sub = notify.add_subparsers(dest="notify_command", metavar="子命令")
    dispatch = notify_sub.add_parser(
        "dispatch", help="只运行通知派发（机器人里的 outbox_dispatch 任务）", description="派发"
    )
    dispatch.add_argument(
        "--until-empty", action="store_true", help="没有待发送的通知时退出（否则一直运行）"
    )
    dispatch.set_defaults(handler=cmd_notify_dispatch)
    notify_sub.add_parser("dead", help="列出投递失败的通知（默认）").set_defaults(
        handler=cmd_notify_dead
    )
    retry = notify_sub.add_parser(
        "retry-dead", help="把投递失败的通知重新排队", description="重新投递失败的通知"
    )
    retry.add_argument("--id", dest="ids", type=int, action="append", help="通知编号，可重复")
    retry.set_defaults(handler=cmd_notify_retry_dead)
    robot = notify_sub.add_parser(
        "set-robot", help="设置社区工作群的群机器人 webhook", description="设置群机器人"
    )
    robot.add_argument("--community", type=int, required=True, help="社区编号")
    target = robot.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="完整的 webhook 地址")
    target.add_argument("--key", help="webhook 的 key（地址按 DANGQUN_WECOM_API_BASE 拼出）")
    target.add_argument("--clear", action="store_true", help="清除")
    robot.set_defaults(handler=cmd_notify_set_robot)
    wecom = notify_sub.add_parser(
        "wecom-user", help="绑定书记或网格员的企业微信账号", description="绑定企业微信账号"
    )
    wecom.add_argument("--person", type=int, required=True, help="用户编号")
    wecom.add_argument("--userid", help="企业微信成员 UserID（不填则解除绑定）")
    wecom.set_defaults(handler=cmd_notify_wecom_user)


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
    run_job = bot_sub.add_parser(
        "run-job",
        help="立即运行一个定时任务（经同一个防重复机制，手动批次号）",
        description="立即运行一个定时任务；--dry-run 只打印将写入的待发消息（照片清理：将删除的"
        "文件），不写入、不删除任何数据",
    )
    run_job.add_argument("name", metavar="NAME", help="任务名，见 dangqun bot jobs")
    run_job.add_argument("--community", type=int, help="只为这个社区运行（按社区的任务）")
    run_job.add_argument(
        "--dry-run", action="store_true", help="预演：打印将发送或删除的内容，不写入"
    )
    run_job.set_defaults(handler=cmd_bot_run_job)

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

    passbook = add("passbook", cmd_passbook_reconcile, "时间存折（志愿服务时长账本）的管理命令")
    passbook_sub = passbook.add_subparsers(dest="passbook_command", metavar="子命令")
    reconcile = passbook_sub.add_parser(
        "reconcile",
        help="对账：每笔转账合计为零、全部分录合计为零、每个余额等于其分录之和（默认）",
        description="对账：检查时间存折的账目，不一致时列出并以状态码 1 退出",
    )
    reconcile.add_argument("--community", type=int, help="只检查这个社区（编号）")
    reconcile.set_defaults(handler=cmd_passbook_reconcile)
    passbook.set_defaults(community=None)

    points_cmd = add("points", cmd_points_rebuild_boards, "积分与积分榜的管理命令")
    points_sub = points_cmd.add_subparsers(dest="points_command", metavar="子命令")
    rebuild = points_sub.add_parser(
        "rebuild-boards",
        help="丢弃 Redis 中的积分榜并从数据库重建（周榜、月榜、年榜，社区与网格）",
        description="从数据库重建 Redis 积分榜（带进度条）",
    )
    rebuild.add_argument("--community", type=int, help="只重建这个社区（编号）")
    rebuild.set_defaults(handler=cmd_points_rebuild_boards)
    points_cmd.set_defaults(community=None)
    add_notify_commands(sub)
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
