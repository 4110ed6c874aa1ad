"""The base of every handler: JSON in, one error envelope out, declared access kind.

Conventions every handler inherits:
- a request id on every response (``X-Request-Id``) and every log line;
- body limits checked from ``Content-Length`` in ``prepare``, before the body is
  read (Tornado's own ``max_body_size`` would only drop the connection);
- errors as ``{"error": {"code", "message", "request_id"}}`` with a Chinese
  message from the catalogue, and never a stack trace;
- each handler declares ``kind``: public, person (token) or service (key).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)
from tornado.httputil import HTTPInputError
from tornado.web import HTTPError, RequestHandler, stream_request_body

from api.deps import Deps
from api.errors import HTTP_CODES, ApiError, status_for
from api.messages import message_for, pick_locale, wait_text
from auth.access import Action, RecordNotFound, authorize
from auth.model import Forbidden, Principal, Role
from common.errors import (
    DomainError,
    FieldNotAllowed,
    IdempotencyKeyRequired,
    RateLimited,
    ValidationFailed,
)
from common.idempotency import StoredResponse, request_fingerprint
from common.logs import request_id_var
from common.settings import IPNetwork
from common.versioning import check_if_match

log = logging.getLogger("api")
access_log = logging.getLogger("api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PROTECTED_FIELDS = frozenset({"role", "roles", "region", "region_code", "regions", "status"})
# What PyMongo raises when the database cannot be reached or does not answer in time.
DATABASE_UNAVAILABLE = (ConnectionFailure, AutoReconnect, NetworkTimeout,
                        ServerSelectionTimeoutError, WaitQueueTimeoutError)
DB_RETRY_AFTER = 5


# (pattern, handler) or (pattern, handler, extra initialize kwargs); patterns use
# named groups only, which become the OpenAPI path parameters.
Route = tuple[Any, ...]


class HandlerKind(StrEnum):
    PUBLIC = "public"
    PERSON = "person"  # needs a person's access token
    SERVICE = "service"  # needs an institution's or feed's service key


class BodyLimit(StrEnum):
    JSON = "json"  # ordinary JSON requests (MAX_JSON_BODY_BYTES)
    UPLOAD = "upload"  # frame uploads and imports (MAX_UPLOAD_BODY_BYTES)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400. Refused too: nesting deep enough to
    exhaust the parser, NaN/Infinity, and lone surrogates (``"\ud800"`` decodes to a
    string that cannot be encoded again, so it would fail later, far from here)."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float,
                           parse_int=_int64)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise ApiError(400, "INVALID_JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "INVALID_JSON")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity
        raise ValueError("not a finite number")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:  # the database stores 64-bit integers at most
        raise ValueError("integer out of range")
    return value


def _json_value(value: Any) -> str:
    """Dates and instants in answers are ISO 8601 strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@stream_request_body
