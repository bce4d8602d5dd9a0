"""HTTP views of 共享家 (shared items, spaces and skills, and their bookings)."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import SETTINGS
from server.core.clock import utcnow
from server.core.routes import ApiRoutes
from server.needs.photo_links import PhotoLinks
from server.needs.photos import PhotoKeyInvalid, photo_links, photo_store
from server.sharing import schemas, service
from server.sharing.models import (
    BOOKING_STATUS_LABELS,
    KIND_LABELS,
    RESOURCE_STATUS_LABELS,
    BookingStatus,
    ResourceKind,
)
from server.sharing.rules import BookingStarted, IllegalTransition, is_overdue

routes = ApiRoutes(tag="共享家")


def resource_out(view: service.ResourceView, links: PhotoLinks) -> schemas.ResourceOut:
    """A resource with signed links to its photos: whoever sees the resource sees its photos."""
    r = view.resource
    return schemas.ResourceOut(
        id=r.id,
        community_id=r.community_id,
        kind=r.kind,
        kind_label=KIND_LABELS[r.kind],
        title=r.title,
        description=r.description,
        photos=list(r.photos),
        photo_urls=links.urls(r.photos),
        location=r.location,
        owner_id=r.owner_id,
        owner_name=view.owner_name,
        unit_name=r.unit_name,
        needs_approval=r.needs_approval,
        max_loan_days=r.max_loan_days,
        max_booking_hours=r.max_booking_hours,
        opening_hours=r.opening_hours,
        deposit_note=r.deposit_note,
        status=r.status,
        status_label=RESOURCE_STATUS_LABELS[r.status],
        created_at=r.created_at,
    )


def booking_out(view: service.BookingView) -> schemas.BookingOut:
    b, r = view.booking, view.resource
    return schemas.BookingOut(
        id=b.id,
        resource_id=r.id,
        resource_title=r.title,
        resource_kind=r.kind,
        borrower_id=b.borrower_id,
        borrower_name=view.borrower_name,
        owner_id=r.owner_id,
        start_at=b.start_at,
        end_at=b.end_at,
        note=b.note,
        status=b.status,
        status_label=BOOKING_STATUS_LABELS[b.status],
        overdue=is_overdue(r.kind, b.status, b.end_at, utcnow()),
        created_at=b.created_at,
    )


def _timezone(request: web.Request) -> str:
    return request.config_dict[SETTINGS].timezone


@routes.post(
    "/api/v1/communities/{community_id}/shared-resources",
    params=schemas.CommunityPath,
    body=schemas.ResourceIn,
    response=schemas.ResourceOut,
    status=201,
    summary="发布共享：物品、场地或技能（本社区居民、志愿者、工作人员；书记可代驻地单位发布）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed, PhotoKeyInvalid),
)
async def create_shared_resource(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.ResourceIn,
) -> schemas.ResourceOut:
    settings = request.config_dict[SETTINGS]
    view = await service.create_resource(
        principal=principal,
        community_id=params.community_id,
        body=body,
        store=photo_store(settings),
    )
    return resource_out(view, photo_links(settings))


@routes.get(
    "/api/v1/communities/{community_id}/shared-resources",
    params=schemas.CommunityPath,
    query=schemas.ResourceListQuery,
    response=schemas.ResourceListOut,
    summary="社区共享清单（本社区可见）：按类别筛选、按关键词搜索，新发布的在前",
    errors=(errors.NotFound, errors.ValidationFailed),
)
async def list_shared_resources(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.ResourceListQuery,
) -> schemas.ResourceListOut:
    page = await service.list_resources(
        principal=principal,
        community_id=params.community_id,
        kind=ResourceKind(query.kind) if query.kind else None,
        text=query.q,
        mine=query.mine,
        cursor=query.cursor,
        limit=query.limit,
    )
    links = photo_links(request.config_dict[SETTINGS])
    return schemas.ResourceListOut(
        items=[resource_out(v, links) for v in page.items], next_cursor=page.next_cursor
    )


@routes.get(
    "/api/v1/shared-resources/{resource_id}",
    params=schemas.ResourcePath,
    response=schemas.ResourceDetailOut,
    summary="共享详情，含尚未结束的已约时段",
    errors=(errors.NotFound,),
)
async def shared_resource_detail(
    request: web.Request, *, principal: Principal, params: schemas.ResourcePath
) -> schemas.ResourceDetailOut:
    view, busy = await service.resource_detail(
        principal=principal, resource_id=params.resource_id, now=utcnow()
    )
    return schemas.ResourceDetailOut(
        **resource_out(view, photo_links(request.config_dict[SETTINGS])).model_dump(),
        busy=[
            schemas.BusySlot(start_at=b.start_at, end_at=b.end_at, status=b.status) for b in busy
        ],
    )


@routes.patch(
    "/api/v1/shared-resources/{resource_id}",
    params=schemas.ResourcePath,
    body=schemas.ResourceChangeIn,
    response=schemas.ResourceOut,
    summary="修改、暂停、下架或重新开放共享（发布人）；已有预约不受影响",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed, PhotoKeyInvalid),
)
async def change_shared_resource(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ResourcePath,
    body: schemas.ResourceChangeIn,
) -> schemas.ResourceOut:
    settings = request.config_dict[SETTINGS]
    view = await service.change_resource(
        principal=principal,
        resource_id=params.resource_id,
        body=body,
        store=photo_store(settings),
    )
    return resource_out(view, photo_links(settings))


@routes.post(
    "/api/v1/shared-resources/{resource_id}/bookings",
    params=schemas.ResourcePath,
    body=schemas.BookingIn,
    response=schemas.BookingOut,
    status=201,
    summary="预约 [开始, 结束) 时段；须物主同意的为“待同意”，否则直接生效",
    errors=(
        errors.NotFound,
        errors.PermissionDenied,
        errors.ValidationFailed,
        service.BookingConflict,
        service.ResourceUnavailable,
    ),
)
async def book_shared_resource(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ResourcePath,
    body: schemas.BookingIn,
) -> schemas.BookingOut:
    view = await service.book(
        principal=principal,
        resource_id=params.resource_id,
        body=body,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return booking_out(view)


@routes.get(
    "/api/v1/bookings",
    query=schemas.BookingListQuery,
    response=schemas.BookingListOut,
    summary="我的预约（role=borrower）或别人对我共享的预约（role=owner），新的在前",
    errors=(errors.ValidationFailed,),
)
async def list_bookings(
    request: web.Request, *, principal: Principal, query: schemas.BookingListQuery
) -> schemas.BookingListOut:
    page = await service.list_bookings(
        principal=principal,
        role=query.role,
        status=BookingStatus(query.status) if query.status else None,
        cursor=query.cursor,
        limit=query.limit,
    )
    return schemas.BookingListOut(
        items=[booking_out(v) for v in page.items], next_cursor=page.next_cursor
    )


@routes.get(
    "/api/v1/bookings/{booking_id}",
    params=schemas.BookingPath,
    response=schemas.BookingDetailOut,
    summary="预约详情与状态记录（借用人和物主可见）",
    errors=(errors.NotFound,),
)
async def booking_detail(
    request: web.Request, *, principal: Principal, params: schemas.BookingPath
) -> schemas.BookingDetailOut:
    view, events = await service.booking_detail(principal=principal, booking_id=params.booking_id)
    return schemas.BookingDetailOut(
        **booking_out(view).model_dump(),
        events=[
            schemas.BookingEventOut(
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                note=e.note,
                actor_name=name,
                created_at=e.created_at,
            )
            for e, name in events
        ],
    )


@routes.post(
    "/api/v1/bookings/{booking_id}/transitions",
    params=schemas.BookingPath,
    body=schemas.BookingTransitionIn,
    response=schemas.BookingOut,
    summary="同意、拒绝、确认取用、确认归还（物主）或开始前取消（借用人）",
    errors=(
        errors.NotFound,
        errors.PermissionDenied,
        errors.ValidationFailed,
        IllegalTransition,
        BookingStarted,
    ),
)
async def transition_booking(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.BookingPath,
    body: schemas.BookingTransitionIn,
) -> schemas.BookingOut:
    view = await service.transition(
        principal=principal,
        booking_id=params.booking_id,
        action=body.action,
        note=body.note,
        now=utcnow(),
        timezone=_timezone(request),
    )
    return booking_out(view)
