"""HTTP views of login, profile, invites and joining: parse, call one service, render."""

from __future__ import annotations

from aiohttp import web

from server.accounts import schemas, service
from server.accounts.models import ROLE_LABELS, Person, Role
from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import REDIS, SETTINGS, WECHAT
from server.core.routes import ApiRoutes

routes = ApiRoutes(tag="账号")

DEMO_OPENID_PREFIX = "demo-"
DEMO_IDENTITY_LIMIT = 40


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_request(request: web.Request) -> Principal:
    """The app's authenticator: bearer token → session → principal."""
    return await service.authenticate(redis=request.config_dict[REDIS], token=bearer_token(request))


async def person_out(person: Person) -> schemas.PersonOut:
    roles = await service.describe_roles(person_id=person.id)
    return schemas.PersonOut(
        id=person.id,
        name=person.name,
        phone=person.phone,
        is_party_member=person.is_party_member,
        roles=[
            schemas.RoleOut(
                role=view.role.value,
                role_label=ROLE_LABELS[view.role],
                scope_type=view.scope_type,  # type: ignore[arg-type]
                scope_id=view.scope_id,
                scope_name=view.scope_name,
                community_id=view.community_id,
            )
            for view in roles
        ],
    )


@routes.post(
    "/api/v1/auth/wx-login",
    body=schemas.WxLoginIn,
    response=schemas.LoginOut,
    auth=False,
    summary="微信登录：用 wx.login 的 code 换取会话",
    errors=(errors.NotAuthenticated, errors.TooManyRequests, errors.UpstreamUnavailable),
)
async def wx_login(request: web.Request, *, body: schemas.WxLoginIn) -> schemas.LoginOut:
    settings = request.config_dict[SETTINGS]
    result = await service.login_with_code(
        wechat=request.config_dict[WECHAT],
        redis=request.config_dict[REDIS],
        code=body.code,
        ttl_seconds=settings.session_ttl_seconds,
    )
    return schemas.LoginOut(
        token=result.token,
        expires_in=result.expires_in,
        first_login=result.created,
        person=await person_out(result.person),
    )


@routes.post("/api/v1/auth/logout", summary="退出登录", status=204, auth=False)
async def logout(request: web.Request) -> None:
    token = bearer_token(request)
    if token:
        await service.logout(redis=request.config_dict[REDIS], token=token)


@routes.get("/api/v1/me", response=schemas.PersonOut, summary="我的信息与身份")
async def me(request: web.Request, *, principal: Principal) -> schemas.PersonOut:
    return await person_out(await Person.get(id=principal.person_id))


@routes.patch(
    "/api/v1/me",
    body=schemas.ProfileUpdateIn,
    response=schemas.PersonOut,
    summary="修改姓名或手机号",
)
async def update_me(
    request: web.Request, *, principal: Principal, body: schemas.ProfileUpdateIn
) -> schemas.PersonOut:
    person = await service.update_profile(
        person_id=principal.person_id, name=body.name, phone=body.phone
    )
    return await person_out(person)


@routes.post(
    "/api/v1/auth/join",
    body=schemas.JoinIn,
    response=schemas.PersonOut,
    summary="居民用社区加入码绑定住户",
    errors=(errors.NotFound, errors.ValidationFailed),
)
async def join(
    request: web.Request, *, principal: Principal, body: schemas.JoinIn
) -> schemas.PersonOut:
    await service.join_household(
        person_id=principal.person_id, join_code=body.join_code, household_id=body.household_id
    )
    return await person_out(await Person.get(id=principal.person_id))


@routes.post(
    "/api/v1/auth/redeem-invite",
    body=schemas.RedeemInviteIn,
    response=schemas.PersonOut,
    summary="使用邀请码成为网格员或志愿者",
    errors=(errors.NotFound, errors.Conflict),
)
async def redeem_invite(
    request: web.Request, *, principal: Principal, body: schemas.RedeemInviteIn
) -> schemas.PersonOut:
    await service.redeem_invite(person_id=principal.person_id, code=body.code)
    return await person_out(await Person.get(id=principal.person_id))


@routes.post(
    "/api/v1/communities/{community_id}/invites",
    params=schemas.CommunityPath,
    body=schemas.InviteCreateIn,
    response=schemas.InviteOut,
    status=201,
    summary="书记创建邀请码（网格员需指定网格）",
    errors=(errors.PermissionDenied, errors.NotFound, errors.ValidationFailed),
)
async def create_invite(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.InviteCreateIn,
) -> schemas.InviteOut:
    invite = await service.create_invite(
        principal=principal,
        community_id=params.community_id,
        role=Role(body.role),
        grid_id=body.grid_id,
        max_uses=body.max_uses,
        expires_in_days=body.expires_in_days,
    )
    return schemas.InviteOut.model_validate(invite)


@routes.get(
    "/api/v1/dev/demo-identities",
    response=schemas.DemoIdentitiesOut,
    auth=False,
    summary="演示身份列表（仅开发模式）",
)
async def demo_identities(request: web.Request) -> schemas.DemoIdentitiesOut:
    if not request.config_dict[SETTINGS].is_dev:
        raise errors.NotFound()
    people = await Person.filter(openid__startswith=DEMO_OPENID_PREFIX).order_by("id")
    by_role: dict[str, list[schemas.DemoIdentityOut]] = {}
    for person in people:
        out = await person_out(person)
        primary = out.roles[-1].role if out.roles else "none"
        bucket = by_role.setdefault(primary, [])
        if len(bucket) < DEMO_IDENTITY_LIMIT // 5:
            bucket.append(
                schemas.DemoIdentityOut(
                    openid=person.openid or "", name=person.name, roles=out.roles
                )
            )
    return schemas.DemoIdentitiesOut(items=[item for group in by_role.values() for item in group])
