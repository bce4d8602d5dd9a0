"""Open311: API keys, reading the public needs list, and placing submitted needs.

A submitted need goes through ``server.needs.service.create_need`` like every other way in. It
skips the WeChat content check (``_check_content``): msg_sec_check needs the openid of a WeChat
user, and an Open311 reporter has none; staff see every need before it is accepted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from server.accounts.models import Person
from server.core.clock import utcnow
from server.core.geo import bounding_box, distance_m
from server.needs.masking import address_to_building
from server.needs.models import Need, NeedUrgency
from server.needs.service import Duplicate, create_need
from server.open311.errors import BadRequest, Forbidden, NotFound
from server.open311.models import Open311Key, Open311Submission
from server.open311.schemas import RESULTS_MAX, RequestQuery, SubmissionIn
from server.org.models import Community, Grid, Household, Street

KEY_BYTES = 24  # 32 URL-safe characters
DEMO_KEY = "demo-open311-key"  # dev mode only: `dangqun demo` / `seed-demo` create it
DEMO_STREET_CODE = "demo-street"
NEAREST_HOUSEHOLD_M = 1000  # a point farther than this from every household is not ours
SUBMIT_ACTION = "open311_submit"  # the action of the need's first audit row


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- keys ---------------------------------------------------------------------------------


def new_key() -> str:
    """A random key that starts with a letter or digit (a leading ``-`` reads as an option in
    shells and command lines such as ``dangqun open311-key revoke KEY``)."""
    while True:
        key = secrets.token_urlsafe(KEY_BYTES)
        if key[0].isalnum():
            return key


async def create_key(*, street_code: str, name: str = "", key: str | None = None) -> str:
    """A new key for the street's communities; returns the key itself (only its hash is kept)."""
    street = await Street.get_or_none(code=street_code)
    if street is None:
        raise NotFound(f"找不到街道：{street_code}")
    key = key or new_key()
    await Open311Key.create(
        street=street, key_hash=hash_key(key), key_prefix=key[:8], name=name.strip()[:64]
    )
    return key


async def list_keys() -> list[Open311Key]:
    """Every key, revoked ones too, oldest first, with its street."""
    return await Open311Key.all().select_related("street").order_by("id")


async def revoke_key(*, key_or_id: str) -> Open311Key | None:
    """Revoke a key given itself or its id (from ``list``); None when there is no such key."""
    record = await Open311Key.get_or_none(key_hash=hash_key(key_or_id))
    if record is None and key_or_id.isascii() and key_or_id.isdigit():
        record = await Open311Key.get_or_none(id=int(key_or_id))
    if record is None:
        return None
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        await record.save(update_fields=["revoked_at"])
    return record


async def ensure_demo_key() -> bool:
    """The demo key ``demo-open311-key`` of the demo street (dev mode only); True if created."""
    if await Open311Key.exists(key_hash=hash_key(DEMO_KEY)):
        return False
    if not await Street.exists(code=DEMO_STREET_CODE):
        return False
    await create_key(street_code=DEMO_STREET_CODE, name="演示密钥", key=DEMO_KEY)
    return True


async def authenticate_key(*, api_key: str | None, allow_demo: bool) -> Open311Key:
    """The live key; 400 when missing, 403 when unknown or revoked (or the demo key outside dev)."""
    if not api_key:
        raise BadRequest("缺少 api_key")
    if api_key == DEMO_KEY and not allow_demo:
        raise Forbidden("演示密钥只能在开发模式下使用")
    record = await Open311Key.get_or_none(key_hash=hash_key(api_key), revoked_at=None)
    if record is None:
        raise Forbidden("api_key 无效或已停用")
    return record


async def jurisdiction(*, code: str | None) -> Street | None:
    """The street a ``jurisdiction_id`` names (None when not given); 404 when unknown."""
    if not code:
        return None
    street = await Street.get_or_none(code=code)
    if street is None:
        raise NotFound(f"找不到 jurisdiction_id：{code}")
    return street


# --- reading --------------------------------------------------------------------------------


async def list_requests(*, street: Street | None, query: RequestQuery) -> list[Need]:
    """Needs matching the query (of the street, when one is named), newest first, at most 1000."""
    needs = Need.all()
    if street is not None:
        needs = needs.filter(community__street_id=street.id)
    if query.ids:
        needs = needs.filter(id__in=list(query.ids))
    else:
        if query.categories:
            needs = needs.filter(category__in=list(query.categories))
        if query.statuses:
            needs = needs.filter(status__in=list(query.statuses))
        if query.start is not None:
            needs = needs.filter(created_at__gte=query.start)
        if query.end is not None:
            needs = needs.filter(created_at__lte=query.end)
    return await needs.select_related("community").order_by("-created_at", "-id").limit(RESULTS_MAX)