class BaseHandler(RequestHandler):
    kind: ClassVar[HandlerKind]  # deliberately no default: the app refuses undeclared handlers
    body_limit: ClassVar[BodyLimit] = BodyLimit.JSON
    service_scope: ClassVar[str | None] = None  # the scope a service key needs here
    # Fields a request may never set (roles, regions, statuses change by their own rules);
    # a feed that owns such a field (the registry owns regions) clears this.
    protected_fields: ClassVar[frozenset[str]] = PROTECTED_FIELDS

    deps: Deps
    route: str
    principal: Principal | None

    def initialize(self, deps: Deps, route: str) -> None:
        self.deps = deps
        self.route = route
        self.principal = None
        self._started = time.perf_counter()
        self._chunks: list[bytes] = []
        self._received = 0
        self._too_large = False

    # -- request id and headers -------------------------------------------------

    @property
    def request_id(self) -> str:
        rid: str | None = getattr(self, "_request_id", None)
        if rid is None:
            incoming = self.request.headers.get("X-Request-Id", "")
            rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
            self._request_id = rid
        return rid

    def set_default_headers(self) -> None:
        secure_headers(self)
        self.set_header("X-Request-Id", self.request_id)
        self.set_header("Cache-Control", "no-store")
        request_id_var.set(self.request_id)

    def compute_etag(self) -> str | None:
        # ETags here name record versions (If-Match); a body hash would be confused with them.
        return None

    # -- prepare: size, then identity -------------------------------------------

    async def prepare(self) -> None:
        request_id_var.set(self.request_id)
        self._check_declared_size()
        await self._authenticate()

    def max_body_bytes(self) -> int:
        settings = self.deps.settings
        if self.body_limit is BodyLimit.UPLOAD:
            return settings.max_upload_body_bytes
        return settings.max_json_body_bytes

    def _check_declared_size(self) -> None:
        limit = self.max_body_bytes()
        # A chunked body has no length to check up front; past the limit
        # ``data_received`` stops keeping it and Tornado ends the connection.
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
        declared = self.request.headers.get("Content-Length")
        if declared is None:
            return
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400) from None
        if size > limit:
            raise ApiError(413, limit_bytes=limit)

    async def _authenticate(self) -> None:
        if self.kind is HandlerKind.PUBLIC:
            return
        authenticator = self.deps.authenticator
        if self.kind is HandlerKind.PERSON:
            principal = await authenticator.person(self.request.headers.get("Authorization"),
                                                   self.client_ip())
        else:
            principal = await authenticator.service(
                self.request.headers.get("X-Service-Key"), self.service_scope, self.client_ip()
            )
        if principal is None:
            raise ApiError(401, headers={"WWW-Authenticate": "Bearer"})
        self.principal = principal

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.max_body_bytes():
            self._too_large = True
            self._chunks.clear()
        elif not self._too_large:
            self._chunks.append(chunk)

    # -- reading and writing JSON ------------------------------------------------

    def body_bytes(self) -> bytes:
        if self._too_large:
            raise ApiError(413, limit_bytes=self.max_body_bytes())
        return b"".join(self._chunks)

    def json_body(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = getattr(self, "_json", None)
        if cached is not None:
            return cached
        value = parse_json_object(self.body_bytes())
        smuggled = sorted(self.protected_fields & set(value))
        if smuggled:
            # Roles, regions and statuses change only through their own rules.
            raise FieldNotAllowed(f"{smuggled[0]} cannot be set here", field=smuggled[0])
        self._json: dict[str, Any] = value
        return value

    def write_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.set_status(status)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                               default=_json_value))

    # -- the shared conventions ----------------------------------------------------

    @property
    def me(self) -> Principal:
        """The authenticated caller (person and service handlers only)."""
        if self.principal is None:
            raise ApiError(401)
        return self.principal

    @property
    def is_agent(self) -> bool:
        return self.me.role in (Role.AGENT, Role.ADMIN)

    def require_agent(self) -> None:
        if not self.is_agent:
            raise Forbidden("agents only")

    async def authorize(self, action: Action, person_id: str,
                        not_found: DomainError | None = None) -> str | None:
        """404 unless the caller may do ``action`` for this person (``not_found`` names the
        record asked for); returns whom a family member acts for, for the audit."""
        try:
            return await authorize(self.me, action, person_id, people=self.deps.people,
                                   repo=self.deps.auth.repo)
        except RecordNotFound:
            if not_found is None:
                raise
            raise not_found from None  # not yours: the same 404 as missing

    @property
    def actor_id(self) -> str:
        """Whose Idempotency-Keys and audit entries these are."""
        if self.principal is not None:
            return self.principal.actor_id
        return f"anonymous:{self.client_ip()}"

    def client_ip(self) -> str:
        return resolve_client_ip(
            self.request.remote_ip or "",
            self.request.headers.get_list("X-Forwarded-For"),
            self.deps.settings.trusted_proxies,
        )

    async def create_idempotently(self, operation: Callable[[str], Awaitable[StoredResponse]]
                                  ) -> None:
        """Run a create once per Idempotency-Key; a retry gets the first answer back.

        ``operation`` is given a seed derived from (actor, key): the created record's
        ``_id`` comes from it, so a create whose first run died after storing its
        record (and before the key was marked done) finds that record when retried.
        """
        key = self.request.headers.get("Idempotency-Key")
        if not key:
            raise IdempotencyKeyRequired("Idempotency-Key header is required")
        fingerprint = request_fingerprint(self.request.method or "", self.request.path,
                                          self.json_body())
        seed = hashlib.sha256(f"{self.actor_id}\n{key}".encode()).hexdigest()
        response, replayed = await self.deps.idempotency.run(
            self.actor_id, key, fingerprint, lambda: operation(seed))
        headers = dict(response.headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        self.write_json(response.status, response.body, headers)

    def require_if_match(self, current_version: int) -> None:
        check_if_match(self.request.headers.get("If-Match"), current_version)

    # -- errors ----------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        status, code, extra, headers, params = _describe(error, status_code)
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        locale = pick_locale(self.request.headers.get("Accept-Language"))
        envelope = {"error": {
            "code": code,
            "message": message_for(code, locale, params),
            "request_id": self.request_id,
            **extra,
        }}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, DomainError | ApiError | HTTPError | HTTPInputError):
            log.info("request refused: %s", getattr(value, "code", value))
        elif isinstance(value, DATABASE_UNAVAILABLE):
            log.warning("database unavailable in %s %s: %s", self.request.method,
                        self.route, type(value).__name__)
        else:
            log.error("unhandled error in %s %s", self.request.method, self.route,
                      exc_info=(typ, value, tb))

    def on_finish(self) -> None:
        elapsed = time.perf_counter() - self._started
        status = str(self.get_status())
        method = self.request.method or ""
        self.deps.metrics.requests.labels(self.route, method, status).inc()
        self.deps.metrics.latency.labels(self.route, method, status).observe(elapsed)
        access_log.info(
            "%s %s %s", method, self.route, status,
            extra={"status": int(status), "duration_ms": round(elapsed * 1000, 2),
                   "route": self.route, "client_ip": self.client_ip()},
        )


