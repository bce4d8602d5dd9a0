"""Who sees what of a need (可见范围): the one rule behind the detail, the lists, photos, export.

For one need and one person (pure, no I/O):

- ``FULL``: the resident who reported it, the grid member who entered it for them (代办), and staff
  over its place: grid members for their grid and the grids below it, secretaries for their
  community, street admins for their street. Everything: the door, the phone, the photos, the
  timeline.
- ``CONTACT``: its volunteer (the assignee) while the task is open (assigned or in progress): the
  door, exact coordinates, photos and the reporter's name; the phone only if the resident allowed
  calls (``allow_call``).
- ``MASKED``: the same volunteer before (invitations) and after the task: the surname only
  ("王**"), no phone, the building instead of the door, coordinates to about 100 m, phone and ID
  numbers in the text masked, no photos (they may show the inside of a home), no timeline.
- anyone else: ``None``, which every view answers with 404, not 403, so that whether a need exists
  is not revealed either.

A task of the need, with its check-out photos, is for its volunteer and ``FULL`` (``sees_task``).

Lists apply the same rule as query filters (``own_needs``, ``staff_scope``). The public list of a
community (需求公示) shows the masked view (``public_view``, also what Open311 readers get) of
``PUBLIC_STATUSES`` only; the monthly export is for secretaries and street admins
(``Permission.EXPORT_NEEDS``) and, since the file leaves the app, carries the masked name and the
building, never a phone or a door.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from tortoise.expressions import Q

from server.accounts.models import Person, Role
from server.accounts.permissions import Action as Permission
from server.accounts.permissions import Place, Principal, allows, sees_community
from server.needs.masking import address_to_building, mask_name, mask_text
from server.needs.models import Need, NeedStatus
from server.org.models import Community

# Coordinates shown in masked views: 3 decimals ≈ 100 m, enough to judge the way, not the door.
COARSE_DECIMALS = 3

# Statuses in which the assignee may see the door and the phone: the task is open.
CONTACT_STATUSES = frozenset({NeedStatus.ASSIGNED, NeedStatus.IN_PROGRESS})

# 需求公示 shows what staff took on and how it ended. Not shown: submitted (nobody has read it yet,
# and Open311 text skips WeChat's content check), rejected (often abuse, or private matters),
# merged (the original it was merged into is listed) and cancelled (the resident withdrew it).
PUBLIC_STATUSES = frozenset(
    {
        NeedStatus.ACCEPTED,
        NeedStatus.MATCHING,
        NeedStatus.ASSIGNED,
        NeedStatus.IN_PROGRESS,
        NeedStatus.DONE,
        NeedStatus.CONFIRMED,
        NeedStatus.CLOSED,
        NeedStatus.REOPENED,
    }
)


WITHHELD_TEXT = "（社区受理后公开）"  # a public view's words before staff accepted the need


class Access(StrEnum):
    FULL = "full"
    CONTACT = "contact"
    MASKED = "masked"


def can_see_contact(person_id: int, need: Need) -> bool:
    """Whether a volunteer may see the need's full address and the reporter's phone: only its
    assignee, and only while the task is open (assigned or in progress)."""
    return need.assignee_id == person_id and need.status in CONTACT_STATUSES


def access_to(principal: Principal, need: Need, place: Place) -> Access | None:
    """How much of this need this person sees; ``None`` means 404."""
    if principal.person_id in (need.reporter_id, need.entered_by_id):
        return Access.FULL
    if allows(principal, Permission.TRIAGE_NEEDS, place):
        return Access.FULL
    if need.assignee_id is not None and need.assignee_id == principal.person_id:
        return Access.CONTACT if can_see_contact(principal.person_id, need) else Access.MASKED
    return None


def shows_photos(access: Access) -> bool:
    """Photos (and links to them) go only with the door: they may show the inside of a home."""
    return access is not Access.MASKED


def sees_task(principal: Principal, need: Need, place: Place, *, volunteer_id: int) -> bool:
    """A task of the need (its times, note and check-out photos, 服务凭证) is for its volunteer and
    for whoever sees the need in full: the resident who reported it sees the evidence of the
    service, as do the grid member who entered it and staff over its place."""
    return principal.person_id == volunteer_id or access_to(principal, need, place) is Access.FULL


def own_needs(principal: Principal) -> Q:
    """The needs a person reported or entered for someone else (代办): seen in full."""
    return Q(reporter_id=principal.person_id) | Q(entered_by_id=principal.person_id)


def staff_scope(principal: Principal, community: Community) -> Q | None:
    """The needs of a community this person sees in full as staff, or ``None`` for none: all of
    them for its secretaries and the street's admins, their grids' for grid members."""
    place = Place(community.street_id, community.id)
    if allows(principal, Permission.TRIAGE_NEEDS, place):
        return Q(community_id=community.id)
    paths = [
        grant.grid_path
        for grant in principal.grants_for(Role.GRID_MEMBER)
        if grant.community_id == community.id and grant.grid_path
    ]
    if not paths:
        return None
    grids = Q(grid_path__startswith=paths[0])
    for path in paths[1:]:
        grids |= Q(grid_path__startswith=path)
    return Q(community_id=community.id) & grids


def sees_public_list(principal: Principal, community: Community) -> bool:
    """需求公示 is for the community: its residents, volunteers and staff, and the street."""
    return sees_community(principal, Place(community.street_id, community.id))


def may_export(principal: Principal, community: Community) -> bool:
    """The monthly export is for the community's secretaries and the street's admins."""
    return allows(principal, Permission.EXPORT_NEEDS, Place(community.street_id, community.id))


@dataclass(frozen=True)
class NeedView:
    """A need as one person may see it (``view_of``)."""

    need: Need
    access: Access
    title: str
    description: str
    address: str
    lat: float | None
    lng: float | None
    photos: list[str]
    reporter_name: str
    reporter_phone: str | None
    rating_comment: str

    @property
    def contact_visible(self) -> bool:
        return self.access is not Access.MASKED


def _coarse(value: float | None) -> float | None:
    return round(value, COARSE_DECIMALS) if value is not None else None


def view_of(need: Need, reporter: Person | None, access: Access) -> NeedView:
    """What of the need this access level shows (pure)."""
    name = reporter.name if reporter is not None else ""
    photos = list(need.photos) if shows_photos(access) else []
    if access is Access.MASKED:
        return NeedView(
            need=need,
            access=access,
            title=mask_text(need.title),
            description=mask_text(need.description),
            address=address_to_building(need.address),
            lat=_coarse(need.lat),
            lng=_coarse(need.lng),
            photos=photos,
            reporter_name=mask_name(name),
            reporter_phone=None,
            rating_comment=mask_text(need.rating_comment),
        )
    phone = reporter.phone if reporter is not None else None
    if access is Access.CONTACT and not need.allow_call:
        phone = None
    return NeedView(
        need=need,
        access=access,
        title=need.title,
        description=need.description,
        address=need.address,
        lat=need.lat,
        lng=need.lng,
        photos=photos,
        reporter_name=name,
        reporter_phone=phone,
        rating_comment=need.rating_comment,
    )


def public_view(need: Need, reporter: Person | None) -> NeedView:
    """What anyone may see of a need: 需求公示 and the Open311 feed both show the masked view, so
    no door, no phone and no photos (``shows_photos``). Its words (title, description, rating
    comment) show only in ``PUBLIC_STATUSES``: before staff accept a need nobody has read them
    (and Open311 text skips WeChat's content check); rejected, merged or cancelled needs keep
    them private. Open311 still lists such a need, so its reporter can follow the status."""
    view = view_of(need, reporter, Access.MASKED)
    if need.status in PUBLIC_STATUSES:
        return view
    return replace(view, title=WITHHELD_TEXT, description=WITHHELD_TEXT, rating_comment="")


def volunteer_view(need: Need, reporter: Person | None, *, contact_visible: bool) -> NeedView:
    """What of the need a volunteer is shown: ``CONTACT`` while the task is open, else masked."""
    return view_of(need, reporter, Access.CONTACT if contact_visible else Access.MASKED)
