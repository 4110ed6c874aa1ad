"""What an agent does for a caller: reveal an identifier for a stated reason, put a
temporary loss on a card (12333), certify at home or at the office, resend the last
reminder, decide a review case, approve or reject a referral filing, book a home visit
for a caller who cannot do the face check.

Each acts through its own domain's service (the rules stay there), asks for the If-Match
of the record it changes, and is audited here once more with the person it concerns,
failures included: the answer names that audit entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from auth.model import Principal
from common.errors import DomainError, ValidationFailed
from common.versioning import check_if_match
from console.context import ConsoleContext
from console.model import (
    AGENT_CERTIFICATIONS,
    REMINDER_KINDS,
    Done,
    NoReminder,
    Reveal,
    RevealInvalid,
    RevealResult,
    identity_questions,
    require_agent,
)
from console.reading import cert_version, in_scope, person_in_scope
from medical_insurance import service as filings
from medical_insurance.model import FilingEdit, FilingNotFound
from notifications import service as notices
from pension_cert import review, visits
from pension_cert import service as cert
from social_card import service as cards
from social_card.model import CardNotFound, EventRequest

T = TypeVar("T")


async def _audited(ctx: ConsoleContext, agent: Principal, action: str, *, object: str,
                   person_id: str, client_ip: str | None,
                   act: Callable[[], Awaitable[tuple[T, str]]], **detail: str) -> tuple[T, str]:
    """Run ``act`` (which answers its result and outcome) and audit it, or its refusal."""
    try:
        result, outcome = await act()
    except DomainError as refused:
        await ctx.audit.record(actor=agent.subject, action=action, object=object,
                               outcome=f"refused: {refused.code}", client_ip=client_ip,
                               person_id=person_id, **detail)
        raise
    audit_id = await ctx.audit.record(actor=agent.subject, action=action, object=object,
                                      outcome=outcome, client_ip=client_ip,
                                      person_id=person_id, **detail)
    return result, audit_id


async def reveal(agent: Principal, person_id: str, asked: Reveal, *, client_ip: str | None,
                 ctx: ConsoleContext) -> RevealResult:
    """The full ID number or phone, for a reason from the list and a note; counted per
    agent per day, with an alert in /metrics past the threshold."""
    person = await person_in_scope(agent, person_id, ctx=ctx)
    value = person.id_number if asked.field == "id_number" else person.phone
    if not value:
        raise RevealInvalid("no phone on record", field="field")
    audit_id = await ctx.audit.record(
        actor=agent.subject, action="console.reveal", object=person_id, outcome=asked.field,
        client_ip=client_ip, person_id=person_id, reason=asked.reason, note=asked.note)
    count = await ctx.repo.add_reveal(agent.subject, ctx.today(), person_id=person_id,
                                      field=asked.field, reason=asked.reason,
                                      audit_id=audit_id, at=ctx.clock.now())
    alert = ctx.metrics.revealed(agent.subject, asked.field, count)
    return RevealResult(value=value, audit_id=audit_id, reveals_today=count, alert=alert)


async def card_temp_loss(agent: Principal, card_id: str, *, if_match: str | None,
                         questions: list[str], client_ip: str | None,
                         ctx: ConsoleContext) -> Done:
    """12333: a temporary loss on both functions, with the questions the caller answered."""
    require_agent(agent)
    card = await cards.get_card(card_id, ctx=ctx.cards)
    if not in_scope(agent, await ctx.people.get(card.person_id)):
        raise CardNotFound(card_id)
    check_if_match(if_match, card.version)
    verified = identity_questions(questions)

    async def act() -> tuple[int, str]:
        updated = await cards.apply_event(agent, card, "temp_loss", request=EventRequest(
            verified_by=verified), on_behalf=None, ctx=ctx.cards)
        return updated.version, updated.status.value

    version, audit_id = await _audited(ctx, agent, "console.card_temp_loss", object=card_id,
                                       person_id=card.person_id, client_ip=client_ip, act=act,
                                       verified_by=",".join(verified))
    return Done(audit_id, version)


async def certify(agent: Principal, person_id: str, *, kind: str, note: str,
                  if_match: str | None, client_ip: str | None, ctx: ConsoleContext) -> Done:
    """A certification at home or at the office (no face), with the agent's note."""
    await person_in_scope(agent, person_id, ctx=ctx)
    if kind not in AGENT_CERTIFICATIONS:
        raise ValidationFailed("kind is home_visit or office", field="kind")
    state, _ = await cert.status_of(person_id, ctx=ctx.cert)
    check_if_match(if_match, cert_version(state))

    async def act() -> tuple[int, str]:
        done = await cert.agent_certify(agent, person_id, kind, note, None, ctx=ctx.cert)
        return done.version, done.status.value

    version, audit_id = await _audited(ctx, agent, "console.certify", object=person_id,
                                       person_id=person_id, client_ip=client_ip, act=act,
                                       kind=kind)
    return Done(audit_id, version)


