"""One table from domain errors to HTTP status codes.

A class maps through its closest listed ancestor, so a domain package's
``FilingNotFound(NotFound)`` answers 404 without touching this file; a code
with an unusual status is listed here explicitly.
"""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPInputError
from tornado.web import HTTPError

from api.messages import wait_text
from auth import model as auth
from common import errors as e
from common.mongo import DATABASE_UNAVAILABLE
from notifications.model import SmsNotSent
from pension_cert.check_model import FacePoolBusy, WeChatFaceUnavailable

ERROR_STATUS: dict[type[e.DomainError], int] = {
    e.ValidationFailed: 400,
    e.IdempotencyKeyRequired: 400,
    e.NotFound: 404,
    e.Conflict: 409,
    e.IdempotencyInProgress: 409,
    e.PreconditionFailed: 412,
    e.IdempotencyKeyReused: 422,
    e.PreconditionRequired: 428,
    e.RateLimited: 429,
    SmsNotSent: 503,
    auth.Forbidden: 403,
    auth.WeChatUnavailableError: 503,
    auth.LoginFailed: 401,
    auth.AccountLocked: 423,
    FacePoolBusy: 503,
    WeChatFaceUnavailable: 503,
    e.DomainError: 400,
}

# Errors the HTTP layer raises itself, with no domain meaning.
HTTP_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    423: "ACCOUNT_LOCKED",
    422: "VALIDATION_FAILED",
    428: "PRECONDITION_REQUIRED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An HTTP-level refusal (bad JSON, too large, not logged in)."""

    def __init__(self, status: int, code: str | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code or HTTP_CODES.get(status, "BAD_REQUEST"))
        self.status = status
        self.code = code or HTTP_CODES.get(status, "BAD_REQUEST")
        self.headers = headers or {}
        self.extra = extra


def status_for(error: e.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 400


def status_for_code(error_class: type[e.DomainError]) -> int:
    for cls in error_class.__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 400


DB_RETRY_AFTER = 5  # seconds: a replica-set election takes a few


def describe_error(error: BaseException | None, status_code: int
                   ) -> tuple[int, str, dict[str, Any], dict[str, str], dict[str, Any]]:
    """(status, code, extra envelope fields, headers, message params) for an error."""
    if isinstance(error, ApiError):
        return error.status, error.code, dict(error.extra), error.headers, error.extra
    if isinstance(error, e.RateLimited):
        params = {"retry_after_text": wait_text(error.retry_after)}
        return (429, error.code, {"retry_after": error.retry_after},
                {"Retry-After": str(error.retry_after)}, params)
    if isinstance(error, e.DomainError):
        extra = {k: v for k, v in error.params.items() if v is not None}
        if isinstance(error, e.ValidationFailed) and error.field:
            extra["field"] = error.field
        if "retry_after" not in extra:
            return status_for(error), error.code, extra, {}, error.params
        params = {**error.params, "retry_after_text": wait_text(int(extra["retry_after"]))}
        return (status_for(error), error.code, extra,
                {"Retry-After": str(extra["retry_after"])}, params)
    if isinstance(error, HTTPError):
        status = error.status_code
        return status, HTTP_CODES.get(status, "BAD_REQUEST"), {}, {}, {}
    if isinstance(error, HTTPInputError):
        return 400, "BAD_REQUEST", {}, {}, {}
    if isinstance(error, DATABASE_UNAVAILABLE):
        # The database is away (failover, restart): the request changed nothing we know
        # of; the client retries, with the same Idempotency-Key for a create.
        return (503, "SERVICE_UNAVAILABLE", {"retry_after": DB_RETRY_AFTER},
                {"Retry-After": str(DB_RETRY_AFTER)}, {})
    if status_code >= 500 or error is not None:
        return 500, "INTERNAL_ERROR", {}, {}, {}
    return status_code, HTTP_CODES.get(status_code, "BAD_REQUEST"), {}, {}, {}
