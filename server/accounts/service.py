"""Login with WeChat, sessions in Redis, roles granted by invite and join codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from server.accounts.models import InviteCode, Person, Role, RoleGrant
from server.accounts.permissions import Action, Grant, Principal, require
from server.core import errors, rawsql
from server.org.models import Community, Grid, Household
from server.org.service import community_place, grid_place, household_place
from server.wechat.client import (
    ERR_CODE_RATE_LIMITED,
    ERR_INVALID_CODE,
    WeChatClient,
    WeChatError,
    WeChatUnavailable,
)

SESSION_PREFIX = "session:"
# Unambiguous on a phone screen and when read aloud: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_CODE_LENGTH = 8
INVITABLE_ROLES = frozenset({Role.GRID_MEMBER, Role.VOLUNTEER})


def new_code(length: int = INVITE_CODE_LENGTH) -> str:
    """A random human-typeable code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _session_key(token: str) -> str:
    # Only a digest is stored, so a Redis dump does not hand out live tokens.
    return SESSION_PREFIX + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_in: int
    person: Person
    created: bool


async def login_with_code(
    *, wechat: WeChatClient, redis: Redis, code: str, ttl_seconds: int
) -> LoginResult:
    """Exchange a ``wx.login`` code for a session; the person is created on first login."""
    try:
        session = await wechat.code_to_session(code)
    except WeChatError as exc:
        if exc.errcode == ERR_INVALID_CODE:
            raise errors.NotAuthenticated(
                "登录凭证无效或已使用，请重新进入小程序", details={"wechat_errcode": exc.errcode}
            ) from exc
        if exc.errcode == ERR_CODE_RATE_LIMITED:
            raise errors.TooManyRequests(
                "登录过于频繁，请稍后再试", retry_after=60, details={"wechat_errcode": exc.errcode}
            ) from exc
        raise errors.UpstreamUnavailable(details={"wechat_errcode": exc.errcode}) from exc
    except WeChatUnavailable as exc:
        raise errors.UpstreamUnavailable() from exc
    person, created = await Person.get_or_create(
        openid=session.openid, defaults={"unionid": session.unionid}
    )
    person.last_login_at = dt.datetime.now(dt.UTC)
    await person.save(update_fields=["last_login_at"])
    token = secrets.token_urlsafe(32)
    record = {"person_id": person.id, "session_key": session.session_key}
    await redis.set(_session_key(token), json.dumps(record), ex=ttl_seconds)
    return LoginResult(token=token, expires_in=ttl_seconds, person=person, created=created)


async def logout(*, redis: Redis, token: str) -> None:
    """End a session (idempotent)."""
    await redis.delete(_session_key(token))


_PRINCIPAL = (
    'SELECT p."openid", g."role", g."street_id", g."community_id", g."grid_path",'
    ' g."household_id" FROM "person" p LEFT JOIN "role_grant" g ON g."person_id" = p."id"'
    ' WHERE p."id" = $1 ORDER BY g."id"'
)


async def load_principal(*, person_id: int) -> Principal:
    """The person with all their grants and their openid (one query: it runs on every request)."""
    rows = await rawsql.read(_PRINCIPAL, person_id)
    grants = tuple(
        Grant(
            role=Role(row["role"]),
            street_id=row["street_id"],
            community_id=row["community_id"],
            grid_path=row["grid_path"],
            household_id=row["household_id"],
        )
        for row in rows
        if row["role"] is not None  # a person without grants: one row of NULLs
    )
    openid = rows[0]["openid"] if rows else None
    return Principal(person_id=person_id, grants=grants, openid=openid)


async def authenticate(*, redis: Redis, token: str | None) -> Principal:
    """The principal of a bearer token; 401 when missing, unknown or expired."""
    if not token:
        raise errors.NotAuthenticated()
    raw = await redis.get(_session_key(token))
    if raw is None:
        raise errors.SessionExpired()
    person_id = int(json.loads(raw)["person_id"])
    return await load_principal(person_id=person_id)


async def grant_role(
    *,
    person_id: int,
    role: Role,
    community: Community | None = None,
    grid: Grid | None = None,
    household: Household | None = None,
    street_id: int | None = None,
    granted_by_id: int | None = None,
) -> RoleGrant:
    """Give a person a role in a place (idempotent: kept once per role and place)."""
    if role is Role.STREET_ADMIN:
        if street_id is None:
            raise errors.ValidationFailed("街道管理员必须指定街道")
        scope_key = f"{role.value}:street:{street_id}"
        fields: dict[str, Any] = {"street_id": street_id}
    elif role is Role.RESIDENT:
        if household is None:
            raise errors.ValidationFailed("居民必须绑定住户")
        grid = await Grid.get(id=household.grid_id)
        community = await Community.get(id=household.community_id)
        scope_key = f"{role.value}:household:{household.id}"
        fields = {
            "street_id": community.street_id,
            "community_id": community.id,
            "grid_id": grid.id,
            "household_id": household.id,
            "grid_path": grid.path,
        }
    elif role is Role.GRID_MEMBER:
        if grid is None:
            raise errors.ValidationFailed("网格员必须指定网格")
        community = await Community.get(id=grid.community_id)
        scope_key = f"{role.value}:grid:{grid.id}"
        fields = {
            "street_id": community.street_id,
            "community_id": community.id,
            "grid_id": grid.id,
            "grid_path": grid.path,
        }
    else:
        if community is None:
            raise errors.ValidationFailed("必须指定社区")
        scope_key = f"{role.value}:community:{community.id}"
        fields = {"street_id": community.street_id, "community_id": community.id}
    grant, _ = await RoleGrant.get_or_create(
        person_id=person_id,
        scope_key=scope_key,
        defaults={"role": role, "granted_by_id": granted_by_id, **fields},
    )
    return grant


