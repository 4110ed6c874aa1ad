"""The rolling certification cycle as use cases: certify, hold for review, block, record a
death, remind and suspend, and first deadlines for new pensioners.

Every change of a person's state claims its version step first; the review case or
notice it derives is written by the step with an ``_id`` that comes from it, so a
lost race writes nothing and a crash-and-retry writes nothing twice. Payment itself
is decided by the monthly payroll run (``payroll.py``) from the state recorded here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from auth.model import Principal
from common.errors import PreconditionFailed, ValidationFailed
from notifications.templates import CERT_DONE, CERT_DUE_SOON, CERT_OVERDUE
from pension_cert.check_model import Attempt
from pension_cert.context import CertContext, pensioner
from pension_cert.model import (
    BLOCKED_FOR_DEATH,
    BLOCKED_FOR_FRAUD,
    CertificationBlocked,
    CertState,
    CertStatus,
    Channel,
    Month,
    ReviewCase,
    cycle_months,
    first_suspended_month,
    new_retiree_deadline,
    valid_through,
)
from pension_cert.repository import case_id_for
from people.model import Person

REMINDER_LOOKAHEAD = timedelta(days=30)
HISTORY_KEPT = 50


def event_entry(ctx: CertContext, day: date, channel: str, actor: str,
           on_behalf: str | None = None, note: str | None = None) -> dict[str, str]:
    return {"at": ctx.clock.now().isoformat(), "day": day.isoformat(), "channel": channel,
            "actor": actor, "on_behalf": on_behalf or "", "note": note or ""}


def _with_history(state: CertState, entry: dict[str, Any]) -> list[dict[str, str]]:
    return [*state.history, entry][-HISTORY_KEPT:]


async def current_state(person: Person, ctx: CertContext, day: date) -> CertState:
    """The person's state; a pensioner who never had one starts due on ``day``."""
    state = await ctx.repo.state(person.person_id)
    if state is None:
        await ctx.repo.create_state(CertState(person_id=person.person_id, valid_through=day))
        state = await ctx.repo.state(person.person_id)
    assert state is not None
    return state


async def status_of(person_id: str, *, ctx: CertContext
                    ) -> tuple[CertState | None, list[Attempt]]:
    """The person's state and their last face-check attempts (never a score)."""
    attempts = await ctx.repo.attempts_of(person_id, limit=20)
    return await ctx.repo.state(person_id), attempts


# -- certifying ------------------------------------------------------------------------------


async def certify(person_id: str, day: date, channel: Channel, *, actor: str,
                  on_behalf: str | None, ctx: CertContext, note: str | None = None,
                  suspicion: dict[str, Any] | None = None, place: str = "") -> CertState:
    """Record a certification on ``day``: a new cycle starts there. A suspicious one waits
    for an agent's review; a blocked person (a recorded death, fraud) cannot certify."""
    person = await pensioner(person_id, ctx=ctx)
    state = await current_state(person, ctx, day)
    if state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("certification is blocked for this person")
    if state.last_certified_on is not None and day < state.last_certified_on:
        return state  # older than the certification we already have: nothing to do
    event = event_entry(ctx, day, channel.value, actor, on_behalf, note)
    if place:  # where the record that proves life was made (a hospital, a bank)
        event["place"] = place[:60]
    if suspicion:
        return await hold_for_review(person, state, day, channel, event, suspicion, ctx=ctx)
    certified = await apply_certification(person, state, day, event, ctx=ctx)
    await ctx.audit.record(actor=actor, action="pension.certify", object=person_id,
                           outcome=channel.value, on_behalf_of=on_behalf)
    return certified


def certified_state(person: Person, state: CertState, day: date, event: dict[str, str],
                    ctx: CertContext) -> CertState:
    months = cycle_months(person, day, ctx.config.cycle_rules)
    return replace(state, valid_through=valid_through(day, months),
                   status=CertStatus.CERTIFIED, last_certified_on=day, suspended_from=None,
                   reminders_sent=state.reminders_sent[-6:],
                   history=_with_history(state, {**event, "result": "certified"}))


async def apply_certification(person: Person, state: CertState, day: date,
                               event: dict[str, str], *, ctx: CertContext) -> CertState:
    certified = certified_state(person, state, day, event, ctx)
    notice = await ctx.notifier.message(
        CERT_DONE, f"cert_done:{person.person_id}:v{state.version + 1}",
        {"name": person.name, "valid_through": certified.valid_through.isoformat()},
        person_id=person.person_id, phone=person.phone)
    version = await ctx.repo.step_state(state, certified, ctx.notifier.derived(notice))
    return replace(certified, version=version)


