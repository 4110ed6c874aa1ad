"""The console's answers built from its records: every name, ID number and phone goes into
a masking type (api/schemas/console.py), and statuses carry their Chinese names."""

from __future__ import annotations

from api.card import card_view
from api.medical import filing_view
from api.messages import message_for
from api.schemas.console import (
    AttemptRow,
    AuditRow,
    CallerOverview,
    CallerSummary,
    CaseRow,
    CertificationPanel,
    FamilyRow,
    NoticeRow,
    SignalRow,
)
from auth.model import FamilyLink
from common.audit import AuditEntry
from console import service as console
from console.model import CERT_STATUSES, NOTICE_NAMES, PERSON_TYPES
from medical_insurance.model import Status
from notifications.model import MessageStatus, OutboxMessage
from pension_cert.model import ReviewCase
from people import regions
from people.model import Person

CASE_KINDS = {"face_matches_other": "疑似冒用他人人脸", "certified_after_death": "死亡后仍有认证",
              "life_after_death": "死亡后仍有生存信息"}
CURRENT = (Status.EFFECTIVE, Status.PENDING_REVIEW)


def region_name(code: str) -> str:
    return regions.region_name(code) or code


def caller(person: Person) -> CallerSummary:
    return CallerSummary(
        person_id=person.person_id, name=person.name, id_number=person.id_number,
        phone=person.phone or None, region_code=person.region_code,
        region_name=region_name(person.region_code), person_type=person.person_type.value,
        person_type_name=PERSON_TYPES.get(person.person_type.value, person.person_type.value))


def case_row(case: ReviewCase) -> CaseRow:
    kind = str(case.suspicion.get("kind", ""))
    return CaseRow(case_id=case.case_id, day=case.day, kind=kind,
                   kind_name=CASE_KINDS.get(kind, kind), opened_at=case.opened_at,
                   status=case.status, version=1 if case.status == "open" else 2)


def notice_row(message: OutboxMessage) -> NoticeRow:
    return NoticeRow(message_id=message.message_id, kind=message.kind,
                     kind_name=NOTICE_NAMES.get(message.kind, message.kind),
                     channel=message.channel.value, status=message.status.value,
                     delivered=message.status is MessageStatus.DELIVERED,
                     created_at=message.created_at, delivered_at=message.delivered_at)


def family_row(link: FamilyLink, person_id: str) -> FamilyRow:
    return FamilyRow(link_id=link.link_id,
                     direction="granted" if link.grantor_person_id == person_id else "acting",
                     status=link.status.value, permissions=list(link.permissions),
                     created_at=link.created_at)


def overview_view(seen: console.Overview, ctx: console.ConsoleContext) -> CallerOverview:
    state = seen.cert_state
    filings = [filing_view(f, seen.today) for f in seen.filings]
    return CallerOverview(
        identity=caller(seen.person),
        certification=CertificationPanel(
            status=seen.cert_status,
            status_name=CERT_STATUSES.get(seen.cert_status, seen.cert_status),
            valid_through=state.valid_through if state else None,
            last_certified_on=state.last_certified_on if state else None,
            suspended_from=str(state.suspended_from) if state and state.suspended_from
            else None,
            version=console.cert_version(state),
            attempts=[AttemptRow(at=a.at, channel=a.channel,
                                 result="pass" if a.result == "pass" else "fail",
                                 reason=a.reason,
                                 reason_text=message_for(f"FACE_{a.reason}") if a.reason
                                 else None) for a in seen.attempts],
            signals=[SignalRow(day=s.get("day"), note=s.get("note") or "",
                               result=s.get("result")) for s in seen.signals],
            cases=[case_row(c) for c in seen.cases]),
        filings_current=[f for f in filings if f.status in CURRENT],
        filings_past=[f for f in filings if f.status not in CURRENT],
        cards=[card_view(card, ctx.cards) for card in seen.cards],
        notifications=[notice_row(m) for m in seen.notifications],
        family=[family_row(link, seen.person.person_id) for link in seen.family])


def audit_row(entry: AuditEntry) -> AuditRow:
    return AuditRow(audit_id=entry.entry_id, at=entry.at, actor=entry.actor,
                    action=entry.action, object=entry.object, person_id=entry.person_id,
                    outcome=entry.outcome, client_ip=entry.client_ip,
                    on_behalf_of=entry.on_behalf_of, detail=dict(entry.detail))