async def create_invite(
    *,
    principal: Principal,
    community_id: int,
    role: Role,
    grid_id: int | None,
    max_uses: int,
    expires_in_days: int,
) -> InviteCode:
    """A secretary creates an invite code for grid members (of a grid) or volunteers."""
    community, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_INVITES, place)
    if role not in INVITABLE_ROLES:
        raise errors.ValidationFailed("邀请码只能用于网格员或志愿者")
    grid = None
    if role is Role.GRID_MEMBER:
        if grid_id is None:
            raise errors.ValidationFailed(
                "网格员邀请码必须指定网格", details=[{"field": "grid_id"}]
            )
        grid, _ = await grid_place(grid_id=grid_id)
        if grid.community_id != community.id:
            raise errors.ValidationFailed("该网格不属于本社区", details=[{"field": "grid_id"}])
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
    for _ in range(5):  # a clash of random codes is rare; try again rather than fail
        code = new_code()
        if not await InviteCode.exists(code=code):
            return await InviteCode.create(
                code=code,
                role=role,
                community=community,
                grid=grid,
                created_by_id=principal.person_id,
                max_uses=max_uses,
                expires_at=expires_at,
            )
    raise errors.Conflict("生成邀请码失败，请重试")


async def redeem_invite(*, person_id: int, code: str) -> RoleGrant:
    """Use an invite code: the person gets its role; used-up, revoked or expired codes fail."""
    normalized = code.strip().upper()
    async with in_transaction():
        invite = await InviteCode.get_or_none(code=normalized).select_related("community", "grid")
        if invite is None:
            raise errors.NotFound("邀请码无效")
        claimed = await InviteCode.filter(
            id=invite.id,
            revoked=False,
            uses__lt=F("max_uses"),
            expires_at__gt=dt.datetime.now(dt.UTC),
        ).update(uses=F("uses") + 1)
        if not claimed:
            raise errors.Conflict(
                "邀请码已过期或已用完，请联系社区书记", details={"code": normalized}
            )
        return await grant_role(
            person_id=person_id,
            role=Role(invite.role),
            community=invite.community,
            grid=invite.grid,
            granted_by_id=invite.created_by_id,
        )


async def join_household(*, person_id: int, join_code: str, household_id: int) -> RoleGrant:
    """A resident binds to a household of the community whose join code they were given."""
    community = await Community.get_or_none(join_code=join_code.strip().upper())
    if community is None:
        raise errors.NotFound("社区加入码无效，请向网格员确认")
    household, _ = await household_place(household_id=household_id)
    if household.community_id != community.id:
        raise errors.ValidationFailed("该住户不属于此社区", details=[{"field": "household_id"}])
    return await grant_role(person_id=person_id, role=Role.RESIDENT, household=household)


async def update_profile(*, person_id: int, name: str | None, phone: str | None) -> Person:
    """Change the person's own display name or phone."""
    person = await Person.get(id=person_id)
    if name is not None:
        person.name = name
    if phone is not None:
        person.phone = phone or None
    await person.save(update_fields=["name", "phone"])
    return person


@dataclass(frozen=True)
class RoleView:
    role: Role
    scope_type: str
    scope_id: int
    scope_name: str
    community_id: int | None = None  # the community the grant lies in (None: a street admin)


async def describe_roles(*, person_id: int) -> list[RoleView]:
    """Each grant with the name of its place, for the "我的" page."""
    grants = (
        await RoleGrant.filter(person_id=person_id)
        .select_related("street", "community", "grid", "household")
        .order_by("id")
    )
    views = []
    for grant in grants:
        community, grid, household = grant.community, grant.grid, grant.household
        if household is not None and community is not None and grid is not None:
            scope = ("household", household.id, f"{community.name} {grid.name} {household.label}")
        elif grid is not None and community is not None:
            scope = ("grid", grid.id, f"{community.name} {grid.name}")
        elif community is not None:
            scope = ("community", community.id, community.name)
        else:
            scope = ("street", grant.street_id, grant.street.name)
        views.append(RoleView(Role(grant.role), *scope, community_id=grant.community_id))
    return views
