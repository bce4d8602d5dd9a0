"""Request and response shapes of the inbox, subscribe consents and dead notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from server.core.schemas import Input, Output
from server.notify.models import OutboxStatus, Urgency


class InboxQuery(Input):
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)
    unread_only: bool = False


class InboxItemPath(Input):
    item_id: int = Field(ge=1)


class InboxItemOut(Output):
    id: int
    kind: str
    title: str
    body: str
    link: str
    urgency: Urgency
    created_at: dt.datetime
    read_at: dt.datetime | None


class InboxListOut(Output):
    items: list[InboxItemOut]
    next_cursor: str | None
    unread: int


class UnreadOut(Output):
    unread: int


class ReadAllOut(Output):
    updated: int
    unread: int


class ConsentsIn(Input):
    """The ``res`` of ``wx.requestSubscribeMessage``: template id → the user's answer.

    ``res`` may be passed as it is: its ``errMsg`` entry is ignored.
    """

    results: dict[str, Literal["accept", "reject", "ban", "filter"]] = Field(
        min_length=1, max_length=3, description="模板 id → accept / reject / ban / filter"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_errmsg(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            data = {**data, "results": {k: v for k, v in data["results"].items() if k != "errMsg"}}
        return data


class TemplateOut(Output):
    name: str = Field(description="通知类别")
    template_id: str
    remaining: int = Field(description="剩余可发送次数")


class ConsentsOut(Output):
    templates: list[TemplateOut]


class DeadQuery(Input):
    limit: int = Field(default=50, ge=1, le=200)


class DeadMessageOut(Output):
    id: int
    kind: str
    status: OutboxStatus
    recipient_id: int | None
    community_id: int | None
    attempts: int
    last_error: str
    created_at: dt.datetime


class DeadListOut(Output):
    items: list[DeadMessageOut]


class RetryDeadIn(Input):
    ids: list[int] | None = Field(default=None, max_length=500, description="不填则重试全部")


class RetryDeadOut(Output):
    requeued: int
