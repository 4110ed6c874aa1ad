"""The rolling certification cycle, suspension and back pay: the arithmetic of domain
rules §1, as pure functions of dates. No I/O.

"Day" and "month" are Asia/Shanghai calendar days and months; callers pass local dates.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from common.errors import Conflict, NotFound, ValidationFailed
from people.model import Person, PersonType, PrisonPeriod


@dataclass(frozen=True, order=True)
class Month:
    """A payroll month."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            year, month = (int(part) for part in text.split("-"))
            first = date(year, month, 1)
        except ValueError:
            raise ValidationFailed("a month looks like 2026-04", field="month") from None
        return cls.of(first)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last``, both included."""
    months = []
    current = first
    while current <= last:
        months.append(current)
        current = current.next()
    return months


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; a day the target month lacks becomes its last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def valid_through(certified_on: date, cycle_months: int) -> date:
    """A certification on C with a cycle of L months is valid through the day before C + L.

    2025-03-15, 12 -> 2026-03-14; 2025-08-31, 6 -> 2026-02-27; 2025-01-31, 1 -> 2025-02-27.
    """
    if cycle_months < 1:
        raise ValueError("a cycle is at least one month")
    return add_months(certified_on, cycle_months) - timedelta(days=1)


def first_suspended_month(last_valid_day: date) -> Month:
    """Payment stops from the first payroll month that begins after ``valid_through``."""
    return Month.of(last_valid_day).next()


def new_retiree_deadline(first_payment: date) -> date:
    """New retirees certify in the month their first payment arrives."""
    return Month.of(first_payment).last_day()


def in_prison(month: Month, periods: Iterable[PrisonPeriod]) -> bool:
    """A month touched by a prison period is not paid (payment resumes the month after release)."""
    first, last = month.first_day(), month.last_day()
    return any(p.start <= last and (p.end is None or p.end >= first) for p in periods)


@dataclass(frozen=True)
class BackPay:
    """What a certification after a suspension pays: from ``resume_month`` on, plus the
    withheld months up to and including the certification's month, less prison months."""

    resume_month: Month
    months: tuple[Month, ...]
    excluded_prison_months: tuple[Month, ...]
    amount_fen: int


def back_pay(*, suspended_from: Month, certified_on: date, monthly_pension_fen: int,
             prison_periods: Sequence[PrisonPeriod] = ()) -> BackPay:
    """Suspended from April 2026, certified 2026-06-20: July pays July plus April-June."""
    withheld = months_between(suspended_from, Month.of(certified_on))
    excluded = tuple(m for m in withheld if in_prison(m, prison_periods))
    paid = tuple(m for m in withheld if m not in excluded)
    return BackPay(resume_month=Month.of(certified_on).next(), months=paid,
                   excluded_prison_months=excluded, amount_fen=monthly_pension_fen * len(paid))


# -- cycle configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class CycleRule:
    """A cycle length for people matching a region prefix, a person type and where they live,
    in force from a date. The most specific matching rule in force wins."""

    months: int
    region_prefix: str = "15"  # "15": all Inner Mongolia; "1502": Baotou
    person_type: PersonType | None = None
    lives_outside: bool | None = None
    effective_from: date = date(2000, 1, 1)
    min_age: int | None = None

    def matches(self, person: Person, on: date) -> bool:
        return (on >= self.effective_from
                and person.region_code.startswith(self.region_prefix)
                and (self.person_type is None or person.person_type is self.person_type)
                and self.lives_outside in (None, person.lives_outside_region)
                and (self.min_age is None or age_on(person.birth_date, on) >= self.min_age))

    @property
    def specificity(self) -> tuple[int, int, date]:
        return (len(self.region_prefix),
                (self.person_type is not None) + (self.lives_outside is not None)
                + (self.min_age is not None),
                self.effective_from)


# Domain rules §1: 12 months locally; 6 months living outside the region; survivors
# aged 18 and over every month; Baotou 6 months for everyone from 2025-04-01.
DEFAULT_CYCLE_RULES: tuple[CycleRule, ...] = (
    CycleRule(months=12),
    CycleRule(months=6, lives_outside=True),
    CycleRule(months=1, person_type=PersonType.SURVIVOR, min_age=18),
    CycleRule(months=6, region_prefix="1502", effective_from=date(2025, 4, 1)),
    CycleRule(months=1, region_prefix="1502", person_type=PersonType.SURVIVOR, min_age=18,
              effective_from=date(2025, 4, 1)),
)


def parse_cycle_rules(text: str) -> tuple[CycleRule, ...]:
    """Cycle rules from configuration (JSON list), e.g.
    ``[{"months": 12}, {"months": 6, "region_prefix": "1502", "effective_from": "2025-04-01"}]``.
    """
    import json

    try:
        items = json.loads(text)
        rules = tuple(
            CycleRule(
                months=int(item["months"]),
                region_prefix=str(item.get("region_prefix", "15")),
                person_type=PersonType(item["person_type"]) if item.get("person_type") else None,
                lives_outside=item.get("lives_outside"),
                effective_from=date.fromisoformat(item.get("effective_from", "2000-01-01")),
                min_age=item.get("min_age"),
            ) for item in items)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"cycle rules are not valid: {error}") from None
    if not rules or any(r.months < 1 for r in rules):
        raise ValueError("cycle rules need at least one rule, each of at least one month")
    return rules


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def cycle_months(person: Person, on: date,
                 rules: Sequence[CycleRule] = DEFAULT_CYCLE_RULES) -> int:
    matching = [r for r in rules if r.matches(person, on)]
    if not matching:
        raise ValueError(f"no certification cycle configured for region {person.region_code}")
    return max(matching, key=lambda r: r.specificity).months


