"""The one table of a project's allowed status changes and who may make each (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.core import errors
from server.projects.models import STATUS_LABELS, ProjectStatus

S = ProjectStatus


class Action(StrEnum):
    START = "start"  # 开工
    ESCALATE = "escalate"  # 难点提交联席会议（须说明）
    RESUME = "resume"  # 联席会议协调后继续推进
    FINISH = "finish"  # 完成（进度记为 100%）
    CANCEL = "cancel"  # 撤销（须说明）


class Actor(StrEnum):
    OWNER = "owner"  # the responsible person
    LEADER = "leader"  # secretary of the community or street admin


@dataclass(frozen=True)
class Transition:
    sources: frozenset[ProjectStatus]
    target: ProjectStatus
    actors: frozenset[Actor]
    needs_note: bool = False


def _t(
    sources: set[ProjectStatus], target: ProjectStatus, actors: set[Actor], needs_note: bool = False
) -> Transition:
    return Transition(frozenset(sources), target, frozenset(actors), needs_note)


BOTH = {Actor.OWNER, Actor.LEADER}
TRANSITIONS: dict[Action, Transition] = {
    Action.START: _t({S.PLANNED}, S.IN_PROGRESS, BOTH),
    Action.ESCALATE: _t({S.PLANNED, S.IN_PROGRESS}, S.JOINT_MEETING, BOTH, needs_note=True),
    Action.RESUME: _t({S.JOINT_MEETING}, S.IN_PROGRESS, {Actor.LEADER}),
    Action.FINISH: _t({S.IN_PROGRESS}, S.DONE, BOTH),
    Action.CANCEL: _t(
        {S.PLANNED, S.IN_PROGRESS, S.JOINT_MEETING}, S.CANCELLED, {Actor.LEADER}, True
    ),
}

# Projects still being worked on: they get monthly updates and reminders, and appear in digests.
ACTIVE_STATUSES = frozenset({S.PLANNED, S.IN_PROGRESS, S.JOINT_MEETING})

ACTION_LABELS: dict[Action, str] = {
    Action.START: "开工",
    Action.ESCALATE: "提交联席会议",
    Action.RESUME: "继续推进",
    Action.FINISH: "完成",
    Action.CANCEL: "撤销",
}


class IllegalTransition(errors.Conflict):
    code = "illegal_transition"
    default_message = "当前状态下不能进行此操作"


def next_status(
    action: Action, current: ProjectStatus, actors: frozenset[Actor], note: str
) -> ProjectStatus:
    """The status after ``action``: 409 with the current state if not allowed from here, 403 if
    allowed but not for these actors, 400 when the action needs a note and has none."""
    transition = TRANSITIONS[action]
    label = ACTION_LABELS[action]
    if current not in transition.sources:
        raise IllegalTransition(
            f"项目当前为“{STATUS_LABELS[current]}”，不能{label}",
            details={"status": current.value, "action": action.value},
        )
    if not transition.actors & actors:
        raise errors.PermissionDenied(f"您不能对这个项目{label}", details={"action": action.value})
    if transition.needs_note and not note.strip():
        raise errors.ValidationFailed(f"{label}须说明理由", details={"field": "note"})
    return transition.target
