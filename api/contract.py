"""The typed contract: what each operation takes and answers, as pydantic models.

A handler declares an ``Operation`` per HTTP method. ``BaseHandler`` validates the body
and query with the declared models (a failure is a 400 naming the field), the handler
returns a model (or a ``Reply`` around one), and the OpenAPI document is generated from
the same declarations, so the documentation and the behaviour cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.errors import DomainError, ValidationFailed

ErrorRef = type[DomainError] | str


class RequestModel(BaseModel):
    """A request body or query. Unknown fields are ignored (clients may be newer)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(frozen=True)


@dataclass(frozen=True)
class Resp:
    """One documented answer of an operation."""

    description: str
    model: type[BaseModel] | None = None
    content_type: str = "application/json"
    schema: dict[str, Any] | None = None  # for non-JSON answers (HTML, SVG, CSV, text)
    etag: bool = False  # the answer carries the record's ETag
    location: bool = False  # a create names what it made


@dataclass(frozen=True)
class Link:
    """After a create: which operation uses what it made (OpenAPI ``links``)."""

    operation_id: str
    parameters: Mapping[str, str]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str  # Chinese, a few words
    description: str  # one line: what it does, for whom
    tags: tuple[str, ...]
    responses: Mapping[int, Resp]
    body: type[BaseModel] | None = None
    body_content: str = "application/json"
    body_schema: dict[str, Any] | None = None  # multipart or binary bodies
    body_example: Any = None  # for non-JSON bodies
    empty_body: bool = False  # a request with no body at all means "{}" (all fields optional)
    query: type[BaseModel] | None = None
    errors: tuple[ErrorRef, ...] = ()
    idempotent_create: bool = False  # takes an Idempotency-Key
    versioned_update: bool = False  # takes If-Match
    links: Mapping[str, Link] = field(default_factory=dict)
    # The code a body or query that fails its model answers with (the domain's own
    # "invalid input" code where it has one).
    invalid: type[ValidationFailed] = ValidationFailed


@dataclass(frozen=True)
class Reply:
    """A model answered with a status other than 200, or with headers."""

    body: BaseModel | None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """A non-JSON answer (an HTML page, a QR code, a CSV file)."""

    text: str | bytes
    content_type: str
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


NO_CONTENT = Reply(None, 204)
