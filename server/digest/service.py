"""The weekly digest: what it says, who gets it, and writing it to the outbox."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from server.accounts.models import Role, RoleGrant
from server.accounts.permissions import Action, Principal, require
from server.digest.content import (
    Digest,
    build_digest,
    inbox_text,
    render_chart,
    render_markdown,
)
from server.digest.queries import digest_input
from server.digest.weeks import last_complete_week
from server.notify.service import enqueue
from server.org.service import community_place

# Outbox kinds of the digest (the notify dispatcher routes them to its channels).
KIND_WECOM = "digest.wecom_markdown"  # WeCom app message to one secretary
KIND_ROBOT = "digest.robot_image"  # WeCom group robot of the community
KIND_INBOX = "digest.inbox"  # in-app inbox item with a link to the digest

CHANNEL_LABELS = {
    KIND_WECOM: "企业微信应用消息",
    KIND_ROBOT: "社区群机器人图片",
    KIND_INBOX: "站内信",
}


@dataclass(frozen=True)
class PlannedMessage:
    """One outbox row the digest job writes (or, in a dry run, would write)."""

    kind: str
    payload: dict[str, Any]
    recipient_id: int | None
    community_id: int
    dedupe_key: str

    def describe(self) -> str:
        """A Chinese line for ``run-job --dry-run``."""
        who = f"书记 #{self.recipient_id}" if self.recipient_id else f"社区 #{self.community_id}"
        channel = CHANNEL_LABELS.get(self.kind, self.kind)
        if self.kind == KIND_WECOM:
            body = str(self.payload["markdown"]["content"])
            size = len(body.encode())
            return f"【{channel}】发给 {who}（{size} 字节 markdown）：\n{body}"
        if self.kind == KIND_ROBOT:
            size = len(base64.b64decode(self.payload["image"]["base64"]))
            return f"【{channel}】发到 {who} 的群：网格柱状图 PNG {size} 字节"
        return f"【{channel}】给 {who}：{self.payload['title']} — {self.payload['text']}"


def digest_link(public_url: str, community_id: int, week: str) -> str:
    """Where the app shows the same digest."""
    return f"{public_url}/api/v1/communities/{community_id}/digests/{week}"


async def community_digest(
    *, community_id: int, week: str | None, timezone: str, now: dt.datetime
) -> Digest:
    """The digest of one community and one week (default: the last complete week)."""
    week = week or last_complete_week(now, timezone)
    return build_digest(
        await digest_input(community_id=community_id, week=week, timezone=timezone, now=now)
    )


async def digest_for_staff(
    *, principal: Principal, community_id: int, week: str | None, timezone: str, now: dt.datetime
) -> tuple[Digest, str]:
    """The digest as community staff read it in the app, with its markdown."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_ORG_TREE, place)
    digest = await community_digest(
        community_id=community_id, week=week, timezone=timezone, now=now
    )
    return digest, render_markdown(digest, link=digest_link("", community_id, digest.week))


async def secretaries(community_id: int) -> list[int]:
    """Person ids of the community's secretaries."""
    ids = await RoleGrant.filter(community_id=community_id, role=Role.SECRETARY).values_list(
        "person_id", flat=True
    )
    return sorted({int(str(person_id)) for person_id in ids})


def plan_messages(
    digest: Digest, *, secretary_ids: list[int], link: str, run_key: str
) -> list[PlannedMessage]:
    """The outbox rows of one digest: markdown to each secretary, the chart to the community's
    robot, an inbox item to each secretary. ``run_key`` makes them unique per week (scheduled) or
    per manual run."""
    markdown = render_markdown(digest, link=link)
    chart = render_chart(digest)
    key = f"digest:{digest.community_id}:{digest.week}:{run_key}"
    messages = [
        PlannedMessage(
            kind=KIND_ROBOT,
            payload={
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(chart).decode(),
                    "md5": hashlib.md5(
                        chart, usedforsecurity=False
                    ).hexdigest(),  # WeCom asks for MD5
                },
            },
            recipient_id=None,
            community_id=digest.community_id,
            dedupe_key=f"{key}:robot",
        )
    ]
    for person_id in secretary_ids:
        messages.append(
            PlannedMessage(
                kind=KIND_WECOM,
                payload={"msgtype": "markdown", "markdown": {"content": markdown}},
                recipient_id=person_id,
                community_id=digest.community_id,
                dedupe_key=f"{key}:wecom:{person_id}",
            )
        )
        messages.append(
            PlannedMessage(
                kind=KIND_INBOX,
                payload={
                    "title": f"{digest.community_name}周报（{digest.period}）",
                    "text": inbox_text(digest),
                    "link": link,
                },
                recipient_id=person_id,
                community_id=digest.community_id,
                dedupe_key=f"{key}:inbox:{person_id}",
            )
        )
    return messages


async def plan_weekly_digest(
    *, community_id: int, week: str, timezone: str, public_url: str, now: dt.datetime, run_key: str
) -> list[PlannedMessage]:
    """Build one community's digest and the outbox rows that carry it."""
    digest = await community_digest(
        community_id=community_id, week=week, timezone=timezone, now=now
    )
    return plan_messages(
        digest,
        secretary_ids=await secretaries(community_id),
        link=digest_link(public_url, community_id, week),
        run_key=run_key,
    )


async def write_messages(messages: list[PlannedMessage]) -> None:
    """Write the planned rows to the outbox in one transaction (repeated dedupe keys kept once)."""
    async with in_transaction() as connection:
        for message in messages:
            await enqueue(
                kind=message.kind,
                payload=message.payload,
                recipient_id=message.recipient_id,
                community_id=message.community_id,
                dedupe_key=message.dedupe_key,
                using_db=connection,
            )
