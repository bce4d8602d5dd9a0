"""为民实事清单: create projects, post monthly progress, move them through their lifecycle, and
remind owners who have not reported this month."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action as Permission
from server.accounts.permissions import Place, Principal, allows, require, sees_community
from server.core import errors
from server.notify import service as notify
from server.notify.models import OutboxMessage
from server.org.service import community_place
from server.projects import schemas
from server.projects.lifecycle import ACTIVE_STATUSES, Action, Actor, next_status
from server.projects.models import (
    STATUS_LABELS,
    Project,
    ProjectEvent,
    ProjectStatus,
    ProjectUpdate,
)

# who can answer for a project: people who work in the community, not residents at large
OWNER_ROLES = (Role.SECRETARY, Role.GRID_MEMBER, Role.VOLUNTEER)
REMINDER_KIND = "project_update_reminder"


class ProjectClosed(errors.Conflict):
    code = "project_closed"
    default_message = "项目已完成或已撤销，不能再更新进度"


@dataclass(frozen=True)
class ProjectView:
    project: Project
    owner_name: str
    updated_this_month: bool
    overdue: bool


@dataclass(frozen=True)
class ProjectDetail:
    view: ProjectView
    updates: list[tuple[ProjectUpdate, str]]
    events: list[tuple[ProjectEvent, str | None]]


def local_month(moment: dt.datetime, timezone: str) -> str:
    """``YYYY-MM`` of the moment in the community's time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.year}-{local.month:02d}"


def _view(project: Project, owner_name: str, *, now: dt.datetime, timezone: str) -> ProjectView:
    month = local_month(now, timezone)
    updated = project.last_update_at is not None and (
        local_month(project.last_update_at, timezone) == month
    )
    today = now.astimezone(ZoneInfo(timezone)).date()
    overdue = project.status in ACTIVE_STATUSES and project.due_date < today
    return ProjectView(project, owner_name, updated, overdue)


async def _names(person_ids: set[int]) -> dict[int, str]:
    rows = await Person.filter(id__in=person_ids).values_list("id", "name")
    return {int(pid): str(name) for pid, name in rows}


async def _project_and_place(project_id: int) -> tuple[Project, Place]:
    project = await Project.get_or_none(id=project_id)
    if project is None:
        raise errors.NotFound("找不到该项目")
    _, place = await community_place(community_id=project.community_id)
    return project, place


def _visible(principal: Principal, place: Place) -> None:
    """The practical-matters list is public to the community; anyone else gets 404."""
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该项目")


def _actors(principal: Principal, project: Project, place: Place) -> frozenset[Actor]:
    actors = set()
    if principal.person_id == project.owner_id:
        actors.add(Actor.OWNER)
    if allows(principal, Permission.MANAGE_PROJECTS, place):
        actors.add(Actor.LEADER)
    return frozenset(actors)


async def create_project(
    *,
    principal: Principal,
    community_id: int,
    body: schemas.ProjectIn,
    now: dt.datetime,
    timezone: str,
) -> ProjectView:
    """Put a practical matter on the community's public list, with its responsible person."""
    _, place = await community_place(community_id=community_id)
    require(principal, Permission.MANAGE_PROJECTS, place)
    owner_ok = await RoleGrant.filter(
        person_id=body.owner_id, community_id=community_id, role__in=OWNER_ROLES
    ).exists()
    if not owner_ok:
        raise errors.ValidationFailed(
            "负责人须是本社区的书记、网格员或志愿者", details={"field": "owner_id"}
        )
    if body.due_date < now.astimezone(ZoneInfo(timezone)).date():
        raise errors.ValidationFailed("计划完成日期不能早于今天", details={"field": "due_date"})
    async with in_transaction() as connection:
        project = await Project.create(
            community_id=community_id,
            title=body.title.strip(),
            description=body.description.strip(),
            plan=body.plan.strip(),
            owner_id=body.owner_id,
            due_date=body.due_date,
            created_by_id=principal.person_id,
            using_db=connection,
        )
        await ProjectEvent.create(
            project=project,
            actor_id=principal.person_id,
            action="create",
            from_status=None,
            to_status=ProjectStatus.PLANNED,
            using_db=connection,
        )
    names = await _names({body.owner_id})
    return _view(project, names.get(body.owner_id, ""), now=now, timezone=timezone)


async def list_projects(
    *,
    principal: Principal,
    community_id: int,
    status: ProjectStatus | None,
    now: dt.datetime,
    timezone: str,
) -> list[ProjectView]:
    """The community's practical-matters list (公示): active first by due date, then the rest."""
    _, place = await community_place(community_id=community_id)
    if not sees_community(principal, place):
        raise errors.NotFound("找不到该社区")
    query = Project.filter(community_id=community_id)
    if status is not None:
        query = query.filter(status=status)
    projects = await query.order_by("due_date", "id")
    names = await _names({p.owner_id for p in projects})
    views = [_view(p, names.get(p.owner_id, ""), now=now, timezone=timezone) for p in projects]
    return sorted(views, key=lambda v: v.project.status not in ACTIVE_STATUSES)


