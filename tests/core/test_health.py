"""Liveness, readiness, metrics and the API documents."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from server.app import create_app
from server.core.config import Settings


async def test_healthz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_when_database_and_redis_answer(client: TestClient) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok"},
    }


@pytest_asyncio.fixture
async def client_without_redis(settings: Settings) -> AsyncIterator[TestClient]:
    # Port 9 (discard) has no Redis: every command fails to connect.
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    async with TestClient(TestServer(create_app(broken))) as test_client:
        yield test_client


async def test_readyz_fails_when_redis_is_down(client_without_redis: TestClient) -> None:
    response = await client_without_redis.get("/readyz")
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["database"] == "ok"
    assert error["details"]["redis"].startswith("error")
    assert "redis" in error["message"]
    # liveness is unaffected: the process is up
    assert (await client_without_redis.get("/healthz")).status == 200


async def test_metrics_count_requests_per_route_template(client: TestClient) -> None:
    await client.get("/api/v1/communities/1/tree")
    await client.get("/api/v1/communities/2/tree")
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert (
        'dangqun_http_requests_total{method="GET",route="/api/v1/communities/{community_id}/tree",'
        'status="401"} 2.0'
    ) in text
    assert "dangqun_http_request_seconds_bucket" in text
    assert 'dangqun_outbox_messages{status="pending"} 0.0' in text


async def test_openapi_document_is_valid_and_matches_validation(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)  # a valid OpenAPI 3.1 document
    login = document["paths"]["/api/v1/auth/wx-login"]["post"]
    body_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = document["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert body_schema["required"] == ["code"]
    assert body_schema["additionalProperties"] is False  # unknown fields are refused, as documented
    assert {"200", "401", "422"} <= set(login["responses"])
    tree = document["paths"]["/api/v1/communities/{community_id}/tree"]["get"]
    assert tree["parameters"][0]["schema"]["type"] == "integer"
    assert tree["security"] == [{"bearer": []}]


async def test_openapi_component_names_carry_no_module_prefix(client: TestClient) -> None:
    # pydantic falls back to "server__<domain>__schemas__<Class>" when two schema classes share
    # a name; client generators then emit those names. Every class that reaches the document
    # must have a name of its own.
    document = await (await client.get("/api/openapi.json")).json()
    prefixed = sorted(name for name in document["components"]["schemas"] if "__" in name)
    collisions: dict[str, list[str]] = {}
    for name in prefixed:
        collisions.setdefault(name.rsplit("__", 1)[-1], []).append(name.replace("__", "."))
    assert not collisions, "schema classes share a name; rename one of each: " + "; ".join(
        f"{short} in {', '.join(owners)}" for short, owners in sorted(collisions.items())
    )


async def test_docs_page_works_offline(client: TestClient) -> None:
    response = await client.get("/api/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "/api/openapi.json" in page
    assert "https://" not in page and "http://" not in page  # no CDN
