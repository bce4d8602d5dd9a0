"""Request id, metrics and the one error middleware (every error is JSON, never HTML)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from server.core import errors
from server.core.appkeys import METRICS

log = logging.getLogger("dangqun.errors")

REQUEST_ID = web.RequestKey("request_id", str)
REQUEST_ID_HEADER = "X-Request-ID"
MAX_INCOMING_REQUEST_ID = 64

# aiohttp's own HTTP exceptions, mapped onto our codes and Chinese messages.
HTTP_STATUS_ERRORS: dict[int, type[errors.DomainError]] = {
    400: errors.DomainError,
    401: errors.NotAuthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    429: errors.TooManyRequests,
}


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if incoming and len(incoming) <= MAX_INCOMING_REQUEST_ID and incoming.isprintable():
        return incoming
    return secrets.token_hex(8)


def error_response(error: errors.DomainError) -> web.Response:
    response = web.json_response(
        error.to_json(), status=error.status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
    )
    if isinstance(error, errors.TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (echoed in ``X-Request-ID``) and render every error as JSON."""
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except errors.DomainError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_class = HTTP_STATUS_ERRORS.get(exc.status, errors.DomainError)
        error = error_class()
        if exc.status not in HTTP_STATUS_ERRORS:
            error.message = exc.reason
        response = error_response(error)
        response.set_status(exc.status)
    except Exception:
        log.exception("unexpected error", extra={"request_id": request_id, "path": request.path})
        response = web.json_response(
            {
                "error": {
                    "code": "internal_error",
                    "message": "服务器开小差了，请稍后再试",
                    "details": {"request_id": request_id},
                }
            },
            status=500,
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


@web.middleware
async def metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests and observe latency per route template (not per raw path)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.config_dict[METRICS].observe_request(
            method=request.method,
            route=route,
            status=status,
            seconds=time.perf_counter() - started,
        )


class JsonAccessLogger(AbstractAccessLogger):
    """One JSON line per request, with the request id, for log shippers."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        record: dict[str, Any] = {
            "request_id": request.get(REQUEST_ID, ""),
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "ms": round(time * 1000, 2),
            "remote": request.remote,
            "bytes": response.body_length,
        }
        self.logger.info(json.dumps(record, ensure_ascii=False))

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
