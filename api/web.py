"""What every handler may use, whatever its domain: built once by the composition root.

Each route module also names the one domain context its handlers get (``ctx``); no
handler sees the others, nor any repository.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from auth.access import Action
from auth.model import Principal
from common.clock import Clock
from common.idempotency import IdempotencyStore
from common.settings import Settings


class Authenticator(Protocol):
    """Turns a request's credentials into a principal, or None when they are not valid."""

    async def person(self, authorization: str | None, client_ip: str) -> Principal | None: ...

    async def service(self, service_key: str | None, scope: str | None,
                      client_ip: str) -> Principal | None: ...


class Authorizer(Protocol):
    """Object-level access: may this caller do this to this person's records?"""

    async def authorize(self, principal: Principal, action: Action,
                        person_id: str) -> str | None: ...


class HttpMetrics:
    """Request counts and latency by route template (not raw path, to bound cardinality)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered",
            ["route", "method", "status"], registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request",
            ["route", "method", "status"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    clock: Clock
    authenticator: Authenticator
    authorizer: Authorizer
    idempotency: IdempotencyStore
    metrics: HttpMetrics
    ping: Callable[[], Awaitable[Any]]  # readiness: does the database answer?
