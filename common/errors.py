"""The base of every domain error.

Domain code raises these; the API layer maps each class to an HTTP status in one
table and each ``code`` to a citizen-facing message in one catalogue. Domain
code never knows about HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule said no. ``code`` is stable SNAKE_CASE; ``params`` fill the message."""

    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, detail: str = "", **params: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class NotFound(DomainError):
    """The record does not exist, or the caller may not know that it exists."""

    code = "NOT_FOUND"


class ValidationFailed(DomainError):
    """The input breaks a rule; ``field`` names the offending field when known."""

    code = "VALIDATION_FAILED"

    def __init__(self, detail: str = "", *, field: str | None = None, **params: Any) -> None:
        super().__init__(detail, field=field, **params)
        self.field = field


class FieldNotAllowed(ValidationFailed):
    """The request tries to set something (a role, a region, a status) it may not."""

    code = "FIELD_NOT_ALLOWED"


class Conflict(DomainError):
    code = "CONFLICT"


class RateLimited(DomainError):
    """Too many attempts in a window; ``retry_after`` is whole seconds until a slot frees."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after: int, *, rule: str = "") -> None:
        super().__init__(f"rate limit {rule} reached", rule=rule)
        self.retry_after = max(1, int(retry_after))
        self.rule = rule


class PreconditionFailed(DomainError):
    """The record changed since the caller read it (stale ETag)."""

    code = "PRECONDITION_FAILED"


class PreconditionRequired(DomainError):
    """An update of a versioned record came without If-Match."""

    code = "PRECONDITION_REQUIRED"


class IdempotencyKeyRequired(DomainError):
    code = "IDEMPOTENCY_KEY_REQUIRED"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came back with a different request body."""

    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(DomainError):
    """The first request with this key has not finished yet."""

    code = "IDEMPOTENCY_IN_PROGRESS"
