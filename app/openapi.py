"""The OpenAPI document, completed with what FastAPI cannot infer: every error is RFC 9457
``application/problem+json`` (401/403/404/409/413/422), and the admin API takes a bearer key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
}
ERRORS = {
    "400": "Bad request",
    "401": "Missing or unknown API key",
    "403": "Not allowed (or a forged webhook signature)",
    "404": "Not found (or another business's object)",
    "405": "Method not allowed",
    "409": "Conflict",
    "413": "Body too large",
    "422": "Invalid input",
    "502": "The network could not be reached",
}


def install(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key from `ardoise apikey create`",
        }
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, ops in doc.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for code, text in ERRORS.items():
                    op["responses"][code] = {"description": text, "content": problem}
                if path.startswith("/api/v1"):
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = doc
        return doc

    app.openapi = build  # type: ignore[method-assign]
