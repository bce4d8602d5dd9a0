"""Liveness, readiness, metrics and the API documents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from tortoise import Tortoise

from server.core.appkeys import METRICS, REDIS, ROUTES
from server.core.openapi import build_openapi
from server.notify.service import outbox_depth

READY_CHECK_TIMEOUT_SECONDS = 2.0  # a hung dependency must fail readiness, not hang the probe
DOCS_PAGE = Path(__file__).with_name("static") / "docs.html"
API_TITLE = "党群 Dangqun API"
API_VERSION = "1"


async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


async def _check_database() -> None:
    await Tortoise.get_connection("default").execute_query("SELECT 1")


async def _check_redis(request: web.Request) -> None:
    await request.config_dict[REDIS].ping()


async def readyz(request: web.Request) -> web.Response:
    """The database and Redis both answer; 503 with the failing part otherwise."""
    checks = {"database": _check_database(), "redis": _check_redis(request)}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_CHECK_TIMEOUT_SECONDS)
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            results[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    if ready:
        return web.json_response({"status": "ready", "checks": results})
    failing = [name for name, value in results.items() if value != "ok"]
    return web.json_response(
        {
            "error": {
                "code": "not_ready",
                "message": f"服务未就绪：{'、'.join(failing)} 无响应",
                "details": results,
            }
        },
        status=503,
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: requests and latency per route, outbox depth."""
    registry = request.config_dict[METRICS]
    try:
        registry.set_outbox_depth(await outbox_depth())
    except Exception:  # metrics must render even when the database is down
        pass
    return web.Response(body=registry.render(), content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of every declared route."""
    document = build_openapi(request.app[ROUTES].specs, title=API_TITLE, version=API_VERSION)
    return web.json_response(document)


async def docs(request: web.Request) -> web.FileResponse:
    """A docs page that reads /api/openapi.json and works offline (no CDN)."""
    return web.FileResponse(DOCS_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/docs", docs)
