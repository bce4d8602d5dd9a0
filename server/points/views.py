"""HTTP views of points (积分): boards, the honour board, rules and levels."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import REDIS
from server.core.routes import ApiRoutes
from server.points import schemas, service
from server.points.levels import LEVELS
from server.points.periods import PERIOD_LABELS, Period

routes = ApiRoutes(tag="积分")


@routes.get(
    "/api/v1/communities/{community_id}/boards",
    params=schemas.CommunityPath,
    query=schemas.BoardQuery,
    response=schemas.BoardOut,
    summary="积分榜：本周、本月、本年（北京时间），全社区或某个网格",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def community_board(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.BoardQuery,
) -> schemas.BoardOut:
    view = await service.board(
        principal=principal,
        redis=request.config_dict[REDIS],
        community_id=params.community_id,
        period=Period(query.period),
        grid_id=query.grid_id,
        limit=query.limit,
    )

    def row(r: service.boards.BoardRow) -> schemas.BoardRowOut:
        return schemas.BoardRowOut(
            rank=r.rank,
            person_id=r.person_id,
            name=view.names.get(r.person_id, ""),
            points=r.points,
        )

    return schemas.BoardOut(
        community_id=view.community.id,
        period=view.period,
        period_label=PERIOD_LABELS[view.period],
        period_key=view.period_key,
        start=view.start,
        end=view.end,
        grid_id=view.grid.id if view.grid else None,
        grid_name=view.grid.name if view.grid else None,
        rows=[row(r) for r in view.rows],
        me=row(view.me) if view.me else None,
    )


@routes.get(
    "/api/v1/communities/{community_id}/honour-board",
    params=schemas.CommunityPath,
    query=schemas.HonourQuery,
    response=schemas.HonourOut,
    summary="光荣榜：某月积分最高且完成任务数达标的志愿者（每月 1 日发布上月榜）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def honour_board(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.HonourQuery,
) -> schemas.HonourOut:
    view = await service.honour_board(
        principal=principal, community_id=params.community_id, month=query.month
    )
    return schemas.HonourOut(
        community_id=view.community.id,
        month=view.month,
        published=view.published_at is not None,
        published_at=view.published_at,
        min_tasks=view.rule.honour_min_tasks,
        entries=[schemas.HonourEntryOut.model_validate(e) for e in view.entries],
    )


@routes.get(
    "/api/v1/communities/{community_id}/points/rules",
    params=schemas.CommunityPath,
    response=schemas.RuleOut,
    summary="社区积分规则（每小时积分、好评加分、光荣榜条件）",
    errors=(errors.NotFound,),
)
async def get_rules(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.RuleOut:
    rule = await service.community_rule(community_id=params.community_id)
    return schemas.RuleOut.model_validate(asdict(rule))


@routes.patch(
    "/api/v1/communities/{community_id}/points/rules",
    params=schemas.CommunityPath,
    body=schemas.RuleIn,
    response=schemas.RuleOut,
    summary="修改社区积分规则（书记、街道；只影响此后审核通过的时长）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def update_rules(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.RuleIn,
) -> schemas.RuleOut:
    rule = await service.update_rule(
        principal=principal,
        community_id=params.community_id,
        changes=body.model_dump(exclude_none=True),
    )
    return schemas.RuleOut.model_validate(asdict(rule))


@routes.get(
    "/api/v1/volunteer-levels",
    response=schemas.LevelsOut,
    summary="星级志愿者：累计审核通过的服务时长达到多少小时可得几星",
)
async def volunteer_levels(request: web.Request, *, principal: Principal) -> schemas.LevelsOut:
    return schemas.LevelsOut(
        levels=[
            schemas.LevelOut(stars=lv.stars, title=lv.title, min_hours=lv.min_hours)
            for lv in LEVELS
        ]
    )