async def hold_for_review(person: Person, state: CertState, day: date, channel: Channel,
                          event: dict[str, str], suspicion: dict[str, Any], *,
                          ctx: CertContext, keep_status: bool = False) -> CertState:
    """Open a review case (named by the step that opens it) and wait for an agent."""
    case = ReviewCase(case_id=case_id_for(person.person_id, state.version + 1),
                      person_id=person.person_id, region_code=person.region_code,
                      status="open", opened_at=ctx.clock.now(), day=day.isoformat(),
                      channel=channel.value, suspicion=suspicion,
                      previous_status=state.status.value)
    held = replace(state, status=state.status if keep_status else CertStatus.PENDING_REVIEW,
                   history=_with_history(state, {**event, "result": "pending_review",
                                                 "case_id": case.case_id}))
    version = await ctx.repo.step_state(state, held, [ctx.repo.derived_case(case)])
    await ctx.audit.record(actor=event["actor"], action="pension.review_case",
                           object=person.person_id, outcome=str(suspicion["kind"]),
                           case_id=case.case_id)
    return replace(held, version=version)


async def agent_certify(agent: Principal, person_id: str, kind: str, note: str,
                        signer: str | None, *, ctx: CertContext) -> CertState:
    """Home visit or office (no face), or a family member's signed commitment letter."""
    if kind not in ("home_visit", "office", "commitment"):
        raise ValidationFailed("kind is home_visit, office or commitment", field="kind")
    if len(note.strip()) < 4:
        raise ValidationFailed("an evidence note is required", field="note")
    if kind == "commitment" and not (ctx.config.commitment_allowed and signer):
        raise ValidationFailed("a commitment letter names the family member who signed it",
                               field="signer")
    channel = Channel.COMMITMENT if kind == "commitment" else Channel.AGENT
    text = f"{kind}: {note.strip()}" + (f" (承诺人: {signer})" if signer else "")
    return await certify(person_id, ctx.today(), channel, actor=agent.subject, on_behalf=None,
                         ctx=ctx, note=text)


# -- blocks and deaths -------------------------------------------------------------------------


async def block_for_fraud(person: Person, state: CertState, event: dict[str, str], *,
                          ctx: CertContext) -> CertState:
    blocked = replace(state, status=CertStatus.BLOCKED, blocked_for=BLOCKED_FOR_FRAUD,
                      status_before_block=state.status,
                      suspended_from=state.suspended_from or Month.of(ctx.today()).next(),
                      history=_with_history(state, {**event, "result": "blocked"}))
    version = await ctx.repo.step_state(state, blocked)
    return replace(blocked, version=version)


async def record_death(person: Person, day: date, source: str, *, ctx: CertContext) -> str:
    """A recorded death blocks certification and stops payment after the month of death.
    The first death recorded stands; only an agent's review lifts it."""
    state = await current_state(person, ctx, day)
    if state.death_date is not None:
        return "duplicate"
    before = state.status_before_block if state.status is CertStatus.BLOCKED else state.status
    dead = replace(state, status=CertStatus.BLOCKED, blocked_for=BLOCKED_FOR_DEATH,
                   death_date=day, death_source=source, status_before_block=before,
                   history=_with_history(state, {
                       **event_entry(ctx, day, Channel.PASSIVE.value, f"signal:{source}"),
                       "result": "death_recorded"}))
    await ctx.repo.step_state(state, dead)
    await ctx.audit.record(actor=f"signal:{source}", action="pension.death",
                           object=person.person_id, outcome="blocked")
    return "blocked"


async def lift_death(person: Person, state: CertState, event: dict[str, str], *,
                     ctx: CertContext) -> CertState:
    """An agent found the death record wrong: the person is as before it."""
    lifted = replace(state, status=state.status_before_block or CertStatus.CERTIFIED,
                     blocked_for=None, death_date=None, death_source=None,
                     status_before_block=None,
                     history=_with_history(state, {**event, "result": "death_lifted"}))
    version = await ctx.repo.step_state(state, lifted)
    return replace(lifted, version=version)


# -- the daily job: reminders and suspensions ---------------------------------------------------


