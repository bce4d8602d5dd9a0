"""The digest's content from a fixed set of aggregates: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import pytest

from server.digest.content import (
    NO_HOURS_TEXT,
    NO_PROJECTS_TEXT,
    WECOM_MARKDOWN_MAX_BYTES,
    DigestInput,
    GridFigures,
    ProjectProgress,
    VolunteerHours,
    build_digest,
    duration_text,
    median,
    render_chart,
    render_markdown,
    roll_up_grids,
)
from server.digest.png import encode_png
from server.digest.weeks import last_complete_week, parse_week, week_bounds

LINK = "https://example.cn/api/v1/communities/7/digests/2026-W10"


def week_input(**overrides: object) -> DigestInput:
    values: dict[str, object] = {
        "community_id": 7,
        "community_name": "幸福里社区",
        "week": "2026-W10",
        "start": dt.date(2026, 3, 2),
        "new": 12,
        "finished": 9,
        "overdue": 2,
        "median_accept_seconds": 5400.0,
        "median_finish_seconds": 3 * 86400.0,
        "rating_counts": {5: 4, 4: 2, 2: 1, 1: 1},
        "grids": [
            GridFigures(2, "1号小区", new=8, finished=6, overdue=2, ratings=6, satisfied=5),
            GridFigures(3, "2号小区", new=4, finished=3, overdue=0, ratings=2, satisfied=1),
        ],
    }
    values.update(overrides)
    return DigestInput(**values)  # type: ignore[arg-type]


def test_digest_of_a_fixed_week_reads_as_the_secretary_expects() -> None:
    digest = build_digest(week_input())
    assert (digest.period, digest.new, digest.finished, digest.overdue) == (
        "3月2日—3月8日",
        12,
        9,
        2,
    )
    assert (digest.median_accept, digest.median_finish) == ("1.5小时", "3.0天")
    assert digest.ratings == 8
    assert digest.average_rating == pytest.approx(3.88)  # 31 stars / 8
    assert digest.satisfaction == pytest.approx(0.75)

    text = render_markdown(digest, link=LINK)
    assert text.splitlines() == [
        "## 幸福里社区 周报（3月2日—3月8日）",
        '**需求**：新增 12 件，办结 9 件，逾期 <font color="warning">2</font> 件',
        "**时效**：受理用时中位数 1.5小时，办结用时中位数 3.0天",
        "**群众评价**：8 条，平均 3.9 星，满意率 75%",
        f"**志愿服务**：{NO_HOURS_TEXT}",
        f"**为民实事**：{NO_PROJECTS_TEXT}",
        "**网格对比**：",
        "> 1号小区：新增 8 · 办结 6 · 逾期 2 · 满意率 83%",
        "> 2号小区：新增 4 · 办结 3 · 逾期 0 · 满意率 50%",
        f"[在小程序中查看完整周报]({LINK})",
    ]


def test_volunteer_hours_and_projects_when_they_are_given() -> None:
    hours = [
        VolunteerHours(1, "张三", 3.0),
        VolunteerHours(2, "李四", 7.5),
        *(VolunteerHours(10 + i, f"志愿者{i}", 1.0) for i in range(6)),
    ]
    digest = build_digest(
        week_input(volunteer_hours=hours, projects=[ProjectProgress("加装电梯", 40, "已招标")])
    )
    assert digest.volunteer_count == 8
    assert digest.volunteer_total_hours == 16.5
    assert [v.name for v in digest.top_volunteers] == [
        "李四",
        "张三",
        "志愿者0",
        "志愿者1",
        "志愿者2",
    ]
    text = render_markdown(digest, link=LINK)
    assert (
        "**志愿服务**：8 人共 16.5 小时；时长前列：李四 7.5小时、张三 3小时、志愿者0 1小时" in text
    )
    assert "> 加装电梯：40% 已招标" in text
    assert NO_HOURS_TEXT not in text and NO_PROJECTS_TEXT not in text


def test_an_empty_week_says_so_instead_of_showing_zeros_as_figures() -> None:
    digest = build_digest(
        week_input(
            new=0,
            finished=0,
            overdue=0,
            median_accept_seconds=None,
            median_finish_seconds=None,
            rating_counts={},
            grids=[],
        )
    )
    text = render_markdown(digest, link=LINK)
    assert "受理用时中位数 —，办结用时中位数 —" in text
    assert "**群众评价**：本周暂无评价" in text
    assert "**网格对比**：本周无数据" in text
    assert digest.satisfaction is None


def test_many_grids_are_cut_to_fit_wecom_markdown_limit_with_a_note() -> None:
    grids = [GridFigures(i, f"第{i}经济合作社党支部网格", new=i, finished=1) for i in range(300)]
    text = render_markdown(build_digest(week_input(grids=grids)), link=LINK)
    assert len(text.encode()) <= WECOM_MARKDOWN_MAX_BYTES
    assert "个网格，见完整周报" in text
    assert text.endswith(f"({LINK})")


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], None), ([3.0], 3.0), ([1.0, 2.0], 1.5), ([1.0, 2.0, 10.0], 2.0)],
)
def test_median_of_sorted_durations(values: list[float], expected: float | None) -> None:
    assert median(values) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (20, "1分钟"), (45 * 60, "45分钟"), (3600, "1.0小时"), (49 * 3600, "2.0天")],
)
def test_durations_read_in_chinese(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_grids_roll_up_to_their_second_level_grid() -> None:
    paths = {1: "/1/", 2: "/1/2/", 3: "/1/2/3/", 4: "/1/4/", 5: "/1/4/5/"}
    names = {1: "社区网格", 2: "1号小区", 3: "1号楼", 4: "2号小区", 5: "1号楼"}
    counts = {
        1: GridFigures(1, "社区网格", new=1),
        3: GridFigures(3, "1号楼", new=2, finished=1, ratings=1, satisfied=1),
        2: GridFigures(2, "1号小区", new=1),
        5: GridFigures(5, "1号楼", new=5, overdue=1),
    }
    rows = roll_up_grids(counts, paths, names)
    assert [(g.name, g.new, g.finished, g.overdue, g.ratings) for g in rows] == [
        ("2号小区", 5, 0, 1, 0),
        ("1号小区", 3, 1, 0, 1),
        ("社区直属", 1, 0, 0, 0),
    ]


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_length])
    return width, height, raw


def test_chart_is_a_valid_png_with_the_bars_drawn() -> None:
    png = render_chart(build_digest(week_input()))
    width, height, raw = _png_pixels(png)
    assert (width, height) == (640, 320)
    assert len(raw) == height * (width * 3 + 1)
    assert bytes((59, 130, 246)) in raw  # the blue of new needs is drawn
    assert bytes((239, 68, 68)) in raw  # and the red of the overdue ones


def test_png_writer_refuses_a_buffer_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        encode_png(2, 2, b"\x00" * 11)


def test_weeks_in_shanghai_time() -> None:
    start, end = week_bounds("2026-W10", "Asia/Shanghai")
    assert start == dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(days=7)
    assert parse_week("2026-W10") == dt.date(2026, 3, 2)
    # Monday 08:30 in Shanghai is Monday 00:30 UTC: the digest reports on the week before
    assert last_complete_week(dt.datetime(2026, 3, 9, 0, 30, tzinfo=dt.UTC), "Asia/Shanghai") == (
        "2026-W10"
    )
    # Sunday 23:00 UTC is already Monday 07:00 in Shanghai
    assert last_complete_week(dt.datetime(2026, 3, 8, 23, 0, tzinfo=dt.UTC), "Asia/Shanghai") == (
        "2026-W10"
    )
    with pytest.raises(ValueError):
        parse_week("2026-10")
