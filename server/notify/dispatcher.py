"""The outbox dispatcher: claim due messages, route and render them, send per channel, record.

Several bot processes run it at once. On PostgreSQL a claim is ``SELECT ... FOR UPDATE SKIP
LOCKED`` followed by marking the rows ``sending`` with a lease; on SQLite the same conditional
UPDATE works because SQLite has one writer. A claim carries a unique ``lease_owner`` token and
every later write to the message is fenced by it, so a process whose lease expired (it hung, or
was killed) cannot overwrite the work of the process that took the message over.

Each delivery's result is committed right after the platform answers. A process killed between
the answer and that commit sends the message again after restart: the only duplicate window,
measured on every send (``duplicate_window_seconds``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.core.clock import utcnow
from server.core.config import Settings
from server.notify import policy
from server.notify.fields import fit_template_data
from server.notify.limiter import RateLimiter, Window
from server.notify.models import (
    CommunityRobot,
    Delivery,
    DeliveryStatus,
    InboxItem,
    OutboxMessage,
    OutboxStatus,
    SubscribeConsent,
    WecomUser,
)
from server.notify.policy import Outcome, QuietHours
from server.notify.render import (
    TEMPLATE_FIELDS,
    Content,
    render,
    robot_batches,
    wecom_app_markdown,
)
from server.notify.routing import Audience, Channel, routes_for
from server.org.models import Community, Grid
from server.wechat.client import WeChatClient, WeChatError, WeChatUnavailable
from server.wechat.wecom import WecomClient

log = logging.getLogger("dangqun.notify")

SUBSCRIBE_PATH = "/cgi-bin/message/subscribe/send"
LEASE_SAFETY_FRACTION = 0.25  # no new send starts once only a quarter of the lease is left
LAST_ERROR_MAX = 255  # column width of last_error
WINDOW_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class DispatchMetrics:
    """Sends by channel and outcome, and the duplicate window, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sends = Counter(
            "dangqun_notify_sends",
            "Platform sends by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.duplicate_window = Histogram(
            "dangqun_notify_duplicate_window_seconds",
            "Time between the platform's answer and the commit of the delivery's result",
            buckets=WINDOW_BUCKETS,
            registry=self.registry,
        )


