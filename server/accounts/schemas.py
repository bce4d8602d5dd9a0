"""Request and response shapes of login, profile, invites and joining."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from server.core.schemas import Input, Output


class WxLoginIn(Input):
    code: str = Field(min_length=1, max_length=128, description="wx.login 得到的一次性 code")


class RoleOut(Output):
    role: str
    role_label: str
    scope_type: Literal["street", "community", "grid", "household"]
    scope_id: int
    scope_name: str
    community_id: int | None = Field(default=None, description="所在社区（街道管理员为空）")


class PersonOut(Output):
    id: int
    name: str
    phone: str | None
    is_party_member: bool
    roles: list[RoleOut]


class LoginOut(Output):
    token: str
    expires_in: int = Field(description="会话有效秒数")
    first_login: bool
    person: PersonOut


class ProfileUpdateIn(Input):
    name: str | None = Field(default=None, min_length=1, max_length=32)
    phone: str | None = Field(default=None, pattern=r"^(1\d{10})?$", description="11 位手机号或空")


class InviteCreateIn(Input):
    role: Literal["grid_member", "volunteer"]
    grid_id: int | None = Field(default=None, description="网格员邀请码必须指定网格")
    max_uses: int = Field(default=1, ge=1, le=500)
    expires_in_days: int = Field(default=7, ge=1, le=90)


class InviteOut(Output):
    code: str
    role: str
    community_id: int
    grid_id: int | None
    max_uses: int
    uses: int
    expires_at: dt.datetime


class RedeemInviteIn(Input):
    code: str = Field(min_length=4, max_length=16)


class JoinIn(Input):
    join_code: str = Field(min_length=4, max_length=16)
    household_id: int = Field(ge=1)


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class DemoIdentityOut(Output):
    openid: str
    name: str
    roles: list[RoleOut]


class DemoIdentitiesOut(Output):
    items: list[DemoIdentityOut]
