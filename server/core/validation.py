"""Parsing request bodies into schemas, with Chinese messages that name the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.core import errors
from server.core.appkeys import SETTINGS

Model = TypeVar("Model", bound=BaseModel)

# pydantic error type -> Chinese message template (ctx values fill the braces)
MESSAGES: dict[str, str] = {
    "missing": "必填",
    "string_type": "应为文本",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "literal_error": "取值无效，可选：{expected}",
    "enum": "取值无效，可选：{expected}",
    "extra_forbidden": "不允许的字段",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "list_type": "应为列表",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "日期时间格式不正确",
    "datetime_from_date_parsing": "日期时间格式不正确",
    "date_type": "应为日期",
    "date_parsing": "日期格式不正确",
    "date_from_datetime_parsing": "日期格式不正确",
    "json_invalid": "不是有效的 JSON",
}


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def validation_details(exc: ValidationError, *, location: str = "body") -> list[dict[str, Any]]:
    """Turn pydantic errors into ``[{"field", "location", "type", "message"}]`` in Chinese."""
    details = []
    for item in exc.errors(include_url=False, include_input=False):
        field = _field_name(item["loc"])
        template = MESSAGES.get(item["type"])
        if template is None:
            reason = str(item.get("ctx", {}).get("reason") or "") or "取值无效"
        else:
            try:
                reason = template.format(**item.get("ctx", {}))
            except (KeyError, IndexError):
                reason = template
        details.append(
            {
                "field": field,
                "location": location,
                "type": item["type"],
                "message": f"{field}：{reason}",
            }
        )
    return details


async def parse_json_body(request: web.Request, schema: type[Model]) -> Model:
    """Read, size-check, decode and validate a JSON request body."""
    limit = request.config_dict[SETTINGS].max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise errors.PayloadTooLarge(
            f"提交的内容过大（上限 {limit // 1024} KiB）", details={"max_bytes": limit}
        )
    content_type = request.headers.get("Content-Type", "")
    if content_type and request.content_type not in ("application/json", "text/plain"):
        raise errors.UnsupportedMediaType(details={"content_type": request.content_type})
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise errors.PayloadTooLarge(
            f"提交的内容过大（上限 {limit // 1024} KiB）", details={"max_bytes": limit}
        ) from exc
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.InvalidJSON(details={"reason": str(exc)[:200]}) from exc
    if not isinstance(data, dict):
        raise errors.ValidationFailed("请求内容应为 JSON 对象", details=[])
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        raise errors.ValidationFailed(details[0]["message"], details=details) from exc
