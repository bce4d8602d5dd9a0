"""HTTP views of the weekly digest: the same digest the secretary was sent, for community staff."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import SETTINGS
from server.core.clock import utcnow
from server.core.routes import ApiRoutes
from server.digest import schemas, service
from server.digest.content import Digest

routes = ApiRoutes(tag="周报")


def digest_out(digest: Digest, markdown: str) -> schemas.DigestOut:
    return schemas.DigestOut(
        community_id=digest.community_id,
        community_name=digest.community_name,
        week=digest.week,
        period=digest.period,
        new=digest.new,
        finished=digest.finished,
        overdue=digest.overdue,
        median_accept=digest.median_accept,
        median_finish=digest.median_finish,
        ratings=digest.ratings,
        average_rating=digest.average_rating,
        satisfaction=digest.satisfaction,
        volunteer_total_hours=digest.volunteer_total_hours,
        volunteer_count=digest.volunteer_count,
        top_volunteers=[schemas.VolunteerOut(**vars(v)) for v in digest.top_volunteers],
        grids=[
            schemas.GridOut(
                grid_id=g.grid_id,
                name=g.name,
                new=g.new,
                finished=g.finished,
                overdue=g.overdue,
                ratings=g.ratings,
                satisfaction=g.satisfaction,
            )
            for g in digest.grids
        ],
        projects=[schemas.DigestProjectOut(**vars(p)) for p in digest.projects],
        markdown=markdown,
    )


@routes.get(
    "/api/v1/communities/{community_id}/digests/latest",
    params=schemas.DigestPath,
    response=schemas.DigestOut,
    summary="社区上一整周的周报（社区工作人员）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def latest_digest(
    request: web.Request, *, principal: Principal, params: schemas.DigestPath
) -> schemas.DigestOut:
    digest, markdown = await service.digest_for_staff(
        principal=principal,
        community_id=params.community_id,
        week=None,
        timezone=request.config_dict[SETTINGS].timezone,
        now=utcnow(),
    )
    return digest_out(digest, markdown)


@routes.get(
    "/api/v1/communities/{community_id}/digests/{week}",
    params=schemas.DigestWeekPath,
    response=schemas.DigestOut,
    summary="社区某一周的周报，周次如 2026-W47（社区工作人员）",
    errors=(errors.PermissionDenied, errors.NotFound, errors.ValidationFailed),
)
async def week_digest(
    request: web.Request, *, principal: Principal, params: schemas.DigestWeekPath
) -> schemas.DigestOut:
    digest, markdown = await service.digest_for_staff(
        principal=principal,
        community_id=params.community_id,
        week=params.week,
        timezone=request.config_dict[SETTINGS].timezone,
        now=utcnow(),
    )
    return digest_out(digest, markdown)
