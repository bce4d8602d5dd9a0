"""The phone client (phone.html) only calls API routes that exist, with the right method."""

from __future__ import annotations

import re
from pathlib import Path

from server.app import DOMAIN_ROUTES

PHONE = Path(__file__).parents[2] / "miniapp_mock" / "static" / "phone.html"
# call(API, "POST", `/api/v1/needs/${n.id}/confirm`, ...) or call(API, "GET", "/api/v1/me")
CALL = re.compile(r"""(?:call|callForm)\(API,\s*"([A-Z]+)",\s*[`"]([^`"]+)[`"]""")


def _pattern(path: str) -> re.Pattern[str]:
    """A route path like /api/v1/needs/{need_id} as a regex over concrete paths."""
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


def test_every_api_call_of_the_phone_client_hits_a_declared_route() -> None:
    routes = [(spec.method, _pattern(spec.path)) for table in DOMAIN_ROUTES for spec in table.specs]
    calls = CALL.findall(PHONE.read_text(encoding="utf-8"))
    assert len(calls) >= 20  # login, needs, invitations, tasks, queue, lists, inbox
    missing = []
    for method, raw in calls:
        # ${...} parts are ids; a query string is not part of the route
        path = re.sub(r"\$\{[^}]+\}", "1", raw).split("?")[0]
        if path.endswith("/"):  # "/api/v1/org/join/" + code
            path += "CODE"
        if not any(m == method and pattern.match(path) for m, pattern in routes):
            missing.append(f"{method} {raw}")
    assert missing == []
