"""Error codes the mock platform answers with, and the exception that carries them.

WeChat and WeCom answer almost every failure with HTTP 200 and a JSON body
``{"errcode": N, "errmsg": "..."}``; the codes below are the real ones where we
know them, and each deviation is commented where it is used.
"""

from __future__ import annotations

from typing import Any

# WeChat (api.weixin.qq.com)
SYSTEM_BUSY = -1
OK = 0
INVALID_CREDENTIAL = 40001  # access_token unknown, or replaced and past its overlap window
INVALID_GRANT_TYPE = 40002
INVALID_OPENID = 40003
INVALID_MSGTYPE = 40008
INVALID_IMAGE_SIZE = 40009
INVALID_APPID = 40013  # also WeCom "invalid corpid"
INVALID_ACCESS_TOKEN = 40014  # WeCom's code for an unknown access_token
INVALID_CODE = 40029
INVALID_TEMPLATE_ID = 40037
INVALID_AGENTID = 40056  # WeCom
INVALID_PARAMETER = 40058  # WeCom "invalid Request Parameter"
INVALID_APPSECRET = 40125
ACCESS_TOKEN_MISSING = 41001
APPID_MISSING = 41002
APPSECRET_MISSING = 41004
CODE_MISSING = 41008
ACCESS_TOKEN_EXPIRED = 42001
USER_REFUSED = 43101
EMPTY_CONTENT = 44004  # WeCom
API_QUOTA = 45009  # daily token quota (WeChat) / "api freq out of limit" (WeCom)
WECOM_MEMBER_LIMIT = 45033  # see the comment at WECOM_MEMBER_LIMIT_PER_MINUTE in platform.py
DATA_FORMAT_ERROR = 47001
ARGUMENT_INVALID = 47003
WECOM_ALL_RECIPIENTS_INVALID = 81013
INVALID_WEBHOOK_URL = 93000
ROBOT_RATE_LIMIT = 130101  # the project spec's contract for the group robot's per-minute limit

ERRMSG: dict[int, str] = {
    SYSTEM_BUSY: "system error",
    OK: "ok",
    INVALID_CREDENTIAL: "invalid credential, access_token is invalid or not latest",
    INVALID_GRANT_TYPE: "invalid grant_type",
    INVALID_OPENID: "invalid openid",
    INVALID_MSGTYPE: "invalid message type",
    INVALID_IMAGE_SIZE: "invalid image size",
    INVALID_APPID: "invalid appid",
    INVALID_ACCESS_TOKEN: "invalid access_token",
    INVALID_CODE: "invalid code",
    INVALID_TEMPLATE_ID: "invalid template_id",
    INVALID_AGENTID: "invalid agentid",
    INVALID_PARAMETER: "invalid Request Parameter",
    INVALID_APPSECRET: "invalid appsecret",
    ACCESS_TOKEN_MISSING: "access_token missing",
    APPID_MISSING: "appid missing",
    APPSECRET_MISSING: "appsecret missing",
    CODE_MISSING: "missing code",
    ACCESS_TOKEN_EXPIRED: "access_token expired",
    USER_REFUSED: "user refuse to accept the msg",
    EMPTY_CONTENT: "empty content",
    API_QUOTA: "reach max api daily quota limit",
    WECOM_MEMBER_LIMIT: "user frequency limit",
    DATA_FORMAT_ERROR: "data format error",
    ARGUMENT_INVALID: "argument invalid!",
    WECOM_ALL_RECIPIENTS_INVALID: "user & party & tag all invalid",
    INVALID_WEBHOOK_URL: "invalid webhook url",
    ROBOT_RATE_LIMIT: "api freq out of limit",
}


def errmsg_for(errcode: int) -> str:
    """The platform's message for a code, or a generic one for codes we do not model."""
    return ERRMSG.get(errcode, "mock injected error")


class PlatformError(Exception):
    """A refusal the platform reports as HTTP 200 with errcode/errmsg."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg if errmsg is not None else errmsg_for(errcode)
        super().__init__(f"{errcode} {self.errmsg}")

    def payload(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "errmsg": self.errmsg}


class DevRequestError(Exception):
    """A bad call to a /dev or /inspector endpoint (not part of the real platform).

    Rendered like the Dangqun API's errors, ``{"error": {"code", "message", "details"}}``,
    so the phone client can show ``error.message`` for both.
    """

    def __init__(self, code: str, message: str, details: Any = None, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.details = details
        self.status = status
        super().__init__(message)

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}
