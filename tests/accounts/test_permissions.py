"""The permission rule table, role by role (pure: no database)."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.accounts.permissions import Action, Grant, Place, Principal, allows

STREET, OTHER_STREET = 1, 2
COMMUNITY, OTHER_COMMUNITY = 10, 11
COMPOUND = "/1/2/"  # a level-2 grid of COMMUNITY
BUILDING = "/1/2/3/"  # a level-3 grid under it
OTHER_BUILDING = "/1/4/5/"  # same community, another compound
HOUSEHOLD, NEIGHBOUR = 100, 101

home = Place(STREET, COMMUNITY, BUILDING, HOUSEHOLD)
neighbour = Place(STREET, COMMUNITY, BUILDING, NEIGHBOUR)
far_household = Place(STREET, COMMUNITY, OTHER_BUILDING, 102)
community = Place(STREET, COMMUNITY)
other_community = Place(STREET, OTHER_COMMUNITY)
other_street = Place(OTHER_STREET, 20)
compound = Place(STREET, COMMUNITY, COMPOUND)

resident = Principal(1, (Grant(Role.RESIDENT, STREET, COMMUNITY, BUILDING, HOUSEHOLD),))
volunteer = Principal(2, (Grant(Role.VOLUNTEER, STREET, COMMUNITY),))
grid_member = Principal(3, (Grant(Role.GRID_MEMBER, STREET, COMMUNITY, COMPOUND),))
secretary = Principal(4, (Grant(Role.SECRETARY, STREET, COMMUNITY),))
street_admin = Principal(5, (Grant(Role.STREET_ADMIN, STREET),))
nobody = Principal(6, ())

CASES = [
    # (who, action, where, allowed)
    (resident, Action.VIEW_HOUSEHOLD, home, True),
    (resident, Action.VIEW_HOUSEHOLD, neighbour, False),
    (resident, Action.SUBMIT_NEED_FOR_HOUSEHOLD, home, True),
    (resident, Action.SUBMIT_NEED_FOR_HOUSEHOLD, neighbour, False),
    (resident, Action.VIEW_COMMUNITY, community, True),
    (resident, Action.VIEW_COMMUNITY, other_community, False),
    (resident, Action.TRIAGE_NEEDS, home, False),
    (resident, Action.MANAGE_INVITES, community, False),
    (volunteer, Action.VIEW_COMMUNITY, community, True),
    (volunteer, Action.VIEW_HOUSEHOLD, home, False),
    (volunteer, Action.TRIAGE_NEEDS, community, False),
    (volunteer, Action.VIEW_ORG_TREE, community, False),
    (grid_member, Action.VIEW_HOUSEHOLD, home, True),  # inside their compound
    (grid_member, Action.VIEW_HOUSEHOLD, far_household, False),  # another compound
    (grid_member, Action.SUBMIT_NEED_FOR_HOUSEHOLD, home, True),  # 代办
    (grid_member, Action.TRIAGE_NEEDS, home, True),
    (grid_member, Action.TRIAGE_NEEDS, far_household, False),
    (grid_member, Action.TRIAGE_NEEDS, compound, True),
    (grid_member, Action.ASSIGN_TASKS, home, False),
    (grid_member, Action.MANAGE_INVITES, community, False),
    (grid_member, Action.VIEW_ORG_TREE, community, False),  # the whole community is above them
    (secretary, Action.VIEW_HOUSEHOLD, far_household, True),
    (secretary, Action.TRIAGE_NEEDS, far_household, True),
    (secretary, Action.ASSIGN_TASKS, community, True),
    (secretary, Action.MANAGE_INVITES, community, True),
    (secretary, Action.APPROVE_HOURS, community, True),
    (secretary, Action.MANAGE_INVITES, other_community, False),
    (secretary, Action.VIEW_STREET, community, False),
    (street_admin, Action.MANAGE_INVITES, other_community, True),
    (street_admin, Action.VIEW_HOUSEHOLD, home, True),
    (street_admin, Action.VIEW_STREET, community, True),
    (street_admin, Action.VIEW_COMMUNITY, other_street, False),
    (nobody, Action.VIEW_COMMUNITY, community, False),
]


@pytest.mark.parametrize(("who", "action", "where", "allowed"), CASES)
def test_rule(who: Principal, action: Action, where: Place, allowed: bool) -> None:
    assert allows(who, action, where) is allowed


def test_several_roles_add_up() -> None:
    both = Principal(7, resident.grants + grid_member.grants)
    assert allows(both, Action.TRIAGE_NEEDS, far_household) is False
    assert allows(both, Action.TRIAGE_NEEDS, neighbour) is True
    assert allows(both, Action.VIEW_HOUSEHOLD, home) is True


def test_every_action_has_a_rule() -> None:
    from server.accounts.permissions import RULES

    assert set(RULES) == set(Action)
