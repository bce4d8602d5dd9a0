"""HTTP views of the needs list (党群通): parse, call one service function, render."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import REDIS, SETTINGS, WECHAT
from server.core.routes import ApiRoutes
from server.needs import schemas, service
from server.needs.models import (
    CATEGORY_LABELS,
    STATUS_LABELS,
    Category,
    Need,
    NeedStatus,
    NeedUrgency,
)

routes = ApiRoutes(tag="需求")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 64


def need_out(need: Need) -> schemas.NeedOut:
    return schemas.NeedOut.model_validate(
        {
            **{
                field: getattr(need, field)
                for field in schemas.NeedOut.model_fields
                if hasattr(need, field)
            },
            "category_label": CATEGORY_LABELS[need.category],
            "status_label": STATUS_LABELS[need.status],
        }
    )


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise errors.ValidationFailed(
            f"{IDEMPOTENCY_HEADER} 应为 1-{IDEMPOTENCY_KEY_MAX} 个可见字符",
            details=[{"field": IDEMPOTENCY_HEADER, "location": "header"}],
        )
    return key


@routes.post(
    "/api/v1/needs",
    body=schemas.NeedSubmitIn,
    response=schemas.SubmitOut,
    status=201,
    summary="提交需求（居民本人，或网格员代办）；可带 Idempotency-Key 头防止重复提交",
    errors=(
        errors.PermissionDenied,
        errors.NotFound,
        errors.TooManyRequests,
        service.IdempotencyKeyReused,
        service.ContentRejected,
        errors.UpstreamUnavailable,
    ),
)
async def submit_need(
    request: web.Request, *, principal: Principal, body: schemas.NeedSubmitIn
) -> web.StreamResponse | schemas.SubmitOut:
    submission = await service.submit_need(
        principal=principal,
        body=body,
        idempotency_key=_idempotency_key(request),
        redis=request.config_dict[REDIS],
        wechat=request.config_dict[WECHAT],
        per_hour=request.config_dict[SETTINGS].need_submissions_per_hour,
    )
    out = schemas.SubmitOut(
        need=need_out(submission.need),
        possible_duplicates=[
            schemas.DuplicateOut(
                id=d.need.id,
                title=d.need.title,
                status=d.need.status,
                distance_m=round(d.distance_m),
                created_at=d.need.created_at,
            )
            for d in submission.duplicates
        ],
        replayed=submission.replayed,
    )
    if submission.replayed:
        return web.Response(
            body=out.model_dump_json().encode(), status=200, content_type="application/json"
        )
    return out


def _split(
    value: str, allowed: type[Category] | type[NeedStatus] | type[NeedUrgency], field: str
) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    valid = {member.value for member in allowed}
    bad = [item for item in items if item not in valid]
    if bad:
        raise errors.ValidationFailed(
            f"{field}：取值无效 {', '.join(bad)}，可选：{', '.join(sorted(valid))}",
            details=[{"field": field, "location": "query"}],
        )
    return items


@routes.get(
    "/api/v1/needs",
    query=schemas.NeedListQuery,
    response=schemas.NeedListOut,
    summary="需求列表：我的需求，或网格/社区待办（可筛选、游标分页）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def list_needs(
    request: web.Request, *, principal: Principal, query: schemas.NeedListQuery
) -> schemas.NeedListOut:
    filters = service.NeedFilter(
        statuses=[NeedStatus(s) for s in _split(query.status, NeedStatus, "status")],
        categories=_split(query.category, Category, "category"),
        urgencies=_split(query.urgency, NeedUrgency, "urgency"),
        grid_id=query.grid_id,
        overdue=query.overdue,
        created_from=query.created_from,
        created_to=query.created_to,
    )
    page = await service.list_needs(
        principal=principal,
        scope=query.scope,
        community_id=query.community_id,
        filters=filters,
        cursor=query.cursor,
        limit=query.limit,
    )
    return schemas.NeedListOut(
        items=[need_out(n) for n in page.items], next_cursor=page.next_cursor
    )


@routes.get(
    "/api/v1/needs/{need_id}",
    params=schemas.NeedPath,
    response=schemas.NeedDetailOut,
    summary="需求详情与处理进度",
    errors=(errors.NotFound,),
)
async def need_detail(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath
) -> schemas.NeedDetailOut:
    need, _ = await service.visible_need(principal=principal, need_id=params.need_id)
    events = await service.need_timeline(need_id=need.id)
    return schemas.NeedDetailOut(
        need=need_out(need),
        timeline=[schemas.NeedEventOut.model_validate(event) for event in events],
    )


@routes.post(
    "/api/v1/needs/{need_id}/triage",
    params=schemas.NeedPath,
    body=schemas.TriageIn,
    response=schemas.NeedOut,
    summary="分拣：受理、不予受理（须说明理由）或合并到重复的需求",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def triage(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.TriageIn
) -> schemas.NeedOut:
    if body.action == "accept":
        need = await service.accept_need(
            principal=principal, need_id=params.need_id, due_at=body.due_at, note=body.note
        )
    elif body.action == "reject":
        need = await service.reject_need(
            principal=principal, need_id=params.need_id, reason=body.reason
        )
    else:
        if body.merge_into is None:
            raise errors.ValidationFailed(
                "合并时必须填写 merge_into", details=[{"field": "merge_into"}]
            )
        need = await service.merge_need(
            principal=principal, need_id=params.need_id, into_id=body.merge_into, note=body.note
        )
    return need_out(need)


@routes.post(
    "/api/v1/needs/{need_id}/move",
    params=schemas.NeedPath,
    body=schemas.MoveIn,
    response=schemas.NeedOut,
    summary="转到本社区的另一个网格",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def move(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.MoveIn
) -> schemas.NeedOut:
    return need_out(
        await service.move_need(
            principal=principal, need_id=params.need_id, grid_id=body.grid_id, note=body.note
        )
    )


@routes.post(
    "/api/v1/needs/{need_id}/due",
    params=schemas.NeedPath,
    body=schemas.DueIn,
    response=schemas.NeedOut,
    summary="设置完成时限",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def set_due(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.DueIn
) -> schemas.NeedOut:
    return need_out(
        await service.set_due(principal=principal, need_id=params.need_id, due_at=body.due_at)
    )


@routes.post(
    "/api/v1/needs/{need_id}/confirm",
    params=schemas.NeedPath,
    body=schemas.RateIn,
    response=schemas.NeedOut,
    summary="居民确认完成并评价（1-5 星）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def confirm(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.RateIn
) -> schemas.NeedOut:
    return need_out(
        await service.confirm_need(
            principal=principal, need_id=params.need_id, rating=body.rating, comment=body.comment
        )
    )


@routes.post(
    "/api/v1/needs/{need_id}/cancel",
    params=schemas.NeedPath,
    body=schemas.CancelIn,
    response=schemas.NeedOut,
    summary="居民在派单前撤销需求",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def cancel(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.CancelIn
) -> schemas.NeedOut:
    return need_out(
        await service.cancel_need(principal=principal, need_id=params.need_id, reason=body.reason)
    )


@routes.post(
    "/api/v1/needs/{need_id}/reopen",
    params=schemas.NeedPath,
    body=schemas.ReasonIn,
    response=schemas.NeedOut,
    summary="居民在确认后 7 天内重新打开（须说明理由）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def reopen(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath, body: schemas.ReasonIn
) -> schemas.NeedOut:
    return need_out(
        await service.reopen_need(principal=principal, need_id=params.need_id, reason=body.reason)
    )
