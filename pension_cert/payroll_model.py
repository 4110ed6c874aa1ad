"""The monthly payroll run as a pure rule: what one pensioner is paid in one month.

A month's payroll is decided once, when the month is run (``payroll-export``): each
pensioner gets one line, stored with the ``_id`` ``payroll:<person>:<month>``, so a
second run of the same month writes nothing and prints the same file. What the
system learns after a month was run is settled in the next run: a certification
after a suspension pays back, in the next month that is paid, every month withheld
in between (domain rules §1), less the months touched by a prison period.

- **stopped**: the recorded death lies before the month begins (the month of death
  is still paid). Nothing is paid, now or later.
- **withheld**: nobody certified by the end of ``valid_through``, so the month began
  after it; or the person is blocked pending fraud review. The month is owed and is
  paid back once the person is paid again.
- **paid**: the month's pension, plus every month still owed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pension_cert.model import BLOCKED_FOR_DEATH, CertState, CertStatus, Month, in_prison
from people.model import Person

PAID = "paid"
WITHHELD = "withheld"
STOPPED = "stopped"


@dataclass(frozen=True)
class Owed:
    """A withheld month waiting to be paid back, at the amount it would have paid."""

    month: Month
    fen: int


@dataclass(frozen=True)
class PayrollLine:
    person_id: str
    month: Month
    status: str
    monthly_fen: int
    region_code: str
    regular_fen: int = 0
    backpay_months: tuple[Month, ...] = ()
    backpay_fen: int = 0
    excluded_prison_months: tuple[Month, ...] = ()
    owed: tuple[Owed, ...] = ()  # still owed after this month
    reason: dict[str, str] = field(default_factory=dict)
    # An annual raise imported after months at the old amount were paid: the difference
    # for those months, paid with this month (调待补差).
    raise_months: tuple[Month, ...] = ()
    raise_fen: int = 0
    raises_settled: tuple[str, ...] = ()  # the raise records this line paid

    @property
    def total_fen(self) -> int:
        return self.regular_fen + self.backpay_fen + self.raise_fen


@dataclass(frozen=True)
class PayrollRun:
    """A month's run: started once, finished once every pensioner has a line."""

    month: Month
    started_at: datetime
    previous: Month | None  # the month run before this one: what was still owed then
    finished_at: datetime | None = None
    lines: int | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True)
class RaiseArrears:
    """What a raise still owes for months already paid at the old amount."""

    raise_id: str
    months: tuple[Owed, ...]  # each month and the difference owed for it

    @property
    def fen(self) -> int:
        return sum(o.fen for o in self.months)


def payroll_line(person: Person, state: CertState, month: Month,
                 owed_before: Sequence[Owed],
                 arrears: Sequence[RaiseArrears] = ()) -> PayrollLine:
    """One pensioner's line for ``month``, given what was still owed after the last run,
    and the differences raises owe for months paid before they were known (paid only
    with a paid month; until then they wait)."""
    line = _base_line(person, state, month, owed_before)
    if line.status != PAID or not arrears:
        return line
    months = tuple(o.month for a in arrears for o in a.months)
    return replace(line, raise_months=months, raise_fen=sum(a.fen for a in arrears),
                   raises_settled=tuple(a.raise_id for a in arrears))


def _base_line(person: Person, state: CertState, month: Month,
               owed_before: Sequence[Owed]) -> PayrollLine:
    fen = person.monthly_pension_fen or 0
    blank = PayrollLine(person_id=person.person_id, month=month, status=WITHHELD,
                        monthly_fen=fen, region_code=person.region_code)
    begins = month.first_day()
    if state.death_date is not None and state.death_date < begins:
        return replace(blank, status=STOPPED, reason={
            "code": "death", "death_date": state.death_date.isoformat()})
    owed = (*owed_before, Owed(month, fen))
    if state.status is CertStatus.BLOCKED and state.blocked_for != BLOCKED_FOR_DEATH:
        return replace(blank, owed=owed, reason={"code": "blocked"})
    if state.valid_through < begins:
        return replace(blank, owed=owed, reason={
            "code": "overdue", "valid_through": state.valid_through.isoformat()})
    excluded = tuple(o.month for o in owed_before if in_prison(o.month, person.prison_periods))
    back = tuple(o for o in owed_before if o.month not in excluded)
    return replace(blank, status=PAID, regular_fen=fen,
                   backpay_months=tuple(o.month for o in back),
                   backpay_fen=sum(o.fen for o in back), excluded_prison_months=excluded,
                   reason={"code": "resumed" if owed_before else "regular"})
