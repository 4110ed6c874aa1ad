"""Registry use cases: import from CSV, look up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from common.clock import Clock, local_date
from common.errors import ValidationFailed
from people.model import Person, PersonDetails, PersonNotFound, PrisonPeriod, build_details
from people.repository import PeopleRepository

CSV_COLUMNS = (
    "id_number", "name", "phone", "region_code", "person_type", "lives_outside_region",
    "monthly_pension_fen", "payment_status", "death_date", "prison_periods", "sex", "birth_date",
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
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated


async def import_people(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    people: PeopleRepository,
    clock: Clock,
    on_row: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Upsert each row by ID number. A bad row is reported and skipped, never fatal.

    ``rows`` pairs each row with its line number in the source file, so the
    report can point the operator at the exact line.
    """
    report = ImportReport()
    today = local_date(clock.now())
    batch: list[PersonDetails] = []

    async def flush() -> None:
        created, updated = await people.upsert_batch(batch)
        report.created += created
        report.updated += updated
        batch.clear()

    for line, row in rows:
        try:
            batch.append(parse_row(row, today))
        except ValidationFailed as error:
            report.rejected.append(RejectedRow(line, error.detail, error.field))
        if len(batch) >= IMPORT_BATCH:
            await flush()
        on_row()
    if batch:
        await flush()
    return report


def missing_columns(header: Iterable[str]) -> list[str]:
    present = set(header)
    return [c for c in REQUIRED_COLUMNS if c not in present]


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
        payment_status=text("payment_status"),
        death_date=_date(text("death_date"), "death_date"),
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
