"""HTTP views of the in-app inbox, subscribe consents and dead notifications."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import SETTINGS
from server.core.routes import ApiRoutes
from server.notify import schemas, service

routes = ApiRoutes(tag="通知")


@routes.get(
    "/api/v1/inbox",
    query=schemas.InboxQuery,
    response=schemas.InboxListOut,
    summary="站内信：我的通知，最新的在前（游标分页），附未读数",
)
async def list_inbox(
    request: web.Request, *, principal: Principal, query: schemas.InboxQuery
) -> schemas.InboxListOut:
    page = await service.list_inbox(
        person_id=principal.person_id,
        cursor=query.cursor,
        limit=query.limit,
        unread_only=query.unread_only,
    )
    return schemas.InboxListOut(
        items=[schemas.InboxItemOut.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
        unread=page.unread,
    )


@routes.get("/api/v1/inbox/unread-count", response=schemas.UnreadOut, summary="未读通知数")
async def inbox_unread_count(request: web.Request, *, principal: Principal) -> schemas.UnreadOut:
    return schemas.UnreadOut(unread=await service.unread_count(person_id=principal.person_id))


@routes.post(
    "/api/v1/inbox/{item_id}/read",
    params=schemas.InboxItemPath,
    response=schemas.InboxItemOut,
    summary="标记一条通知为已读",
    errors=(errors.NotFound,),
)
async def inbox_mark_read(
    request: web.Request, *, principal: Principal, params: schemas.InboxItemPath
) -> schemas.InboxItemOut:
    item = await service.mark_read(person_id=principal.person_id, item_id=params.item_id)
    return schemas.InboxItemOut.model_validate(item)


@routes.post("/api/v1/inbox/read-all", response=schemas.ReadAllOut, summary="全部标为已读")
async def inbox_read_all(request: web.Request, *, principal: Principal) -> schemas.ReadAllOut:
    updated = await service.mark_all_read(person_id=principal.person_id)
    return schemas.ReadAllOut(updated=updated, unread=0)


def _consents_out(settings_templates: dict[str, str], left: dict[str, int]) -> schemas.ConsentsOut:
    return schemas.ConsentsOut(
        templates=[
            schemas.TemplateOut(name=name, template_id=tid, remaining=left.get(tid, 0))
            for name, tid in settings_templates.items()
        ]
    )


@routes.get(
    "/api/v1/notify/consents",
    response=schemas.ConsentsOut,
    summary="订阅消息模板及我剩余的可发送次数（小程序据此调用 wx.requestSubscribeMessage）",
)
async def list_consents(request: web.Request, *, principal: Principal) -> schemas.ConsentsOut:
    templates = request.config_dict[SETTINGS].notify_subscribe_templates
    left = await service.consents_of(
        person_id=principal.person_id, template_ids=list(templates.values())
    )
    return _consents_out(templates, left)


@routes.post(
    "/api/v1/notify/consents",
    body=schemas.ConsentsIn,
    response=schemas.ConsentsOut,
    summary="上报 wx.requestSubscribeMessage 的结果：每个 accept 增加一次可发送次数",
)
async def report_consents(
    request: web.Request, *, principal: Principal, body: schemas.ConsentsIn
) -> schemas.ConsentsOut:
    templates = request.config_dict[SETTINGS].notify_subscribe_templates
    left = await service.record_consents(
        person_id=principal.person_id,
        results=dict(body.results),
        known_template_ids=list(templates.values()),
    )
    return _consents_out(templates, left)


@routes.get(
    "/api/v1/notify/dead",
    query=schemas.DeadQuery,
    response=schemas.DeadListOut,
    summary="投递失败（已放弃重试）的通知：书记看本社区，街道管理员看全街道",
    errors=(errors.PermissionDenied,),
)
async def list_dead(
    request: web.Request, *, principal: Principal, query: schemas.DeadQuery
) -> schemas.DeadListOut:
    rows = await service.list_dead(principal=principal, limit=query.limit)
    return schemas.DeadListOut(items=[schemas.DeadMessageOut.model_validate(r) for r in rows])


@routes.post(
    "/api/v1/notify/dead/retry",
    body=schemas.RetryDeadIn,
    response=schemas.RetryDeadOut,
    summary="重新投递失败的通知（全部，或指定编号）",
    errors=(errors.PermissionDenied,),
)
async def retry_dead(
    request: web.Request, *, principal: Principal, body: schemas.RetryDeadIn
) -> schemas.RetryDeadOut:
    count = await service.retry_dead(ids=body.ids, principal=principal)
    return schemas.RetryDeadOut(requeued=count)
