"""The one hierarchy of domain errors: each has an HTTP status and a stable machine code.

The error middleware renders any of them as ``{"error": {"code", "message", "details"}}``;
``message`` is Simplified Chinese because residents read it on their phones.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a user may see."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "请求有误"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidJSON(DomainError):
    status = 400
    code = "invalid_json"
    default_message = "请求内容不是有效的 JSON"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    default_message = "提交的内容有误，请检查后重试"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    default_message = "提交的内容过大"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    default_message = "请以 application/json 格式提交"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    default_message = "请先登录"


class SessionExpired(NotAuthenticated):
    code = "session_expired"
    default_message = "登录已过期，请重新登录"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    default_message = "您没有权限进行此操作"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "找不到该内容"


class MethodNotAllowed(DomainError):
    status = 405
    code = "method_not_allowed"
    default_message = "不支持该请求方法"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "操作与当前状态冲突"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
    default_message = "操作过于频繁，请稍后再试"

    def __init__(
        self, message: str | None = None, *, retry_after: int = 60, details: Any = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class UpstreamUnavailable(DomainError):
    status = 502
    code = "upstream_unavailable"
    default_message = "微信服务暂时不可用，请稍后再试"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    default_message = "服务暂时不可用，请稍后再试"