@dataclass
class DispatchReport:
    """What one or more dispatch rounds did."""

    claimed: int = 0
    sent: int = 0  # messages finished with every channel done
    failed: int = 0  # finished, with a permanent refusal on some channel (inbox only there)
    retrying: int = 0  # a transient failure: back to pending with backoff
    deferred: int = 0  # waiting for quiet hours, a rate limit, or a fresh lease
    dead: int = 0
    pushes: int = 0  # platform sends that were accepted
    duplicate_windows: list[float] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        for name in ("claimed", "sent", "failed", "retrying", "deferred", "dead", "pushes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.duplicate_windows.extend(other.duplicate_windows)

    @property
    def max_duplicate_window(self) -> float:
        return max(self.duplicate_windows, default=0.0)


PROCESS_METRICS = DispatchMetrics()  # the bot process's dispatch metrics, across rounds


class LeaseLost(Exception):
    """Another process took this message over; stop touching it."""


@dataclass(eq=False)
class Work:
    """One claimed message during a round."""

    message: OutboxMessage
    content: Content
    pending: list[Delivery] = field(default_factory=list)
    done: set[int] = field(default_factory=set)  # delivery ids finished this round
    transient: list[str] = field(default_factory=list)
    wait_seconds: float | None = None  # a rate limit or the lease asked us to come back
    quiet_until: dt.datetime | None = None
    lost: bool = False

    def wait(self, seconds: float) -> None:
        self.wait_seconds = max(self.wait_seconds or 0.0, seconds)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    reason: str = ""
    answered_at: float = 0.0  # time.perf_counter() when the platform answered
    errcode: int | None = None


async def _ask(send: Callable[[], Awaitable[Any]]) -> Answer:
    """Call the platform once and say what its answer means."""
    try:
        await send()
    except WeChatError as exc:
        return Answer(
            policy.classify_errcode(exc.errcode),
            policy.describe_errcode(exc.errcode, exc.errmsg),
            time.perf_counter(),
            exc.errcode,
        )
    except WeChatUnavailable as exc:
        return Answer(Outcome.TRANSIENT, f"平台不可用: {exc}"[:LAST_ERROR_MAX], time.perf_counter())
    return Answer(Outcome.SENT, "", time.perf_counter(), 0)


class Dispatcher:
    """Delivers the outbox; one per bot process (or benchmark), any number in parallel."""

    def __init__(
        self,
        *,
        settings: Settings,
        redis: Redis,
        wechat: WeChatClient,
        wecom: WecomClient,
        worker_id: str,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
        metrics: DispatchMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.wechat = wechat
        self.wecom = wecom
        self.worker_id = worker_id
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = metrics or DispatchMetrics()
        self.tz = ZoneInfo(settings.timezone)
        self.quiet = QuietHours.from_settings(
            settings.notify_quiet_start, settings.notify_quiet_end, settings.timezone
        )
        self.robot_limiter = RateLimiter(
            redis, Window("notify:robot", settings.notify_robot_per_minute)
        )
        # WeCom's two limits per member in one reservation: a send the minute holds back must
        # not take one of the hour's places, or the hour fills with sends that never happened
        self.member_limiter = RateLimiter(
            redis,
            Window("notify:wecom_member", settings.notify_wecom_member_per_minute),
            Window("notify:wecom_member_hour", settings.notify_wecom_member_per_hour, 3600),
        )
        self._token = ""
        self._deadline = 0.0
        self._openids: dict[int, str | None] = {}  # person id -> openid, for this round
        self._userids: dict[int, str] = {}  # person id -> WeCom userid, for this round

    # --- claiming ---

    def _due(self, now: dt.datetime) -> Q:
        pending = Q(status=OutboxStatus.PENDING) & (
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        expired = Q(status=OutboxStatus.SENDING) & Q(lease_until__lt=now)
        return Q(pending, expired, join_type="OR")

    async def claim(self, now: dt.datetime) -> list[OutboxMessage]:
        """Take up to a batch of due messages (and expired leases) for this process."""
        token = f"{secrets.token_hex(8)}@{self.worker_id}"[:64]
        lease_until = now + dt.timedelta(seconds=self.settings.notify_lease_seconds)
        async with in_transaction() as connection:
            query = (
                OutboxMessage.filter(self._due(now))
                .order_by("id")
                .limit(self.settings.notify_batch_size)
                .using_db(connection)
            )
            if not self.settings.uses_sqlite:
                # rows another process is claiming are skipped, not waited for
                query = query.select_for_update(skip_locked=True)
            # .only(), not .values_list(): Tortoise drops FOR UPDATE from values queries
            ids = [row.id for row in await query.only("id")]
            if not ids:
                return []
            # the same condition again: on SQLite another writer may have taken a row meanwhile
            await (
                OutboxMessage.filter(self._due(now), id__in=ids)
                .using_db(connection)
                .update(status=OutboxStatus.SENDING, lease_until=lease_until, lease_owner=token)
            )
        self._token = token
        self._deadline = time.monotonic() + self.settings.notify_lease_seconds * (
            1 - LEASE_SAFETY_FRACTION
        )
        return list(await OutboxMessage.filter(lease_owner=token).order_by("id"))

    # --- one round ---

    async def run_once(self) -> DispatchReport:
        """Claim one batch and deliver it; returns what happened."""
        now = self.clock()
        messages = await self.claim(now)
        report = DispatchReport(claimed=len(messages))
        if not messages:
            return report
        token = self._token
        works = [Work(message=m, content=self._render(m)) for m in messages]
        lost = await self._route_batch([w for w in works if w.message.routed_at is None], now)
        by_message = {w.message.id: w for w in works}
        pending = Delivery.filter(message_id__in=list(by_message), status=DeliveryStatus.PENDING)
        for delivery in await pending.order_by("id"):
            by_message[delivery.message_id].pending.append(delivery)
        await self._load_addresses(works)
        gate = asyncio.Semaphore(self.settings.notify_concurrency)

        async def prepare(work: Work) -> Work:
            if work.message.id in lost:
                work.lost = True
                return work
            async with gate:
                return await self._prepare(work, now, report)

        works = await asyncio.gather(*(prepare(w) for w in works))
        await self._send_robots([w for w in works if not w.lost], report)
        await self._finish_batch([w for w in works if not w.lost], now, token, report)
        if report.duplicate_windows:
            log.debug(
                "dispatched %d message(s); duplicate window max %.1f ms",
                report.claimed,
                report.max_duplicate_window * 1000,
            )
        return report

    async def drain(self, *, max_rounds: int | None = None) -> DispatchReport:
        """Run rounds until nothing is due (or ``max_rounds``)."""
        total = DispatchReport()
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            report = await self.run_once()
            total.add(report)
            rounds += 1
            if report.claimed == 0:
                break
        if total.claimed:
            log.info(
                "outbox: %d claimed, %d sent, %d failed, %d retrying, %d deferred, %d dead; "
                "duplicate window max %.1f ms over %d send(s)",
                total.claimed,
                total.sent,
                total.failed,
                total.retrying,
                total.deferred,
                total.dead,
                total.max_duplicate_window * 1000,
                len(total.duplicate_windows),
            )
        return total

    # --- routing and person channels ---

    async def _load_addresses(self, works: list[Work]) -> None:
        """Openids and WeCom userids of everyone this round sends to, in two queries."""
        subscribers = {
            d.person_id
            for w in works
            for d in w.pending
            if d.channel == Channel.SUBSCRIBE and d.person_id is not None
        }
        members = {
            d.person_id
            for w in works
            for d in w.pending
            if d.channel == Channel.WECOM_APP and d.person_id is not None
        }
        self._openids = {}
        self._userids = {}
        if subscribers:
            rows = await Person.filter(id__in=list(subscribers)).values("id", "openid")
            self._openids = {int(r["id"]): r["openid"] for r in rows}
        if members:
            rows = await WecomUser.filter(person_id__in=list(members)).values("person_id", "userid")
            self._userids = {int(r["person_id"]): str(r["userid"]) for r in rows}

    def _render(self, message: OutboxMessage) -> Content:
        return render(
            message.kind,
            message.payload or {},
            urgency=message.urgency.value,
            created_at=message.created_at,
        )

    async def _prepare(self, work: Work, now: dt.datetime, report: DispatchReport) -> Work:
        message = work.message
        if not work.pending:
            return work
        if policy.waits_for_quiet_hours(message.urgency):
            work.quiet_until = self.quiet.ends_at(now)
            if work.quiet_until is not None:
                return work
        for delivery in work.pending:
            if delivery.channel == Channel.ROBOT:
                continue
            if time.monotonic() > self._deadline:
                work.wait(0)  # the lease is running out: let a fresh claim do the rest
                break
            if delivery.channel == Channel.SUBSCRIBE:
                await self._send_subscribe(work, delivery, report)
            elif delivery.channel == Channel.WECOM_APP:
                await self._send_wecom_app(work, delivery, report)
            else:
                await self._record(work, delivery, DeliveryStatus.FAILED, "未知渠道", None, report)
        return work

    async def _audience(self, audience: Audience, message: OutboxMessage) -> list[int]:
        if audience is Audience.RECIPIENT:
            return [message.recipient_id] if message.recipient_id else []
        community_id = message.community_id
        if community_id is None:
            return []
        if audience is Audience.SECRETARIES:
            grants = RoleGrant.filter(role=Role.SECRETARY, community_id=community_id)
            return [int(row["person_id"]) for row in await grants.values("person_id")]
        if audience is Audience.STREET_ADMINS:
            community = await Community.get_or_none(id=community_id)
            if community is None:
                return []
            grants = RoleGrant.filter(role=Role.STREET_ADMIN, street_id=community.street_id)
            return [int(row["person_id"]) for row in await grants.values("person_id")]
        # grid staff: members of the need's grid or of a grid above it (their grid covers it)
        rows = await RoleGrant.filter(role=Role.GRID_MEMBER, community_id=community_id).values(
            "person_id", "grid_path"
        )
        grid_id = (message.payload or {}).get("grid_id")
        grid = await Grid.get_or_none(id=grid_id) if isinstance(grid_id, int) else None
        staff = [
            int(row["person_id"])
            for row in rows
            if grid is None or (row["grid_path"] and grid.path.startswith(str(row["grid_path"])))
        ]
        if not staff:  # a grid nobody works yet: its community's secretaries must hear of it
            return await self._audience(Audience.SECRETARIES, message)
        return staff

    async def _route_batch(self, works: list[Work], now: dt.datetime) -> set[int]:
        """Write the inbox items and pending deliveries of new messages, in message order, once.

        Returns the ids of messages whose lease was lost meanwhile (nothing is written for them).
        """
        if not works:
            return set()
        inbox: list[InboxItem] = []
        deliveries: list[Delivery] = []
        audiences: dict[tuple[Audience, int | None, int | None, object], list[int]] = {}
        for work in works:
            message = work.message
            routes = routes_for(
                message.kind,
                message.payload or {},
                has_recipient=message.recipient_id is not None,
                has_community=message.community_id is not None,
            )
            people: dict[int, Channel | None] = {}
            robot = False
            for route in routes:
                if route.audience is Audience.COMMUNITY_ROBOT:
                    robot = await CommunityRobot.exists(community_id=message.community_id)
                    continue
                grid_id = (message.payload or {}).get("grid_id")
                key = (route.audience, message.recipient_id, message.community_id, grid_id)
                if key not in audiences:  # many messages of a batch share their audiences
                    audiences[key] = await self._audience(route.audience, message)
                for person_id in audiences[key]:
                    if people.get(person_id) is None:
                        people[person_id] = route.push
            content = work.content
            inbox.extend(
                InboxItem(
                    person_id=person_id,
                    message_id=message.id,
                    kind=message.kind,
                    title=content.title,
                    body=content.body,
                    link=content.link,
                    urgency=message.urgency,
                )
                for person_id in people
            )
            deliveries.extend(
                Delivery(
                    message_id=message.id,
                    channel=push.value,
                    person_id=person_id,
                    target=f"p:{person_id}",
                )
                for person_id, push in people.items()
                if push is not None
            )
            if robot:
                deliveries.append(
                    Delivery(
                        message_id=message.id,
                        channel=Channel.ROBOT.value,
                        community_id=message.community_id,
                        target=f"c:{message.community_id}",
                    )
                )
        ids = [work.message.id for work in works]
        async with in_transaction() as connection:
            fence = OutboxMessage.filter(id__in=ids, lease_owner=self._token).using_db(connection)
            owned = {int(i) for i in await fence.values_list("id", flat=True)}  # type: ignore[call-overload]
            await (
                OutboxMessage.filter(id__in=list(owned)).using_db(connection).update(routed_at=now)
            )
            inbox = [item for item in inbox if item.message_id in owned]
            deliveries = [d for d in deliveries if d.message_id in owned]
            if inbox:
                await InboxItem.bulk_create(inbox, ignore_conflicts=True, using_db=connection)
            if deliveries:
                await Delivery.bulk_create(deliveries, ignore_conflicts=True, using_db=connection)
        return set(ids) - owned

    async def _record(
        self,
        work: Work,
        delivery: Delivery,
        status: DeliveryStatus,
        reason: str,
        answer: Answer | None,
        report: DispatchReport,
    ) -> None:
        """Commit one delivery's result; for a send, measure the window since the answer."""
        values: dict[str, Any] = {"status": status, "last_error": reason[:LAST_ERROR_MAX]}
        if answer is not None:
            values["attempts"] = delivery.attempts + 1
        if status is DeliveryStatus.SENT:
            values["sent_at"] = self.clock()
        await Delivery.filter(id=delivery.id).update(**values)
        if answer is not None:
            self.metrics.sends.labels(delivery.channel, answer.outcome.value).inc()
            if status is DeliveryStatus.SENT:
                window = time.perf_counter() - answer.answered_at
                self.metrics.duplicate_window.observe(window)
                report.duplicate_windows.append(window)
                report.pushes += 1
        if status is not DeliveryStatus.PENDING:
            work.done.add(delivery.id)

    async def _apply(
        self, work: Work, delivery: Delivery, answer: Answer, report: DispatchReport
    ) -> None:
        if answer.outcome is Outcome.SENT:
            await self._record(work, delivery, DeliveryStatus.SENT, "", answer, report)
        elif answer.outcome is Outcome.TRANSIENT:
            work.transient.append(answer.reason)
            await self._record(
                work, delivery, DeliveryStatus.PENDING, answer.reason, answer, report
            )
        else:
            reason = f"{answer.reason}；已改为仅站内信"
            await self._record(work, delivery, DeliveryStatus.FAILED, reason, answer, report)

    async def _send_subscribe(self, work: Work, delivery: Delivery, report: DispatchReport) -> None:
        content = work.content
        openid = self._openids.get(delivery.person_id) if delivery.person_id else None
        template_id = (
            self.settings.notify_subscribe_templates.get(content.template)
            if content.template
            else None
        )
        skip = None
        if not openid:
            skip = "没有微信 openid，仅站内信"
        elif content.template is None or not template_id:
            skip = "该类通知没有订阅消息模板，仅站内信"
        if skip is not None or openid is None or template_id is None:
            await self._record(work, delivery, DeliveryStatus.SKIPPED, skip or "", None, report)
            return
        consents = SubscribeConsent.filter(person_id=delivery.person_id, template_id=template_id)
        if not await consents.filter(remaining__gt=0).update(remaining=F("remaining") - 1):
            reason = "订阅次数已用完，仅站内信"
            await self._record(work, delivery, DeliveryStatus.SKIPPED, reason, None, report)
            return
        assert content.template is not None
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": content.page,
            "data": fit_template_data(
                TEMPLATE_FIELDS[content.template], content.template_values, tz=self.tz
            ),
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        }
        answer = await _ask(lambda: self.wechat.call(SUBSCRIBE_PATH, body))
        if answer.outcome is Outcome.NO_CONSENT:
            await consents.update(remaining=0)  # the platform knows better: none left
        elif answer.outcome is not Outcome.SENT:
            # refused before delivery: the platform did not use the consent, give it back
            await consents.update(remaining=F("remaining") + 1)
        await self._apply(work, delivery, answer, report)

    async def _send_wecom_app(self, work: Work, delivery: Delivery, report: DispatchReport) -> None:
        userid = self._userids.get(delivery.person_id) if delivery.person_id else None
        if userid is None:
            reason = "未绑定企业微信，仅站内信"
            await self._record(work, delivery, DeliveryStatus.SKIPPED, reason, None, report)
            return
        at = self.clock().timestamp()
        wait = await self.member_limiter.reserve(userid, now=at)
        if wait > 0:
            work.wait(wait)
            return
        markdown = wecom_app_markdown(work.content)
        answer = await _ask(lambda: self.wecom.send_app_markdown(userid=userid, content=markdown))
        await self._apply(work, delivery, answer, report)

    # --- group robots, several events batched per community ---

    async def _send_robots(self, works: list[Work], report: DispatchReport) -> None:
        buckets: dict[int, list[tuple[Work, Delivery]]] = {}
        for work in works:
            if work.quiet_until is not None:
                continue
            for delivery in work.pending:
                if delivery.channel == Channel.ROBOT and delivery.community_id is not None:
                    buckets.setdefault(delivery.community_id, []).append((work, delivery))
        await asyncio.gather(
            *(
                self._send_robot(community_id, items, report)
                for community_id, items in buckets.items()
            )
        )

    async def _send_robot(
        self, community_id: int, items: list[tuple[Work, Delivery]], report: DispatchReport
    ) -> None:
        robot = await CommunityRobot.get_or_none(community_id=community_id)
        if robot is None:
            for work, delivery in items:
                reason = "社区未配置群机器人"
                await self._record(work, delivery, DeliveryStatus.SKIPPED, reason, None, report)
            return
        batches = robot_batches([work.content.markdown for work, _ in items])
        for text, indexes in batches:
            group = [items[i] for i in indexes]
            messages: list[dict[str, Any]] = [
                {"msgtype": "markdown", "markdown": {"content": text}}
            ]
            for work, _ in group:
                if work.content.image_png_base64:
                    messages.append(_robot_image(work.content.image_png_base64))
            answer: Answer | None = None
            for body in messages:
                if time.monotonic() > self._deadline:
                    return  # the lease is running out: a fresh claim sends the rest
                wait = await self.robot_limiter.reserve(
                    str(community_id), now=self.clock().timestamp()
                )
                if wait > 0:
                    for work, _ in group:
                        work.wait(wait)
                    return  # the rest piles up and goes as one batch when the window frees
                answer = await _ask(
                    partial(self.wecom.send_robot, webhook_url=robot.webhook_url, message=body)
                )
                if answer.outcome is not Outcome.SENT:
                    break
            assert answer is not None
            for work, delivery in group:
                await self._apply(work, delivery, answer, report)

    # --- finishing a message ---

    async def _finish_batch(
        self, works: list[Work], now: dt.datetime, token: str, report: DispatchReport
    ) -> None:
        """Record each message's state; the many that simply finished in one update."""
        finished = [w for w in works if not any(d.id not in w.done for d in w.pending)]
        for work in works:
            if work not in finished:
                await self._reschedule(work, now, token, report)
        if not finished:
            return
        ids = [w.message.id for w in finished]
        rows = await Delivery.filter(message_id__in=ids, status=DeliveryStatus.FAILED).values(
            "message_id", "last_error"
        )
        failures: dict[int, list[str]] = {}
        for row in rows:
            failures.setdefault(int(row["message_id"]), []).append(str(row["last_error"]))
        release = {"lease_owner": None, "lease_until": None}
        sent_at = self.clock()
        clean = [i for i in ids if i not in failures]
        if clean:
            await OutboxMessage.filter(id__in=clean, lease_owner=token).update(
                status=OutboxStatus.SENT, sent_at=sent_at, last_error="", **release
            )
        for message_id, reasons in failures.items():
            await OutboxMessage.filter(id=message_id, lease_owner=token).update(
                status=OutboxStatus.FAILED,
                sent_at=sent_at,
                last_error="; ".join(reasons)[:LAST_ERROR_MAX],
                **release,
            )
        report.sent += len(clean)
        report.failed += len(failures)

    async def _reschedule(
        self, work: Work, now: dt.datetime, token: str, report: DispatchReport
    ) -> None:
        """A message with deliveries left: wait for the morning, a backoff, or a free slot."""
        message = work.message
        fence = OutboxMessage.filter(id=message.id, lease_owner=token)
        release = {"lease_owner": None, "lease_until": None}
        if work.quiet_until is not None:
            await fence.update(
                status=OutboxStatus.PENDING, next_attempt_at=work.quiet_until, **release
            )
            report.deferred += 1
            return
        if work.transient:
            attempts = message.attempts + 1
            reason = work.transient[-1][:LAST_ERROR_MAX]
            if attempts >= self.settings.notify_max_attempts:
                await fence.update(
                    status=OutboxStatus.DEAD, attempts=attempts, last_error=reason, **release
                )
                report.dead += 1
                log.warning(
                    "outbox message %d is dead after %d attempts: %s", message.id, attempts, reason
                )
                return
            delay = policy.backoff_seconds(
                attempts,
                base=self.settings.notify_backoff_base_seconds,
                cap=self.settings.notify_backoff_max_seconds,
                rng=self.rng,
            )
            await fence.update(
                status=OutboxStatus.PENDING,
                attempts=attempts,
                last_error=reason,
                next_attempt_at=now + dt.timedelta(seconds=delay),
                **release,
            )
            report.retrying += 1
            return
        wait = work.wait_seconds or 0.0
        await fence.update(
            status=OutboxStatus.PENDING,
            next_attempt_at=now + dt.timedelta(seconds=wait),
            **release,
        )
        report.deferred += 1


def _robot_image(encoded: str) -> dict[str, Any]:
    import base64

    raw = base64.b64decode(encoded)
    return {"msgtype": "image", "image": {"base64": encoded, "md5": hashlib.md5(raw).hexdigest()}}


def build_dispatcher(
    *,
    settings: Settings,
    redis: Redis,
    http: aiohttp.ClientSession,
    worker_id: str,
    clock: Callable[[], dt.datetime] = utcnow,
    metrics: DispatchMetrics | None = None,
) -> Dispatcher:
    """A dispatcher with WeChat and WeCom clients on this HTTP session."""
    wechat = WeChatClient(
        http=http,
        redis=redis,
        api_base=settings.wechat_api_base,
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret,
        timeout_seconds=settings.wechat_timeout_seconds,
    )
    wecom = WecomClient(
        http=http,
        redis=redis,
        api_base=settings.wecom_api_base,
        corp_id=settings.wecom_corp_id,
        corp_secret=settings.wecom_corp_secret,
        agent_id=settings.wecom_agent_id,
        timeout_seconds=settings.wechat_timeout_seconds,
    )
    return Dispatcher(
        settings=settings,
        redis=redis,
        wechat=wechat,
        wecom=wecom,
        worker_id=worker_id,
        clock=clock,
        metrics=metrics,
    )


async def next_due_in(*, now: dt.datetime) -> float | None:
    """Seconds until the next unfinished message is due (0 when one is due now), None if none."""
    waiting = OutboxMessage.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING])
    if not await waiting.exists():
        return None
    if await waiting.filter(status=OutboxStatus.PENDING, next_attempt_at__isnull=True).exists():
        return 0.0
    rows = await waiting.values_list("next_attempt_at", "lease_until")
    times = [when for pair in rows for when in pair if when is not None]
    soonest = min(times, default=now)
    return max(0.0, (soonest - now).total_seconds())


IDLE_SLEEP_SECONDS = 3.0  # how long an idle loop waits before looking again


async def run_dispatch_loop(
    settings: Settings, stop: asyncio.Event, *, worker_id: str, until_empty: bool = False
) -> DispatchReport:
    """Dispatch until ``stop`` is set (or, with ``until_empty``, until nothing is left to send)."""
    from server.core.db import orm_context
    from server.core.redis import redis_context

    total = DispatchReport()
    async with (
        orm_context(settings),
        redis_context(settings) as redis,
        aiohttp.ClientSession() as http,
    ):
        dispatcher = build_dispatcher(
            settings=settings, redis=redis, http=http, worker_id=worker_id
        )
        while not stop.is_set():
            total.add(await dispatcher.drain())
            wait: float | None = IDLE_SLEEP_SECONDS
            if until_empty:
                wait = await next_due_in(now=utcnow())
                if wait is None:
                    break
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(wait or 0.05, IDLE_SLEEP_SECONDS))
            except TimeoutError:
                pass
    return total
