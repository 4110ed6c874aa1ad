"""Home-visit bookings: booked by the pensioner or a family member (pension permission),
queued for the agents of the pensioner's league, closed by the visit's outcome. A visit
that certifies goes through the same certification as an agent's home visit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from auth.access import covers, region_prefix
from auth.model import Forbidden, Principal, Role
from common.slots import Position
from pension_cert.context import CertContext, pensioner
from pension_cert.cycle import agent_certify
from pension_cert.visit_model import (
    HomeVisit,
    VisitAlreadyBooked,
    VisitNotFound,
    VisitResult,
    VisitStatus,
    check_request,
)

PAGE = 20


async def book_visit(actor: Principal, person_id: str, seed: str, *,
                     preferred_dates: list[date], address: str, phone: str,
                     ctx: CertContext) -> HomeVisit:
    """Book a visit (the booking's id comes from ``seed``: a retry finds it). A person
    with an open booking keeps it: a second one is refused, naming the first."""
    booking_id = "V" + seed[:20].upper()
    found = await ctx.visits.get(booking_id)
    if found is not None:
        return found
    person = await pensioner(person_id, ctx=ctx)
    check_request(preferred_dates, address, phone, ctx.today())
    visit = HomeVisit(
        booking_id=booking_id, person_id=person_id, region_code=person.region_code,
        preferred_dates=tuple(sorted(preferred_dates)), address=address.strip(),
        phone=phone.strip(), booked_by=actor.subject, created_at=ctx.clock.now(),
        history=[{"at": ctx.clock.now().isoformat(), "event": "booked", "by": actor.subject}])
    held = await ctx.visits.add(visit)
    if held != booking_id:
        raise VisitAlreadyBooked("this person already has an open home-visit booking",
                                 booking_id=held)
    await ctx.audit.record(actor=actor.subject, action="home_visit.book", object=person_id,
                           outcome=booking_id)
    return visit


async def open_visit_of(person_id: str, *, ctx: CertContext) -> HomeVisit | None:
    return await ctx.visits.open_of(person_id)


async def get_visit(booking_id: str, *, ctx: CertContext) -> HomeVisit:
    visit = await ctx.visits.get(booking_id)
    if visit is None:
        raise VisitNotFound(booking_id)
    return visit


async def visit_queue(agent: Principal, *, status: VisitStatus | None, after: str | None,
                      limit: int = PAGE, ctx: CertContext
                      ) -> tuple[list[HomeVisit], str | None]:
    """The bookings of the agent's regions, newest first, a page at a time."""
    if agent.role not in (Role.AGENT, Role.ADMIN):
        raise Forbidden("agents read the home-visit queue")
    prefixes = None if agent.role is Role.ADMIN else sorted(
        region_prefix(r) for r in agent.regions)
    found, more = await ctx.visits.queue(
        region_prefixes=prefixes, status=status, now=ctx.clock.now(), limit=limit,
        after=Position.decode(after) if after else None)
    await ctx.audit.record(actor=agent.subject, action="home_visit.queue", object="-",
                           outcome=str(len(found)))
    return found, more.encode() if more else None


async def close_visit(agent: Principal, visit: HomeVisit, result: VisitResult, note: str, *,
                      ctx: CertContext) -> HomeVisit:
    """The visit's outcome, at the version the agent saw (claimed first); a visit that
    certified then certifies the person as an agent's home visit."""
    if agent.role not in (Role.AGENT, Role.ADMIN) or (
            agent.role is Role.AGENT and not covers(agent.regions, visit.region_code)):
        raise VisitNotFound(visit.booking_id)
    if visit.status is not VisitStatus.OPEN:
        return await _finish(agent, visit, ctx)  # a retry after the claim: complete it
    closed = replace(visit, status=VisitStatus.DONE, result=result, note=note.strip(),
                     closed_by=agent.subject, closed_on=ctx.today(), version=visit.version + 1,
                     history=[*visit.history, {"at": ctx.clock.now().isoformat(),
                                               "event": result.value, "by": agent.subject}])
    await ctx.visits.step(visit, closed)
    await ctx.audit.record(actor=agent.subject, action="home_visit.close",
                           object=visit.person_id, outcome=result.value)
    return await _finish(agent, closed, ctx)


async def _finish(agent: Principal, visit: HomeVisit, ctx: CertContext) -> HomeVisit:
    if visit.result is VisitResult.CERTIFIED and visit.closed_on is not None:
        state = await ctx.repo.state(visit.person_id)
        if state is None or state.last_certified_on != visit.closed_on:
            await agent_certify(agent, visit.person_id, "home_visit",
                                visit.note or f"上门认证 {visit.booking_id}", None, ctx=ctx)
    return visit
