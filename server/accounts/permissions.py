"""Who may do what, where: one pure rule table and one check used by every view.

A ``Principal`` carries the person's grants (role + place). A ``Place`` says where an object sits.
A grant covers a place when the place lies inside the grant's scope:
street admin → the street; secretary and volunteer → the community;
grid member → their grid and every grid below it; resident → their own household.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.accounts.models import Role
from server.core import errors


class Action(StrEnum):
    VIEW_COMMUNITY = "view_community"  # community info, grids, public lists
    VIEW_ORG_TREE = "view_org_tree"  # grids with households and counts (staff)
    MANAGE_INVITES = "manage_invites"  # create and revoke invite codes
    VIEW_HOUSEHOLD = "view_household"
    SUBMIT_NEED_FOR_HOUSEHOLD = "submit_need_for_household"  # self, or 代办 by grid staff
    TRIAGE_NEEDS = "triage_needs"  # accept, reject, merge, move, set due time
    ASSIGN_TASKS = "assign_tasks"  # assign by hand, escalate
    APPROVE_HOURS = "approve_hours"
    MANAGE_PROJECTS = "manage_projects"  # 为民实事: owners, monthly progress
    VIEW_STREET = "view_street"
    VIEW_PASSBOOKS = "view_passbooks"  # a volunteer's 时间存折, seen by staff
    MANAGE_PASSBOOK = "manage_passbook"  # auto-approval, overdraft, points rules
    MANAGE_NOTIFICATIONS = "manage_notifications"  # see and retry notifications that failed
    VIEW_VOLUNTEERS = "view_volunteers"  # a community's volunteer profiles
    VIEW_CANDIDATES = "view_candidates"  # ranked volunteers for a need, with the reasons
    MANAGE_MATCHING = "manage_matching"  # skill tags, matching weights, party-first categories
    MANAGE_ACTIVITIES = "manage_activities"  # 志愿活动: publish, edit, cancel, check-in, close
    MANAGE_PARTY = "manage_party"  # 双报到: registered members' progress, the yearly expectation
    EXPORT_NEEDS = "export_needs"  # the monthly needs list as a spreadsheet (群众需求清单)


STAFF = frozenset({Role.GRID_MEMBER, Role.SECRETARY, Role.STREET_ADMIN})
LEADERS = frozenset({Role.SECRETARY, Role.STREET_ADMIN})
EVERYONE = frozenset(Role)

RULES: dict[Action, frozenset[Role]] = {
    Action.VIEW_COMMUNITY: EVERYONE,
    Action.VIEW_ORG_TREE: STAFF,
    Action.MANAGE_INVITES: LEADERS,
    Action.VIEW_HOUSEHOLD: frozenset({Role.RESIDENT}) | STAFF,
    Action.SUBMIT_NEED_FOR_HOUSEHOLD: frozenset({Role.RESIDENT}) | STAFF,
    Action.TRIAGE_NEEDS: STAFF,
    Action.ASSIGN_TASKS: LEADERS,
    Action.APPROVE_HOURS: LEADERS,
    Action.MANAGE_PROJECTS: LEADERS,
    Action.VIEW_STREET: frozenset({Role.STREET_ADMIN}),
    Action.VIEW_PASSBOOKS: STAFF,
    Action.MANAGE_PASSBOOK: LEADERS,
    Action.MANAGE_NOTIFICATIONS: LEADERS,
    Action.VIEW_VOLUNTEERS: STAFF,
    Action.VIEW_CANDIDATES: STAFF,
    Action.MANAGE_MATCHING: LEADERS,
    Action.MANAGE_ACTIVITIES: LEADERS,
    Action.MANAGE_PARTY: LEADERS,
    Action.EXPORT_NEEDS: LEADERS,
}


@dataclass(frozen=True)
class Grant:
    """One role held in one place (copied from ``RoleGrant``)."""

    role: Role
    street_id: int
    community_id: int | None = None
    grid_path: str = ""
    household_id: int | None = None


@dataclass(frozen=True)
class Place:
    """Where an object sits; the more is known, the more grants can cover it."""

    street_id: int
    community_id: int | None = None
    grid_path: str = ""
    household_id: int | None = None


@dataclass(frozen=True)
class Principal:
    """The person making a request, with every grant they hold."""

    person_id: int
    grants: tuple[Grant, ...] = ()
    # read with the grants (one query) for the WeChat content check; None: unknown or no WeChat
    openid: str | None = None

    def has_role(self, role: Role) -> bool:
        return any(grant.role is role for grant in self.grants)

    def grants_for(self, role: Role) -> tuple[Grant, ...]:
        return tuple(grant for grant in self.grants if grant.role is role)


def covers(grant: Grant, place: Place) -> bool:
    """Whether the place lies inside the grant's scope."""
    if grant.street_id != place.street_id:
        return False
    match grant.role:
        case Role.STREET_ADMIN:
            return True
        case Role.SECRETARY | Role.VOLUNTEER:
            return place.community_id is not None and grant.community_id == place.community_id
        case Role.GRID_MEMBER:
            return (
                grant.community_id == place.community_id
                and bool(grant.grid_path)
                and place.grid_path.startswith(grant.grid_path)
            )
        case Role.RESIDENT:
            if place.household_id is not None:
                return grant.household_id == place.household_id
            # a place without a household (a community, a grid) is seen by its residents
            return (
                grant.community_id == place.community_id
                and place.community_id is not None
                and (not place.grid_path or grant.grid_path.startswith(place.grid_path))
            )
    return False


def allows(principal: Principal, action: Action, place: Place) -> bool:
    """Can this person do this action on something at this place?"""
    roles = RULES[action]
    return any(grant.role in roles and covers(grant, place) for grant in principal.grants)


def member_of(principal: Principal, place: Place) -> bool:
    """Holds any role in the place's community (a grid member of any of its grids too)."""
    return any(grant.community_id == place.community_id for grant in principal.grants)


def sees_community(principal: Principal, place: Place) -> bool:
    """May read the community's public lists (需求公示, 为民实事, 共享清单): everyone of the
    community and the street's admins. A grid member's grant covers places inside their grid,
    not the community as a whole, so ``VIEW_COMMUNITY`` alone would leave them out."""
    return allows(principal, Action.VIEW_COMMUNITY, place) or member_of(principal, place)


def require(principal: Principal, action: Action, place: Place) -> None:
    """Raise ``PermissionDenied`` unless ``allows``."""
    if not allows(principal, action, place):
        raise errors.PermissionDenied(details={"action": action.value})
