"""Agents' review of suspicious certifications: a face closer to another pensioner's
reference, and proof of life that arrives after a recorded death.

A decision is claimed first (``case:<id>:decided``), so two agents deciding at once
cannot both act; only the holder of that claim changes the person's state.
"""

from __future__ import annotations

from datetime import date, datetime

from auth.access import covers, region_prefix
from auth.model import Principal, Role
from common.clock import as_utc
from common.errors import ValidationFailed
from common.versioning import STEP_LEASE
from pension_cert.context import CertContext, pensioner
from pension_cert.cycle import apply_certification, block_for_fraud, event_entry, lift_death
from pension_cert.model import CaseAlreadyDecided, CaseNotFound, CertState, ReviewCase

LIFE_AFTER_DEATH = "life_after_death"
# What an agent may decide, by the kind of suspicion.
DECISIONS = {
    "face_matches_other": ("clear", "fraud"),
    "certified_after_death": ("clear", "fraud"),
    LIFE_AFTER_DEATH: ("clear", "confirm"),  # clear: the death record was wrong
}


async def open_cases(agent: Principal, *, ctx: CertContext) -> list[ReviewCase]:
    cases = await ctx.repo.open_cases()
    return [c for c in cases if agent.role is Role.ADMIN or covers(agent.regions, c.region_code)]


async def case_queue(agent: Principal, *, status: str | None, after: tuple[datetime, str] | None,
                     limit: int, ctx: CertContext) -> tuple[list[ReviewCase], bool]:
    """The agent's regions' cases in ``status``, oldest first, a page at a time (the
    region and status are the query; nothing is filtered afterwards); and whether more
    follow."""
    prefixes = None if agent.role is Role.ADMIN else sorted(
        region_prefix(region) for region in agent.regions)
    found = await ctx.repo.cases_page(region_prefixes=prefixes, status=status, after=after,
                                      limit=limit + 1)
    return found[:limit], len(found) > limit


async def case_of(case_id: str, *, agent: Principal, ctx: CertContext) -> ReviewCase:
    """One case of the agent's regions; another region's case is not found."""
    case = await ctx.repo.case(case_id)
    if case is None or (agent.role is not Role.ADMIN
                        and not covers(agent.regions, case.region_code)):
        raise CaseNotFound(case_id)
    return case


async def decide_case(case_id: str, decision: str, *, agent: Principal,
                      ctx: CertContext) -> CertState:
    """clear: certify as of the case's day (lifting a wrong death record first).
    fraud: block. confirm: the death stands."""
    case = await ctx.repo.case(case_id)
    if case is None or (agent.role is not Role.ADMIN
                        and not covers(agent.regions, case.region_code)):
        raise CaseNotFound(case_id)
    allowed = DECISIONS.get(str(case.suspicion.get("kind")), ("clear", "fraud"))
    if decision not in allowed:
        raise ValidationFailed(f"decision is {' or '.join(allowed)}", field="decision")
    decision = await _claim_decision(case, decision, agent, ctx=ctx)
    person = await pensioner(case.person_id, ctx=ctx)
    state = await ctx.repo.state(person.person_id)
    assert state is not None
    event = {**event_entry(ctx, date.fromisoformat(case.day), case.channel, agent.subject),
             "note": f"review {case_id}: {decision}"}
    if decision == "fraud":
        state = await block_for_fraud(person, state, event, ctx=ctx)
    elif decision == "clear":
        if state.death_date is not None:
            state = await lift_death(person, state, event, ctx=ctx)
        day = date.fromisoformat(case.day)
        # A later certification may have happened meanwhile; an older day changes nothing.
        if state.last_certified_on is None or day >= state.last_certified_on:
            state = await apply_certification(person, state, day, event, ctx=ctx)
    await ctx.repo.mark_case(case_id, decision, agent.subject, ctx.clock.now())
    await ctx.audit.record(actor=agent.subject, action="pension.review_decision",
                           object=case_id, outcome=decision)
    return await ctx.repo.state(person.person_id) or state


async def _claim_decision(case: ReviewCase, decision: str, agent: Principal, *,
                          ctx: CertContext) -> str:
    """Take the case's decision claim; finish the decision of an agent whose request
    died after claiming it. Returns the decision to carry out."""
    key = f"case:{case.case_id}:decided"
    if case.status == "open" and await ctx.guard.claim(key, decision=decision,
                                                       owner=agent.subject):
        return decision
    holder = await ctx.guard.holder(key)
    if (case.status == "open" and holder is not None
            and as_utc(holder["claimed_at"]) + STEP_LEASE <= ctx.clock.now()):
        return str(holder["decision"])  # abandoned mid-way: carry the first decision out
    raise CaseAlreadyDecided("this case has been decided", decision=case.status)
