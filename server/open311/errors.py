"""Open311 errors: an HTTP status and a description, rendered as GeoReport ``<errors>``.

Deliberately not ``DomainError``s: the app's error middleware renders those in our own
``{"error": {...}}`` shape, which Open311 clients cannot read. The Open311 middleware turns these
(and any ``DomainError`` a shared service raises) into responses before that middleware sees them.
"""

from __future__ import annotations

from typing import ClassVar


class Open311Error(Exception):
    """Base of every Open311 error: ``status`` is both the HTTP status and the ``code``."""

    status: int = 400
    default_description: ClassVar[str] = "请求有误"

    def __init__(self, description: str | None = None, *, status: int | None = None) -> None:
        self.description = description or self.default_description
        if status is not None:
            self.status = status
        super().__init__(self.description)


class BadRequest(Open311Error):
    status = 400


class Forbidden(Open311Error):
    status = 403
    default_description = "api_key 无效"


class NotFound(Open311Error):
    status = 404
    default_description = "找不到该内容"


class MethodNotAllowed(Open311Error):
    status = 405
    default_description = "不支持该请求方法"


class PayloadTooLarge(Open311Error):
    status = 413
    default_description = "提交的内容过大"


class ServerError(Open311Error):
    status = 500
    default_description = "服务器开小差了，请稍后再试"
