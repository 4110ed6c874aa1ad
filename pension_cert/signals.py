"""Passive certification (静默认证): proof of life, or a death, from data held elsewhere.

A signal is stored once per (source, record id), where the source is the feed that
sent it (its service key's id, never a name the request claims), so one feed cannot
pose as another. A recorded death wins over any later proof of life: that waits for
an agent's review, the only way to lift a death.
"""

from __future__ import annotations

from datetime import date, timedelta

from common.errors import ValidationFailed
from pension_cert.context import CertContext, pensioner
from pension_cert.cycle import certify, event_entry, hold_for_review, record_death
from pension_cert.model import CertStatus, Channel
from pension_cert.review import LIFE_AFTER_DEATH
from people.model import PersonNotFound

SIGNAL_MAX_AGE = timedelta(days=366)
SIGNAL_KINDS = ("medical_settlement", "card_use", "bank", "civil_affairs", "police", "death")


async def ingest_signal(*, source: str, record_id: str, person_id: str, kind: str, day: date,
                        ctx: CertContext, place: str = "") -> str:
    """A proof of life (or a death). Idempotent by (source, record id)."""
    if kind not in SIGNAL_KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(SIGNAL_KINDS)}", field="kind")
    if day > ctx.today():
        raise ValidationFailed("a signal cannot be dated in the future", field="date")
    if kind != "death" and day < ctx.today() - SIGNAL_MAX_AGE:
        return "ignored"  # too old to say anything about being alive now (a death counts)
    person = await pensioner(person_id, ctx=ctx)
    if not await ctx.repo.claim_signal(source, record_id, {
            "person_id": person_id, "kind": kind, "day": day.isoformat(),
            "received_at": ctx.clock.now()}):
        return "duplicate"
    if kind == "death":
        return await record_death(person, day, source, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is not None and state.death_date is not None:
        if day <= state.death_date:
            return "ignored"  # alive before the recorded death: nothing new
        event = event_entry(ctx, day, Channel.PASSIVE.value, f"signal:{source}",
                            note=f"{kind} {record_id}")
        await hold_for_review(person, state, day, Channel.PASSIVE, event, {
            "kind": LIFE_AFTER_DEATH, "signal": f"{kind} {record_id}",
            "death_date": state.death_date.isoformat()}, ctx=ctx, keep_status=True)
        return "held_for_review"
    if state is not None and state.last_certified_on and day <= state.last_certified_on:
        return "ignored"  # older than the certification we already have
    if state is not None and state.status in (CertStatus.BLOCKED, CertStatus.PENDING_REVIEW):
        return "ignored"
    await certify(person_id, day, Channel.PASSIVE, actor=f"signal:{source}", on_behalf=None,
                  ctx=ctx, note=f"{kind} {record_id}", place=place)
    return "certified"


async def ingest_signal_for(*, source: str, record_id: str, id_number: str, kind: str,
                            day: date, ctx: CertContext, place: str = "") -> str:
    """A signal naming the person by ID number, as feeds do."""
    person = await ctx.people.find_by_id_number(id_number)
    if person is None:
        raise PersonNotFound(id_number)
    return await ingest_signal(source=source, record_id=record_id, person_id=person.person_id,
                               kind=kind, day=day, ctx=ctx, place=place)
