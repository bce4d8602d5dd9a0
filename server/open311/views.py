"""HTTP views of Open311 GeoReport v2: a sub-application mounted at ``/open311``.

Its middleware renders every error (ours, a shared service's ``DomainError``, aiohttp's 404/405/413
and anything unexpected) as GeoReport ``errors`` in the format of the request, so the app's
own error middleware, which wraps it, only ever sees responses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

from server.core import errors as domain_errors
from server.core.appkeys import SETTINGS
from server.core.clock import utcnow
from server.core.config import Mode
from server.core.middleware import REQUEST_ID
from server.needs.models import Category
from server.open311 import schemas, service
from server.open311.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    Open311Error,
    PayloadTooLarge,
    ServerError,
)
from server.open311.render import JSON, XML, error_response, request_out, respond
from server.org.models import Street

log = logging.getLogger("dangqun.open311")

PREFIX = "/open311"
FORMAT = "{format:json|xml}"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _format(request: web.Request) -> str:
    fmt = request.match_info.get("format")
    if fmt in (JSON, XML):
        return fmt
    return XML if request.path.endswith(".xml") else JSON


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.config_dict[SETTINGS].timezone)


async def _street(request: web.Request, params: Mapping[str, str] | None = None) -> Street | None:
    """The street of ``jurisdiction_id`` (form field or query parameter), if one is named."""
    code = (params or {}).get("jurisdiction_id") or request.query.get("jurisdiction_id")
    return await service.jurisdiction(code=(code or "").strip() or None)


@web.middleware
async def open311_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a GeoReport error list, never as our ``{"error": ...}`` shape."""
    fmt = _format(request)
    try:
        return await handler(request)
    except Open311Error as exc:
        return error_response(exc, fmt=fmt)
    except domain_errors.DomainError as exc:  # from a shared service function
        status = 400 if exc.status == 422 else exc.status
        return error_response(Open311Error(exc.message, status=status), fmt=fmt)
    except web.HTTPRequestEntityTooLarge:
        return error_response(PayloadTooLarge(), fmt=fmt)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            error: Open311Error = NotFound(f"没有这个接口：{request.path}")
        elif exc.status == 405:
            error = MethodNotAllowed(f"{request.path} 不支持 {request.method}")
        else:
            error = Open311Error(exc.reason, status=exc.status)
        response = error_response(error, fmt=fmt)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        request_id = request.get(REQUEST_ID, "")
        log.exception("unexpected error", extra={"request_id": request_id, "path": request.path})
        return error_response(
            ServerError(f"服务器开小差了，请稍后再试（请求编号 {request_id}）"), fmt=fmt
        )


async def discovery(request: web.Request) -> web.Response:
    """Service discovery: where the GeoReport v2 endpoint is and which formats it speaks."""
    settings = request.config_dict[SETTINGS]
    out = schemas.DiscoveryOut(
        changeset=schemas.CHANGESET,
        contact="请联系所在街道办事处",
        key_service="api_key 由街道管理员发放（dangqun open311-key create）",
        endpoints=[
            schemas.EndpointOut(
                specification=schemas.SPECIFICATION,
                url=f"{settings.public_url}{PREFIX}/v2",
                changeset=schemas.CHANGESET,
                type="production" if settings.mode is Mode.PROD else "test",
                formats=list(schemas.FORMATS.values()),
            )
        ],
    )
    return respond(out, fmt=_format(request), root="discovery")


async def list_services(request: web.Request) -> web.Response:
    """GET services: one service per category of needs."""
    await _street(request)
    out = [schemas.service_out(category) for category in Category]
    return respond(out, fmt=_format(request), root="services")


async def service_definition(request: web.Request) -> web.Response:
    """GET services/{service_code}: no extra attributes for any of our services."""
    await _street(request)
    category = schemas.parse_service_code(request.match_info["service_code"], unknown=NotFound)
    out = schemas.ServiceDefinitionOut(service_code=category.value, attributes=[])
    return respond(out, fmt=_format(request), root="service_definition")


async def list_requests(request: web.Request) -> web.Response:
    """GET requests: the public needs list, masked, newest first."""
    street = await _street(request)
    tz = _tz(request)
    query = schemas.parse_request_query(request.query, now=utcnow(), tz=tz)
    needs = await service.list_requests(street=street, query=query)
    out = [request_out(need, agency=need.community.name, tz=tz) for need in needs]
    return respond(out, fmt=_format(request), root="service_requests")


async def get_request(request: web.Request) -> web.Response:
    """GET requests/{service_request_id}: a list of one."""
    street = await _street(request)
    need = await service.get_request(
        street=street, need_id=request.match_info["service_request_id"]
    )
    out = [request_out(need, agency=need.community.name, tz=_tz(request))]
    return respond(out, fmt=_format(request), root="service_requests")


async def _form(request: web.Request) -> dict[str, str]:
    """The text fields of a form post (the first value of each; files are ignored)."""
    if request.content_type not in FORM_TYPES:
        raise BadRequest("请以 application/x-www-form-urlencoded 提交")
    fields: dict[str, str] = {}
    for name, value in (await request.post()).items():
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


async def create_request(request: web.Request) -> web.Response:
    """POST requests: a need in the key's street, created at once (so no token)."""
    form = await _form(request)
    street = await _street(request, form)
    settings = request.config_dict[SETTINGS]
    key = await service.authenticate_key(
        api_key=form.get("api_key", "").strip(), allow_demo=settings.is_dev
    )
    if street is not None and street.id != key.street_id:
        raise Forbidden("该 api_key 不能向这个 jurisdiction_id 提交")
    submitted = await service.submit_request(key=key, submission=schemas.parse_submission(form))
    notice = f"已收到，{submitted.agency}将尽快受理（编号 #{submitted.need.id}）"
    if submitted.duplicates:
        notice += f"；附近已有 {len(submitted.duplicates)} 条同类需求在处理中"
    out = [
        schemas.CreatedOut(
            service_request_id=str(submitted.need.id), service_notice=notice, account_id=None
        )
    ]
    return respond(out, fmt=_format(request), root="service_requests", status=201)


async def get_token(request: web.Request) -> web.Response:
    """GET tokens/{token}: requests are created at once, so no token ever exists."""
    await _street(request)
    token = request.match_info["token"]
    need_id = await service.request_of_token(token=token)
    out = [schemas.TokenOut(service_request_id=str(need_id), token=token)]
    return respond(out, fmt=_format(request), root="service_requests")


def create_open311_app() -> web.Application:
    """The GeoReport v2 sub-application; mount it with ``app.add_subapp(PREFIX, ...)``."""
    app = web.Application(middlewares=[open311_errors])
    router = app.router
    router.add_get(f"/discovery.{FORMAT}", discovery)
    router.add_get(f"/v2/services.{FORMAT}", list_services)
    router.add_get(f"/v2/services/{{service_code:[^/]+}}.{FORMAT}", service_definition)
    router.add_get(f"/v2/requests.{FORMAT}", list_requests)
    router.add_post(f"/v2/requests.{FORMAT}", create_request)
    router.add_get(f"/v2/requests/{{service_request_id:[^/]+}}.{FORMAT}", get_request)
    router.add_get(f"/v2/tokens/{{token:[^/]+}}.{FORMAT}", get_token)
    return app
