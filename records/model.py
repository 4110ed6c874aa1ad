"""Contribution records (缴费记录) as pure rules: what a row may say, how corrections
version a month, and the views people ask for (month by month with gaps, a yearly
summary, paid months by type, and months counted towards the pension minimum).

The minimum (docs/records.md): 《社会保险法》第十六条 pays a monthly pension to those who
have contributed for 15 years (180 months) in total when they reach retirement age.
Months paid in different places add up (《社会保险法》第十九条); a month paid twice (e.g.
by an employer and as a flexible worker) counts once; only basic pension insurance
counts, and only a month with an amount actually paid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from common.errors import NotFound, ValidationFailed
from pension_cert.model import Month, months_between

E = TypeVar("E", bound=StrEnum)
MINIMUM_MONTHS = 180  # 15 years (《社会保险法》第十六条)


class InsuranceType(StrEnum):
    PENSION = "pension"
    MEDICAL = "medical"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"


TYPE_NAMES = {InsuranceType.PENSION: "基本养老保险", InsuranceType.MEDICAL: "基本医疗保险",
              InsuranceType.UNEMPLOYMENT: "失业保险", InsuranceType.WORK_INJURY: "工伤保险"}


class Payer(StrEnum):
    EMPLOYER = "employer"
    FLEXIBLE = "flexible"  # 灵活就业人员, paying both parts themselves


PAYER_NAMES = {Payer.EMPLOYER: "单位缴纳", Payer.FLEXIBLE: "灵活就业个人缴纳"}


class InvalidContribution(ValidationFailed):
    code = "INVALID_CONTRIBUTION"


class SourceRecordConflict(InvalidContribution):
    """The same source record id came again with different values: never silently."""

    code = "SOURCE_RECORD_CONFLICT"


class ProofNotFound(NotFound):
    code = "PROOF_NOT_FOUND"


@dataclass(frozen=True)
class ContributionRow:
    """One row of the feed, as its sender said it (the person by ID number)."""

    source_record_id: str
    id_number: str
    month: Month
    insurance_type: InsuranceType
    base_fen: int
    employer_fen: int
    personal_fen: int
    payer: Payer

    def same_values(self, other: Contribution) -> bool:
        return (self.month, self.insurance_type, self.base_fen, self.employer_fen,
                self.personal_fen, self.payer) == (
            other.month, other.insurance_type, other.base_fen, other.employer_fen,
            other.personal_fen, other.payer)


@dataclass(frozen=True)
class Contribution:
    """A stored row. ``version`` 1 is the first record of the month and type; a later
    record for the same month and type corrects it and supersedes it."""

    person_id: str
    source_record_id: str
    month: Month
    insurance_type: InsuranceType
    base_fen: int
    employer_fen: int
    personal_fen: int
    payer: Payer
    version: int = 1

    @property
    def paid_fen(self) -> int:
        return self.employer_fen + self.personal_fen


FIELDS = ("source_record_id", "id_number", "month", "insurance_type", "base_fen",
          "employer_fen", "personal_fen", "payer")


def parse_row(raw: Mapping[str, str], today: date) -> ContributionRow:
    """A feed row, or InvalidContribution naming the first bad field."""
    missing = [f for f in FIELDS if not str(raw.get(f) or "").strip()]
    if missing:
        raise InvalidContribution(f"{missing[0]} is required", field=missing[0])
    text = {f: str(raw[f]).strip() for f in FIELDS}
    month = _month(text["month"])
    if month > Month.of(today):
        raise InvalidContribution("a contribution month cannot be in the future", field="month")
    return ContributionRow(
        source_record_id=text["source_record_id"][:64], id_number=text["id_number"].upper(),
        month=month, insurance_type=_choice(InsuranceType, text["insurance_type"],
                                            "insurance_type"),
        base_fen=_fen(text["base_fen"], "base_fen"),
        employer_fen=_fen(text["employer_fen"], "employer_fen"),
        personal_fen=_fen(text["personal_fen"], "personal_fen"),
        payer=_choice(Payer, text["payer"], "payer"))


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValidationFailed:
        raise InvalidContribution("a month looks like 2026-04", field="month") from None


def _fen(text: str, field: str) -> int:
    """Integer fen, not negative: '12.5' or '-1' is refused, never rounded."""
    if not text.isdigit():
        raise InvalidContribution(f"{field} must be a non-negative whole number of fen",
                                  field=field)
    return int(text)


def _choice(kind: type[E], text: str, field: str) -> E:
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(e.value for e in kind)
        raise InvalidContribution(f"{field} must be one of {allowed}", field=field) from None


# -- views ---------------------------------------------------------------------------------


def current(records: Iterable[Contribution]) -> dict[tuple[Month, InsuranceType], Contribution]:
    """The record in force for each month and type: its latest version."""
    found: dict[tuple[Month, InsuranceType], Contribution] = {}
    for record in records:
        key = (record.month, record.insurance_type)
        if key not in found or record.version > found[key].version:
            found[key] = record
    return found


@dataclass(frozen=True)
class MonthRow:
    month: Month
    paid: dict[InsuranceType, Contribution]  # empty: a gap
    corrected: bool  # some type of this month has a later version than its first


def month_by_month(records: Sequence[Contribution], until: Month) -> list[MonthRow]:
    """Every month from the first record to ``until``, newest first; a month with no
    record of any type is a gap and says so."""
    in_force = current(records)
    if not in_force:
        return []
    first = min(month for month, _ in in_force)
    rows = []
    for month in reversed(months_between(first, until)):
        paid = {kind: record for (m, kind), record in in_force.items() if m == month}
        rows.append(MonthRow(month, paid, any(r.version > 1 for r in paid.values())))
    return rows


@dataclass(frozen=True)
class YearSummary:
    year: int
    months: dict[InsuranceType, int]  # months paid, by type
    employer_fen: int
    personal_fen: int


def yearly(records: Sequence[Contribution]) -> list[YearSummary]:
    """Per year, newest first: months paid by type and the amounts paid."""
    by_year: dict[int, list[Contribution]] = defaultdict(list)
    for record in current(records).values():
        by_year[record.month.year].append(record)
    return [YearSummary(year, _months_by_type(rows),
                        sum(r.employer_fen for r in rows), sum(r.personal_fen for r in rows))
            for year, rows in sorted(by_year.items(), reverse=True)]


def paid_months(records: Sequence[Contribution]) -> dict[InsuranceType, int]:
    return _months_by_type(current(records).values())


def _months_by_type(records: Iterable[Contribution]) -> dict[InsuranceType, int]:
    months: dict[InsuranceType, set[Month]] = defaultdict(set)
    for record in records:
        if record.paid_fen > 0:
            months[record.insurance_type].add(record.month)
    return {kind: len(months.get(kind, set())) for kind in InsuranceType}


def counted_towards_minimum(records: Sequence[Contribution]) -> int:
    """Months counted towards the 15-year minimum: distinct months with basic pension
    insurance actually paid (a month paid twice counts once)."""
    return len({r.month for r in current(records).values()
                if r.insurance_type is InsuranceType.PENSION and r.paid_fen > 0})


@dataclass(frozen=True)
class Period:
    first: Month
    last: Month
    months: int


def periods(records: Sequence[Contribution], kind: InsuranceType) -> list[Period]:
    """Runs of consecutive paid months of one type, oldest first (the proof lists them)."""
    months = sorted({r.month for r in current(records).values()
                     if r.insurance_type is kind and r.paid_fen > 0})
    runs: list[Period] = []
    for month in months:
        if runs and runs[-1].last.next() == month:
            last = runs[-1]
            runs[-1] = Period(last.first, month, last.months + 1)
        else:
            runs.append(Period(month, month, 1))
    return runs
