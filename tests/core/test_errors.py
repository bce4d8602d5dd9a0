"""Every error a client can cause comes back as JSON with a stable code and a Chinese message."""

from __future__ import annotations

import io

from aiohttp.test_utils import TestClient


def assert_error(body: dict, code: str) -> dict:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


async def test_malformed_json_is_400_invalid_json(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/auth/wx-login", data=b'{"code": ', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert_error(await response.json(), "invalid_json")


async def test_missing_field_names_the_field(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/wx-login", json={})
    assert response.status == 422
    error = assert_error(await response.json(), "validation_error")
    assert error["details"][0]["field"] == "code"
    assert "code" in error["message"] and "必填" in error["message"]


async def test_wrong_type_names_the_field(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/wx-login", json={"code": 12345})
    assert response.status == 422
    error = assert_error(await response.json(), "validation_error")
    assert error["details"][0] == {
        "field": "code",
        "location": "body",
        "type": "string_type",
        "message": "code：应为文本",
    }


async def test_unknown_field_is_refused(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/wx-login", json={"code": "x", "cod": "y"})
    assert response.status == 422
    assert assert_error(await response.json(), "validation_error")["details"][0]["field"] == "cod"


async def test_array_body_is_refused(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/wx-login", json=["code"])
    assert response.status == 422
    assert_error(await response.json(), "validation_error")


async def test_oversize_body_is_413_with_the_limit(client: TestClient) -> None:
    big = b'{"code": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/v1/auth/wx-login", data=io.BytesIO(big), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    error = assert_error(await response.json(), "payload_too_large")
    assert error["details"] == {"max_bytes": 1024 * 1024}


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/auth/wx-login",
        data=b"code=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 415
    assert_error(await response.json(), "unsupported_media_type")


async def test_unknown_route_is_404_json(client: TestClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert_error(await response.json(), "not_found")


async def test_wrong_method_is_405_json(client: TestClient) -> None:
    response = await client.delete("/api/v1/auth/wx-login")
    assert response.status == 405
    assert_error(await response.json(), "method_not_allowed")


async def test_non_numeric_path_id_is_404(client: TestClient) -> None:
    response = await client.get("/api/v1/communities/abc/tree")
    assert response.status == 404
    assert_error(await response.json(), "not_found")


async def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 16
