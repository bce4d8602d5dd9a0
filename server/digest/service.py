"""The weekly digest: what it says, who gets it, and writing it to the outbox."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

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

# The outbox kind of the digest: the notify router sends a community's message to each of its
# secretaries (WeCom app markdown + inbox item with the link) and to its group robot (markdown,
# then the chart image).
KIND = "weekly_digest"


@dataclass(frozen=True)
class PlannedMessage:
    """One outbox row the digest job writes (or, in a dry run, would write)."""

    kind: str
    payload: dict[str, Any]
    recipient_id: int | None
    community_id: int
    dedupe_key: str

    def describe(self) -> str:
        """Chinese lines for ``run-job --dry-run``."""
        who = f"书记 #{self.recipient_id}" if self.recipient_id else f"社区 #{self.community_id}"
        markdown = str(self.payload.get("markdown", ""))
        lines = [
            f"【{self.kind}】发给 {who} 的书记（企业微信应用消息 + 站内信）和社区群机器人",
            f"站内信：{self.payload.get('title', '')} — {self.payload.get('text', '')}",
            f"markdown（{len(markdown.encode())} 字节）：",
            markdown,
        ]
        image = self.payload.get("image_png_base64")
        if image:
            lines.append(f"群机器人图片：网格柱状图 PNG {len(base64.b64decode(image))} 字节")
        return "\n".join(lines)


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


def plan_messages(digest: Digest, *, link: str, run_key: str) -> list[PlannedMessage]:
    """The outbox row of one digest, addressed to the community: markdown and the inbox text for
    its secretaries, the chart for its robot. ``run_key`` makes it unique per week (scheduled) or
    per manual run."""
    chart = render_chart(digest)
    return [
        PlannedMessage(
            kind=KIND,
            payload={
                "title": f"{digest.community_name}周报（{digest.period}）",
                "text": inbox_text(digest),
                "markdown": render_markdown(digest, link=link),
                "link": link,
                "week": digest.week,
                "image_png_base64": base64.b64encode(chart).decode(),
            },
            recipient_id=None,
            community_id=digest.community_id,
            dedupe_key=f"digest:{digest.community_id}:{digest.week}:{run_key}",
        )
    ]


async def plan_weekly_digest(
    *, community_id: int, week: str, timezone: str, public_url: str, now: dt.datetime, run_key: str
) -> list[PlannedMessage]:
    """Build one community's digest and the outbox rows that carry it."""
    digest = await community_digest(
        community_id=community_id, week=week, timezone=timezone, now=now
    )
    return plan_messages(digest, link=digest_link(public_url, community_id, week), run_key=run_key)


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
