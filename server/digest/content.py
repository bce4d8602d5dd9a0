"""The weekly digest's content: a pure function of aggregate query results (no I/O, no ORM).

``DigestInput`` holds counts, medians and small lists that SQL aggregate queries produced;
``build_digest`` turns them into the figures a secretary reads; ``render_markdown`` writes the
WeCom markdown message and ``render_chart`` the PNG for the group robot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.digest.png import Color, bar_chart

WECOM_MARKDOWN_MAX_BYTES = 4096  # WeCom rejects longer markdown content (UTF-8 bytes)
TOP_VOLUNTEERS = 5
SATISFIED_MIN_RATING = 4  # 4 or 5 stars count as 满意
CHART_MAX_GRIDS = 12  # more bars than this are unreadable on a phone
NO_HOURS_TEXT = "本周暂无志愿服务时长记录"
NO_PROJECTS_TEXT = "暂无为民实事项目"
CHART_COLORS: tuple[Color, ...] = ((59, 130, 246), (34, 197, 94), (239, 68, 68))  # 新增 办结 逾期
DIRECT_GRID_NAME = "社区直属"


@dataclass(frozen=True)
class VolunteerHours:
    """Hours one volunteer served in the week (from the time passbook, 时间存折)."""

    person_id: int
    name: str
    hours: float


@dataclass(frozen=True)
class ProjectProgress:
    """One practical-matter project (为民实事) and how far it is."""

    name: str
    percent: int
    note: str = ""


@dataclass(frozen=True)
class GridFigures:
    """One grid's week: counts and its ratings."""

    grid_id: int
    name: str
    new: int = 0
    finished: int = 0
    overdue: int = 0
    ratings: int = 0
    satisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None


@dataclass(frozen=True)
class DigestInput:
    """What the aggregate queries return for one community and one week."""

    community_id: int
    community_name: str
    week: str  # ISO week, e.g. 2026-W47
    start: dt.date  # Monday, local time
    new: int
    finished: int
    overdue: int
    median_accept_seconds: float | None
    median_finish_seconds: float | None
    rating_counts: dict[int, int]  # stars (1-5) → number of ratings
    grids: list[GridFigures]
    volunteer_hours: list[VolunteerHours] = field(default_factory=list)
    projects: list[ProjectProgress] = field(default_factory=list)


@dataclass(frozen=True)
class Digest:
    """The figures of the digest, ready to render."""

    community_id: int
    community_name: str
    week: str
    period: str  # 11月16日—11月22日
    new: int
    finished: int
    overdue: int
    median_accept: str  # human text, "—" when nothing was accepted
    median_finish: str
    ratings: int
    average_rating: float | None
    satisfaction: float | None  # share of 4-5 star ratings
    volunteer_total_hours: float
    volunteer_count: int
    top_volunteers: list[VolunteerHours]
    grids: list[GridFigures]
    projects: list[ProjectProgress]


