"""HTTP views of the organisation: the join directory and the grid tree."""

from __future__ import annotations

from aiohttp import web

from server.accounts.permissions import Action, Principal, allows
from server.core import errors
from server.core.routes import ApiRoutes
from server.org import schemas, service
from server.org.service import GridTreeNode

routes = ApiRoutes(tag="组织")


@routes.get(
    "/api/v1/org/join/{join_code}",
    params=schemas.JoinCodePath,
    response=schemas.JoinDirectoryOut,
    summary="凭社区加入码查看楼栋与住户（用于绑定）",
    errors=(errors.NotFound,),
)
async def join_directory(
    request: web.Request, *, principal: Principal, params: schemas.JoinCodePath
) -> schemas.JoinDirectoryOut:
    community, buildings = await service.join_directory(join_code=params.join_code)
    return schemas.JoinDirectoryOut(
        community=schemas.CommunityOut.model_validate(community),
        buildings=[
            schemas.BuildingOut(
                grid_id=grid.id,
                name=label,
                households=[schemas.HouseholdBrief.model_validate(h) for h in households],
            )
            for label, grid, households in buildings
        ],
    )


def _node_out(node: GridTreeNode) -> schemas.GridNode:
    return schemas.GridNode(
        id=node.grid.id,
        name=node.grid.name,
        level=int(node.grid.level),
        parent_id=node.grid.parent_id,
        households=node.households,
        branch=node.branch,
        children=[_node_out(child) for child in node.children],
    )


@routes.get(
    "/api/v1/communities/{community_id}/tree",
    params=schemas.CommunityPath,
    response=schemas.CommunityTreeOut,
    summary="社区网格树（三级网格、住户数、党支部）",
    errors=(errors.PermissionDenied, errors.NotFound),
)
async def community_tree(
    request: web.Request, *, principal: Principal, params: schemas.CommunityPath
) -> schemas.CommunityTreeOut:
    community, roots = await service.community_tree(
        principal=principal, community_id=params.community_id
    )
    place = service.Place(street_id=community.street_id, community_id=community.id)
    return schemas.CommunityTreeOut(
        community=schemas.CommunityOut.model_validate(community),
        join_code=community.join_code if allows(principal, Action.MANAGE_INVITES, place) else None,
        grids=[_node_out(node) for node in roots],
    )
