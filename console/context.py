"""What every console use case needs, built once by the composition root: the other
domains' contexts (the console acts through their services), its own store, the audit
trail and the reveal figures in /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from prometheus_client import CollectorRegistry, Counter, Gauge

from auth.context import AuthContext
from common.audit import AuditLog
from common.clock import Clock, local_date
from console.model import REVEAL_ALERT_THRESHOLD
from console.repository import ConsoleRepository
from medical_insurance.service import FilingContext
from notifications.service import InboxContext, Notifier
from pension_cert.context import CertContext
from people.repository import PeopleRepository
from social_card.service import CardContext


class ConsoleMetrics:
    """Reveals per agent per day, and an alert once an agent goes past the threshold.

    ``console_agent_reveals_today`` is the count of the day of the agent's latest reveal
    (as this process saw it); ``console_reveal_alerts_total`` grows with every reveal past
    the threshold, so ``increase(console_reveal_alerts_total[1d]) > 0`` is the alert."""

    def __init__(self, registry: CollectorRegistry,
                 threshold: int = REVEAL_ALERT_THRESHOLD) -> None:
        self.threshold = threshold
        self.reveals = Counter("console_reveals_total", "Full identifiers revealed to agents",
                               ["field"], registry=registry)
        self.today = Gauge("console_agent_reveals_today",
                           "Reveals by an agent on the day of their latest reveal", ["agent"],
                           registry=registry)
        self.alerts = Counter("console_reveal_alerts_total",
                              "Reveals made by an agent past the daily threshold", ["agent"],
                              registry=registry)
        Gauge("console_reveal_alert_threshold", "Reveals per agent per day before an alert",
              registry=registry).set(threshold)

    def revealed(self, agent_id: str, field: str, count_today: int) -> bool:
        """Count one reveal; True when it is past the threshold."""
        self.reveals.labels(field).inc()
        self.today.labels(agent_id).set(count_today)
        over = count_today > self.threshold
        if over:
            self.alerts.labels(agent_id).inc()
        return over


@dataclass(frozen=True)
class ConsoleContext:
    people: PeopleRepository
    auth: AuthContext
    cert: CertContext
    filings: FilingContext
    cards: CardContext
    inbox: InboxContext
    notifier: Notifier
    audit: AuditLog
    clock: Clock
    repo: ConsoleRepository
    metrics: ConsoleMetrics

    def today(self) -> date:
        return local_date(self.clock.now())
