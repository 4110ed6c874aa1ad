"""The OpenAPI 3.1 document, built from the handlers' own declarations.

Each handler lists an ``Operation`` per HTTP method it answers; the error
responses come from the error table, so the document and the server cannot
disagree about which status a code gets.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.errors import status_for_code
from common.errors import (
    DomainError,
    IdempotencyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    PreconditionFailed,
    PreconditionRequired,
)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = frozenset({"post", "put", "patch"})

# Codes the HTTP layer itself can answer, with their status.
HTTP_LEVEL_CODES: dict[str, int] = {
    "BAD_REQUEST": 400,
    "INVALID_JSON": 400,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "INTERNAL_ERROR": 500,
    "NOT_READY": 503,
    "SERVICE_UNAVAILABLE": 503,
}

ErrorRef = type[DomainError] | str


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, tuple[str, dict[str, Any] | None]]
    request_schema: dict[str, Any] | None = None
    errors: tuple[ErrorRef, ...] = ()
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    idempotent_create: bool = False  # takes an Idempotency-Key
    versioned_update: bool = False  # takes If-Match
    response_type: str = "application/json"


def error_code(ref: ErrorRef) -> tuple[str, int]:
    if isinstance(ref, str):
        return ref, HTTP_LEVEL_CODES[ref]
    return ref.code, status_for_code(ref)


def path_template(pattern: str) -> tuple[str, list[str]]:
    """``/v1/people/(?P<person_id>[^/]+)`` -> (``/v1/people/{person_id}``, [``person_id``])."""
    names = re.findall(r"\(\?P<(\w+)>", pattern)
    template = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"{\1}", pattern)
    return template.rstrip("$"), names


def implicit_errors(kind: str, method: str, op: Operation) -> list[ErrorRef]:
    implied: list[ErrorRef] = ["INTERNAL_ERROR"]
    if kind != "public":
        implied.append("UNAUTHENTICATED")
    if method in BODY_METHODS:
        implied += ["INVALID_JSON", "PAYLOAD_TOO_LARGE"]
    if op.idempotent_create:
        implied += [IdempotencyKeyRequired, IdempotencyKeyReused, IdempotencyInProgress]
    if op.versioned_update:
        implied += [PreconditionFailed, PreconditionRequired]
    return implied


def build_document(routes: Iterable[tuple[Any, ...]], *, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for pattern, handler, *_ in routes:
        operations: Mapping[str, Operation] = getattr(handler, "openapi", {})
        if not getattr(handler, "in_openapi", True):
            continue
        template, names = path_template(pattern)
        item = paths.setdefault(template, {})
        for method, op in operations.items():
            item[method] = _operation(op, method, names, str(getattr(handler, "kind", "")))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "内蒙古 12333 社会保障服务 API",
            "version": version,
            "description": "养老金资格认证、异地就医备案与社保卡服务的后端接口。",
        },
        "paths": paths,
        "components": {
            "schemas": {"ErrorEnvelope": ERROR_ENVELOPE},
            "securitySchemes": {
                "personToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "serviceKey": {"type": "apiKey", "in": "header", "name": "X-Service-Key"},
            },
        },
    }


ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                "message": {"type": "string", "description": "给办事群众看的中文说明"},
                "request_id": {"type": "string"},
                "field": {"type": "string"},
                "retry_after": {"type": "integer"},
            },
        },
    },
}


def _operation(op: Operation, method: str, path_params: list[str], kind: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "tags": list(op.tags),
        "operationId": f"{method}_{op.summary}",
        "x-handler-kind": kind,
        "parameters": _parameters(op, path_params),
        "responses": _responses(op, method, kind),
    }
    if kind == "person":
        doc["security"] = [{"personToken": []}]
    elif kind == "service":
        doc["security"] = [{"serviceKey": []}]
    if op.request_schema is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.request_schema}},
        }
    return doc


def _parameters(op: Operation, path_params: list[str]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_params
    ]
    params += [{"name": name, "in": "query", "required": False, "schema": schema}
               for name, schema in op.query.items()]
    if op.idempotent_create:
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "schema": {"type": "string", "minLength": 8, "maxLength": 128}})
    if op.versioned_update:
        params.append({"name": "If-Match", "in": "header", "required": True,
                       "schema": {"type": "string"}})
    return params


def _responses(op: Operation, method: str, kind: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, schema) in op.responses.items():
        content = {op.response_type: {"schema": schema}} if schema is not None else None
        responses[str(status)] = {"description": description}
        if content:
            responses[str(status)]["content"] = content
    by_status: dict[int, set[str]] = defaultdict(set)
    for ref in [*op.errors, *implicit_errors(kind, method, op)]:
        code, status = error_code(ref)
        by_status[status].add(code)
    for status, codes in sorted(by_status.items()):
        schema = {"allOf": [{"$ref": "#/components/schemas/ErrorEnvelope"}, {
            "properties": {"error": {"properties": {"code": {"enum": sorted(codes)}}}}}]}
        responses[str(status)] = {
            "description": "错误: " + ", ".join(sorted(codes)),
            "content": {"application/json": {"schema": schema}},
        }
    return responses


def documented_codes(document: Mapping[str, Any]) -> set[str]:
    """Every error code the document names (tests check each has a message)."""
    codes: set[str] = set()
    for item in document["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for part in schema.get("allOf", []):
                    enum = (part.get("properties", {}).get("error", {})
                            .get("properties", {}).get("code", {}).get("enum"))
                    codes.update(enum or [])
    return codes
