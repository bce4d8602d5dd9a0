"""HTTP views of matching: ranked candidates for a need, and a community's matching settings."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.routes import ApiRoutes
from server.matching import schemas, service
from server.matching.scoring import DEFAULT_WEIGHTS, FACTOR_LABELS
from server.volunteers.schemas import CommunityPath
from server.volunteers.service import MatchingSettings

routes = ApiRoutes(tag="志愿者匹配")


@routes.get(
    "/api/v1/needs/{need_id}/candidates",
    params=schemas.NeedPath,
    query=schemas.CandidatesQuery,
    response=schemas.CandidatesOut,
    summary="为需求推荐志愿者：按综合得分排序，逐项说明技能、距离、时间、负荷、可靠度、公平、党员优先",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def need_candidates(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.NeedPath,
    query: schemas.CandidatesQuery,
) -> schemas.CandidatesOut:
    result = await service.candidates_for_need(
        principal=principal, need_id=params.need_id, limit=query.limit
    )
    return schemas.CandidatesOut(
        need_id=result.need.id,
        weights=result.settings.weights.as_dict(),
        candidates=[
            schemas.CandidateOut(
                rank=rank,
                person_id=score.person_id,
                name=result.people[score.person_id].name,
                is_party_member=result.people[score.person_id].is_party_member,
                score=round(score.total, 4),
                factors=[
                    schemas.FactorOut(
                        name=f.name,
                        label=FACTOR_LABELS[f.name],
                        value=round(f.value, 4),
                        weight=f.weight,
                        contribution=round(f.contribution, 4),
                        explanation=f.explanation,
                    )
                    for f in score.factors
                ],
                explanation=[f.explanation for f in score.factors],
            )
            for rank, score in enumerate(result.scores, start=1)
            if score.person_id in result.people
        ],
    )


def settings_out(settings: MatchingSettings) -> schemas.MatchingSettingsOut:
    return schemas.MatchingSettingsOut(
        community_id=settings.community_id,
        skills=list(settings.skills),
        weights=settings.weights.as_dict(),
        default_weights=DEFAULT_WEIGHTS.as_dict(),
        party_categories=list(settings.party_categories),
    )


@routes.get(
    "/api/v1/communities/{community_id}/matching-settings",
    params=CommunityPath,
    response=schemas.MatchingSettingsOut,
    summary="社区的匹配设置：技能标签、各因素权重、党员优先的需求类别",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def matching_settings(
    request: web.Request, *, principal: Principal, params: CommunityPath
) -> schemas.MatchingSettingsOut:
    return settings_out(
        await service.view_settings(principal=principal, community_id=params.community_id)
    )


@routes.patch(
    "/api/v1/communities/{community_id}/matching-settings",
    params=CommunityPath,
    body=schemas.MatchingSettingsIn,
    response=schemas.MatchingSettingsOut,
    summary="修改匹配设置（书记、街道管理员）；只改提交的部分",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed),
)
async def update_matching_settings(
    request: web.Request,
    *,
    principal: Principal,
    params: CommunityPath,
    body: schemas.MatchingSettingsIn,
) -> schemas.MatchingSettingsOut:
    weights = body.weights.model_dump(exclude_none=True) if body.weights else None
    return settings_out(
        await service.update_settings(
            principal=principal,
            community_id=params.community_id,
            skills=body.skills,
            weights=weights,
            party_categories=[c.value for c in body.party_categories]
            if body.party_categories is not None
            else None,
        )
    )
