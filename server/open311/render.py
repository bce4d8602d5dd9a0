"""GeoReport documents as JSON or XML, and a need as the public sees it (pure, no I/O).

JSON follows the Spark convention of the spec: a list becomes an array, an element with children
an object. XML is schemaless, without a namespace, UTF-8 with its declaration; a null is an empty
element and a boolean is ``true``/``false``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.needs.masking import mask_text
from server.needs.models import CATEGORY_LABELS, Need
from server.needs.visibility import public_view
from server.open311.errors import Open311Error
from server.open311.schemas import (
    CLOSED,
    FORMATS,
    OPEN311_STATUS,
    ErrorOut,
    ServiceRequestOut,
    status_notes,
)

JSON = "json"
XML = "xml"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
# The element of one item of each list: <services><service>, <attributes><attribute>, …
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}
# XML 1.0 cannot carry these control characters at all, even escaped; residents' text can.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
COORDINATE_DECIMALS = 4  # about 10 m: the building, as the address, not the door


def w3c(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """A W3C date/time with its offset, in whole seconds: ``2026-01-15T09:30:00+08:00``."""
    if value is None:
        return None
    return value.astimezone(tz).replace(microsecond=0).isoformat()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID_RE.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS.get(element.tag, element.tag.removesuffix("s"))
        for child in value:
            _fill(ET.SubElement(element, item_tag), child)
    else:
        element.text = _text(value)


def to_xml(content: BaseModel | Sequence[BaseModel], *, root: str) -> bytes:
    """``<root>`` holding the model's fields, or one item element per model of a list."""
    element = ET.Element(root)
    if isinstance(content, BaseModel):
        _fill(element, content.model_dump())
    else:
        _fill(element, [model.model_dump() for model in content])
    return (XML_DECLARATION + ET.tostring(element, encoding="unicode")).encode()


def to_json(content: BaseModel | Sequence[BaseModel]) -> bytes:
    if isinstance(content, BaseModel):
        data: Any = content.model_dump()
    else:
        data = [model.model_dump() for model in content]
    return json.dumps(data, ensure_ascii=False).encode()


def respond(
    content: BaseModel | Sequence[BaseModel], *, fmt: str, root: str, status: int = 200
) -> web.Response:
    """The document in the requested format, with the GeoReport content type."""
    body = to_xml(content, root=root) if fmt == XML else to_json(content)
    return web.Response(body=body, status=status, content_type=FORMATS[fmt], charset="utf-8")


def error_response(error: Open311Error, *, fmt: str) -> web.Response:
    """``[{"code", "description"}]`` or ``<errors><error>…``, with the same HTTP status."""
    return respond(
        [ErrorOut(code=error.status, description=error.description)],
        fmt=fmt,
        root="errors",
        status=error.status,
    )


def _coordinate(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DECIMALS)


def request_out(need: Need, *, agency: str, tz: dt.tzinfo) -> ServiceRequestOut:
    """A need as anyone may see it (``visibility.public_view``, as 需求公示): no reporter, the
    address cut to the building, numbers masked, and no ``media_url``: that view shows no photos
    (``visibility.shows_photos``), which may show the inside of a home.

    ``updated_datetime`` of a closed request is when it was closed, as GeoReport asks.
    """
    view = public_view(need, None)  # GeoReport has no reporter field: not even the surname
    shown = OPEN311_STATUS[need.status]
    updated = need.status_changed_at if shown == CLOSED else need.updated_at
    requested = w3c(need.created_at, tz)
    assert requested is not None
    return ServiceRequestOut(
        service_request_id=str(need.id),
        status=shown,
        status_notes=status_notes(
            need.status,
            reject_reason=mask_text(need.reject_reason),
            merged_into_id=need.merged_into_id,
        ),
        service_name=CATEGORY_LABELS[need.category],
        service_code=need.category.value,
        description=view.description,
        agency_responsible=agency,
        service_notice="",
        requested_datetime=requested,
        updated_datetime=w3c(updated or need.created_at, tz) or requested,
        expected_datetime=w3c(need.due_at or need.sla_due_at, tz),
        address=view.address or agency,
        address_id=None,
        zipcode=None,
        lat=_coordinate(need.lat),
        long=_coordinate(need.lng),
        media_url=None,
    )
