"""Request and response shapes of matching: ranked candidates and community settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.core.schemas import Input, Output
from server.matching.scoring import WEIGHT_MAX
from server.needs.models import Category


class NeedPath(BaseModel):
    need_id: int = Field(ge=1)


class CandidatesQuery(Input):
    limit: int = Field(default=20, ge=1, le=100)


class FactorOut(Output):
    name: str
    label: str
    value: float = Field(description="0-1")
    weight: float
    contribution: float = Field(description="权重 × 取值，计入总分")
    explanation: str


class CandidateOut(Output):
    rank: int
    person_id: int
    name: str
    is_party_member: bool
    score: float
    factors: list[FactorOut]
    explanation: list[str] = Field(description="每个因素一行中文说明")


class CandidatesOut(Output):
    need_id: int
    weights: dict[str, float]
    candidates: list[CandidateOut]


class WeightsIn(Input):
    skill: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    distance: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    availability: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    load: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    reliability: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    fairness: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)
    party: float | None = Field(default=None, ge=0, le=WEIGHT_MAX)


class MatchingSettingsIn(Input):
    """Only the given parts change; ``weights`` lists only the factors to change."""

    skills: list[str] | None = Field(default=None, max_length=40)
    weights: WeightsIn | None = None
    party_categories: list[Category] | None = Field(
        default=None, description="这些类别的需求党员优先"
    )


class MatchingSettingsOut(Output):
    community_id: int
    skills: list[str]
    weights: dict[str, float]
    default_weights: dict[str, float]
    party_categories: list[str]
