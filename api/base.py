"""The base of every handler: typed requests in, typed answers out, one error envelope.

Conventions every handler inherits:
- a request id on every response (``X-Request-Id``) and every log line;
- body limits checked from ``Content-Length`` in ``prepare``, before the body is
  read (Tornado's own ``max_body_size`` would only drop the connection);
- the body and query validated with the models the operation declares (``body()``,
  ``query()``): a failure is a 400 naming the field;
- a handler method returns its answer (a model, a ``Reply`` or a ``Page``), written
  here; errors as ``{"error": {"code", "message", "request_id"}}`` with a Chinese
  message from the catalogue, and never a stack trace;
- each handler declares ``kind``: public, person (token) or service (key).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from tornado.httputil import HTTPInputError
from tornado.web import HTTPError, RequestHandler, stream_request_body

from api.contract import Operation, Page, Reply
from api.errors import ApiError, describe_error
from api.http import json_value, parse_json_object, resolve_client_ip, secure_headers
from api.messages import message_for, pick_locale
from api.web import WebContext
from auth.access import Action
from auth.model import Forbidden, Principal, RecordNotFound, Role
from common.errors import (
    DomainError,
    FieldNotAllowed,
    IdempotencyKeyRequired,
)
from common.idempotency import StoredResponse, request_fingerprint
from common.logs import request_id_var
from common.mongo import DATABASE_UNAVAILABLE
from common.versioning import check_if_match

log = logging.getLogger("api")
access_log = logging.getLogger("api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PROTECTED_FIELDS = frozenset({"role", "roles", "region", "region_code", "regions", "status"})
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
M = TypeVar("M", bound=BaseModel)

# (pattern, handler) or (pattern, handler, extra initialize kwargs); patterns use named
# groups only, which become the OpenAPI path parameters. A route module names the domain
# context its handlers get with the ``"context"`` kwarg.
Route = tuple[Any, ...]


class HandlerKind(StrEnum):
    PUBLIC = "public"
    PERSON = "person"  # needs a person's access token
    SERVICE = "service"  # needs an institution's or feed's service key


class BodyLimit(StrEnum):
    JSON = "json"  # ordinary JSON requests (MAX_JSON_BODY_BYTES)
    UPLOAD = "upload"  # frame uploads and imports (MAX_UPLOAD_BODY_BYTES)


def _answers(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    """Write what a handler method returns."""
    @functools.wraps(method)
    async def answering(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
        result = await method(self, *args, **kwargs)
        if not self._finished:
            self.answer(result)
    return answering


@stream_request_body
class BaseHandler(RequestHandler):
    kind: ClassVar[HandlerKind]  # deliberately no default: the app refuses undeclared handlers
    body_limit: ClassVar[BodyLimit] = BodyLimit.JSON
    service_scope: ClassVar[str | None] = None  # the scope a service key needs here
    # Fields a request may never set (roles, regions, statuses change by their own rules);
    # a feed that owns such a field (the registry owns regions) clears this.
    protected_fields: ClassVar[frozenset[str]] = PROTECTED_FIELDS
    openapi: ClassVar[Mapping[str, Operation]] = {}

    web: WebContext
    route: str
    principal: Principal | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in HTTP_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, _answers(cls.__dict__[name]))

    def initialize(self, web: WebContext, route: str, ctx: Any = None) -> None:
        self.web = web
        self.ctx = ctx
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
        settings = self.web.settings
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
        authenticator = self.web.authenticator
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

    # -- reading: the declared models --------------------------------------------------

    @property
    def operation(self) -> Operation:
        return self.openapi[(self.request.method or "get").lower()]

    def body_bytes(self) -> bytes:
        if self._too_large:
            raise ApiError(413, limit_bytes=self.max_body_bytes())
        return b"".join(self._chunks)

    def json_body(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = getattr(self, "_json", None)
        if cached is not None:
            return cached
        raw = self.body_bytes()
        # An empty body is an empty object only where every field is optional.
        value = {} if not raw.strip() and self._body_optional() else parse_json_object(raw)
        smuggled = sorted(self.protected_fields & set(value))
        if smuggled:
            # Roles, regions and statuses change only through their own rules.
            raise FieldNotAllowed(f"{smuggled[0]} cannot be set here", field=smuggled[0])
        self._json: dict[str, Any] = value
        return value

    def _body_optional(self) -> bool:
        method = (self.request.method or "").lower()
        return method in self.openapi and self.openapi[method].empty_body

    def body(self, model: type[M]) -> M:
        """The body, validated with the model this operation declares."""
        assert self.operation.body is model, "validate with the model the document shows"
        return self._validated(model, self.json_body())

    def query(self, model: type[M]) -> M:
        """The query arguments, validated with the model this operation declares."""
        assert self.operation.query is model, "validate with the model the document shows"
        values = {name: self.get_query_argument(name) for name in model.model_fields
                  if self.get_query_argument(name, None) is not None}
        return self._validated(model, values)

    def _validated(self, model: type[M], values: Mapping[str, Any]) -> M:
        try:
            return model.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            raise self.operation.invalid(first["msg"], field=field,
                                         problem=first["type"]) from None

    # -- writing: what a handler returns ----------------------------------------------

    def answer(self, result: BaseModel | Reply | Page | None) -> None:
        if isinstance(result, Page):
            self.set_status(result.status)
            for name, value in result.headers.items():
                self.set_header(name, value)
            self.set_header("Content-Type", result.content_type)
            self.finish(result.text)
            return
        reply = result if isinstance(result, Reply) else Reply(result)
        body = None if reply.body is None else reply.body.model_dump(mode="json")
        if body is None:
            self.set_status(reply.status)
            for name, value in reply.headers.items():
                self.set_header(name, value)
            self.finish()
            return
        self.write_json(reply.status, body, reply.headers)

    def write_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.set_status(status)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                               default=json_value))

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
            return await self.web.authorizer.authorize(self.me, action, person_id)
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
            self.web.settings.trusted_proxies,
        )

    async def create_idempotently(self, operation: Callable[[str], Awaitable[Reply]], *,
                                  keep_body: bool = True) -> Reply:
        """Run a create once per Idempotency-Key; a retry gets the first answer back.

        ``operation`` is given a seed derived from (actor, key): the created record's
        ``_id`` comes from it, so a create whose first run died after storing its
        record (and before the key was marked done) finds that record when retried.
        With ``keep_body=False`` the answer's body is not stored (it holds a secret, such
        as a challenge's nonce): a retry runs ``operation`` again, which finds the record
        by its ``_id`` and answers from it.
        """
        key = self.request.headers.get("Idempotency-Key")
        if not key:
            raise IdempotencyKeyRequired("Idempotency-Key header is required")
        fingerprint = request_fingerprint(self.request.method or "", self.request.path,
                                          self.json_body())
        seed = hashlib.sha256(f"{self.actor_id}\n{key}".encode()).hexdigest()
        fresh: list[Reply] = []

        async def stored() -> StoredResponse:
            reply = await operation(seed)
            fresh.append(reply)
            body = reply.body.model_dump(mode="json") if reply.body is not None else None
            return StoredResponse(reply.status, body if keep_body else None, dict(reply.headers))

        response, replayed = await self.web.idempotency.run(self.actor_id, key, fingerprint,
                                                            stored)
        headers = dict(response.headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if keep_body:
            self.write_json(response.status, response.body, headers)
            return Reply(None, response.status)
        reply = fresh[0] if fresh else await operation(seed)
        return Reply(reply.body, response.status, headers)

    def require_if_match(self, current_version: int) -> None:
        check_if_match(self.request.headers.get("If-Match"), current_version)

    # -- errors ----------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        status, code, extra, headers, params = describe_error(error, status_code)
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
        self.finish(json.dumps(envelope, ensure_ascii=False, separators=(",", ":"),
                               default=str))

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
        self.web.metrics.requests.labels(self.route, method, status).inc()
        self.web.metrics.latency.labels(self.route, method, status).observe(elapsed)
        access_log.info(
            "%s %s %s", method, self.route, status,
            extra={"status": int(status), "duration_ms": round(elapsed * 1000, 2),
                   "route": self.route, "client_ip": self.client_ip()},
        )


class NotFoundHandler(BaseHandler):
    """Unknown routes: a JSON 404 rather than Tornado's HTML page."""

    kind = HandlerKind.PUBLIC

    async def prepare(self) -> None:
        await super().prepare()
        raise ApiError(404)
