"""The agents' queues and the audit trail.

The review-case queue and the filing queue ask their domains for the agent's regions and
the status wanted, a page at a time from a cursor; nothing is fetched province-wide and
filtered afterwards. Admins read the whole audit trail by agent, person, action and
dates, and export it as CSV; an agent reads their own trail only.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from auth.model import Principal, Role
from common.audit import AuditEntry, AuditFilter
from common.clock import SHANGHAI
from common.pagination import Cursor
from console.context import ConsoleContext
from console.model import (
    CSV_COLUMNS,
    EXPORT_AT_MOST,
    AuditQuery,
    csv_cell,
    narrowed,
    require_agent,
)
from medical_insurance import queries as filing_queries
from medical_insurance.model import Filing, Status
from pension_cert import review
from pension_cert.model import ReviewCase
from people.model import Person


@dataclass(frozen=True)
class CasePage:
    cases: list[tuple[ReviewCase, Person | None]]
    next_cursor: str | None


@dataclass(frozen=True)
class FilingQueuePage:
    filings: list[tuple[Filing, Person | None]]
    next_cursor: str | None


async def _people(ctx: ConsoleContext, person_ids: Sequence[str]) -> list[Person | None]:
    return list(await asyncio.gather(*[ctx.people.get(pid) for pid in person_ids]))


async def case_queue(agent: Principal, *, status: str | None, region: str | None,
                     after: str | None, limit: int, client_ip: str | None,
                     ctx: ConsoleContext) -> CasePage:
    """Review cases of the agent's regions (or one region within them), oldest first."""
    require_agent(agent)
    start = Cursor.decode(after, "after") if after else None
    cases, more = await review.case_queue(
        narrowed(agent, region), status=status or None, limit=limit, ctx=ctx.cert,
        after=(start.at, start.record_id) if start else None)
    people = await _people(ctx, [c.person_id for c in cases])
    await ctx.audit.record(actor=agent.subject, action="console.case_queue", object="-",
                           outcome=str(len(cases)), client_ip=client_ip,
                           status=status or "any", region=region or "-")
    last = cases[-1] if cases and more else None
    return CasePage(list(zip(cases, people, strict=True)),
                    Cursor(last.opened_at, last.case_id).encode() if last else None)


async def filing_queue(agent: Principal, *, status: Status | None, region: str | None,
                       after: str | None, limit: int, client_ip: str | None,
                       ctx: ConsoleContext) -> FilingQueuePage:
    """Filings of the agent's regions (or one region within them), newest first, through
    the filing domain's own search (region lists by day, cursor pagination)."""
    require_agent(agent)
    page = await filing_queries.search_filings(
        narrowed(agent, region), person_id=None, status=status, since=None, until=None,
        client_ip=client_ip, after=after, limit=limit, ctx=ctx.filings)
    people = await _people(ctx, [f.person_id for f in page.filings])
    await ctx.audit.record(actor=agent.subject, action="console.filing_queue", object="-",
                           outcome=str(len(page.filings)), client_ip=client_ip,
                           status=status.value if status else "any", region=region or "-")
    return FilingQueuePage(list(zip(page.filings, people, strict=True)), page.next_cursor)


async def _filter(agent: Principal, query: AuditQuery, *, ctx: ConsoleContext) -> AuditFilter:
    """Admins filter freely; an agent's filter always names themselves."""
    require_agent(agent)
    actor = query.actor or None
    if agent.role is not Role.ADMIN:
        actor = agent.subject
    elif actor and not actor.startswith("A"):
        account = await ctx.auth.repo.account_by_username(actor)
        actor = account.account_id if account else actor
    return AuditFilter(
        actor=actor, person=query.person or None, action=query.action or None,
        since=_day_start(query.since) if query.since else None,
        until=_day_start(query.until + timedelta(days=1)) if query.until else None)


def _day_start(day: object) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


async def audit_trail(agent: Principal, query: AuditQuery, *, client_ip: str | None,
                      ctx: ConsoleContext) -> AuditPage:
    where = await _filter(agent, query, ctx=ctx)
    start = Cursor.decode(query.after, "after") if query.after else None
    entries, more = await ctx.audit.page(where, after=start, limit=query.limit)
    await ctx.audit.record(actor=agent.subject, action="console.audit_read",
                           object=where.actor or "-", outcome=str(len(entries)),
                           client_ip=client_ip, person=where.person or "-")
    return AuditPage(entries, more.encode() if more else None)


async def audit_csv(agent: Principal, query: AuditQuery, *, client_ip: str | None,
                    ctx: ConsoleContext) -> str:
    """The filtered trail as CSV (UTF-8 with a BOM, so spreadsheets read the Chinese),
    newest first, at most EXPORT_AT_MOST rows."""
    where = await _filter(agent, query, ctx=ctx)
    rows = [entry async for entry in _every(ctx, where)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in rows:
        detail = ";".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
        writer.writerow([csv_cell(v) for v in (
            e.at.isoformat(), e.actor, e.action, e.object, e.person_id or "", e.outcome,
            e.client_ip or "", e.on_behalf_of or "", detail)])
    await ctx.audit.record(actor=agent.subject, action="console.audit_export",
                           object=where.actor or "-", outcome=str(len(rows)),
                           client_ip=client_ip, person=where.person or "-")
    return "\ufeff" + buffer.getvalue()


def _every(ctx: ConsoleContext, where: AuditFilter) -> AsyncIterator[AuditEntry]:
    return ctx.audit.every(where, at_most=EXPORT_AT_MOST)
