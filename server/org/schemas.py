"""Shapes of the organisation endpoints."""

from __future__ import annotations

from pydantic import Field

from server.core.schemas import Input, Output


class JoinCodePath(Input):
    join_code: str = Field(min_length=4, max_length=16)


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class CommunityOut(Output):
    id: int
    name: str
    street_id: int
    address: str


class HouseholdBrief(Output):
    id: int
    label: str


class BuildingOut(Output):
    grid_id: int
    name: str
    households: list[HouseholdBrief]


class JoinDirectoryOut(Output):
    community: CommunityOut
    buildings: list[BuildingOut]


class GridNode(Output):
    id: int
    name: str
    level: int
    parent_id: int | None
    households: int = Field(description="该网格及下级网格的住户数")
    branch: str | None = Field(default=None, description="挂靠的党支部")
    children: list[GridNode] = Field(default_factory=list)


class CommunityTreeOut(Output):
    community: CommunityOut
    join_code: str | None = Field(description="只有书记和街道管理员能看到")
    grids: list[GridNode]