def median(sorted_values: Sequence[float]) -> float | None:
    """The median of already sorted values (``None`` for none)."""
    count = len(sorted_values)
    if not count:
        return None
    middle = count // 2
    if count % 2:
        return float(sorted_values[middle])
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def duration_text(seconds: float | None) -> str:
    """A duration as a secretary says it: 45分钟, 3.5小时, 2.1天."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))}分钟"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}小时"
    return f"{seconds / 86400:.1f}天"


def percent_text(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def roll_up_grids(
    counts: dict[int, GridFigures], grid_paths: dict[int, str], names: dict[int, str]
) -> list[GridFigures]:
    """Sum the figures of every grid into its second-level grid (小区/经济社), the unit compared.

    A need on the community grid itself goes to ``社区直属``. Paths are ``/top/second/third/``.
    """
    totals: dict[int, list[int]] = {}
    for grid_id, figures in counts.items():
        parts = grid_paths.get(grid_id, "").strip("/").split("/")
        key = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        row = totals.setdefault(key, [0, 0, 0, 0, 0])
        for index, value in enumerate(
            (figures.new, figures.finished, figures.overdue, figures.ratings, figures.satisfied)
        ):
            row[index] += value
    rows = [
        GridFigures(key, names.get(key, DIRECT_GRID_NAME) if key else DIRECT_GRID_NAME, *row)
        for key, row in totals.items()
    ]
    return sorted(rows, key=lambda grid: (-grid.new, -grid.finished, grid.name, grid.grid_id))


def build_digest(data: DigestInput) -> Digest:
    """The digest's figures from the week's aggregates."""
    ratings = sum(data.rating_counts.values())
    stars = sum(star * count for star, count in data.rating_counts.items())
    satisfied = sum(
        count for star, count in data.rating_counts.items() if star >= SATISFIED_MIN_RATING
    )
    volunteers = sorted(data.volunteer_hours, key=lambda v: (-v.hours, v.name, v.person_id))
    end = data.start + dt.timedelta(days=6)
    return Digest(
        community_id=data.community_id,
        community_name=data.community_name,
        week=data.week,
        period=f"{data.start.month}月{data.start.day}日—{end.month}月{end.day}日",
        new=data.new,
        finished=data.finished,
        overdue=data.overdue,
        median_accept=duration_text(data.median_accept_seconds),
        median_finish=duration_text(data.median_finish_seconds),
        ratings=ratings,
        average_rating=round(stars / ratings, 2) if ratings else None,
        satisfaction=satisfied / ratings if ratings else None,
        volunteer_total_hours=round(sum(v.hours for v in volunteers), 1),
        volunteer_count=len(volunteers),
        top_volunteers=volunteers[:TOP_VOLUNTEERS],
        grids=list(data.grids),
        projects=list(data.projects),
    )


def _grid_line(grid: GridFigures) -> str:
    return (
        f"> {grid.name}：新增 {grid.new} · 办结 {grid.finished} · "
        f"逾期 {grid.overdue} · 满意率 {percent_text(grid.satisfaction)}"
    )


def render_markdown(digest: Digest, *, link: str) -> str:
    """The WeCom markdown message, at most ``WECOM_MARKDOWN_MAX_BYTES`` bytes.

    When too many grids would overflow it, the last grids are left out with a note and the link
    (the full digest is in the app).
    """
    overdue = f'<font color="warning">{digest.overdue}</font>' if digest.overdue else "0"
    head = [
        f"## {digest.community_name} 周报（{digest.period}）",
        f"**需求**：新增 {digest.new} 件，办结 {digest.finished} 件，逾期 {overdue} 件",
        f"**时效**：受理用时中位数 {digest.median_accept}，办结用时中位数 {digest.median_finish}",
    ]
    if digest.ratings:
        head.append(
            f"**群众评价**：{digest.ratings} 条，平均 {digest.average_rating:.1f} 星，"
            f"满意率 {percent_text(digest.satisfaction)}"
        )
    else:
        head.append("**群众评价**：本周暂无评价")
    if digest.volunteer_count:
        names = "、".join(f"{v.name} {v.hours:g}小时" for v in digest.top_volunteers)
        head.append(
            f"**志愿服务**：{digest.volunteer_count} 人共 {digest.volunteer_total_hours:g} 小时；"
            f"时长前列：{names}"
        )
    else:
        head.append(f"**志愿服务**：{NO_HOURS_TEXT}")
    if digest.projects:
        head.append("**为民实事**：")
        head.extend(f"> {p.name}：{p.percent}% {p.note}".rstrip() for p in digest.projects)
    else:
        head.append(f"**为民实事**：{NO_PROJECTS_TEXT}")
    grid_lines = [_grid_line(grid) for grid in digest.grids]
    tail = f"[在小程序中查看完整周报]({link})"

    def compose(kept: int) -> str:
        lines = [*head, "**网格对比**：" if digest.grids else "**网格对比**：本周无数据"]
        lines.extend(grid_lines[:kept])
        if kept < len(grid_lines):
            lines.append(f"> ……另有 {len(grid_lines) - kept} 个网格，见完整周报")
        lines.append(tail)
        return "\n".join(lines)

    kept = len(grid_lines)
    text = compose(kept)
    while len(text.encode()) > WECOM_MARKDOWN_MAX_BYTES and kept > 0:
        kept -= 1
        text = compose(kept)
    if len(text.encode()) > WECOM_MARKDOWN_MAX_BYTES:  # only absurd names can get here
        text = text.encode()[: WECOM_MARKDOWN_MAX_BYTES - 3].decode(errors="ignore") + "…"
    return text


def render_chart(digest: Digest) -> bytes:
    """A PNG bar chart: per grid, new (blue), finished (green) and overdue (red) needs."""
    grids = digest.grids[:CHART_MAX_GRIDS]
    return bar_chart([(g.new, g.finished, g.overdue) for g in grids], CHART_COLORS)


def inbox_text(digest: Digest) -> str:
    """The one-line summary of the in-app inbox item."""
    return (
        f"{digest.period}：新增需求 {digest.new} 件，办结 {digest.finished} 件，"
        f"逾期 {digest.overdue} 件，满意率 {percent_text(digest.satisfaction)}"
    )
