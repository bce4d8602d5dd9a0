"""A stand-in for Tencent's servers: the mock WeChat/WeCom platform and a phone-style client.

Serve ``create_mock_app()`` on its own, or mount it (``app.add_subapp("/mock", ...)``);
the phone client is at ``/app/`` and the message inspector at ``/inspector/``.
"""

from miniapp_mock.platform import (
    MOCK_STATE,
    PLATFORM_PATHS,
    Delivery,
    MockConfig,
    MockState,
    create_mock_app,
    field_problem,
)

__all__ = [
    "MOCK_STATE",
    "PLATFORM_PATHS",
    "Delivery",
    "MockConfig",
    "MockState",
    "create_mock_app",
    "field_problem",
]
