"""HTTP views of tasks (志愿红): invitations, accept/decline, check-in/out, hours; staff views."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.core import errors
from server.core.appkeys import SETTINGS
from server.core.routes import ApiRoutes
from server.needs.lifecycle import IllegalTransition
from server.needs.models import CATEGORY_LABELS, STATUS_LABELS
from server.needs.photo_links import PhotoLinks
from server.needs.photos import PhotoKeyInvalid
from server.needs.schemas import NeedPath
from server.needs.views import links_of, need_out
from server.needs.visibility import NeedView
from server.tasks import schemas, service
from server.tasks.models import INVITATION_LABELS, TASK_LABELS, Task, TaskInvitation

routes = ApiRoutes(tag="志愿任务")


def need_brief(view: NeedView, links: PhotoLinks) -> schemas.NeedBriefOut:
    need = view.need
    return schemas.NeedBriefOut(
        id=need.id,
        title=view.title,
        category=need.category,
        category_label=CATEGORY_LABELS[need.category],
        subcategory=need.subcategory,
        description=view.description,
        urgency=need.urgency,
        status=need.status,
        status_label=STATUS_LABELS[need.status],
        address=view.address,
        lat=view.lat,
        lng=view.lng,
        preferred_start=need.preferred_start,
        preferred_end=need.preferred_end,
        photos=view.photos,
        photo_urls=links.urls(view.photos),
        contact_visible=view.contact_visible,
        reporter_name=view.reporter_name,
        reporter_phone=view.reporter_phone,
    )


def task_out(task: Task, links: PhotoLinks) -> schemas.TaskOut:
    """A task with signed links to its check-out photos: every view that returns a task has
    already let only its volunteer or someone who sees the need in full through (``sees_task``)."""
    return schemas.TaskOut.model_validate(
        {
            **{
                name: getattr(task, name)
                for name in schemas.TaskOut.model_fields
                if hasattr(task, name)
            },
            "status_label": TASK_LABELS[task.status],
            "photo_urls": links.urls(task.photos),
        }
    )


def invitation_out(
    invitation: TaskInvitation, view: NeedView, links: PhotoLinks
) -> schemas.InvitationOut:
    return schemas.InvitationOut(
        id=invitation.id,
        need_id=invitation.need_id,
        wave=invitation.wave,
        status=invitation.status,
        status_label=INVITATION_LABELS[invitation.status],
        sent_at=invitation.sent_at,
        expires_at=invitation.expires_at,
        responded_at=invitation.responded_at,
        explanation=invitation.explanation,
        need=need_brief(view, links),
    )


def task_detail_out(view: service.TaskView, links: PhotoLinks) -> schemas.TaskDetailOut:
    return schemas.TaskDetailOut(
        task=task_out(view.task, links),
        need=need_brief(view.need, links),
        events=[schemas.TaskEventOut.model_validate(event) for event in view.events],
    )


def policy_out(rules: service.TaskRules) -> schemas.TaskPolicyOut:
    return schemas.TaskPolicyOut(
        wave_size=rules.wave_size,
        wave_timeout_minutes=int(rules.wave_timeout.total_seconds() // 60),
        max_waves=rules.max_waves,
        checkin_max_distance_m=rules.checkin_max_distance_m,
        hours_cap=rules.hours_cap,
    )


# --- the volunteer (志愿红) -------------------------------------------------------------------


@routes.get(
    "/api/v1/me/invitations",
    query=schemas.InvitationListQuery,
    response=schemas.InvitationListOut,
    summary="我的接单邀请（默认只列待回复的）",
)
async def my_invitations(
    request: web.Request, *, principal: Principal, query: schemas.InvitationListQuery
) -> schemas.InvitationListOut:
    views = await service.my_invitations(
        principal=principal, pending_only=query.status == "pending"
    )
    return schemas.InvitationListOut(
        items=[invitation_out(v.invitation, v.need, links_of(request)) for v in views]
    )


@routes.post(
    "/api/v1/invitations/{invitation_id}/accept",
    params=schemas.InvitationPath,
    response=schemas.TaskDetailOut,
    summary="接单：先接先得，其他人的邀请随即撤回；晚了一步得到 409 task_taken",
    errors=(
        errors.NotFound,
        service.TaskTaken,
        service.InvitationClosed,
        service.TaskLimitReached,
    ),
)
async def accept_invitation(
    request: web.Request, *, principal: Principal, params: schemas.InvitationPath
) -> schemas.TaskDetailOut:
    return task_detail_out(
        await service.accept_invitation(
            principal=principal,
            invitation_id=params.invitation_id,
            settings=request.config_dict[SETTINGS],
        ),
        links_of(request),
    )


@routes.post(
    "/api/v1/invitations/{invitation_id}/decline",
    params=schemas.InvitationPath,
    body=schemas.DeclineIn,
    response=schemas.InvitationListOut,
    summary="婉拒邀请；本轮无人可回复时立即邀请下一轮。返回我仍待回复的邀请",
    errors=(errors.NotFound, service.InvitationClosed),
)
async def decline_invitation(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.InvitationPath,
    body: schemas.DeclineIn,
) -> schemas.InvitationListOut:
    await service.decline_invitation(
        principal=principal,
        invitation_id=params.invitation_id,
        reason=body.reason,
        settings=request.config_dict[SETTINGS],
    )
    views = await service.my_invitations(principal=principal, pending_only=True)
    return schemas.InvitationListOut(
        items=[invitation_out(v.invitation, v.need, links_of(request)) for v in views]
    )


@routes.get(
    "/api/v1/me/tasks",
    query=schemas.TaskListQuery,
    response=schemas.TaskListOut,
    summary="我的任务（默认只列待服务和服务中的）",
)
async def my_tasks(
    request: web.Request, *, principal: Principal, query: schemas.TaskListQuery
) -> schemas.TaskListOut:
    views = await service.my_tasks(principal=principal, scope=query.status)
    links = links_of(request)
    return schemas.TaskListOut(
        items=[
            schemas.TaskSummaryOut(task=task_out(v.task, links), need=need_brief(v.need, links))
            for v in views
        ]
    )


@routes.get(
    "/api/v1/tasks/{task_id}",
    params=schemas.TaskPath,
    response=schemas.TaskDetailOut,
    summary="任务详情：志愿者本人（任务进行中才显示门牌和电话）、需求所在网格/社区的工作人员或"
    "提交需求的居民",
    errors=(errors.NotFound,),
)
async def task_detail(
    request: web.Request, *, principal: Principal, params: schemas.TaskPath
) -> schemas.TaskDetailOut:
    return task_detail_out(
        await service.task_detail(principal=principal, task_id=params.task_id), links_of(request)
    )


@routes.post(
    "/api/v1/tasks/{task_id}/check-in",
    params=schemas.TaskPath,
    body=schemas.CheckInIn,
    response=schemas.TaskDetailOut,
    summary="签到：到达服务地点（可设距离限制），需求进入“服务中”",
    errors=(errors.NotFound, service.TooFar, service.TaskStateConflict, IllegalTransition),
)
async def check_in(
    request: web.Request, *, principal: Principal, params: schemas.TaskPath, body: schemas.CheckInIn
) -> schemas.TaskDetailOut:
    await service.check_in(
        principal=principal,
        task_id=params.task_id,
        lat=body.lat,
        lng=body.lng,
        settings=request.config_dict[SETTINGS],
    )
    return task_detail_out(
        await service.task_detail(principal=principal, task_id=params.task_id), links_of(request)
    )


@routes.post(
    "/api/v1/tasks/{task_id}/check-out",
    params=schemas.TaskPath,
    body=schemas.CheckOutIn,
    response=schemas.TaskDetailOut,
    summary="签退：附服务说明和照片，按签到签退时间计时长（按半小时取整，有上限），需求完成",
    errors=(
        errors.NotFound,
        service.TooFar,
        service.TaskStateConflict,
        IllegalTransition,
        PhotoKeyInvalid,
    ),
)
async def check_out(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.TaskPath,
    body: schemas.CheckOutIn,
) -> schemas.TaskDetailOut:
    await service.check_out(
        principal=principal,
        task_id=params.task_id,
        lat=body.lat,
        lng=body.lng,
        note=body.note,
        photos=body.photos,
        settings=request.config_dict[SETTINGS],
    )
    return task_detail_out(
        await service.task_detail(principal=principal, task_id=params.task_id), links_of(request)
    )


# --- staff --------------------------------------------------------------------------------------


@routes.post(
    "/api/v1/needs/{need_id}/matching",
    params=NeedPath,
    body=schemas.StartMatchingIn,
    response=schemas.MatchingOut,
    summary="开始匹配志愿者：需求进入“匹配中”，向排名前 K 位志愿者发出第一轮邀请",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def start_matching(
    request: web.Request,
    *,
    principal: Principal,
    params: NeedPath,
    body: schemas.StartMatchingIn,
) -> schemas.MatchingOut:
    started = await service.start_matching(
        principal=principal,
        need_id=params.need_id,
        settings=request.config_dict[SETTINGS],
        note=body.note,
    )
    return schemas.MatchingOut(
        need=need_out(started.need, links_of(request)), invited=started.invited
    )


@routes.post(
    "/api/v1/needs/{need_id}/assign",
    params=NeedPath,
    body=schemas.AssignIn,
    response=schemas.TaskDetailOut,
    status=201,
    summary="书记派单给本社区的志愿者（未回复的邀请随即撤回）",
    errors=(errors.NotFound, errors.PermissionDenied, errors.Conflict),
)
async def assign(
    request: web.Request, *, principal: Principal, params: NeedPath, body: schemas.AssignIn
) -> schemas.TaskDetailOut:
    task = await service.assign_by_hand(
        principal=principal, need_id=params.need_id, volunteer_id=body.volunteer_id, note=body.note
    )
    return task_detail_out(
        await service.task_detail(principal=principal, task_id=task.id), links_of(request)
    )


@routes.get(
    "/api/v1/needs/{need_id}/invitations",
    params=NeedPath,
    response=schemas.NeedInvitationsOut,
    summary="需求的邀请记录：每一轮邀请了谁、为什么、如何回复",
    errors=(errors.NotFound,),
)
async def need_invitations(
    request: web.Request, *, principal: Principal, params: NeedPath
) -> schemas.NeedInvitationsOut:
    need, rows = await service.need_invitations(principal=principal, need_id=params.need_id)
    return schemas.NeedInvitationsOut(
        need_id=need.id,
        need_status=need.status,
        items=[
            schemas.StaffInvitationOut(
                id=i.id,
                volunteer_id=i.volunteer_id,
                volunteer_name=name,
                wave=i.wave,
                rank=i.rank,
                score=i.score,
                explanation=i.explanation,
                status=i.status,
                status_label=INVITATION_LABELS[i.status],
                sent_at=i.sent_at,
                expires_at=i.expires_at,
                responded_at=i.responded_at,
                decline_reason=i.decline_reason,
            )
            for i, name in rows
        ],
    )


@routes.get(
    "/api/v1/needs/{need_id}/task",
    params=NeedPath,
    response=schemas.TaskDetailOut,
    summary="需求当前的任务（工作人员和提交需求的居民，含签退照片的签名链接）",
    errors=(errors.NotFound,),
)
async def need_task(
    request: web.Request, *, principal: Principal, params: NeedPath
) -> schemas.TaskDetailOut:
    return task_detail_out(
        await service.need_task(principal=principal, need_id=params.need_id), links_of(request)
    )


@routes.patch(
    "/api/v1/tasks/{task_id}/hours",
    params=schemas.TaskPath,
    body=schemas.HoursIn,
    response=schemas.TaskDetailOut,
    summary="书记修改已完成任务的服务时长（须说明理由，留有审计记录）",
    errors=(errors.NotFound, errors.PermissionDenied, service.TaskStateConflict),
)
async def edit_hours(
    request: web.Request, *, principal: Principal, params: schemas.TaskPath, body: schemas.HoursIn
) -> schemas.TaskDetailOut:
    await service.edit_hours(
        principal=principal, task_id=params.task_id, hours=body.hours, reason=body.reason
    )
    return task_detail_out(
        await service.task_detail(principal=principal, task_id=params.task_id), links_of(request)
    )


@routes.get(
    "/api/v1/communities/{community_id}/task-policy",
    params=schemas.CommunityPath,
    response=schemas.TaskPolicyOut,
    summary="社区的接单规则：每轮人数、每轮时限、最多轮数、签到距离、时长上限",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def get_task_policy(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.TaskPolicyOut:
    return policy_out(
        await service.get_policy(
            principal=principal,
            community_id=params.community_id,
            settings=request.config_dict[SETTINGS],
        )
    )


@routes.put(
    "/api/v1/communities/{community_id}/task-policy",
    params=schemas.CommunityPath,
    body=schemas.TaskPolicyIn,
    response=schemas.TaskPolicyOut,
    summary="书记设置本社区的接单规则（留空 = 用系统设置）",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def set_task_policy(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.TaskPolicyIn,
) -> schemas.TaskPolicyOut:
    return policy_out(
        await service.set_policy(
            principal=principal,
            community_id=params.community_id,
            values=body.model_dump(),
            settings=request.config_dict[SETTINGS],
        )
    )
