"""HTTP views of volunteer profiles (志愿红): parse, call one service function, render."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.routes import ApiRoutes
from server.volunteers import schemas, service
from server.volunteers.models import VolunteerProfile

routes = ApiRoutes(tag="志愿者")


def profile_out(view: service.ProfileView, *, viewer_id: int) -> schemas.ProfileOut:
    profile, person = view.profile, view.person
    show_phone = viewer_id == person.id or profile.phone_visible
    return schemas.ProfileOut(
        person_id=person.id,
        name=person.name,
        community_id=profile.community_id,
        exists=view.exists,
        skills=list(profile.skills),
        availability=[schemas.SlotOut.model_validate(slot) for slot in profile.availability],
        home_lat=profile.home_lat,
        home_lng=profile.home_lng,
        service_radius_m=profile.service_radius_m,
        max_concurrent_tasks=profile.max_concurrent_tasks,
        phone_visible=profile.phone_visible,
        phone=person.phone if show_phone else None,
        is_party_member=person.is_party_member,
        track_record=_track_record(profile),
        updated_at=profile.updated_at if view.exists else None,
    )


def _track_record(profile: VolunteerProfile) -> schemas.TrackRecordOut:
    return schemas.TrackRecordOut(
        active_tasks=profile.active_tasks,
        accepted_count=profile.accepted_count,
        declined_count=profile.declined_count,
        completed_count=profile.completed_count,
        abandoned_count=profile.abandoned_count,
        rating_count=profile.rating_count,
        average_rating=round(profile.rating_sum / profile.rating_count, 2)
        if profile.rating_count
        else None,
    )


@routes.get(
    "/api/v1/volunteers/me/profile",
    response=schemas.ProfileOut,
    summary="我的志愿者档案（未填写时返回默认值，exists=false）",
    errors=(errors.PermissionDenied,),
)
async def my_profile(request: web.Request, *, principal: Principal) -> schemas.ProfileOut:
    view = await service.my_profile(principal=principal)
    return profile_out(view, viewer_id=principal.person_id)


@routes.put(
    "/api/v1/volunteers/me/profile",
    body=schemas.ProfileIn,
    response=schemas.ProfileOut,
    summary="填写或修改我的志愿者档案：技能、每周可服务时间、住址位置与服务半径、同时承接任务数",
    errors=(errors.PermissionDenied, errors.ValidationFailed),
)
async def update_my_profile(
    request: web.Request, *, principal: Principal, body: schemas.ProfileIn
) -> schemas.ProfileOut:
    view = await service.update_my_profile(principal=principal, body=body)
    return profile_out(view, viewer_id=principal.person_id)


@routes.get(
    "/api/v1/communities/{community_id}/volunteers",
    params=schemas.CommunityPath,
    query=schemas.VolunteerListQuery,
    response=schemas.VolunteerListOut,
    summary="社区志愿者名单与档案（工作人员）",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def list_volunteers(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.VolunteerListQuery,
) -> schemas.VolunteerListOut:
    page = await service.list_volunteers(
        principal=principal,
        community_id=params.community_id,
        skill=query.skill,
        party_member=query.party_member,
        offset=query.offset,
        limit=query.limit,
    )
    return schemas.VolunteerListOut(
        total=page.total,
        items=[profile_out(view, viewer_id=principal.person_id) for view in page.items],
    )


@routes.get(
    "/api/v1/communities/{community_id}/skills",
    params=schemas.CommunityPath,
    response=schemas.SkillsOut,
    summary="社区的志愿者技能标签",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def community_skills(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.SkillsOut:
    settings = await service.community_skills(principal=principal, community_id=params.community_id)
    return schemas.SkillsOut(
        community_id=settings.community_id,
        skills=list(settings.skills),
        customised=settings.customised_skills,
    )
