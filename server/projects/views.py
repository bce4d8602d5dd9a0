"""HTTP views of the practical-matters list (为民实事清单)."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import SETTINGS
from server.core.clock import utcnow
from server.core.routes import ApiRoutes
from server.projects import schemas, service
from server.projects.lifecycle import IllegalTransition
from server.projects.models import STATUS_LABELS, ProjectStatus

routes = ApiRoutes(tag="为民实事")


def project_out(view: service.ProjectView) -> schemas.ProjectOut:
    p = view.project
    return schemas.ProjectOut(
        id=p.id,
        community_id=p.community_id,
        title=p.title,
        description=p.description,
        plan=p.plan,
        owner_id=p.owner_id,
        owner_name=view.owner_name,
        due_date=p.due_date,
        status=p.status,
        status_label=STATUS_LABELS[p.status],
        percent=p.percent,
        last_note=p.last_note,
        last_update_at=p.last_update_at,
        updated_this_month=view.updated_this_month,
        overdue=view.overdue,
    )


def _timezone(request: web.Request) -> str:
    return request.config_dict[SETTINGS].timezone


@routes.post(
    "/api/v1/communities/{community_id}/projects",
    params=schemas.CommunityPath,
    body=schemas.ProjectIn,
    response=schemas.ProjectOut,
    status=201,
    summary="立项：把一件为民实事列入社区公示清单，指定负责人和完成日期（书记）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed),
)
async def create_project(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.ProjectIn,
) -> schemas.ProjectOut:
    view = await service.create_project(
        principal=principal,
        community_id=params.community_id,
        body=body,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return project_out(view)


@routes.get(
    "/api/v1/communities/{community_id}/projects",
    params=schemas.CommunityPath,
    query=schemas.ProjectListQuery,
    response=schemas.ProjectListOut,
    summary="社区为民实事清单（公示，本社区居民、志愿者和工作人员可见）",
    errors=(errors.NotFound, errors.ValidationFailed),
)
async def list_projects(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.ProjectListQuery,
) -> schemas.ProjectListOut:
    views = await service.list_projects(
        principal=principal,
        community_id=params.community_id,
        status=ProjectStatus(query.status) if query.status else None,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return schemas.ProjectListOut(items=[project_out(v) for v in views])


@routes.get(
    "/api/v1/projects/{project_id}",
    params=schemas.ProjectPath,
    response=schemas.ProjectDetailOut,
    summary="为民实事详情：每月进度与状态记录",
    errors=(errors.NotFound,),
)
async def project_detail(
    request: web.Request, *, principal: Principal, params: schemas.ProjectPath
) -> schemas.ProjectDetailOut:
    detail = await service.project_detail(
        principal=principal, project_id=params.project_id, now=utcnow(), timezone=_timezone(request)
    )
    return schemas.ProjectDetailOut(
        **project_out(detail.view).model_dump(),
        updates=[
            schemas.ProjectUpdateOut(
                id=u.id,
                month=u.month,
                percent=u.percent,
                note=u.note,
                author_name=name,
                created_at=u.created_at,
            )
            for u, name in detail.updates
        ],
        events=[
            schemas.ProjectEventOut(
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                note=e.note,
                actor_name=name,
                created_at=e.created_at,
            )
            for e, name in detail.events
        ],
    )


@routes.post(
    "/api/v1/projects/{project_id}/updates",
    params=schemas.ProjectPath,
    body=schemas.ProjectUpdateIn,
    response=schemas.ProjectOut,
    status=201,
    summary="填报月度进度（负责人或书记）；已立项的项目首次填报即开工",
    errors=(
        errors.NotFound,
        errors.PermissionDenied,
        errors.ValidationFailed,
        service.ProjectClosed,
    ),
)
async def post_update(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ProjectPath,
    body: schemas.ProjectUpdateIn,
) -> schemas.ProjectOut:
    view = await service.post_update(
        principal=principal,
        project_id=params.project_id,
        body=body,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return project_out(view)


@routes.post(
    "/api/v1/projects/{project_id}/transitions",
    params=schemas.ProjectPath,
    body=schemas.TransitionIn,
    response=schemas.ProjectOut,
    summary="开工、提交联席会议、继续推进、完成或撤销（撤销与提交联席会议须说明理由）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed, IllegalTransition),
)
async def transition(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ProjectPath,
    body: schemas.TransitionIn,
) -> schemas.ProjectOut:
    view = await service.transition(
        principal=principal,
        project_id=params.project_id,
        action=body.action,
        note=body.note,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return project_out(view)