def _describe(error: BaseException | None, status_code: int
              ) -> tuple[int, str, dict[str, Any], dict[str, str], dict[str, Any]]:
    """(status, code, extra envelope fields, headers, message params) for an error."""
    if isinstance(error, ApiError):
        return error.status, error.code, dict(error.extra), error.headers, error.extra
    if isinstance(error, RateLimited):
        params = {"retry_after_text": wait_text(error.retry_after)}
        return (429, error.code, {"retry_after": error.retry_after},
                {"Retry-After": str(error.retry_after)}, params)
    if isinstance(error, DomainError):
        extra = {k: v for k, v in error.params.items() if v is not None}
        if isinstance(error, ValidationFailed) and error.field:
            extra["field"] = error.field
        headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else {}
        return status_for(error), error.code, extra, headers, error.params
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


# HTML pages: scripts and styles from this origin only (Swagger UI sets style
# attributes), never framed.
HTML_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def html_page(handler: RequestHandler, page: str) -> None:
    """Answer an HTML page with its content security policy."""
    handler.set_header("Content-Type", "text/html; charset=UTF-8")
    handler.set_header("Content-Security-Policy", HTML_POLICY)
    handler.finish(page)


def secure_headers(handler: RequestHandler) -> None:
    """On every answer: no server banner, no sniffing, never framed."""
    handler.clear_header("Server")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("X-Frame-Options", "DENY")
    handler.set_header("Referrer-Policy", "no-referrer")


def resolve_client_ip(remote_ip: str, forwarded_for: Sequence[str],
                      trusted: Sequence[IPNetwork]) -> str:
    """The caller's address: X-Forwarded-For is believed only as far as trusted proxies vouch.

    Walk the chain from the right (nearest hop) while each hop is a trusted
    proxy; the first untrusted address is the client. A client cannot forge
    its way past this by sending its own X-Forwarded-For, because only the
    entries appended by trusted proxies are read.
    """
    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not is_trusted(remote_ip):
        return remote_ip
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote_ip  # garbage where a trusted proxy should have written an IP
    return hops[0] if hops else remote_ip


class NotFoundHandler(BaseHandler):
    """Unknown routes: a JSON 404 rather than Tornado's HTML page."""

    kind = HandlerKind.PUBLIC

    async def prepare(self) -> None:
        await super().prepare()
        raise ApiError(404)
