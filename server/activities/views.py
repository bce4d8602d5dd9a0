"""HTTP views of group activities (志愿活动)."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Principal
from server.activities import schemas, service
from server.activities.models import ACTIVITY_LABELS, SIGNUP_LABELS
from server.activities.rules import ActivityStateConflict
from server.core import errors
from server.core.clock import utcnow
from server.core.routes import ApiRoutes

routes = ApiRoutes(tag="志愿活动")


def my_signup_out(mine: service.MySignup | None) -> schemas.MySignupOut | None:
    if mine is None:
        return None
    signup = mine.signup
    return schemas.MySignupOut(
        status=signup.status,
        status_label=SIGNUP_LABELS[signup.status],
        signed_up_at=signup.signed_up_at,
        waitlist_position=mine.waitlist_position,
        attended=signup.attended_at is not None,
        attended_at=signup.attended_at,
    )


def activity_out(view: service.ActivityView) -> schemas.ActivityOut:
    a = view.activity
    return schemas.ActivityOut(
        id=a.id,
        community_id=a.community_id,
        title=a.title,
        description=a.description,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        signup_deadline=a.signup_deadline,
        place=a.place,
        lat=a.lat,
        lng=a.lng,
        capacity=a.capacity,
        skills=list(a.skills),
        hours=a.hours,
        status=a.status,
        status_label=ACTIVITY_LABELS[a.status],
        cancel_reason=a.cancel_reason,
        confirmed=view.counts.confirmed,
        waitlisted=view.counts.waitlisted,
        places_left=max(a.capacity - view.counts.confirmed, 0),
        my_signup=my_signup_out(view.mine),
    )


def attendee_out(attendee: service.Attendee) -> schemas.AttendeeOut:
    s = attendee.signup
    return schemas.AttendeeOut(
        volunteer_id=s.volunteer_id,
        name=attendee.name,
        status=s.status,
        signed_up_at=s.signed_up_at,
        waitlist_position=attendee.waitlist_position,
        attended_at=s.attended_at,
        marked_by_secretary=s.attendance_marked_by_id is not None,
    )


def roster_out(roster: service.Roster) -> schemas.RosterOut:
    return schemas.RosterOut(
        activity=activity_out(roster.view),
        confirmed=[attendee_out(a) for a in roster.confirmed],
        waitlist=[attendee_out(a) for a in roster.waitlist],
        attended=sum(a.signup.attended_at is not None for a in roster.confirmed),
    )


def list_out(views: list[service.ActivityView]) -> schemas.ActivityListOut:
    return schemas.ActivityListOut(items=[activity_out(v) for v in views])


# --- everyone of the community ----------------------------------------------------------------


@routes.get(
    "/api/v1/communities/{community_id}/activities",
    params=schemas.CommunityPath,
    query=schemas.ActivityListQuery,
    response=schemas.ActivityListOut,
    summary="社区的志愿活动：默认列未结束的（开始早的在前），附我的报名状态",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def community_activities(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    query: schemas.ActivityListQuery,
) -> schemas.ActivityListOut:
    return list_out(
        await service.list_activities(
            principal=principal,
            community_id=params.community_id,
            scope=query.scope,
            limit=query.limit,
            now=utcnow(),
        )
    )


@routes.get(
    "/api/v1/me/activities",
    query=schemas.MySignupsQuery,
    response=schemas.ActivityListOut,
    summary="我报名（含候补）的活动；scope=all 含已结束、已退出的",
)
async def my_activities(
    request: web.Request, *, principal: Principal, query: schemas.MySignupsQuery
) -> schemas.ActivityListOut:
    return list_out(await service.my_signups(principal=principal, scope=query.scope, now=utcnow()))


@routes.get(
    "/api/v1/activities/{activity_id}",
    params=schemas.ActivityPath,
    response=schemas.ActivityDetailOut,
    summary="活动详情（书记另见变更记录）",
    errors=(errors.NotFound,),
)
async def activity_detail(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.ActivityDetailOut:
    view, events = await service.activity_detail(
        principal=principal, activity_id=params.activity_id
    )
    return schemas.ActivityDetailOut(
        activity=activity_out(view),
        events=[schemas.ActivityEventOut.model_validate(e) for e in events],
    )


# --- volunteers -------------------------------------------------------------------------------


@routes.post(
    "/api/v1/activities/{activity_id}/signup",
    params=schemas.ActivityPath,
    response=schemas.ActivityOut,
    summary="报名：有名额即报上，名额满则进入候补（先报先补）",
    errors=(
        errors.NotFound,
        errors.PermissionDenied,
        service.AlreadySignedUp,
        service.SignupClosed,
        service.SkillsRequired,
    ),
)
async def activity_sign_up(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.ActivityOut:
    return activity_out(
        await service.sign_up(principal=principal, activity_id=params.activity_id, now=utcnow())
    )


@routes.post(
    "/api/v1/activities/{activity_id}/withdraw",
    params=schemas.ActivityPath,
    response=schemas.ActivityOut,
    summary="退出报名（活动开始前）；空出的名额给候补第一位",
    errors=(errors.NotFound, service.NotSignedUp, service.ActivityStarted, ActivityStateConflict),
)
async def activity_withdraw(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.ActivityOut:
    return activity_out(
        await service.withdraw(principal=principal, activity_id=params.activity_id, now=utcnow())
    )


@routes.post(
    "/api/v1/activities/{activity_id}/check-in",
    params=schemas.ActivityPath,
    body=schemas.ActivityCheckInIn,
    response=schemas.ActivityOut,
    summary="签到：输入现场的签到码（开始前 30 分钟至结束后 30 分钟）",
    errors=(
        errors.NotFound,
        service.NotSignedUp,
        service.OutsideCheckinWindow,
        service.WrongCheckinCode,
        service.CheckinLocked,
    ),
)
async def activity_check_in(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ActivityPath,
    body: schemas.ActivityCheckInIn,
) -> schemas.ActivityOut:
    return activity_out(
        await service.check_in(
            principal=principal, activity_id=params.activity_id, code=body.code, now=utcnow()
        )
    )


# --- the secretary ----------------------------------------------------------------------------


@routes.post(
    "/api/v1/communities/{community_id}/activities",
    params=schemas.CommunityPath,
    body=schemas.ActivityIn,
    response=schemas.ActivityOut,
    status=201,
    summary="书记发布志愿活动",
    errors=(errors.NotFound, errors.PermissionDenied, errors.ValidationFailed),
)
async def publish_activity(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.CommunityPath,
    body: schemas.ActivityIn,
) -> schemas.ActivityOut:
    return activity_out(
        await service.publish(
            principal=principal, community_id=params.community_id, body=body, now=utcnow()
        )
    )


@routes.patch(
    "/api/v1/activities/{activity_id}",
    params=schemas.ActivityPath,
    body=schemas.ActivityPatch,
    response=schemas.ActivityOut,
    summary="书记修改活动（时间只能在开始前改）；时间地点变更会通知已报名的志愿者",
    errors=(
        errors.NotFound,
        errors.PermissionDenied,
        service.ActivityStarted,
        service.CapacityBelowSignups,
        ActivityStateConflict,
    ),
)
async def edit_activity(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ActivityPath,
    body: schemas.ActivityPatch,
) -> schemas.ActivityOut:
    return activity_out(
        await service.edit(
            principal=principal, activity_id=params.activity_id, body=body, now=utcnow()
        )
    )


@routes.post(
    "/api/v1/activities/{activity_id}/cancel",
    params=schemas.ActivityPath,
    body=schemas.ActivityCancelIn,
    response=schemas.ActivityOut,
    summary="书记取消活动（须说明原因），通知已报名和候补的志愿者",
    errors=(errors.NotFound, errors.PermissionDenied, ActivityStateConflict),
)
async def cancel_activity(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ActivityPath,
    body: schemas.ActivityCancelIn,
) -> schemas.ActivityOut:
    return activity_out(
        await service.cancel(
            principal=principal, activity_id=params.activity_id, reason=body.reason, now=utcnow()
        )
    )


@routes.get(
    "/api/v1/activities/{activity_id}/roster",
    params=schemas.ActivityPath,
    response=schemas.RosterOut,
    summary="书记查看报名名单（含签到情况）和候补名单",
    errors=(errors.NotFound, errors.PermissionDenied),
)
async def activity_roster(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.RosterOut:
    return roster_out(await service.roster(principal=principal, activity_id=params.activity_id))


@routes.get(
    "/api/v1/activities/{activity_id}/checkin-code",
    params=schemas.ActivityPath,
    response=schemas.CheckinCodeOut,
    summary="书记获取签到码（首次获取时生成，结束后 30 分钟失效）",
    errors=(errors.NotFound, errors.PermissionDenied, service.OutsideCheckinWindow),
)
async def get_activity_checkin_code(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.CheckinCodeOut:
    code = await service.checkin_code(
        principal=principal, activity_id=params.activity_id, rotate=False, now=utcnow()
    )
    return schemas.CheckinCodeOut(
        code=code.code, expires_at=code.expires_at, opens_at=code.opens_at
    )


@routes.post(
    "/api/v1/activities/{activity_id}/checkin-code/rotate",
    params=schemas.ActivityPath,
    response=schemas.CheckinCodeOut,
    summary="书记更换签到码（旧码立即失效）",
    errors=(errors.NotFound, errors.PermissionDenied, service.OutsideCheckinWindow),
)
async def rotate_activity_checkin_code(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.CheckinCodeOut:
    code = await service.checkin_code(
        principal=principal, activity_id=params.activity_id, rotate=True, now=utcnow()
    )
    return schemas.CheckinCodeOut(
        code=code.code, expires_at=code.expires_at, opens_at=code.opens_at
    )


@routes.post(
    "/api/v1/activities/{activity_id}/attendance",
    params=schemas.ActivityPath,
    body=schemas.AttendanceIn,
    response=schemas.RosterOut,
    summary="书记手动标记（或取消）出席",
    errors=(errors.NotFound, errors.PermissionDenied, service.NotStarted, ActivityStateConflict),
)
async def mark_activity_attendance(
    request: web.Request,
    *,
    principal: Principal,
    params: schemas.ActivityPath,
    body: schemas.AttendanceIn,
) -> schemas.RosterOut:
    return roster_out(
        await service.mark_attendance(
            principal=principal,
            activity_id=params.activity_id,
            volunteer_id=body.volunteer_id,
            attended=body.attended,
            now=utcnow(),
        )
    )


@routes.post(
    "/api/v1/activities/{activity_id}/close",
    params=schemas.ActivityPath,
    response=schemas.CloseOut,
    summary="书记结束活动：签到者的时长记入时间存折待审核（重复结束不会重复记）",
    errors=(errors.NotFound, errors.PermissionDenied, service.NotStarted, ActivityStateConflict),
)
async def close_activity(
    request: web.Request, *, principal: Principal, params: schemas.ActivityPath
) -> schemas.CloseOut:
    result = await service.close(principal=principal, activity_id=params.activity_id, now=utcnow())
    return schemas.CloseOut(
        activity=activity_out(result.view),
        credited=result.credited,
        attended=result.attended,
        hours_each=result.view.activity.hours,
    )
