"""Request and response shapes of the digest API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.core.schemas import Input, Output


class DigestPath(Input):
    community_id: int = Field(ge=1)


class DigestWeekPath(Input):
    community_id: int = Field(ge=1)
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO 周次，如 2026-W47")


class GridOut(BaseModel):
    grid_id: int
    name: str
    new: int
    finished: int
    overdue: int
    ratings: int
    satisfaction: float | None


class VolunteerOut(BaseModel):
    person_id: int
    name: str
    hours: float


class DigestProjectOut(BaseModel):
    name: str
    percent: int
    note: str


class DigestOut(Output):
    community_id: int
    community_name: str
    week: str
    period: str
    new: int
    finished: int
    overdue: int
    median_accept: str
    median_finish: str
    ratings: int
    average_rating: float | None
    satisfaction: float | None
    volunteer_total_hours: float
    volunteer_count: int
    top_volunteers: list[VolunteerOut]
    grids: list[GridOut]
    projects: list[DigestProjectOut]
    markdown: str = Field(description="与企业微信推送相同的 markdown 文本")