async def run_cycle(*, ctx: CertContext, today: date | None = None) -> dict[str, int]:
    """Reminders 30, 7 and 1 days ahead; suspension once overdue. Reads only the states
    whose validity ends within the reminder window, a batch at a time. Running it twice
    on one day changes nothing the second time."""
    today = today or ctx.today()
    counts = {"reminded": 0, "suspended": 0, "skipped": 0, "none": 0}
    async for states in ctx.repo.states_due(today + REMINDER_LOOKAHEAD):
        people = await ctx.people.many([s.person_id for s in states])
        for state in states:
            person = people.get(state.person_id)
            if person is None or state.status in (CertStatus.BLOCKED,
                                                  CertStatus.PENDING_REVIEW):
                continue
            try:
                counts[await _cycle_step(person, state, today, ctx=ctx)] += 1
            except PreconditionFailed:
                counts["skipped"] += 1  # changed meanwhile; tomorrow's run looks again
    counts.pop("none", None)
    return counts


async def _cycle_step(person: Person, state: CertState, today: date, *, ctx: CertContext) -> str:
    if state.status_on(today) is CertStatus.OVERDUE_SUSPENDED:
        if state.suspended_from is not None:
            return "none"
        await _suspend(person, state, ctx=ctx)
        return "suspended"
    threshold = state.reminder_due(today)
    if threshold is None:
        return "none"
    await _remind(person, state, threshold, ctx=ctx)
    return "reminded"


async def _suspend(person: Person, state: CertState, *, ctx: CertContext) -> None:
    month = first_suspended_month(state.valid_through)
    suspended = replace(state, status=CertStatus.OVERDUE_SUSPENDED, suspended_from=month,
                        history=_with_history(state, {"at": ctx.clock.now().isoformat(),
                                                      "result": "suspended",
                                                      "month": str(month)}))
    notice = await ctx.notifier.message(
        CERT_OVERDUE, f"overdue:{person.person_id}:{state.valid_through}",
        {"name": person.name, "due_date": state.valid_through.isoformat()},
        person_id=person.person_id, phone=person.phone)
    await ctx.repo.step_state(state, suspended, ctx.notifier.derived(notice))


async def _remind(person: Person, state: CertState, threshold: int, *,
                  ctx: CertContext) -> None:
    key = state.reminder_key(threshold)
    reminded = replace(state, reminders_sent=(*state.reminders_sent[-6:], key),
                       status=CertStatus.DUE_SOON)
    notice = await ctx.notifier.message(
        CERT_DUE_SOON, f"due:{person.person_id}:{key}",
        {"name": person.name, "due_date": state.valid_through.isoformat()},
        person_id=person.person_id, phone=person.phone)
    await ctx.repo.step_state(state, reminded, ctx.notifier.derived(notice))


# -- new pensioners ------------------------------------------------------------------------------


def first_payment_default(today: date) -> date:
    """Without a date from the registry, the first payment is next month's payroll."""
    return Month.of(today).next().first_day()


async def register_new_retiree(person_id: str, first_payment: date | None, *,
                               ctx: CertContext) -> CertState:
    """A new pensioner's first deadline is the last day of the month of the first payment.
    Idempotent: someone who already has a state keeps it."""
    await pensioner(person_id, ctx=ctx)
    first = first_payment or first_payment_default(ctx.today())
    state = CertState(person_id=person_id, valid_through=new_retiree_deadline(first),
                      history=[{"at": ctx.clock.now().isoformat(), "day": first.isoformat(),
                                "channel": Channel.INITIAL.value, "result": "first_deadline"}])
    if not await ctx.repo.create_state(state):
        existing = await ctx.repo.state(person_id)
        assert existing is not None
        return existing
    return state


async def register_new_retirees(arrivals: Sequence[tuple[str, date | None]], *,
                                ctx: CertContext) -> None:
    """``register_new_retiree`` for a batch the caller knows to be pensioners (an import's
    new pensioners), written in one round trip; someone with a state keeps it."""
    at = ctx.clock.now().isoformat()
    states = []
    for person_id, first_payment in arrivals:
        first = first_payment or first_payment_default(ctx.today())
        states.append(CertState(
            person_id=person_id, valid_through=new_retiree_deadline(first),
            history=[{"at": at, "day": first.isoformat(), "channel": Channel.INITIAL.value,
                      "result": "first_deadline"}]))
    await ctx.repo.create_states(states)
