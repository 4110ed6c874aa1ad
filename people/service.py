"""Registry use cases: import from CSV or a feed, look up.

The registry owns identity, region, type and pension amount, and nothing else. Two
things it reports but does not decide are handed to whoever owns them, through the
hooks the composition root wires in: a reported death (a death signal for the
pension domain, which never lets an import clear one), and a person who has just
become a pensioner (their first certification deadline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from common.clock import Clock, local_date
from common.errors import DomainError, ValidationFailed
from people.model import (
    Person,
    PersonDetails,
    PersonNotFound,
    PrisonPeriod,
    RegistryRow,
    UpsertOutcome,
    build_details,
    check_reported_death,
)
from people.repository import PeopleRepository

# ``payment_status`` may still appear in old exports: it is ignored, the system owns it.
CSV_COLUMNS = (
    "id_number", "name", "phone", "region_code", "person_type", "lives_outside_region",
    "monthly_pension_fen", "death_date", "prison_periods", "sex", "birth_date",
    "first_payment_date",
)
REQUIRED_COLUMNS = ("id_number", "name", "region_code", "person_type")
IMPORT_BATCH = 200


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str
    field: str | None = None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deaths_reported: int = 0
    new_pensioners: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged

    def add(self, outcome: UpsertOutcome) -> None:
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.new_pensioners += len(outcome.new_pensioners)


class RegistryHooks(Protocol):
    """What other domains do with the registry's reports (wired by the composition root)."""

    async def new_pensioners(self, arrivals: Sequence[tuple[Person, date | None]]) -> None:
        """People who became pensioners, each with their first payment day (if known)."""

    async def death_reported(self, person: Person, day: date, source: str) -> None: ...


class NoHooks:
    async def new_pensioners(self, arrivals: Sequence[tuple[Person, date | None]]) -> None:
        return None

    async def death_reported(self, person: Person, day: date, source: str) -> None:
        return None


async def import_people(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    people: PeopleRepository,
    clock: Clock,
    hooks: RegistryHooks | None = None,
    source: str = "registry-import",
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Upsert each row by ID number. A bad row is reported and skipped, never fatal.

    ``rows`` pairs each row with its line number in the source file, so the
    report can point the operator at the exact line.
    """
    report = ImportReport()
    hooks = hooks or NoHooks()
    today = local_date(clock.now())
    batch: list[tuple[int, RegistryRow]] = []

    async def flush() -> None:
        outcome = await people.upsert_batch([row.details for _, row in batch])
        report.add(outcome)
        await _hand_over(batch, outcome, hooks=hooks, source=source, report=report)
        batch.clear()

    for line, row in rows:
        try:
            batch.append((line, parse_registry_row(row, today)))
        except ValidationFailed as error:
            report.rejected.append(RejectedRow(line, error.detail, error.field))
        if len(batch) >= IMPORT_BATCH:
            await flush()
        on_row()
    if batch:
        await flush()
    return report


async def _hand_over(batch: list[tuple[int, RegistryRow]], outcome: UpsertOutcome, *,
                     hooks: RegistryHooks, source: str, report: ImportReport) -> None:
    """Pass the registry's reports on to their owners. A refusal there (e.g. a death
    reported for someone the pension domain does not pay) is reported, never fatal."""
    rows = {row.details.id_number: (line, row) for line, row in batch}
    # New pensioners go over in one call: one at a time cost a commit each.
    await hooks.new_pensioners([(p, rows[p.id_number][1].first_payment)
                                for p in outcome.new_pensioners])
    for person in outcome.people:
        line, row = rows[person.id_number]
        try:
            if row.reported_death is not None:
                await hooks.death_reported(person, row.reported_death, source)
                report.deaths_reported += 1
        except DomainError as error:
            report.rejected.append(RejectedRow(line, error.detail or error.code, "death_date"))


@dataclass(frozen=True)
class RegistryContext:
    people: PeopleRepository
    clock: Clock
    hooks: RegistryHooks


async def feed_person(raw: Mapping[str, str], *, source: str,
                      ctx: RegistryContext) -> tuple[Person, str]:
    """One person from a registry feed: the same fields and rules as an import row."""
    row = parse_registry_row(raw, local_date(ctx.clock.now()))
    person, outcome, became = await ctx.people.upsert(row.details)
    if became:
        await ctx.hooks.new_pensioners([(person, row.first_payment)])
    if row.reported_death is not None:
        await ctx.hooks.death_reported(person, row.reported_death, source)
    return person, outcome


async def verify_insured(id_number: str, name: str, *, ctx: RegistryContext) -> Person | None:
    """For institutions: the insured person with this ID number and name, if any."""
    person = await ctx.people.find_by_id_number(id_number.strip().upper())
    return person if person is not None and person.name == name.strip() else None


def missing_columns(header: Iterable[str]) -> list[str]:
    present = set(header)
    return [c for c in REQUIRED_COLUMNS if c not in present]


def parse_registry_row(row: Mapping[str, str], today: date) -> RegistryRow:
    """One CSV or feed row (all strings): the person's details and the registry's reports."""
    details = parse_row(row, today)
    death = _date(_clean(row, "death_date"), "death_date")
    check_reported_death(details, death, today)
    first_payment = _date(_clean(row, "first_payment_date"), "first_payment_date")
    return RegistryRow(details, reported_death=death, first_payment=first_payment)


def _clean(row: Mapping[str, str], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def parse_row(row: Mapping[str, str], today: date) -> PersonDetails:
    """Turn one CSV row (all strings) into validated person details."""
    def text(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    def required(name: str) -> str:
        value = text(name)
        if value is None:
            raise ValidationFailed(f"{name} is empty", field=name)
        return value

    return build_details(
        name=required("name"),
        id_number=required("id_number"),
        region_code=required("region_code"),
        person_type=required("person_type"),
        today=today,
        phone=text("phone"),
        sex=text("sex"),
        birth_date=_date(text("birth_date"), "birth_date"),
        lives_outside_region=_bool(text("lives_outside_region"), "lives_outside_region"),
        prison_periods=_prison_periods(text("prison_periods")),
        monthly_pension_fen=_fen(text("monthly_pension_fen")),
    )


async def get_person(person_id: str, *, people: PeopleRepository) -> Person:
    person = await people.get(person_id)
    if person is None:
        raise PersonNotFound(person_id)
    return person


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be YYYY-MM-DD", field=name) from None


def _bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "y", "是"):
        return True
    if lowered in ("0", "false", "no", "n", "否"):
        return False
    raise ValidationFailed(f"{name} must be true or false", field=name)


def _fen(value: str | None) -> int | None:
    # Money is integer fen; a decimal point here means someone exported yuan.
    if value is None:
        return None
    if not value.isdigit():
        raise ValidationFailed("monthly_pension_fen must be a whole number of fen",
                               field="monthly_pension_fen")
    return int(value)


def _prison_periods(value: str | None) -> tuple[PrisonPeriod, ...]:
    """``2019-03-01..2021-02-28;2024-05-01..`` (an open end means still serving)."""
    if value is None:
        return ()
    periods = []
    for item in value.split(";"):
        start, sep, end = item.strip().partition("..")
        if not sep:
            raise ValidationFailed("prison_periods must look like START..END;START..",
                                   field="prison_periods")
        start_date = _date(start.strip(), "prison_periods")
        if start_date is None:
            raise ValidationFailed("prison period needs a start date", field="prison_periods")
        periods.append(PrisonPeriod(start_date, _date(end.strip() or None, "prison_periods")))
    return tuple(periods)
