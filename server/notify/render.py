"""What a notification says on each channel, built from its kind and payload (pure).

Producers may put ``title``, ``text``, ``markdown``, ``link`` and ``image_png_base64`` in any
payload; kinds known here get their own wording and subscribe-message template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INBOX_TITLE_MAX = 64  # column width of InboxItem.title
ROBOT_MARKDOWN_MAX_BYTES = 4096  # WeCom refuses longer group-robot markdown
WECOM_APP_MARKDOWN_MAX_BYTES = 2048  # WeCom refuses longer app-message markdown

# the fields of each subscribe template as configured in the WeChat console (keys and types)
TEMPLATE_FIELDS: dict[str, dict[str, str]] = {
    "need_status": {"thing1": "thing", "phrase2": "phrase", "time3": "time", "thing4": "thing"},
    "task_remind": {"thing1": "thing", "time2": "time", "phrase3": "phrase"},
    "invitation": {
        "name1": "name",
        "thing2": "thing",
        "date3": "date",
        "character_string4": "character_string",
    },
    "overdue_warning": {"thing1": "thing", "number2": "number", "time3": "time", "thing4": "thing"},
    # 共享家 预约状态通知: what was booked, its state, the start (or the end, for reminders), a hint
    "booking_status": {"thing1": "thing", "phrase2": "phrase", "time3": "time", "thing4": "thing"},
}

KIND_TITLES: dict[str, str] = {
    "need_status": "需求进度更新",
    "need_submitted": "新需求待受理",
    "need_sla_warning": "需求即将超时",
    "need_overdue": "需求已超时",
    "task_reminder": "服务任务提醒",
    "task_reminder_resident": "志愿者即将前来服务",
    "task_invitation": "服务邀请",
    "task_assigned": "服务任务已派给您",
    "task_invitation_withdrawn": "服务邀请已撤回",
    "task_unmatched": "需求无人接单，请派单",
    "hours_approved": "服务时长已入账",
    "hours_rejected": "服务时长未通过审核",
    "hours_gift": "收到转赠的服务时长",
    "honour_board": "本月光荣榜",
    "weekly_digest": "社区工作周报",
    "project_update_reminder": "为民实事进度待更新",
    "booking_requested": "新的预约待您同意",
    "booking_created": "您的共享有新预约",
    "booking_approved": "预约已同意",
    "booking_rejected": "预约未同意",
    "booking_cancelled": "预约已取消",
    "booking_return_reminder": "借用即将到期",
    "booking_overdue": "借用已逾期",
    "activity_reminder": "志愿活动明天开始",
    "activity_promoted": "候补成功，已获得活动名额",
    "activity_changed": "志愿活动时间地点变更",
    "activity_cancelled": "志愿活动已取消",
    "party_progress_behind": "双报到服务进度提醒",
    "party_progress_summary": "双报到党员服务进度",
}
# what the subscribe message's phrase field (≤ 5 characters) says for each activity notice
ACTIVITY_PHRASES: dict[str, str] = {
    "activity_reminder": "即将开始",
    "activity_promoted": "候补成功",
    "activity_changed": "时间有变",
    "activity_cancelled": "活动取消",
}
# 共享家 kinds: the producers (server/sharing) put the text, phrase, time and hint in the payload
BOOKING_KINDS = frozenset(k for k in KIND_TITLES if k.startswith("booking_"))
URGENCY_MARKS = {"urgent": "【紧急】", "emergency": "【特急】"}


@dataclass(frozen=True)
class Content:
    """One notification rendered for every channel."""

    title: str
    body: str
    link: str = ""
    markdown: str = ""
    template: str | None = None  # logical template name (settings map it to a template id)
    template_values: dict[str, object] = field(default_factory=dict)
    page: str = ""  # the mini-program page a subscribe message opens
    image_png_base64: str | None = None  # for the group robot


def _text(payload: Mapping[str, Any], key: str, default: str = "") -> str:
    value = payload.get(key)
    return str(value) if value not in (None, "") else default


def _moment(payload: Mapping[str, Any], key: str) -> dt.datetime | None:
    """An ISO time of the payload as a datetime (template time fields are formatted from it)."""
    value = payload.get(key)
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _cut_utf8(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode(errors="ignore") + "…"


def render(
    kind: str, payload: Mapping[str, Any], *, urgency: str = "normal", created_at: dt.datetime
) -> Content:
    """The title, inbox text, WeCom markdown and subscribe data of one notification."""
    mark = URGENCY_MARKS.get(urgency, "")
    title = _text(payload, "title") if kind not in KIND_TITLES else KIND_TITLES[kind]
    title = title or "通知"
    need_title = _text(payload, "title", "需求")
    need_id = payload.get("need_id")
    link = _text(payload, "link") or (f"/pages/needs/detail?id={need_id}" if need_id else "")
    template: str | None = None
    values: dict[str, object] = {}
    if kind == "need_status":
        label = _text(payload, "status_label", _text(payload, "status", "有更新"))
        note = _text(payload, "note")
        body = f"您的需求“{need_title}”{label}" + (f"：{note}" if note else "。")
        template = "need_status"
        values = {
            "thing1": need_title,
            "phrase2": label,
            "time3": created_at,
            "thing4": note or "点击查看处理进度",
        }
    elif kind == "need_submitted":
        body = f"{mark}新需求“{need_title}”待受理。"
    elif kind in ("need_sla_warning", "need_overdue"):
        body = f"{mark}需求“{need_title}”：{_text(payload, 'text', '处理时限将到')}"
    elif kind == "task_reminder":
        body = _text(payload, "text", f"您参与的服务“{need_title}”即将开始。")
        template = "task_remind"
        values = {
            "thing1": need_title,
            "time2": _moment(payload, "starts_at") or created_at,
            "phrase3": _text(payload, "phrase", "即将开始"),
        }
    elif kind == "task_reminder_resident":
        volunteer = _text(payload, "volunteer", "志愿者")
        body = _text(payload, "text", f"您的需求“{need_title}”：志愿者{volunteer}即将前来服务。")
        template = "need_status"
        values = {
            "thing1": need_title,
            "phrase2": "即将服务",
            "time3": _moment(payload, "starts_at") or created_at,
            "thing4": f"志愿者{volunteer}将按时前来",
        }
    elif kind == "task_invitation":
        address = _text(payload, "address")
        body = f"邀请您参与志愿服务“{need_title}”" + (f"（{address}）" if address else "") + "。"
        template = "invitation"
        values = {
            "name1": _text(payload, "inviter", "社区党组织"),
            "thing2": need_title,
            "date3": _text(payload, "expires_at") or created_at,
            "character_string4": str(payload.get("invitation_id", need_id or "")),
        }
        link = _text(payload, "link", "/pages/tasks/invitations")
    elif kind == "task_assigned":
        body = f"书记已把服务“{need_title}”派给您，请按时到场签到。"
        template = "task_remind"
        values = {"thing1": need_title, "time2": created_at, "phrase3": "已派单"}
    elif kind in ACTIVITY_PHRASES:
        activity_title = _text(payload, "title", "志愿活动")
        body = _text(payload, "text", f"志愿活动“{activity_title}”：{KIND_TITLES[kind]}")
        template = "task_remind"
        starts_at = _text(payload, "starts_at")
        values = {
            "thing1": activity_title,
            "time2": dt.datetime.fromisoformat(starts_at) if starts_at else created_at,
            "phrase3": ACTIVITY_PHRASES[kind],
        }
    elif kind == "party_progress_behind":
        body = _text(payload, "text", "您今年的双报到服务时长落后于进度。")
        template = "task_remind"
        values = {
            "thing1": f"今年已服务{_text(payload, 'approved_hours', '0')}小时",
            "time2": created_at,
            "phrase3": "进度落后",
        }
    elif kind in BOOKING_KINDS:
        body = _text(payload, "text", title)
        template = "booking_status"
        values = {
            "thing1": _text(payload, "title", "共享"),
            "phrase2": _text(payload, "phrase", "有更新"),
            "time3": _moment(payload, "time") or created_at,
            "thing4": _text(payload, "hint", "点击查看预约详情"),
        }
    elif kind == "task_unmatched":
        body = f"{mark}需求“{need_title}”：{_text(payload, 'text', '没有志愿者接单，请派单')}"
    else:
        body = _text(payload, "text", _text(payload, "body", title))
    markdown = _text(payload, "markdown") or (
        f"**{mark}{title}**\n> {body}" + (f"\n> [查看详情]({link})" if link else "")
    )
    return Content(
        title=(mark + title)[:INBOX_TITLE_MAX],
        body=body,
        link=link,
        markdown=markdown,
        template=template,
        template_values=values,
        page=link.lstrip("/"),
        image_png_base64=_text(payload, "image_png_base64") or None,
    )


def wecom_app_markdown(content: Content) -> str:
    """The markdown of a WeCom app message, cut to WeCom's size limit."""
    return _cut_utf8(content.markdown, WECOM_APP_MARKDOWN_MAX_BYTES)


def robot_batches(
    markdowns: list[str], *, max_bytes: int = ROBOT_MARKDOWN_MAX_BYTES
) -> list[tuple[str, list[int]]]:
    """Events for one group robot joined into as few messages as the size limit allows.

    Returns each message with the indexes of the events it carries, in order.
    """
    batches: list[tuple[str, list[int]]] = []
    current = ""
    members: list[int] = []
    separator = "\n\n"
    for index, text in enumerate(markdowns):
        text = _cut_utf8(text, max_bytes)
        candidate = f"{current}{separator}{text}" if current else text
        if len(candidate.encode()) <= max_bytes:
            current = candidate
            members.append(index)
        else:
            batches.append((current, members))
            current, members = text, [index]
    if members:
        batches.append((current, members))
    return batches
