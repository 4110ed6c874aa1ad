"""The OpenAPI 3.1 document, generated from the handlers' typed declarations.

Request and response schemas come from the same pydantic models the handlers validate
and answer with; error responses come from the error table, so the document and the
server cannot disagree about which status a code gets. Every operation has a Chinese
summary, a one-line description and an example of each request and answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.contract import ErrorRef, Operation, Resp
from api.errors import status_for_code
from common.errors import (
    IdempotencyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = frozenset({"post", "put", "patch"})
REF = "#/components/schemas/{model}"

# Codes the HTTP layer itself can answer, with their status.
HTTP_LEVEL_CODES: dict[str, int] = {
    "BAD_REQUEST": 400,
    "INVALID_JSON": 400,
    "FIELD_NOT_ALLOWED": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "HEADERS_TOO_LARGE": 431,
    "INTERNAL_ERROR": 500,
    "NOT_READY": 503,
    "SERVICE_UNAVAILABLE": 503,
}


def error_code(ref: ErrorRef) -> tuple[str, int]:
    if isinstance(ref, str):
        return ref, HTTP_LEVEL_CODES[ref]
    return ref.code, status_for_code(ref)


def path_template(pattern: str) -> tuple[str, list[str]]:
    """``/v1/people/(?P<person_id>[^/]+)`` -> (``/v1/people/{person_id}``, [``person_id``])."""
    names = re.findall(r"\(\?P<(\w+)>", pattern)
    template = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"{\1}", pattern)
    return template.rstrip("$"), names


def path_schemas(pattern: str) -> dict[str, dict[str, Any]]:
    """Each path parameter's schema from its regex: an enum for ``a|b|c``, else a pattern."""
    schemas = {}
    for name, regex in re.findall(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)", pattern):
        if re.fullmatch(r"[a-z_]+(\|[a-z_]+)+", regex):
            schemas[name] = {"type": "string", "enum": regex.split("|")}
        else:
            schemas[name] = {"type": "string", "pattern": f"^{regex}$"}
    return schemas


def implicit_errors(kind: str, method: str, op: Operation, *,
                    has_path_parameters: bool = False) -> list[ErrorRef]:
    implied: list[ErrorRef] = ["INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "BAD_REQUEST",
                               "HEADERS_TOO_LARGE"]
    if has_path_parameters:
        # A value outside the parameter's pattern matches no route: the router answers
        # NOT_FOUND before any handler (or authentication) runs.
        implied.append("NOT_FOUND")
    if kind != "public":
        implied.append("UNAUTHENTICATED")
    if kind == "service":
        implied.append("FORBIDDEN")  # a key without the route's scope
    if method in BODY_METHODS:
        implied += ["INVALID_JSON", "PAYLOAD_TOO_LARGE"]
    if op.body is not None or op.query is not None:
        implied += [op.invalid, ValidationFailed, "FIELD_NOT_ALLOWED"]
    if op.idempotent_create:
        implied += [IdempotencyKeyRequired, IdempotencyKeyReused, IdempotencyInProgress]
    if op.versioned_update:
        implied += [PreconditionFailed, PreconditionRequired]
    return implied


def _models(operations: Iterable[Operation]) -> tuple[set[type[BaseModel]],
                                                      set[type[BaseModel]]]:
    requests: set[type[BaseModel]] = set()
    answers: set[type[BaseModel]] = set()
    for op in operations:
        requests.update(m for m in (op.body, op.query) if m is not None)
        answers.update(r.model for r in op.responses.values() if r.model is not None)
    return requests, answers


def build_document(routes: Iterable[tuple[Any, ...]], *, version: str) -> dict[str, Any]:
    declared = [(pattern, handler) for pattern, handler, *_ in routes
                if getattr(handler, "in_openapi", True)]
    every_op = [op for _, h in declared for op in getattr(h, "openapi", {}).values()]
    requests, answers = _models(every_op)
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in sorted(requests, key=lambda m: m.__name__)] + [
        (m, "serialization") for m in sorted(answers, key=lambda m: m.__name__)]
    _, definitions = models_json_schema(pairs, ref_template=REF)
    paths: dict[str, Any] = {}
    for pattern, handler in declared:
        template, _names = path_template(pattern)
        item = paths.setdefault(template, {})
        for method, op in getattr(handler, "openapi", {}).items():
            item[method] = _operation(op, method, path_schemas(pattern),
                                      str(getattr(handler, "kind", "")))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "内蒙古 12333 社会保障服务 API",
            "version": version,
            "description": ("养老金资格认证、异地就医备案、社保卡与参保记录服务的后端接口。"
                            "所有错误都以 {\"error\": {\"code\", \"message\", "
                            "\"request_id\"}} 返回。"),
        },
        "paths": paths,
        "components": {
            "schemas": {"ErrorEnvelope": ERROR_ENVELOPE, **definitions.get("$defs", {})},
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
                "field": {"type": "string", "description": "出错的字段"},
                "retry_after": {"type": "integer", "description": "多少秒后可以再试"},
            },
        },
    },
    "example": {"error": {"code": "VALIDATION_FAILED",
                          "message": "填写的信息有误，请检查后重新提交。",
                          "request_id": "6f1c2a9e0b4d4c7e8a1f2b3c4d5e6f70", "field": "name"}},
}

