"""The OpenAPI 3.1 document, built from the very schemas the routes validate with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.core import errors
from server.core.routes import RouteSpec
from server.core.schemas import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
COMMON_ERRORS: tuple[type[errors.DomainError], ...] = (errors.InvalidJSON, errors.ValidationFailed)


def _error_response(error_classes: list[type[errors.DomainError]]) -> dict[str, Any]:
    codes = ", ".join(f"`{cls.code}`（{cls.default_message}）" for cls in error_classes)
    return {
        "description": codes,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorBody")}}
        },
    }


def build_openapi(specs: list[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the given routes (paths, parameters, bodies, responses, errors)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for spec in specs:
        if spec.body is not None:
            models.append((spec.body, "validation"))
        if spec.response is not None:
            models.append((spec.response, "serialization"))
    key_map, definitions = models_json_schema(models, ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "operationId": spec.operation_id,
            "summary": spec.summary,
            "tags": [spec.tag],
        }
        if spec.description:
            operation["description"] = spec.description
        parameters: list[dict[str, Any]] = []
        path_fields = spec.params.model_json_schema()["properties"] if spec.params else {}
        for name in spec.path_params:
            parameters.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": path_fields.get(name, {"type": "string"}),
                }
            )
        if spec.query is not None:
            query_schema = spec.query.model_json_schema()
            required = set(query_schema.get("required", []))
            for name, schema in query_schema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": schema}
                )
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": key_map[(spec.body, "validation")]}},
            }
        elif spec.upload:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                spec.upload: {
                                    "type": "array",
                                    "items": {"contentMediaType": "application/octet-stream"},
                                }
                            },
                            "required": [spec.upload],
                        }
                    }
                },
            }
        responses: dict[str, Any] = {}
        if spec.response is not None:
            responses[str(spec.status)] = {
                "description": "成功",
                "content": {
                    "application/json": {"schema": key_map[(spec.response, "serialization")]}
                },
            }
        elif spec.produces:
            responses[str(spec.status)] = {
                "description": "成功",
                "content": {spec.produces: {"schema": {"contentMediaType": spec.produces}}},
            }
        else:
            responses[str(spec.status)] = {"description": "成功"}
        by_status: dict[int, list[type[errors.DomainError]]] = {}
        declared = list(spec.errors)
        if spec.body is not None or spec.query is not None:
            declared += list(COMMON_ERRORS)
        if spec.auth:
            declared.append(errors.NotAuthenticated)
        for error_class in declared:
            by_status.setdefault(error_class.status, []).append(error_class)
        for status, classes in sorted(by_status.items()):
            responses[str(status)] = _error_response(classes)
        operation["responses"] = responses
        if spec.auth:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(spec.path_template, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "wx-login 返回的 token",
                }
            },
        },
    }
