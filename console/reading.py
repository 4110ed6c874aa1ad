"""Finding the caller and seeing their records: the search, the one-screen overview and the
agent's own session. Every call is audited; someone outside the agent's regions is not
found (a search answers "no match", an overview 404)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auth.access import covers
from auth.model import Account, FamilyLink, Principal, Role, Session
from console.context import ConsoleContext
from console.model import SEARCH_LIMIT, Search, leagues_of, require_agent
from medical_insurance import queries as filing_queries
from medical_insurance.model import Filing
from notifications import service as notices
from notifications.model import OutboxMessage
from pension_cert import review
from pension_cert import service as cert
from pension_cert.check_model import Attempt
from pension_cert.model import CaseNotFound, CertState, ReviewCase
from people.model import Person, PersonNotFound
from social_card import service as cards
from social_card.model import Card

NOTIFICATIONS_SHOWN = 10
ATTEMPTS_SHOWN = 5
SIGNALS_SHOWN = 10


def in_scope(agent: Principal, person: Person | None) -> bool:
    return person is not None and (agent.role is Role.ADMIN
                                   or covers(agent.regions, person.region_code))


async def person_in_scope(agent: Principal, person_id: str, *, ctx: ConsoleContext) -> Person:
    """The person if the agent may see them; otherwise the same 404 as nobody."""
    require_agent(agent)
    person = await ctx.people.get(person_id)
    if person is None or not in_scope(agent, person):
        raise PersonNotFound(person_id)
    return person


@dataclass(frozen=True)
class Found:
    people: list[Person]
    more: bool  # more than SEARCH_LIMIT matched: narrow the search


async def search_callers(agent: Principal, search: Search, *, client_ip: str | None,
                         ctx: ConsoleContext) -> Found:
    """By ID number, phone, or name with birth year, among the agent's regions only, with
    ``_id`` lookups alone (people/lookups.py): at most SEARCH_LIMIT people."""
    require_agent(agent)
    if search.kind == "id_number":
        assert search.id_number is not None
        person = await ctx.people.find_by_id_number(search.id_number)
        candidates = [person] if person is not None else []
    else:
        if search.kind == "phone":
            assert search.phone is not None
            ids = await ctx.people.lookups.by_phone(search.phone)
        else:
            assert search.name is not None
            assert search.birth_year is not None
            ids = await ctx.people.lookups.by_name(search.name, search.birth_year,
                                                   leagues_of(agent))
        found = await asyncio.gather(*[ctx.people.get(pid) for pid in ids])
        # Entries are never rewritten: keep only people who still match.
        candidates = [p for p in found if p is not None and _matches(p, search)]
    mine = [p for p in candidates if in_scope(agent, p)]
    await ctx.audit.record(actor=agent.subject, action="console.search", object="-",
                           outcome=str(min(len(mine), SEARCH_LIMIT)), client_ip=client_ip,
                           kind=search.kind, query=search.described())
    return Found(mine[:SEARCH_LIMIT], len(mine) > SEARCH_LIMIT)


def _matches(person: Person, search: Search) -> bool:
    if search.kind == "phone":
        return person.phone == search.phone
    return person.name == search.name and person.birth_date.year == search.birth_year


@dataclass(frozen=True)
class Overview:
    """Everything an agent needs about a caller, as records (the HTTP layer masks)."""

    person: Person
    today: date
    cert_state: CertState | None
    cert_status: str
    attempts: list[Attempt]
    signals: list[dict[str, str]]
    cases: list[ReviewCase]
    filings: list[Filing]
    cards: list[Card]
    notifications: list[OutboxMessage]
    family: list[FamilyLink]
    account_id: str | None = None  # the person's own app account, if bound
    extra: dict[str, Any] = field(default_factory=dict)


async def overview(agent: Principal, person_id: str, *, client_ip: str | None,
                   ctx: ConsoleContext) -> Overview:
    person = await person_in_scope(agent, person_id, ctx=ctx)
    (state, attempts), filings, owned, messages, account_id = await asyncio.gather(
        cert.status_of(person_id, ctx=ctx.cert),
        filing_queries.filings_of(person_id, ctx=ctx.filings),
        cards.cards_of(person_id, ctx=ctx.cards),
        notices.inbox_of(person_id, ctx=ctx.inbox),
        ctx.auth.repo.identity_owner(f"person:{person_id}"))
    today = ctx.today()
    history = state.history if state else []
    case_ids = list(dict.fromkeys(h["case_id"] for h in history if h.get("case_id")))
    cases = await asyncio.gather(*[_case(c, agent, ctx) for c in case_ids])
    await ctx.audit.record(actor=agent.subject, action="console.overview", object=person_id,
                           outcome="ok", client_ip=client_ip, person_id=person_id)
    return Overview(
        person=person, today=today, cert_state=state,
        cert_status=state.status_on(today).value if state else "not_started",
        attempts=attempts[:ATTEMPTS_SHOWN],
        signals=[h for h in history if h.get("channel") == "passive"][-SIGNALS_SHOWN:][::-1],
        cases=[c for c in cases if c is not None and c.status == "open"], filings=filings,
        cards=owned,
        notifications=messages[:NOTIFICATIONS_SHOWN],
        family=await _family(person_id, account_id, ctx=ctx), account_id=account_id)


async def _case(case_id: str, agent: Principal, ctx: ConsoleContext) -> ReviewCase | None:
    try:
        return await review.case_of(case_id, agent=agent, ctx=ctx.cert)
    except CaseNotFound:
        return None  # named in the history, since gone: nothing to show


async def _family(person_id: str, account_id: str | None, *,
                  ctx: ConsoleContext) -> list[FamilyLink]:
    """Links the person granted, and those where they act for someone else."""
    granted = await ctx.auth.family.of_person(person_id)
    acting = await ctx.auth.family.of_account(account_id) if account_id else []
    unique = {link.link_id: link for link in [*granted, *acting]}
    return sorted(unique.values(), key=lambda link: link.created_at, reverse=True)


def cert_version(state: CertState | None) -> int:
    """The ETag of a person's certification: 0 until they have a state."""
    return state.version if state else 0


@dataclass(frozen=True)
class Me:
    account: Account
    session: Session | None
    now: datetime


async def me(agent: Principal, *, ctx: ConsoleContext) -> Me:
    """The agent's account and session (its idle and absolute ends), as of now."""
    require_agent(agent)
    account = agent.account or await ctx.auth.repo.account(agent.subject)
    if account is None:
        raise PersonNotFound(agent.subject)
    session = await ctx.auth.repo.session(agent.session_id) if agent.session_id else None
    return Me(account, session, ctx.clock.now())