_HEADERS = {
    "ETag": {"description": "记录的版本，修改时放在 If-Match 里", "schema": {"type": "string"},
             "example": '"v2"'},
    "Location": {"description": "新建记录的地址", "schema": {"type": "string"}},
    "Retry-After": {"description": "多少秒后可以再试", "schema": {"type": "integer"},
                    "example": 5},
    "X-Request-Id": {"description": "请求编号（反馈问题时提供）", "schema": {"type": "string"}},
}


def _operation(op: Operation, method: str, path: Mapping[str, dict[str, Any]],
               kind: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
        "tags": list(op.tags),
        "x-handler-kind": kind,
        "parameters": _parameters(op, path),
        "responses": _responses(op, method, kind, has_path_parameters=bool(path)),
    }
    if kind == "person":
        doc["security"] = [{"personToken": []}]
    elif kind == "service":
        doc["security"] = [{"serviceKey": []}]
    body = _request_body(op)
    if body is not None:
        doc["requestBody"] = body
    return doc


def _example(model: type[BaseModel]) -> Any:
    extra: Any = model.model_config.get("json_schema_extra") or {}
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return examples[0] if examples else None


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body_schema is not None:
        content: dict[str, Any] = {"schema": op.body_schema}
        if op.body_example is not None:
            content["example"] = op.body_example
        return {"required": True, "content": {op.body_content: content}}
    if op.body is None:
        return None
    media: dict[str, Any] = {"schema": {"$ref": REF.format(model=op.body.__name__)}}
    example = _example(op.body)
    if example is not None:
        media["example"] = example
    required = any(f.is_required() for f in op.body.model_fields.values())
    return {"required": required, "content": {"application/json": media}}


def _parameters(op: Operation, path: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in path.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        for name, field_schema in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query",
                           "required": name in schema.get("required", []),
                           "description": field_schema.get("description", ""),
                           "schema": field_schema})
    if op.idempotent_create:
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "description": "防重复提交标识（8-128 个可见 ASCII 字符）；"
                                      "重试时使用同一个值",
                       "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{8,128}$"},
                       "example": "5b0f6c2e-6a4e-4d1c-9f4b-1d2e3f4a5b6c"})
    if op.versioned_update:
        params.append({"name": "If-Match", "in": "header", "required": True,
                       "description": "读取时得到的 ETag", "schema": {"type": "string"},
                       "example": '"v1"'})
    return params


def _success(resp: Resp) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": resp.description}
    headers = {"X-Request-Id": _HEADERS["X-Request-Id"]}
    if resp.etag:
        headers["ETag"] = _HEADERS["ETag"]
    if resp.location:
        headers["Location"] = _HEADERS["Location"]
    doc["headers"] = headers
    if resp.model is not None:
        media: dict[str, Any] = {"schema": {"$ref": REF.format(model=resp.model.__name__)}}
        example = _example(resp.model)
        if example is not None:
            media["example"] = example
        doc["content"] = {resp.content_type: media}
    elif resp.schema is not None:
        doc["content"] = {resp.content_type: {"schema": resp.schema}}
    return doc


def _responses(op: Operation, method: str, kind: str, *,
               has_path_parameters: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {str(s): _success(r) for s, r in op.responses.items()}
    created = next((str(s) for s in sorted(op.responses) if 200 <= s < 300), None)
    if op.links and created is not None:
        responses[created]["links"] = {
            name: {"operationId": link.operation_id, "parameters": dict(link.parameters),
                   "description": link.description}
            for name, link in op.links.items()}
    by_status: dict[int, set[str]] = defaultdict(set)
    for ref in [*op.errors, *implicit_errors(kind, method, op,
                                             has_path_parameters=has_path_parameters)]:
        code, status = error_code(ref)
        by_status[status].add(code)
    for status, codes in sorted(by_status.items()):
        schema = {"allOf": [{"$ref": "#/components/schemas/ErrorEnvelope"}, {
            "properties": {"error": {"properties": {"code": {"enum": sorted(codes)}}}}}]}
        doc: dict[str, Any] = {
            "description": "错误: " + ", ".join(sorted(codes)),
            "content": {"application/json": {"schema": schema}},
        }
        if status in (429, 503):
            doc["headers"] = {"Retry-After": _HEADERS["Retry-After"]}
        responses[str(status)] = doc
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
