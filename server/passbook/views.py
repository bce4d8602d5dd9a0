"""HTTP views of the time passbook (时间存折): parse, call one service function, render."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import REDIS
from server.core.routes import ApiRoutes
from server.passbook import schemas, service
from server.passbook.ledger import InsufficientHours
from server.passbook.models import (
    CLAIM_STATUS_LABELS,
    SOURCE_LABELS,
    TRANSFER_LABELS,
    ClaimStatus,
    HoursClaim,
)

routes = ApiRoutes(tag="时间存折")


def claim_out(claim: HoursClaim, names: dict[int, str] | None = None) -> schemas.ClaimOut:
    return schemas.ClaimOut(
        id=claim.id,
        person_id=claim.person_id,
        person_name=(names or {}).get(claim.person_id, ""),
        hours=claim.hours,
        source_kind=claim.source_kind,
        source_label=SOURCE_LABELS[claim.source_kind],
        source_id=claim.source_id,
        rating=claim.rating,
        status=claim.status,
        status_label=CLAIM_STATUS_LABELS[claim.status],
        reason=claim.reason,
        auto_approved=claim.auto_approved,
        created_at=claim.created_at,
        decided_at=claim.decided_at,
    )


def passbook_out(view: service.PassbookView) -> schemas.PassbookOut:
    level = view.standing
    return schemas.PassbookOut(
        community_id=view.community.id,
        community_name=view.community.name,
        person_id=view.person.id,
        person_name=view.person.name,
        balance=view.balance,
        pending_hours=view.pending_hours,
        approved_hours=view.approved_hours,
        points=view.points,
        level=schemas.StandingOut(
            stars=level.level.stars if level.level else 0,
            title=level.level.title if level.level else "志愿者",
            next_title=level.next_level.title if level.next_level else None,
            hours_to_next=level.hours_to_next,
        ),
        months=[schemas.MonthOut.model_validate(m) for m in view.months],
        movements=[
            schemas.MovementOut(
                transfer_id=m.transfer_id,
                kind=m.kind,
                kind_label=TRANSFER_LABELS[m.kind],
                amount=m.amount,
                at=m.at,
                memo=m.memo,
                counterparty=m.counterparty,
                source_kind=m.source_kind,  # type: ignore[arg-type]
                source_id=m.source_id,
            )
            for m in view.movements
        ],
        pending=[claim_out(c) for c in view.pending],
    )


@routes.get(
    "/api/v1/passbook/me",
    query=schemas.MyPassbookQuery,
    response=schemas.PassbookOut,
    summary="我的时间存折：余额、待审核、按月存入与转赠、星级",
    errors=(errors.NotFound,),
)
async def my_passbook(
    request: web.Request, *, principal: Principal, query: schemas.MyPassbookQuery
) -> schemas.PassbookOut:
    return passbook_out(
        await service.my_passbook(principal=principal, community_id=query.community_id)
    )


@routes.get(
    "/api/v1/communities/{community_id}/passbooks/{person_id}",
    params=schemas.StaffPassbookPath,
    response=schemas.PassbookOut,
    summary="查看某位志愿者的时间存折（书记、街道、本网格网格员）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def staff_passbook(
    request: web.Request, *, principal: Principal, params: schemas.StaffPassbookPath
) -> schemas.PassbookOut:
    return passbook_out(
        await service.staff_passbook(
            principal=principal, community_id=params.community_id, person_id=params.person_id
        )
    )


@routes.get(
    "/api/v1/communities/{community_id}/hours",
    params=schemas.CommunityPath,
    query=schemas.ClaimListQuery,
    response=schemas.ClaimListOut,
    summary="待审核（或已审核）的服务时长列表（书记）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def list_hours(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.ClaimListQuery,
) -> schemas.ClaimListOut:
    page = await service.list_claims(
        principal=principal,
        community_id=params.community_id,
        status=ClaimStatus(query.status),
        cursor=query.cursor,
        limit=query.limit,
    )
    return schemas.ClaimListOut(
        items=[claim_out(c, page.names) for c in page.items],
        total_hours=page.total_hours,
        next_cursor=page.next_cursor,
    )


@routes.post(
    "/api/v1/communities/{community_id}/hours/approve",
    params=schemas.CommunityPath,
    body=schemas.ApproveIn,
    response=schemas.ApproveOut,
    summary="审核通过服务时长（单笔或批量）；已审核或不存在的编号列在 skipped",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def approve_hours(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.ApproveIn,
) -> schemas.ApproveOut:
    result = await service.approve_claims(
        principal=principal,
        community_id=params.community_id,
        claim_ids=body.ids,
        redis=request.config_dict[REDIS],
    )
    return schemas.ApproveOut(
        approved=result.approved,
        skipped=[schemas.SkippedOut(id=i, reason=why) for i, why in result.skipped],
    )


@routes.post(
    "/api/v1/communities/{community_id}/hours/{claim_id}/reject",
    params=schemas.ClaimPath,
    body=schemas.RejectIn,
    response=schemas.ClaimOut,
    summary="驳回服务时长（须写明原因，志愿者会收到通知）",
    errors=(errors.PermissionDenied, errors.NotFound, service.ClaimNotPending),
)
async def reject_hours(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ClaimPath,
    body: schemas.RejectIn,
) -> schemas.ClaimOut:
    return claim_out(
        await service.reject_claim(
            principal=principal,
            community_id=params.community_id,
            claim_id=params.claim_id,
            reason=body.reason,
        )
    )


@routes.post(
    "/api/v1/passbook/gifts",
    body=schemas.GiftIn,
    response=schemas.GiftOut,
    status=201,
    summary="把时长转赠给本社区的邻居，或赠给社区公益时间池",
    errors=(errors.PermissionDenied, errors.NotFound, InsufficientHours),
)
async def give_hours(
    request: web.Request, *, principal: Principal, body: schemas.GiftIn
) -> schemas.GiftOut:
    result = await service.give_hours(
        principal=principal,
        community_id=body.community_id,
        hours=body.hours,
        to_person_id=body.to_person_id,
        note=body.note,
    )
    return schemas.GiftOut(transfer_id=result.transfer.id, hours=body.hours, balance=result.balance)


@routes.get(
    "/api/v1/communities/{community_id}/passbook/policy",
    params=schemas.CommunityPath,
    response=schemas.PolicyOut,
    summary="社区时间存折规则：好评自动审核、是否允许透支",
    errors=(errors.NotFound,),
)
async def get_policy(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.PolicyOut:
    policy = await service.community_policy(community_id=params.community_id)
    return schemas.PolicyOut(
        auto_approve_rated=policy.auto_approve_rated,
        allow_negative_balance=policy.allow_negative_balance,
    )


@routes.patch(
    "/api/v1/communities/{community_id}/passbook/policy",
    params=schemas.CommunityPath,
    body=schemas.PolicyIn,
    response=schemas.PolicyOut,
    summary="修改社区时间存折规则（书记、街道）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def update_policy(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.PolicyIn,
) -> schemas.PolicyOut:
    policy = await service.update_policy(
        principal=principal,
        community_id=params.community_id,
        auto_approve_rated=body.auto_approve_rated,
        allow_negative_balance=body.allow_negative_balance,
    )
    return schemas.PolicyOut(
        auto_approve_rated=policy.auto_approve_rated,
        allow_negative_balance=policy.allow_negative_balance,
    )
