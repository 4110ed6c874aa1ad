"""The console's use cases, in one place for the HTTP layer: finding and reading
(``reading``), acting (``actions``), queues and the audit trail (``queues``)."""

from __future__ import annotations

from console.actions import (
    book_home_visit,
    card_temp_loss,
    certify,
    decide_case,
    resend_reminder,
    reveal,
    review_filing,
)
from console.context import ConsoleContext, ConsoleMetrics
from console.queues import (
    AuditPage,
    CasePage,
    FilingQueuePage,
    audit_csv,
    audit_trail,
    case_queue,
    filing_queue,
)
from console.reading import Found, Me, Overview, cert_version, me, overview, search_callers

__all__ = [
    "AuditPage",
    "CasePage",
    "ConsoleContext",
    "ConsoleMetrics",
    "FilingQueuePage",
    "Found",
    "Me",
    "Overview",
    "audit_csv",
    "audit_trail",
    "book_home_visit",
    "card_temp_loss",
    "case_queue",
    "cert_version",
    "certify",
    "decide_case",
    "filing_queue",
    "me",
    "overview",
    "resend_reminder",
    "reveal",
    "review_filing",
    "search_callers",
]
