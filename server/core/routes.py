"""Declared API routes: one declaration drives validation, rendering and the OpenAPI document.

A view is ``async def view(request, *, body=..., query=..., path=..., principal=...)`` and returns
a pydantic model (rendered as JSON with the declared status) or an ``aiohttp`` response.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.core import errors
from server.core.validation import parse_json_body, validation_details

Handler = Callable[..., Awaitable[Any]]
PATH_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


@dataclass(frozen=True)
class RouteSpec:
    """What one endpoint accepts and returns."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    params: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[type[errors.DomainError], ...] = ()
    description: str = ""
    # a multipart/form-data upload: the name of its file field (the view reads the body itself)
    upload: str = ""
    # a response that is not JSON (a file): its media type; ``response`` stays None
    produces: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)

    @property
    def path_template(self) -> str:
        """The path without aiohttp's regular expressions: ``/a/{key:.+}`` → ``/a/{key}``."""
        return PATH_PARAM.sub(r"{\1}", self.path)


Authenticator = Callable[[web.Request], Awaitable[Any]]
AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("authenticator")


def render(model: BaseModel, *, status: int = 200) -> web.Response:
    """Render a response model as UTF-8 JSON."""
    return web.Response(
        body=model.model_dump_json().encode(),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def _bind(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if spec.params is not None:
            try:
                kwargs["params"] = spec.params.model_validate(dict(request.match_info))
            except ValidationError as exc:
                raise errors.NotFound() from exc
        if spec.auth:
            kwargs["principal"] = await request.app[AUTHENTICATOR](request)
        if spec.query is not None:
            try:
                kwargs["query"] = spec.query.model_validate(dict(request.query))
            except ValidationError as exc:
                details = validation_details(exc, location="query")
                raise errors.ValidationFailed(details[0]["message"], details=details) from exc
        if spec.body is not None:
            kwargs["body"] = await parse_json_body(request, spec.body)
        result = await spec.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return render(result, status=spec.status)

    endpoint.__name__ = spec.handler.__name__
    return endpoint


@dataclass
class ApiRoutes:
    """Route declarations of one domain (like ``web.RouteTableDef``, with schemas)."""

    tag: str
    specs: list[RouteSpec] = field(default_factory=list)

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            summary = options.pop("summary", None) or (handler.__doc__ or "").strip()
            self.specs.append(
                RouteSpec(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    **options,
                )
            )
            return handler

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


@dataclass
class RouteRegistry:
    """All declared routes of the application, for the router and for the OpenAPI document."""

    specs: list[RouteSpec] = field(default_factory=list)

    def include(self, app: web.Application, routes: ApiRoutes) -> None:
        for spec in routes.specs:
            app.router.add_route(spec.method, spec.path, _bind(spec), name=spec.operation_id)
            self.specs.append(spec)
