"""The one table of a need's allowed transitions and who may make each (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.core import errors
from server.needs.models import STATUS_LABELS, NeedStatus

S = NeedStatus


class Action(StrEnum):
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理（须说明理由）
    MERGE = "merge"  # 合并到重复的需求
    START_MATCHING = "start_matching"
    ASSIGN = "assign"  # 志愿者接单或书记派单
    START = "start"  # 签到，开始服务
    FINISH = "finish"  # 签退，服务完成
    CONFIRM = "confirm"  # 居民确认并评价（共评）
    AUTO_CONFIRM = "auto_confirm"  # 逾期未评价，自动确认
    CLOSE = "close"  # 办结
    CANCEL = "cancel"  # 居民在派单前撤销
    REOPEN = "reopen"  # 居民在确认后 7 天内重新打开


class Actor(StrEnum):
    REPORTER = "reporter"  # the resident the need belongs to
    STAFF = "staff"  # grid member, secretary or street admin over the need's place
    LEADER = "leader"  # secretary or street admin over the need's place
    ASSIGNEE = "assignee"  # the volunteer doing it
    SYSTEM = "system"  # scheduled jobs


@dataclass(frozen=True)
class Transition:
    sources: frozenset[NeedStatus]
    target: NeedStatus
    actors: frozenset[Actor]


def _t(sources: set[NeedStatus], target: NeedStatus, actors: set[Actor]) -> Transition:
    return Transition(frozenset(sources), target, frozenset(actors))


OPEN_FOR_TRIAGE = {S.SUBMITTED, S.REOPENED}
BEFORE_ASSIGNMENT = {S.SUBMITTED, S.ACCEPTED, S.MATCHING, S.REOPENED}

TRANSITIONS: dict[Action, Transition] = {
    Action.ACCEPT: _t(OPEN_FOR_TRIAGE, S.ACCEPTED, {Actor.STAFF}),
    Action.REJECT: _t(OPEN_FOR_TRIAGE, S.REJECTED, {Actor.STAFF}),
    Action.MERGE: _t(OPEN_FOR_TRIAGE | {S.ACCEPTED}, S.MERGED, {Actor.STAFF}),
    Action.START_MATCHING: _t({S.ACCEPTED}, S.MATCHING, {Actor.STAFF, Actor.SYSTEM}),
    Action.ASSIGN: _t({S.ACCEPTED, S.MATCHING}, S.ASSIGNED, {Actor.LEADER, Actor.SYSTEM}),
    Action.START: _t({S.ASSIGNED}, S.IN_PROGRESS, {Actor.ASSIGNEE, Actor.LEADER}),
    Action.FINISH: _t({S.IN_PROGRESS}, S.DONE, {Actor.ASSIGNEE, Actor.LEADER}),
    Action.CONFIRM: _t({S.DONE}, S.CONFIRMED, {Actor.REPORTER}),
    Action.AUTO_CONFIRM: _t({S.DONE}, S.CONFIRMED, {Actor.SYSTEM}),
    Action.CLOSE: _t({S.CONFIRMED}, S.CLOSED, {Actor.STAFF, Actor.SYSTEM}),
    Action.CANCEL: _t(BEFORE_ASSIGNMENT, S.CANCELLED, {Actor.REPORTER}),
    Action.REOPEN: _t({S.CONFIRMED, S.CLOSED}, S.REOPENED, {Actor.REPORTER}),
}

# Statuses in which a need still needs work (queues, duplicates, SLA scans).
OPEN_STATUSES = frozenset(
    {S.SUBMITTED, S.ACCEPTED, S.MATCHING, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED}
)
FINAL_STATUSES = frozenset({S.REJECTED, S.MERGED, S.CLOSED, S.CANCELLED})


class IllegalTransition(errors.Conflict):
    code = "illegal_transition"
    default_message = "当前状态下不能进行此操作"


def next_status(action: Action, current: NeedStatus, actors: frozenset[Actor]) -> NeedStatus:
    """The status after ``action``; 409 with the current state if not allowed from here, 403 if
    allowed but not for these actors."""
    transition = TRANSITIONS[action]
    if current not in transition.sources:
        raise IllegalTransition(
            f"需求当前为“{STATUS_LABELS[current]}”，不能{ACTION_LABELS[action]}",
            details={"status": current.value, "action": action.value},
        )
    if not transition.actors & actors:
        raise errors.PermissionDenied(
            f"您不能对这条需求{ACTION_LABELS[action]}", details={"action": action.value}
        )
    return transition.target


ACTION_LABELS: dict[Action, str] = {
    Action.ACCEPT: "受理",
    Action.REJECT: "不予受理",
    Action.MERGE: "合并",
    Action.START_MATCHING: "开始匹配志愿者",
    Action.ASSIGN: "派单",
    Action.START: "开始服务",
    Action.FINISH: "完成服务",
    Action.CONFIRM: "确认评价",
    Action.AUTO_CONFIRM: "自动确认",
    Action.CLOSE: "办结",
    Action.CANCEL: "撤销",
    Action.REOPEN: "重新打开",
}
