"""What handlers may use, built once by the composition root (``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from pymongo import AsyncMongoClient

from auth.model import Principal
from auth.service import AuthContext
from common.audit import AuditLog
from common.clock import Clock
from common.guard import Guard
from common.idempotency import IdempotencyStore
from common.mongo import Database, Document
from common.ratelimit import RateLimiter
from common.settings import Settings
from medical_insurance.service import FilingContext
from notifications.repository import OutboxRepository
from notifications.service import NotificationPolicy, Notifier
from notifications.worker import Gateways, OutboxMetrics, OutboxWorker
from pension_cert.service import CertContext
from people.repository import PeopleRepository
from people.service import RegistryHooks
from social_card.service import CardContext

if TYPE_CHECKING:
    from jobs import JobMetrics


class Authenticator(Protocol):
    """Turns a request's credentials into a principal, or None when they are not valid."""

    async def person(self, authorization: str | None, client_ip: str) -> Principal | None: ...

    async def service(self, service_key: str | None, scope: str | None,
                      client_ip: str) -> Principal | None: ...


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


@dataclass
class Deps:
    settings: Settings
    clock: Clock
    client: AsyncMongoClient[Document]
    db: Database
    guard: Guard
    limiter: RateLimiter
    idempotency: IdempotencyStore
    people: PeopleRepository
    outbox: OutboxRepository
    gateways: Gateways
    notification_policy: NotificationPolicy
    notifier: Notifier
    registry_hooks: RegistryHooks
    authenticator: Authenticator
    auth: AuthContext
    cert: CertContext
    filings: FilingContext
    cards: CardContext
    audit: AuditLog
    metrics: HttpMetrics
    outbox_metrics: OutboxMetrics
    job_metrics: JobMetrics

    def outbox_worker(self, worker_id: str | None = None) -> OutboxWorker:
        return OutboxWorker(outbox=self.outbox, gateways=self.gateways, clock=self.clock,
                            policy=self.notification_policy, metrics=self.outbox_metrics,
                            worker_id=worker_id)
