"""Shapes shared by every domain: the error body and the input base class."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo is named, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error: a stable machine ``code`` and a Chinese ``message``."""

    error: ErrorDetail
