"""A reference model of pension certification and payment, written from the domain rules
(../shared/docs/domain-rules.md §1) and docs/payroll.md, independently of the project's
code: it imports nothing from the project.

It is a plain function of the events, in the order the system learns them: who is
registered, who certifies on which day and how, deaths, daily jobs and payroll runs.
It answers what each person is paid in each month that has been run, and which
reminders and notices they must have had.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

REMINDER_DAYS = (30, 7, 1)
BAOTOU_SIX_MONTHS_FROM = date(2025, 4, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def valid_through(certified: date, months: int) -> date:
    """Valid through the day before C + L months (a missing day is the month's last)."""
    return add_months(certified, months) - timedelta(days=1)


def age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def month_of(day: date) -> tuple[int, int]:
    return (day.year, day.month)


def next_month(month: tuple[int, int]) -> tuple[int, int]:
    year, m = month
    return (year + m // 12, m % 12 + 1)


def first_day(month: tuple[int, int]) -> date:
    return date(month[0], month[1], 1)


def last_day(month: tuple[int, int]) -> date:
    return date(month[0], month[1], calendar.monthrange(*month)[1])


@dataclass
class Person:
    region: str
    survivor: bool
    born: date
    lives_outside: bool
    amount: int
    prison: list[tuple[date, date]]
    vt: date
    last_certified: date | None = None
    death: date | None = None
    death_reports: set[str] = field(default_factory=set)  # each report counts once
    open_cases: list[date] = field(default_factory=list)  # proof of life after death
    owed: list[tuple[tuple[int, int], int]] = field(default_factory=list)
    lines: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)
    reminders: dict[date, set[int]] = field(default_factory=dict)  # deadline -> thresholds
    overdue_notices: set[date] = field(default_factory=set)
    suspended_for: date | None = None  # the deadline whose lapse was made durable
    certifications: int = 0

    def cycle_months(self, on: date) -> int:
        """12 months locally, 6 when living outside the region, 6 in Baotou from
        2025-04-01, and every month for survivors aged 18 and over."""
        months = 12
        if self.lives_outside:
            months = 6
        if self.region.startswith("1502") and on >= BAOTOU_SIX_MONTHS_FROM:
            months = 6
        if self.survivor and age(self.born, on) >= 18:
            months = 1
        return months

    def in_prison(self, month: tuple[int, int]) -> bool:
        return any(start <= last_day(month) and end >= first_day(month)
                   for start, end in self.prison)


class Model:
    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self.runs: list[tuple[int, int]] = []

    # -- registry --------------------------------------------------------------------

    def register(self, key: str, person: Person, today: date) -> None:
        """A new pensioner: the first payment is next month's, so the first deadline is
        the last day of next month."""
        person.vt = last_day(next_month(month_of(today)))
        self.people[key] = person

    # -- certification ----------------------------------------------------------------

    def can_certify(self, key: str) -> bool:
        return self.people[key].death is None

    def certify(self, key: str, day: date) -> bool:
        """A certification on ``day`` starts a new cycle there. Refused after a death."""
        p = self.people[key]
        if p.death is not None:
            return False
        if p.last_certified is not None and day < p.last_certified:
            return True
        p.vt = valid_through(day, p.cycle_months(day))
        p.last_certified = day
        p.suspended_for = None
        p.certifications += 1
        return True

    def proof_of_life(self, key: str, day: date) -> str:
        """Data held elsewhere shows the person alive on ``day``."""
        p = self.people[key]
        if p.death is not None:
            if day > p.death:
                p.open_cases.append(day)
                return "held_for_review"
            return "ignored"
        if p.last_certified is not None and day <= p.last_certified:
            return "ignored"
        self.certify(key, day)
        return "certified"

    def death(self, key: str, day: date, record: str) -> str:
        """A death recorded from a report; the same report twice is one report."""
        p = self.people[key]
        if record in p.death_reports:
            return "duplicate"
        p.death_reports.add(record)
        if p.death is not None:
            return "duplicate"
        p.death = day
        return "blocked"

    def clear_case(self, key: str, day: date) -> None:
        """An agent finds the death record wrong: it is lifted, and the proof of life on
        ``day`` certifies (unless a later certification exists)."""
        p = self.people[key]
        p.open_cases.remove(day)
        p.death = None
        if p.last_certified is None or day >= p.last_certified:
            self.certify(key, day)

    # -- the daily job ----------------------------------------------------------------------

    def daily(self, today: date) -> None:
        """Reminders 30, 7 and 1 days before the deadline (only the most urgent one reached
        that was not sent yet); once overdue, one overdue notice."""
        for p in self.people.values():
            if p.death is not None:
                continue
            days_left = (p.vt - today).days
            if days_left < 0:
                if p.suspended_for != p.vt:
                    p.suspended_for = p.vt
                    p.overdue_notices.add(p.vt)
                continue
            reached = [d for d in REMINDER_DAYS if days_left <= d]
            if reached:
                p.reminders.setdefault(p.vt, set()).add(min(reached))

    # -- payroll ---------------------------------------------------------------------------

    def can_run(self, month: tuple[int, int], today: date) -> bool:
        """A month already run can always be exported again. A new one is run at most one
        month ahead, and never before a month already run."""
        if month in self.runs:
            return True
        return (month <= next_month(month_of(today))
                and not any(run > month for run in self.runs))

    def run_payroll(self, month: tuple[int, int]) -> None:
        """Each pensioner is paid, withheld or stopped for ``month``, once."""
        if month in self.runs:
            return
        self.runs.append(month)
        begins = first_day(month)
        for p in self.people.values():
            if p.death is not None and p.death < begins:
                p.lines[month] = ("stopped", 0)
                p.owed = []
            elif p.vt < begins:
                p.lines[month] = ("withheld", 0)
                p.owed.append((month, p.amount))
            else:
                back = sum(fen for owed_month, fen in p.owed if not p.in_prison(owed_month))
                p.lines[month] = ("paid", p.amount + back)
                p.owed = []