async def resend_reminder(agent: Principal, person_id: str, *, if_match: str | None,
                          client_ip: str | None, ctx: ConsoleContext) -> Done:
    """The person's last certification reminder again, on today's channel; once a day per
    reminder (a second request the same day finds the first resend)."""
    person = await person_in_scope(agent, person_id, ctx=ctx)
    state, _ = await cert.status_of(person_id, ctx=ctx.cert)
    check_if_match(if_match, cert_version(state))

    async def act() -> tuple[str, str]:
        messages = await notices.inbox_of(person_id, ctx=ctx.inbox)
        last = next((m for m in messages if m.kind in REMINDER_KINDS), None)
        if last is None:
            raise NoReminder("no certification reminder to resend")
        again = await ctx.notifier.notify(
            last.kind, f"resend:{last.message_id}:{ctx.today().isoformat()}", last.params,
            person_id=person_id, phone=person.phone)
        if again is None:
            raise NoReminder("the person cannot be reached", reason="unreachable")
        return again.message_id, again.channel.value

    message_id, audit_id = await _audited(ctx, agent, "console.resend_reminder",
                                          object=person_id, person_id=person_id,
                                          client_ip=client_ip, act=act)
    return Done(audit_id, cert_version(state), {"message_id": message_id})


async def decide_case(agent: Principal, case_id: str, *, decision: str, if_match: str | None,
                      client_ip: str | None, ctx: ConsoleContext) -> Done:
    """A review case's decision; its ETag is v1 while open, v2 once decided."""
    require_agent(agent)
    case = await review.case_of(case_id, agent=agent, ctx=ctx.cert)
    check_if_match(if_match, 1 if case.status == "open" else 2)

    async def act() -> tuple[str, str]:
        state = await cert.decide_case(case_id, decision, agent=agent, ctx=ctx.cert)
        return state.status.value, decision

    status, audit_id = await _audited(ctx, agent, "console.review_decision", object=case_id,
                                      person_id=case.person_id, client_ip=client_ip, act=act,
                                      decision=decision)
    return Done(audit_id, 2, {"cert_status": status})


async def review_filing(agent: Principal, filing_id: str, event: str, *, reason: str | None,
                        if_match: str | None, client_ip: str | None,
                        ctx: ConsoleContext) -> Done:
    """Approve or reject a filing waiting for review (a referral without its proof)."""
    require_agent(agent)
    if event not in ("approve", "reject"):
        raise ValidationFailed("event is approve or reject", field="event")
    filing = await filings.get_filing(filing_id, ctx=ctx.filings)
    if not in_scope(agent, await ctx.people.get(filing.person_id)):
        raise FilingNotFound(filing_id)
    check_if_match(if_match, filing.version)
    if event == "reject" and len((reason or "").strip()) < 2:
        raise ValidationFailed("say why the filing is rejected", field="reason")

    async def act() -> tuple[int, str]:
        moved = await filings.move(agent, filing, event, filing.version,
                                   edit=FilingEdit(reason=(reason or "").strip() or None),
                                   on_behalf=None, ctx=ctx.filings)
        return moved.version, moved.status.value

    version, audit_id = await _audited(ctx, agent, f"console.filing_{event}", object=filing_id,
                                       person_id=filing.person_id, client_ip=client_ip,
                                       act=act)
    return Done(audit_id, version)


async def book_home_visit(agent: Principal, person_id: str, *, preferred_dates: list[date],
                          address: str, phone: str | None, if_match: str | None,
                          client_ip: str | None, ctx: ConsoleContext) -> Done:
    """A home visit for a caller who cannot do the face check, into their league's queue
    (the booking rules are the pension domain's). The contact phone defaults to the
    registry's, so the agent need not reveal it; the booking is named by (agent, person,
    certification version, day), so a retried request finds the first booking."""
    person = await person_in_scope(agent, person_id, ctx=ctx)
    state, _ = await cert.status_of(person_id, ctx=ctx.cert)
    check_if_match(if_match, cert_version(state))
    seed = hashlib.sha256(f"console:{agent.subject}:{person_id}:v{cert_version(state)}:"
                          f"{ctx.today().isoformat()}".encode()).hexdigest()

    async def act() -> tuple[str, str]:
        visit = await visits.book_visit(agent, person_id, seed, preferred_dates=preferred_dates,
                                        address=address, phone=phone or person.phone or "",
                                        ctx=ctx.cert)
        return visit.booking_id, visit.status.value

    booking_id, audit_id = await _audited(ctx, agent, "console.book_home_visit",
                                          object=person_id, person_id=person_id,
                                          client_ip=client_ip, act=act)
    return Done(audit_id, cert_version(state), {"booking_id": booking_id})