# -- status ----------------------------------------------------------------------------


class CertStatus(StrEnum):
    CERTIFIED = "certified"
    DUE_SOON = "due_soon"
    OVERDUE_SUSPENDED = "overdue_suspended"
    PENDING_REVIEW = "pending_review"
    BLOCKED = "blocked"


class Channel(StrEnum):
    FACE = "face"  # self-service face check
    FAMILY = "family"  # a family member's phone, the retiree's face
    AGENT = "agent"  # home visit or office, no face
    COMMITMENT = "commitment"  # a family member's signed commitment letter
    PASSIVE = "passive"  # data held elsewhere (settlements, card use, ...)
    INITIAL = "initial"  # the first deadline of a new retiree
    WECHAT_FACE = "wechat_face"  # WeChat's own face verification, in the mini-program


class PaymentStatus(StrEnum):
    """Derived from what the system decided, never imported."""

    NOT_APPLICABLE = "not_applicable"  # receives no pension
    PAYING = "paying"
    SUSPENDED = "suspended"  # 暂停发放
    STOPPED = "stopped"  # 终止 (death)


REMINDER_DAYS = (30, 7, 1)
BLOCKED_FOR_DEATH = "death"
BLOCKED_FOR_FRAUD = "fraud"


@dataclass
class CertState:
    """A pensioner's certification state: one record per person, stepped by version.

    Everything here is the system's own decision (suspension, a recorded death, a
    block); no registry import ever writes it.
    """

    person_id: str
    valid_through: date
    status: CertStatus = CertStatus.CERTIFIED
    last_certified_on: date | None = None
    suspended_from: Month | None = None
    reminders_sent: tuple[str, ...] = ()  # "2026-03-14:30" for each reminder already sent
    version: int = 1
    history: list[dict[str, str]] = field(default_factory=list)
    death_date: date | None = None  # a recorded death; only an agent's review lifts it
    death_source: str | None = None
    blocked_for: str | None = None  # BLOCKED_FOR_DEATH or BLOCKED_FOR_FRAUD
    status_before_block: CertStatus | None = None

    def payment_status(self, today: date) -> PaymentStatus:
        if self.death_date is not None:
            return PaymentStatus.STOPPED
        if self.status is CertStatus.BLOCKED or (
                self.status_on(today) is CertStatus.OVERDUE_SUSPENDED):
            return PaymentStatus.SUSPENDED
        return PaymentStatus.PAYING

    def status_on(self, today: date, due_soon_days: int = REMINDER_DAYS[0]) -> CertStatus:
        """What the status is today (decided on read; the daily job only makes it durable)."""
        if self.status in (CertStatus.BLOCKED, CertStatus.PENDING_REVIEW,
                           CertStatus.OVERDUE_SUSPENDED):
            return self.status
        if today > self.valid_through:
            return CertStatus.OVERDUE_SUSPENDED
        if today >= self.valid_through - timedelta(days=due_soon_days):
            return CertStatus.DUE_SOON
        return CertStatus.CERTIFIED

    def reminder_due(self, today: date) -> int | None:
        """The reminder (30, 7 or 1 days before the deadline) to send today, if any.

        Only the most urgent threshold reached counts: a job that missed a few days
        sends one reminder, not three.
        """
        days_left = (self.valid_through - today).days
        if days_left < 0:
            return None
        reached = [d for d in REMINDER_DAYS if days_left <= d]
        if not reached:
            return None
        threshold = min(reached)
        return None if self.reminder_key(threshold) in self.reminders_sent else threshold

    def reminder_key(self, threshold: int) -> str:
        return f"{self.valid_through.isoformat()}:{threshold}"


def payment_status(person: Person, state: CertState | None, today: date) -> PaymentStatus:
    if not person.is_pensioner or person.monthly_pension_fen is None:
        return PaymentStatus.NOT_APPLICABLE
    return state.payment_status(today) if state is not None else PaymentStatus.PAYING


# -- errors --------------------------------------------------------------------------------


class CertificationBlocked(Conflict):
    code = "CERTIFICATION_BLOCKED"


class NotAPensioner(Conflict):
    code = "NOT_A_PENSIONER"


class CaseNotFound(NotFound):
    code = "REVIEW_CASE_NOT_FOUND"


class CaseAlreadyDecided(Conflict):
    code = "REVIEW_CASE_DECIDED"


@dataclass(frozen=True)
class ReviewCase:
    """A certification an agent must look at: a face closer to another pensioner's, or
    proof of life after a recorded death."""

    case_id: str
    person_id: str
    region_code: str
    status: str
    opened_at: datetime
    day: str
    channel: str
    suspicion: dict[str, Any]
    previous_status: str


