"""HTTP views of 双报到: registration, my progress, the secretary's list and the expectation."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.clock import utcnow
from server.core.routes import ApiRoutes
from server.party import schemas, service
from server.party.models import REGISTRATION_LABELS
from server.party.progress import Progress

routes = ApiRoutes(tag="双报到")


def progress_out(progress: Progress | None) -> schemas.ProgressOut | None:
    if progress is None:
        return None
    return schemas.ProgressOut(
        year=progress.year,
        approved_hours=progress.approved,
        pending_hours=progress.pending,
        expected_year=progress.expected_year,
        expected_to_date=progress.expected_to_date,
        behind_hours=progress.behind,
        remaining_hours=progress.remaining,
        status=progress.status,
        status_label=progress.label,
    )


def registration_out(view: service.MemberProgress) -> schemas.RegistrationOut:
    r = view.registration
    return schemas.RegistrationOut(
        id=r.id,
        person_id=r.person_id,
        name=view.name,
        community_id=r.community_id,
        community_name=view.community_name,
        work_unit=r.work_unit,
        party_branch=r.party_branch,
        registered_on=r.registered_on,
        status=r.status,
        status_label=REGISTRATION_LABELS[r.status],
        ended_at=r.ended_at,
        ended_reason=r.ended_reason,
        progress=progress_out(view.progress),
    )


def setting_out(setting: service.Setting) -> schemas.SettingOut:
    return schemas.SettingOut(
        community_id=setting.community_id,
        yearly_hours=setting.yearly_hours,
        default=setting.default,
    )


@routes.post(
    "/api/v1/party/registrations",
    body=schemas.RegistrationIn,
    response=schemas.RegistrationOut,
    status=201,
    summary="在职党员到居住地社区报到（每人每社区一条有效报到）",
    errors=(
        errors.NotFound,
        service.NotPartyMember,
        errors.PermissionDenied,
        service.AlreadyRegistered,
    ),
)
async def party_register(
    request: web.Request, *, principal: Principal, body: schemas.RegistrationIn
) -> schemas.RegistrationOut:
    return registration_out(
        await service.register(
            principal=principal,
            community_id=body.community_id,
            work_unit=body.work_unit,
            party_branch=body.party_branch,
            registered_on=body.registered_on,
            now=utcnow(),
        )
    )


@routes.get(
    "/api/v1/party/registrations/me",
    query=schemas.YearQuery,
    response=schemas.RegistrationListOut,
    summary="我的报到记录和今年的服务进度",
)
async def my_party_registrations(
    request: web.Request, *, principal: Principal, query: schemas.YearQuery
) -> schemas.RegistrationListOut:
    views = await service.my_registrations(principal=principal, year=query.year, now=utcnow())
    return schemas.RegistrationListOut(items=[registration_out(v) for v in views])


@routes.post(
    "/api/v1/party/registrations/{registration_id}/end",
    params=schemas.RegistrationPath,
    body=schemas.EndIn,
    response=schemas.RegistrationOut,
    summary="结束报到（搬离等）：本人或社区书记",
    errors=(errors.NotFound, errors.Conflict),
)
async def end_party_registration(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.RegistrationPath,
    body: schemas.EndIn,
) -> schemas.RegistrationOut:
    return registration_out(
        await service.end_registration(
            principal=principal,
            registration_id=params.registration_id,
            reason=body.reason,
            now=utcnow(),
        )
    )


@routes.get(
    "/api/v1/communities/{community_id}/party/members",
    params=schemas.CommunityPath,
    query=schemas.MembersQuery,
    response=schemas.MembersOut,
    summary="书记查看报到党员的服务进度：落后最多的在前，可按状态、支部、单位筛选",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def party_members(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.MembersQuery,
) -> schemas.MembersOut:
    result = await service.community_members(
        principal=principal,
        community_id=params.community_id,
        year=query.year,
        status=query.status,
        party_branch=query.party_branch,
        work_unit=query.work_unit,
        limit=query.limit,
        now=utcnow(),
    )
    return schemas.MembersOut(
        community_id=result.community_id,
        year=result.year,
        yearly_hours=result.yearly_hours,
        as_of=result.as_of,
        total=result.total,
        behind=result.behind,
        items=[registration_out(v) for v in result.items],
    )


@routes.get(
    "/api/v1/communities/{community_id}/party/settings",
    params=schemas.CommunityPath,
    response=schemas.SettingOut,
    summary="社区对报到党员的年度服务时长要求（默认 12 小时）",
    errors=(errors.NotFound,),
)
async def get_party_setting(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.SettingOut:
    return setting_out(
        await service.get_setting(principal=principal, community_id=params.community_id)
    )


@routes.put(
    "/api/v1/communities/{community_id}/party/settings",
    params=schemas.CommunityPath,
    body=schemas.SettingIn,
    response=schemas.SettingOut,
    summary="书记设置年度服务时长要求",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def update_party_setting(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.SettingIn,
) -> schemas.SettingOut:
    return setting_out(
        await service.update_setting(
            principal=principal, community_id=params.community_id, hours=body.yearly_hours
        )
    )
