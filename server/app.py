"""The application factory: it only wires; each resource has one cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from server.accounts import views as accounts_views
from server.activities import views as activities_views
from server.core import appkeys, health
from server.core.config import Settings
from server.core.db import orm_context
from server.core.metrics import Metrics
from server.core.middleware import metrics, request_context
from server.core.redis import redis_context
from server.core.routes import AUTHENTICATOR, RouteRegistry
from server.digest import views as digest_views
from server.matching import service as matching_service
from server.matching import views as matching_views
from server.needs import views as needs_views
from server.notify import views as notify_views
from server.open311 import views as open311_views
from server.org import views as org_views
from server.party import views as party_views
from server.passbook import views as passbook_views
from server.points import views as points_views
from server.projects import views as projects_views
from server.sharing import views as sharing_views
from server.tasks import views as tasks_views
from server.volunteers import views as volunteers_views
from server.wechat.client import WeChatClient

DOMAIN_ROUTES = (
    accounts_views.routes,
    org_views.routes,
    needs_views.routes,
    tasks_views.routes,
    passbook_views.routes,
    points_views.routes,
    notify_views.routes,
    digest_views.routes,
    volunteers_views.routes,
    matching_views.routes,
    projects_views.routes,
    activities_views.routes,
    party_views.routes,
    sharing_views.routes,
)


async def _orm(app: web.Application) -> AsyncIterator[None]:
    async with orm_context(app[appkeys.SETTINGS]):
        yield


async def _redis(app: web.Application) -> AsyncIterator[None]:
    async with redis_context(app[appkeys.SETTINGS]) as client:
        app[appkeys.REDIS] = client
        yield


async def _http_and_wechat(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    async with aiohttp.ClientSession(raise_for_status=False) as session:
        app[appkeys.HTTP_SESSION] = session
        app[appkeys.WECHAT] = WeChatClient(
            http=session,
            redis=app[appkeys.REDIS],
            api_base=settings.wechat_api_base,
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            timeout_seconds=settings.wechat_timeout_seconds,
        )
        yield


async def _matching_indexes(app: web.Application) -> AsyncIterator[None]:
    """Volunteer indexes are per process: start empty, stop their background rebuilds."""
    matching_service.reset_indexes()
    yield
    matching_service.reset_indexes()


def create_app(settings: Settings) -> web.Application:
    """Build the API application for these settings."""
    settings.check_production_ready(serving_api=True)
    app = web.Application(
        middlewares=[metrics, request_context], client_max_size=settings.max_json_bytes
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.METRICS] = Metrics()
    app[appkeys.ROUTES] = RouteRegistry()
    app[AUTHENTICATOR] = accounts_views.authenticate_request
    app.cleanup_ctx.extend([_orm, _redis, _http_and_wechat])
    app.cleanup_ctx.append(_matching_indexes)
    health.add_routes(app)
    for routes in DOMAIN_ROUTES:
        app[appkeys.ROUTES].include(app, routes)
    # GeoReport v2 has its own shapes and errors, so it is a sub-application, not DOMAIN_ROUTES
    app.add_subapp(open311_views.PREFIX, open311_views.create_open311_app())
    return app
