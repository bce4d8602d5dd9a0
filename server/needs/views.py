"""HTTP views of the needs list (党群通): parse, call one service function, render."""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import REDIS, SETTINGS, WECHAT
from server.core.clock import utcnow
from server.core.routes import ApiRoutes
from server.needs import photos, reports, schemas, service
from server.needs.media import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    PHOTO_FIELD,
    PhotoEmpty,
    PhotoTooLarge,
    PhotoTypeNotAllowed,
    TooManyPhotos,
    read_multipart_photos,
)
from server.needs.models import (
    CATEGORY_LABELS,
    STATUS_LABELS,
    Category,
    Need,
    NeedStatus,
    NeedUrgency,
)
from server.needs.photo_links import PhotoLinkExpired, PhotoLinkInvalid, PhotoLinks
from server.needs.visibility import PUBLIC_STATUSES, Access, NeedView

routes = ApiRoutes(tag="需求")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 64


def links_of(request: web.Request) -> PhotoLinks:
    return photos.photo_links(request.config_dict[SETTINGS])


def need_out(need: Need, links: PhotoLinks, view: NeedView | None = None) -> schemas.NeedOut:
    """A need as ``view`` shows it (``None``: in full), with signed links to the photos shown."""
    data = {
        field: getattr(need, field)
        for field in schemas.NeedOut.model_fields
        if hasattr(need, field)
    }
    shown = list(need.photos)
    if view is not None:
        data.update(
            title=view.title,
            description=view.description,
            address=view.address,
            lat=view.lat,
            lng=view.lng,
            photos=view.photos,
            rating_comment=view.rating_comment,
        )
        shown = view.photos
        if view.access is Access.MASKED:
            data["household_id"] = None
    return schemas.NeedOut.model_validate(
        {
            **data,
            "photo_urls": links.urls(shown),
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
        photos.PhotoKeyInvalid,
        errors.UpstreamUnavailable,
    ),
)
async def submit_need(
    request: web.Request, *, principal: Principal, body: schemas.NeedSubmitIn
) -> web.StreamResponse | schemas.SubmitOut:
    settings = request.config_dict[SETTINGS]
    submission = await service.submit_need(
        principal=principal,
        body=body,
        idempotency_key=_idempotency_key(request),
        redis=request.config_dict[REDIS],
        wechat=request.config_dict[WECHAT],
        per_hour=settings.need_submissions_per_hour,
        photo_store=photos.photo_store(settings),
    )
    out = schemas.SubmitOut(
        need=need_out(submission.need, links_of(request)),
        possible_duplicates=[
            schemas.DuplicateOut(
                id=d.id,
                title=d.title,
                status=d.status,
                distance_m=round(d.distance_m),
                created_at=d.created_at,
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
    links = links_of(request)
    return schemas.NeedListOut(
        items=[need_out(n, links) for n in page.items], next_cursor=page.next_cursor
    )


@routes.get(
    "/api/v1/needs/{need_id}",
    params=schemas.NeedPath,
    response=schemas.NeedDetailOut,
    summary="需求详情与处理进度（提交人和负责的工作人员看完整内容；接单的志愿者在任务进行中"
    "看门牌和照片，前后只到楼栋；其他人 404）",
    errors=(errors.NotFound,),
)
async def need_detail(
    request: web.Request, *, principal: Principal, params: schemas.NeedPath
) -> schemas.NeedDetailOut:
    detail = await service.need_detail(principal=principal, need_id=params.need_id)
    view = detail.view
    return schemas.NeedDetailOut(
        need=need_out(view.need, links_of(request), view),
        timeline=[schemas.NeedEventOut.model_validate(event) for event in detail.timeline],
        access=view.access.value,
        reporter_name=view.reporter_name,
        reporter_phone=view.reporter_phone,
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
    return need_out(need, links_of(request))


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
        ),
        links_of(request),
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
        await service.set_due(principal=principal, need_id=params.need_id, due_at=body.due_at),
        links_of(request),
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
        ),
        links_of(request),
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
        await service.cancel_need(principal=principal, need_id=params.need_id, reason=body.reason),
        links_of(request),
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
        await service.reopen_need(principal=principal, need_id=params.need_id, reason=body.reason),
        links_of(request),
    )


# --- photos (需求照片) ------------------------------------------------------------------------


@routes.post(
    "/api/v1/media/photos",
    upload=PHOTO_FIELD,
    response=schemas.PhotoUploadOut,
    status=201,
    summary="上传需求照片（multipart/form-data，字段 photos，1-6 张 JPEG/PNG/WebP，每张不超过 "
    "5 MB），返回提交需求时填入 photos 的 key",
    description="照片类型按文件内容识别，不看文件名和 Content-Type。小程序的 wx.uploadFile "
    "每次传一张：name 填 photos，多张就调用多次。",
    errors=(
        PhotoEmpty,
        photos.NoPhotos,
        TooManyPhotos,
        PhotoTooLarge,
        PhotoTypeNotAllowed,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ValidationFailed,
        errors.TooManyRequests,
    ),
)
async def upload_photos(request: web.Request, *, principal: Principal) -> schemas.PhotoUploadOut:
    if request.content_type != "multipart/form-data":
        raise errors.UnsupportedMediaType(
            "请以 multipart/form-data 上传照片", details={"content_type": request.content_type}
        )
    if request.content_length is not None and request.content_length > photos.MAX_UPLOAD_BYTES:
        raise errors.PayloadTooLarge(
            f"一次最多上传 {MAX_PHOTOS} 张照片，每张不超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
            details={"max_bytes": photos.MAX_UPLOAD_BYTES},
        )
    try:
        fields, data = await read_multipart_photos(await request.multipart())
    except (ValueError, aiohttp.ClientPayloadError) as exc:  # no boundary, a cut-off body
        raise errors.ValidationFailed("上传的内容不完整或格式有误，请重试") from exc
    if fields:
        name = sorted(fields)[0]
        raise errors.ValidationFailed(
            f"不支持的字段「{name}」：照片请放在「{PHOTO_FIELD}」字段",
            details=[{"field": name, "location": "body", "message": "不允许的字段"}],
        )
    settings = request.config_dict[SETTINGS]
    stored = await photos.store_photos(
        principal=principal,
        photos=data,
        store=photos.photo_store(settings),
        redis=request.config_dict[REDIS],
        per_hour=settings.photo_uploads_per_hour,
    )
    links = links_of(request)
    return schemas.PhotoUploadOut(
        photos=[
            schemas.PhotoOut(
                key=photo.key,
                content_type=photo.content_type,
                size=photo.size,
                url=links.url(photo.key),
            )
            for photo in stored
        ]
    )


@routes.get(
    "/api/v1/media/photos/{key:.+}",
    params=schemas.PhotoPath,
    query=schemas.PhotoLinkQuery,
    auth=False,
    produces="image/*",
    summary="照片（用需求详情、列表或上传结果中的签名链接打开；链接过期后请刷新页面获取新链接）",
    errors=(PhotoLinkInvalid, PhotoLinkExpired, errors.NotFound),
)
async def photo(
    request: web.Request, *, params: schemas.PhotoPath, query: schemas.PhotoLinkQuery
) -> web.StreamResponse:
    settings = request.config_dict[SETTINGS]
    path, content_type = await photos.photo_file(
        key=params.key,
        expires=query.exp,
        sig=query.sig,
        links=photos.photo_links(settings),
        store=photos.photo_store(settings),
    )
    max_age = max(0, query.exp - int(time.time()))
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            # private: a shared cache must not keep a home's photo; no longer than the link lives
            "Cache-Control": f"private, max-age={max_age}",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- 需求公示 and the monthly export -------------------------------------------------------------


def _statuses(value: str) -> list[NeedStatus]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    public = {status.value for status in PUBLIC_STATUSES}
    bad = [item for item in items if item not in public]
    if bad:
        raise errors.ValidationFailed(
            f"status：取值无效 {', '.join(bad)}，公示的状态有：{', '.join(sorted(public))}",
            details=[{"field": "status", "location": "query"}],
        )
    return [NeedStatus(item) for item in items]


@routes.get(
    "/api/v1/communities/{community_id}/public-needs",
    params=schemas.CommunityPath,
    query=schemas.PublicNeedQuery,
    response=schemas.PublicNeedListOut,
    summary="需求公示：社区已受理的需求和处理结果（姓名只留姓氏、地址只到楼栋、无电话和照片；"
    "本社区的居民、志愿者、工作人员和街道可看）",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def public_needs(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.PublicNeedQuery,
) -> schemas.PublicNeedListOut:
    page = await reports.public_needs(
        principal=principal,
        community_id=params.community_id,
        filters=service.NeedFilter(
            statuses=_statuses(query.status),
            categories=_split(query.category, Category, "category"),
            grid_id=query.grid_id,
            created_from=query.created_from,
            created_to=query.created_to,
        ),
        cursor=query.cursor,
        limit=query.limit,
    )
    return schemas.PublicNeedListOut(
        items=[
            schemas.PublicNeedOut(
                id=item.view.need.id,
                category=item.view.need.category,
                category_label=CATEGORY_LABELS[item.view.need.category],
                title=item.view.title,
                description=item.view.description,
                urgency=item.view.need.urgency,
                status=item.view.need.status,
                status_label=STATUS_LABELS[item.view.need.status],
                outcome=item.outcome,
                grid_id=item.view.need.grid_id,
                grid_name=item.grid_name,
                address=item.view.address,
                reporter_name=item.view.reporter_name,
                created_at=item.view.need.created_at,
                done_at=item.view.need.done_at,
                rating=item.view.need.rating,
                rating_comment=item.view.rating_comment,
            )
            for item in page.items
        ],
        next_cursor=page.next_cursor,
    )


@routes.get(
    "/api/v1/communities/{community_id}/needs.xlsx",
    params=schemas.CommunityPath,
    query=schemas.ExportQuery,
    produces=reports.XLSX,
    summary="导出某月的群众需求清单（Excel，社区书记和街道管理员）；month=YYYY-MM，默认本月",
    errors=(reports.InvalidMonth, errors.NotFound, errors.PermissionDenied),
)
async def export_needs(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.ExportQuery,
) -> web.StreamResponse:
    export = await reports.export_month(
        principal=principal,
        community_id=params.community_id,
        month=query.month,
        timezone=request.config_dict[SETTINGS].timezone,
        now=utcnow(),
    )
    return web.Response(
        body=export.content,
        content_type=reports.XLSX,
        headers={
            "Content-Disposition": reports.content_disposition(
                export.filename, export.fallback_filename
            ),
            "Cache-Control": "private, no-store",
        },
    )
