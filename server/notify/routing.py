"""Which kinds of notification go to whom on which channel: one pure routing table.

Every person a message reaches gets an in-app inbox item (站内信, the source of truth); the table
says who is reached and which push channel, if any, is tried on top of the inbox.

A message with a recipient is for that person; its community (if any) only adds the community's
group robot. A message with only a community goes to the audiences the table names there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    SUBSCRIBE = "subscribe"  # 小程序订阅消息: residents and volunteers
    WECOM_APP = "wecom_app"  # 企业微信应用消息 (markdown): secretaries and grid members
    ROBOT = "robot"  # 企业微信群机器人 of the community's work group


class Audience(StrEnum):
    RECIPIENT = "recipient"  # the message's own recipient
    GRID_STAFF = "grid_staff"  # grid members of the need's grid or a grid above it
    SECRETARIES = "secretaries"  # the community's secretaries
    STREET_ADMINS = "street_admins"  # admins of the community's street
    COMMUNITY_ROBOT = "community_robot"  # the community's group robot


@dataclass(frozen=True)
class Route:
    audience: Audience
    push: Channel | None  # None: inbox only


R = Route
A = Audience
C = Channel

ROUTES: dict[str, tuple[Route, ...]] = {
    # to the resident who reported the need
    "need_status": (R(A.RECIPIENT, C.SUBSCRIBE),),
    # volunteers: reminders and invitations (sent by the scheduled jobs)
    "task_reminder": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "task_invitation": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "task_assigned": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "task_invitation_withdrawn": (R(A.RECIPIENT, None),),
    # volunteers: the time passbook (站内信 only: no subscribe template of their own)
    "hours_approved": (R(A.RECIPIENT, None),),
    "hours_rejected": (R(A.RECIPIENT, None),),
    "hours_gift": (R(A.RECIPIENT, None),),
    # staff: nobody took a need's invitations, so the secretary assigns by hand
    "task_unmatched": (R(A.SECRETARIES, C.WECOM_APP), R(A.COMMUNITY_ROBOT, C.ROBOT)),
    # the community's work group: the month's honour board
    "honour_board": (R(A.COMMUNITY_ROBOT, C.ROBOT), R(A.SECRETARIES, None)),
    # staff: a new need to triage, SLA warnings, digests and reminders
    "need_submitted": (R(A.GRID_STAFF, C.WECOM_APP), R(A.COMMUNITY_ROBOT, C.ROBOT)),
    "need_sla_warning": (R(A.GRID_STAFF, C.WECOM_APP),),
    "weekly_digest": (
        R(A.RECIPIENT, C.WECOM_APP),
        R(A.SECRETARIES, C.WECOM_APP),
        R(A.COMMUNITY_ROBOT, C.ROBOT),
    ),
    "project_update_reminder": (R(A.RECIPIENT, C.WECOM_APP), R(A.SECRETARIES, C.WECOM_APP)),
    # the resident: the volunteer comes within two hours (sent with the volunteer's T-2h reminder)
    "task_reminder_resident": (R(A.RECIPIENT, C.SUBSCRIBE),),
    # volunteers: group activities (志愿活动) they signed up for
    "activity_reminder": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "activity_promoted": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "activity_changed": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "activity_cancelled": (R(A.RECIPIENT, C.SUBSCRIBE),),
    # 双报到: the member behind schedule, and the month's summary to the secretaries
    "party_progress_behind": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "party_progress_summary": (R(A.RECIPIENT, C.WECOM_APP), R(A.SECRETARIES, C.WECOM_APP)),
    # 共享家: the owner hears of bookings, the borrower of answers, reminders and overdue notices
    "booking_requested": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "booking_created": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "booking_approved": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "booking_rejected": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "booking_cancelled": (R(A.RECIPIENT, None),),
    "booking_return_reminder": (R(A.RECIPIENT, C.SUBSCRIBE),),
    "booking_overdue": (R(A.RECIPIENT, C.SUBSCRIBE),),
}
# need_overdue depends on how far the need was escalated (grid → community → street)
OVERDUE_ROUTES: dict[int, tuple[Route, ...]] = {
    1: (R(A.GRID_STAFF, C.WECOM_APP),),
    2: (R(A.GRID_STAFF, C.WECOM_APP), R(A.SECRETARIES, C.WECOM_APP), R(A.COMMUNITY_ROBOT, C.ROBOT)),
    3: (
        R(A.SECRETARIES, C.WECOM_APP),
        R(A.STREET_ADMINS, C.WECOM_APP),
        R(A.COMMUNITY_ROBOT, C.ROBOT),
    ),
}
# kinds nobody listed: the recipient's inbox, or the secretaries of the community
DEFAULT_ROUTES: tuple[Route, ...] = (R(A.RECIPIENT, None), R(A.SECRETARIES, C.WECOM_APP))


def routes_for(
    kind: str, payload: Mapping[str, Any], *, has_recipient: bool, has_community: bool
) -> tuple[Route, ...]:
    """The routes of one message, after the recipient-or-community rule."""
    if kind == "need_overdue":
        level = payload.get("level")
        table = OVERDUE_ROUTES.get(level if isinstance(level, int) else 0, OVERDUE_ROUTES[3])
    else:
        table = ROUTES.get(kind, DEFAULT_ROUTES)
    chosen: list[Route] = []
    for route in table:
        if route.audience is Audience.RECIPIENT:
            keep = has_recipient
        elif route.audience is Audience.COMMUNITY_ROBOT:
            keep = has_community
        else:  # groups of people are reached only when no single recipient was named
            keep = has_community and not has_recipient
        if keep:
            chosen.append(route)
    return tuple(chosen)