async def project_detail(
    *, principal: Principal, project_id: int, now: dt.datetime, timezone: str
) -> ProjectDetail:
    """A project with its monthly updates (newest first) and its status history."""
    project, place = await _project_and_place(project_id)
    _visible(principal, place)
    updates = await ProjectUpdate.filter(project_id=project_id).order_by("-created_at", "-id")
    events = await ProjectEvent.filter(project_id=project_id).order_by("created_at", "id")
    people = {project.owner_id} | {u.author_id for u in updates}
    people |= {e.actor_id for e in events if e.actor_id is not None}
    names = await _names(people)
    return ProjectDetail(
        view=_view(project, names.get(project.owner_id, ""), now=now, timezone=timezone),
        updates=[(u, names.get(u.author_id, "")) for u in updates],
        events=[(e, names.get(e.actor_id) if e.actor_id else None) for e in events],
    )


async def _apply(
    *,
    project: Project,
    action: Action,
    actors: frozenset[Actor],
    actor_id: int,
    note: str,
    connection: BaseDBAsyncClient,
) -> None:
    """The one place a project's status changes: check the table, write the audit row."""
    target = next_status(action, project.status, actors, note)
    event = ProjectEvent(
        project_id=project.id,
        actor_id=actor_id,
        action=action.value,
        from_status=project.status,
        to_status=target,
        note=note.strip(),
    )
    project.status = target
    if action is Action.FINISH:
        project.percent = 100
    await project.save(using_db=connection)
    await event.save(using_db=connection)


async def transition(
    *,
    principal: Principal,
    project_id: int,
    action: Action,
    note: str,
    now: dt.datetime,
    timezone: str,
) -> ProjectView:
    """Start, escalate to the joint meeting, resume, finish or cancel a project."""
    _, place = await _project_and_place(project_id)
    _visible(principal, place)
    async with in_transaction() as connection:
        project = await Project.filter(id=project_id).select_for_update().using_db(connection).get()
        await _apply(
            project=project,
            action=action,
            actors=_actors(principal, project, place),
            actor_id=principal.person_id,
            note=note,
            connection=connection,
        )
    names = await _names({project.owner_id})
    return _view(project, names.get(project.owner_id, ""), now=now, timezone=timezone)


async def post_update(
    *,
    principal: Principal,
    project_id: int,
    body: schemas.ProjectUpdateIn,
    now: dt.datetime,
    timezone: str,
) -> ProjectView:
    """The owner's (or the secretary's) progress report; a first report starts a planned project."""
    _, place = await _project_and_place(project_id)
    _visible(principal, place)
    async with in_transaction() as connection:
        project = await Project.filter(id=project_id).select_for_update().using_db(connection).get()
        actors = _actors(principal, project, place)
        if not actors:
            raise errors.PermissionDenied("只有项目负责人或社区书记能更新进度")
        if project.status not in ACTIVE_STATUSES:
            raise ProjectClosed(details={"status": project.status.value})
        note = body.note.strip()
        if project.status is ProjectStatus.PLANNED and body.percent > 0:
            await _apply(
                project=project,
                action=Action.START,
                actors=actors,
                actor_id=principal.person_id,
                note="首次报告进度",
                connection=connection,
            )
        await ProjectUpdate.create(
            project_id=project.id,
            month=local_month(now, timezone),
            percent=body.percent,
            note=note,
            author_id=principal.person_id,
            using_db=connection,
        )
        project.percent = body.percent
        project.last_note = note
        project.last_update_at = now
        await project.save(using_db=connection)
    names = await _names({project.owner_id})
    return _view(project, names.get(project.owner_id, ""), now=now, timezone=timezone)


async def remind_missing_updates(*, now: dt.datetime, timezone: str) -> int:
    """Remind each owner whose active project has no progress report this month (once a month);
    returns how many reminders were written."""
    month = local_month(now, timezone)
    zone = ZoneInfo(timezone)
    start = dt.datetime(int(month[:4]), int(month[5:]), 1, tzinfo=zone).astimezone(dt.UTC)
    projects = await Project.filter(
        Q(last_update_at__isnull=True) | Q(last_update_at__lt=start),
        status__in=list(ACTIVE_STATUSES),
    ).order_by("id")
    keys = {p.id: f"project-update:{p.id}:{month}" for p in projects}
    sent = set(
        await OutboxMessage.filter(dedupe_key__in=list(keys.values())).values_list(
            "dedupe_key", flat=True
        )
    )
    count = 0
    for project in projects:
        if keys[project.id] in sent:
            continue
        await notify.enqueue(
            kind=REMINDER_KIND,
            recipient_id=project.owner_id,
            community_id=project.community_id,
            payload={
                "project_id": project.id,
                "month": month,
                "text": f"为民实事“{project.title}”本月（{int(month[5:])} 月）的进度还没有更新，"
                f"当前进度 {project.percent}%，请在月底前填报。",
                "link": f"/pages/projects/detail?id={project.id}",
            },
            dedupe_key=keys[project.id],
        )
        count += 1
    return count


async def active_progress(*, community_id: int) -> list[tuple[str, int, str]]:
    """Name, percent and status of the community's active projects (for the weekly digest)."""
    projects = await Project.filter(
        community_id=community_id, status__in=list(ACTIVE_STATUSES)
    ).order_by("due_date", "id")
    return [(p.title, p.percent, STATUS_LABELS[p.status]) for p in projects]
