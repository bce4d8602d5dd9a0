"""Every action from every status, for every kind of actor (pure)."""

from __future__ import annotations

import pytest

from server.core import errors
from server.needs.lifecycle import TRANSITIONS, Action, Actor, IllegalTransition, next_status
from server.needs.models import NeedStatus as S

ALLOWED = {
    # action: (sources, target, actors)
    Action.ACCEPT: ({S.SUBMITTED, S.REOPENED}, S.ACCEPTED, {Actor.STAFF}),
    Action.REJECT: ({S.SUBMITTED, S.REOPENED}, S.REJECTED, {Actor.STAFF}),
    Action.MERGE: ({S.SUBMITTED, S.REOPENED, S.ACCEPTED}, S.MERGED, {Actor.STAFF}),
    Action.START_MATCHING: ({S.ACCEPTED}, S.MATCHING, {Actor.STAFF, Actor.SYSTEM}),
    Action.ASSIGN: ({S.ACCEPTED, S.MATCHING}, S.ASSIGNED, {Actor.LEADER, Actor.SYSTEM}),
    Action.START: ({S.ASSIGNED}, S.IN_PROGRESS, {Actor.ASSIGNEE, Actor.LEADER}),
    Action.FINISH: ({S.IN_PROGRESS}, S.DONE, {Actor.ASSIGNEE, Actor.LEADER}),
    Action.CONFIRM: ({S.DONE}, S.CONFIRMED, {Actor.REPORTER}),
    Action.AUTO_CONFIRM: ({S.DONE}, S.CONFIRMED, {Actor.SYSTEM}),
    Action.CLOSE: ({S.CONFIRMED}, S.CLOSED, {Actor.STAFF, Actor.SYSTEM}),
    Action.CANCEL: (
        {S.SUBMITTED, S.ACCEPTED, S.MATCHING, S.REOPENED},
        S.CANCELLED,
        {Actor.REPORTER},
    ),
    Action.REOPEN: ({S.CONFIRMED, S.CLOSED}, S.REOPENED, {Actor.REPORTER}),
}

CASES = [(action, status, actor) for action in Action for status in S for actor in Actor]


def test_the_table_is_the_documented_one() -> None:
    assert set(TRANSITIONS) == set(Action)
    for action, (sources, target, actors) in ALLOWED.items():
        transition = TRANSITIONS[action]
        assert (set(transition.sources), transition.target, set(transition.actors)) == (
            sources,
            target,
            actors,
        )


@pytest.mark.parametrize(("action", "status", "actor"), CASES)
def test_each_action_from_each_status_by_each_actor(
    action: Action, status: S, actor: Actor
) -> None:
    sources, target, actors = ALLOWED[action]
    if status not in sources:
        with pytest.raises(IllegalTransition) as caught:
            next_status(action, status, frozenset({actor}))
        assert caught.value.status == 409
        assert caught.value.details == {"status": status.value, "action": action.value}
    elif actor not in actors:
        with pytest.raises(errors.PermissionDenied):
            next_status(action, status, frozenset({actor}))
    else:
        assert next_status(action, status, frozenset({actor})) is target


def test_final_states_allow_nothing_but_reopening_a_closed_need() -> None:
    for status in (S.REJECTED, S.MERGED, S.CANCELLED):
        assert not any(status in t.sources for t in TRANSITIONS.values())
    assert [a for a, t in TRANSITIONS.items() if S.CLOSED in t.sources] == [Action.REOPEN]
