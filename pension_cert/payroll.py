"""The monthly payroll run and its export, and the payment status people see.

``payroll-export M`` runs month M once: every pensioner gets one line (paid, withheld
or stopped; see ``payroll_model``), stored under ``payroll:<person>:<month>``. A
second export of the month, or one after a crash part-way, finishes what is missing
and prints the stored lines: the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auth.model import Principal
from common.errors import NotFound, ValidationFailed
from pension_cert.context import CertContext
from pension_cert.model import Month, PaymentStatus, months_between, payment_status
from pension_cert.payroll_model import (
    PAID,
    STOPPED,
    WITHHELD,
    Owed,
    PayrollLine,
    RaiseArrears,
    payroll_line,
)
from people.model import Person

PAYROLL_COLUMNS = ("person_id", "month", "status", "monthly_fen", "regular_fen",
                   "backpay_months", "backpay_fen", "total_fen", "reason")


async def run_payroll(month: Month, *, ctx: CertContext) -> list[PayrollLine]:
    """Decide ``month`` for every pensioner not decided yet; return the month's lines."""
    run = await ctx.payroll.run_of(month)
    if run is None and month > Month.of(ctx.today()).next():
        raise ValidationFailed("a payroll month can be run at most one month ahead",
                               field="month")
    if run is None and await ctx.payroll.run_after_exists(month):
        raise ValidationFailed("a later month has been run already; months run in order",
                               field="month")
    if run is None or not run.finished:
        previous = await ctx.payroll.last_run_before(month)
        run = await ctx.payroll.start_run(month, previous, ctx.clock.now())
        lines = await _decide(month, run.previous, ctx=ctx)
        await ctx.payroll.finish_run(month, lines, ctx.clock.now())
    return await ctx.payroll.lines_of(month)


async def _decide(month: Month, previous: Month | None, *, ctx: CertContext) -> int:
    total = 0
    raises = await ctx.payroll.pending_raises()
    async for states in ctx.repo.all_states():
        ids = [s.person_id for s in states]
        people = await ctx.people.many(ids)
        decided = await ctx.payroll.lines_for(ids, month)
        before = await ctx.payroll.lines_for(ids, previous) if previous else {}
        lines = []
        settled = [r for line in decided.values() for r in line.raises_settled]
        for state in states:
            person = people.get(state.person_id)
            if person is None or not _paid_a_pension(person):
                continue
            total += 1
            if state.person_id not in decided:
                last = before.get(state.person_id)
                owed = last.owed if last else ()
                pending = [r for r in raises.get(state.person_id, [])
                           if not last or r["raise_id"] not in last.raises_settled]
                settled += [r["raise_id"] for r in raises.get(state.person_id, [])
                            if r not in pending]
                owed, arrears = await _raised(person.person_id, month, owed, pending, ctx=ctx)
                lines.append(payroll_line(person, state, month, owed, arrears))
        await ctx.payroll.add_lines(lines)
        await ctx.payroll.settle_raises(
            settled + [r for line in lines for r in line.raises_settled])
    return total


async def _raised(person_id: str, month: Month, owed: Sequence[Owed],
                  raises: Sequence[dict[str, Any]], *, ctx: CertContext
                  ) -> tuple[tuple[Owed, ...], list[RaiseArrears]]:
    """Apply raises imported after months from their effective month were run: months
    still owed are owed at the new amount, and months paid at the old amount are owed the
    difference (paid with the next paid month)."""
    arrears = []
    for found in raises:
        effective, new_fen = found["effective"], int(found["new_fen"])
        owed = tuple(Owed(o.month, max(o.fen, new_fen)) if o.month >= effective else o
                     for o in owed)
        past = months_between(effective, _previous(month)) if effective < month else []
        lines = await ctx.payroll.person_lines(person_id, past)
        paid_at = {}  # month -> the amount it was paid at (itself, or later as back pay)
        for line in lines.values():
            if line.status == PAID:
                paid_at[line.month] = line.monthly_fen
                paid_at.update({m: lines[m].monthly_fen for m in line.backpay_months
                                if m in lines})
        differences = tuple(Owed(m, new_fen - fen) for m, fen in sorted(paid_at.items())
                            if fen < new_fen)
        arrears.append(RaiseArrears(str(found["raise_id"]), differences))
    return tuple(owed), arrears


def _previous(month: Month) -> Month:
    return Month(month.year - 1, 12) if month.month == 1 else Month(month.year, month.month - 1)


def _paid_a_pension(person: Person) -> bool:
    return person.is_pensioner and person.monthly_pension_fen is not None


async def payroll_rows(month: Month, *, ctx: CertContext) -> list[list[str]]:
    """The month's lines for the payment system, with control totals last."""
    lines = await run_payroll(month, ctx=ctx)
    rows = [list(PAYROLL_COLUMNS)]
    counts = {PAID: 0, WITHHELD: 0, STOPPED: 0}
    for line in lines:
        counts[line.status] += 1
        rows.append([line.person_id, str(line.month), line.status, str(line.monthly_fen),
                     str(line.regular_fen), ";".join(str(m) for m in line.backpay_months),
                     str(line.backpay_fen), str(line.total_fen), line.reason.get("code", "")])
    rows.append(["TOTAL", f"paid={counts[PAID]}", f"withheld={counts[WITHHELD]}",
                 f"stopped={counts[STOPPED]}", f"rows={len(lines)}",
                 "", str(sum(line.backpay_fen for line in lines)),
                 str(sum(line.total_fen for line in lines)), ""])
    return rows


async def person_payment(person_id: str, *, ctx: CertContext) -> tuple[Person, PaymentStatus]:
    """The registry person and the payment status the system decided for them."""
    person = await ctx.people.get(person_id)
    if person is None:
        raise NotFound(person_id)
    return person, payment_status(person, await ctx.repo.state(person_id), ctx.today())


async def person_record(viewer: Principal, person_id: str, *, on_behalf: str | None,
                        client_ip: str, ctx: CertContext) -> tuple[Person, PaymentStatus]:
    """A person's basic record for whoever may see it; every look-up by someone other
    than the person (an agent, family) is audited."""
    person, status = await person_payment(person_id, ctx=ctx)
    if viewer.person_id != person_id:
        await ctx.audit.record(actor=viewer.subject, action="person.read", object=person_id,
                               outcome="ok", client_ip=client_ip, on_behalf_of=on_behalf)
    return person, status