async def get_request(*, street: Street | None, need_id: str) -> Need:
    """One need by its service_request_id; 404 when there is none (in the named street)."""
    if not need_id.isascii() or not need_id.isdigit():
        raise NotFound(f"找不到 service_request_id：{need_id}")
    needs = Need.filter(id=int(need_id))
    if street is not None:
        needs = needs.filter(community__street_id=street.id)
    need = await needs.select_related("community").first()
    if need is None:
        raise NotFound(f"找不到 service_request_id：{need_id}")
    return need


async def request_of_token(*, token: str) -> int:
    """The need a token stands for. Needs are created while the client waits (type realtime),
    so no token is ever handed out and every token is unknown: 404."""
    raise NotFound(f"找不到 token：{token}（需求提交后立即返回编号，不发放 token）")


# --- submitting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a submitted need lands: a building grid, maybe a household, a point, an address."""

    grid: Grid
    household: Household | None
    lat: float | None
    lng: float | None
    address: str


async def _building_address(household: Household) -> str:
    building = address_to_building(household.address)
    if building:
        return building
    community = await Community.get(id=household.community_id)
    grid = await Grid.get(id=household.grid_id)
    return f"{community.name}{grid.name}"


async def _nearest_household(street_id: int, lat: float, lng: float) -> Household | None:
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, NEAREST_HOUSEHOLD_M)
    candidates = await Household.filter(
        community__street_id=street_id,
        lat__gte=min_lat,
        lat__lte=max_lat,
        lng__gte=min_lng,
        lng__lte=max_lng,
    )
    best: tuple[float, Household] | None = None
    for household in candidates:
        assert household.lat is not None and household.lng is not None
        distance = distance_m(lat, lng, household.lat, household.lng)
        if distance <= NEAREST_HOUSEHOLD_M and (best is None or distance < best[0]):
            best = (distance, household)
    return best[1] if best else None


async def place(*, street_id: int, submission: SubmissionIn) -> Placement:
    """The household named by address_id, else the building of the nearest household within
    1 km of lat/long; both must be in the key's street. 400 when neither locates the need."""
    if submission.address_id is not None:
        household = await Household.get_or_none(id=submission.address_id)
        community = (
            await Community.get(id=household.community_id) if household is not None else None
        )
        if household is None or community is None or community.street_id != street_id:
            raise BadRequest(f"address_id {submission.address_id} 不是本街道的住户")
        return Placement(
            grid=await Grid.get(id=household.grid_id),
            household=household,
            lat=submission.lat if submission.lat is not None else household.lat,
            lng=submission.lng if submission.lng is not None else household.lng,
            address=submission.address_string or household.address,
        )
    if submission.lat is not None and submission.lng is not None:
        nearest = await _nearest_household(street_id, submission.lat, submission.lng)
        if nearest is None:
            raise BadRequest(f"该位置 {NEAREST_HOUSEHOLD_M} 米内没有本街道的住户，无法确定所属社区")
        return Placement(
            grid=await Grid.get(id=nearest.grid_id),
            household=None,  # a point near a flat is not that flat's need
            lat=submission.lat,
            lng=submission.lng,
            address=submission.address_string or await _building_address(nearest),
        )
    raise BadRequest("仅凭 address_string 无法确定位置，请同时提供 lat 和 long（或 address_id）")


@dataclass(frozen=True)
class Submitted:
    need: Need
    agency: str
    duplicates: list[Duplicate]


async def submit_request(*, key: Open311Key, submission: SubmissionIn) -> Submitted:
    """Create the need in the key's street: a new reporter, the need, and which key sent it."""
    placement = await place(street_id=key.street_id, submission=submission)
    fields = {
        "category": submission.category,
        "title": submission.title,
        "description": submission.description,
        "urgency": NeedUrgency.NORMAL,
        "lat": placement.lat,
        "lng": placement.lng,
        "address": placement.address,
    }
    async with in_transaction() as connection:
        reporter = await Person.create(
            name=submission.reporter_name, phone=submission.phone, using_db=connection
        )
        need, duplicates = await create_need(
            grid=placement.grid,
            household=placement.household,
            reporter_id=reporter.id,
            entered_by_id=None,
            actor_id=reporter.id,
            action=SUBMIT_ACTION,
            fields=fields,
            connection=connection,
        )
        await Open311Submission.create(
            need=need,
            key=key,
            email=submission.email,
            device_id=submission.device_id,
            account_id=submission.account_id,
            media_url=submission.media_url,
            using_db=connection,
        )
    community = await Community.get(id=need.community_id)
    return Submitted(need, community.name, duplicates)
