"""Places: where communities, grids and households sit, and the join directory residents use."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from tortoise.functions import Count

from server.accounts.permissions import Action, Place, Principal, require
from server.core import errors, rawsql
from server.org.models import Community, Grid, GridLevel, Household, PartyBranch


async def community_place(*, community_id: int) -> tuple[Community, Place]:
    """The community and its place; 404 when it does not exist."""
    community = await Community.get_or_none(id=community_id)
    if community is None:
        raise errors.NotFound("找不到该社区")
    return community, Place(street_id=community.street_id, community_id=community.id)


async def grid_place(*, grid_id: int) -> tuple[Grid, Place]:
    """The grid and its place; 404 when it does not exist."""
    grid = await Grid.get_or_none(id=grid_id).select_related("community")
    if grid is None:
        raise errors.NotFound("找不到该网格")
    return grid, Place(
        street_id=grid.community.street_id, community_id=grid.community_id, grid_path=grid.path
    )


async def household_place(*, household_id: int) -> tuple[Household, Place]:
    """The household and its place; 404 when it does not exist."""
    household = await Household.get_or_none(id=household_id).select_related("community", "grid")
    if household is None:
        raise errors.NotFound("找不到该住户")
    return household, Place(
        street_id=household.community.street_id,
        community_id=household.community_id,
        grid_path=household.grid.path,
        household_id=household.id,
    )


@functools.cache
def _household_with_grid_sql() -> str:
    # built on first use: the models know their columns only once the ORM is initialised
    return (
        f"SELECT {rawsql.columns(Household, 'h')}, {rawsql.columns(Grid, 'g', 'grid__')}"
        ' FROM "household" h JOIN "grid" g ON g."id" = h."grid_id" WHERE h."id" = $1'
    )


async def household_with_grid(*, household_id: int) -> Household | None:
    """The household with its grid loaded (``household.grid``), in one query: every submitted
    need reads it."""
    row = await rawsql.read_one(_household_with_grid_sql(), household_id)
    if row is None:
        return None
    own, grid_row = rawsql.split(row, "grid__")
    household = rawsql.instance(Household, own)
    object.__setattr__(household, "_grid", rawsql.instance(Grid, grid_row))
    return household


async def create_grid(
    *, community: Community, name: str, level: GridLevel, parent: Grid | None = None
) -> Grid:
    """Create (or find) a grid under its parent and give it its path."""
    expected_level = GridLevel.COMMUNITY if parent is None else GridLevel(parent.level + 1)
    if level is not expected_level:
        raise errors.ValidationFailed(f"网格层级应为 {expected_level.value}")
    grid, created = await Grid.get_or_create(
        community=community, parent=parent, name=name, defaults={"level": level}
    )
    if created or not grid.path:
        grid.path = f"{parent.path if parent else '/'}{grid.id}/"
        await grid.save(update_fields=["path"])
    return grid


async def join_directory(
    *, join_code: str
) -> tuple[Community, list[tuple[str, Grid, list[Household]]]]:
    """What a resident sees after typing a join code: buildings (with compound) and households."""
    community = await Community.get_or_none(join_code=join_code.strip().upper())
    if community is None:
        raise errors.NotFound("社区加入码无效，请向网格员确认")
    grids = {grid.id: grid for grid in await Grid.filter(community=community)}
    households = await Household.filter(community=community).order_by("grid_id", "id")
    by_grid: dict[int, list[Household]] = {}
    for household in households:
        by_grid.setdefault(household.grid_id, []).append(household)
    buildings = sorted(
        (grid for grid in grids.values() if grid.level is GridLevel.BUILDING),
        key=lambda grid: [int(part) for part in grid.path.strip("/").split("/")],
    )
    directory = []
    for grid in buildings:
        parent = grids.get(grid.parent_id) if grid.parent_id else None
        label = f"{parent.name}·{grid.name}" if parent else grid.name
        directory.append((label, grid, by_grid.get(grid.id, [])))
    return community, directory


@dataclass
class GridTreeNode:
    grid: Grid
    households: int
    branch: str | None
    children: list[GridTreeNode] = field(default_factory=list)


async def community_tree(
    *, principal: Principal, community_id: int
) -> tuple[Community, list[GridTreeNode]]:
    """The grid tree of a community with household counts rolled up (staff only)."""
    community, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_ORG_TREE, place)
    grids = await Grid.filter(community=community).order_by("level", "id")
    counts = {
        row["grid_id"]: row["n"]
        for row in await Household.filter(community=community)
        .annotate(n=Count("id"))
        .group_by("grid_id")
        .values("grid_id", "n")
    }
    branches = {
        row["grid_id"]: row["name"]
        for row in await PartyBranch.filter(community=community).values("grid_id", "name")
    }
    nodes = {
        grid.id: GridTreeNode(
            grid=grid, households=counts.get(grid.id, 0), branch=branches.get(grid.id)
        )
        for grid in grids
    }
    roots = []
    for grid in sorted(grids, key=lambda g: -g.level):  # leaves first, so counts roll up
        node = nodes[grid.id]
        if grid.parent_id and grid.parent_id in nodes:
            nodes[grid.parent_id].households += node.households
    for grid in grids:
        node = nodes[grid.id]
        if grid.parent_id and grid.parent_id in nodes:
            nodes[grid.parent_id].children.append(node)
        else:
            roots.append(node)
    return community, roots
