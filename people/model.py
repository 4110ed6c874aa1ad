"""The insured person as the registry knows them, and the rules that keep a record valid.
No I/O.

One owner per field: the registry import owns what is here (identity, region, type,
pension amount, prison periods). What the system decides (payment status,
suspensions, recorded deaths) lives with the pension domain and is never written by
an import: an import may only *report* a death, which becomes a death signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TypeVar

from common.errors import NotFound, ValidationFailed
from people import regions

# GB 11643-1999: weights for positions 1-17; weighted sum mod 11 indexes the check character.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_PHONE = re.compile(r"^1[3-9]\d{9}$")
# Han names, and Mongolian and other minority names written with the middle dot.
_NAME = re.compile(r"^[\u3400-\u9fff\u00b7\u30fb·]{2,30}$")


_E = TypeVar("_E", bound=StrEnum)


class Sex(StrEnum):
    MALE = "M"
    FEMALE = "F"


class PersonType(StrEnum):
    RETIREE = "retiree"
    SURVIVOR = "survivor"  # 遗属待遇领取人
    EMPLOYEE = "employee"
    RESIDENT = "resident"  # 城乡居民


PENSIONER_TYPES = frozenset({PersonType.RETIREE, PersonType.SURVIVOR})


class InvalidIdNumber(ValidationFailed):
    code = "INVALID_ID_NUMBER"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="id_number")


class InvalidPerson(ValidationFailed):
    code = "INVALID_PERSON"


class PersonNotFound(NotFound):
    code = "PERSON_NOT_FOUND"


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character citizen ID number and what it encodes."""

    value: str
    region_code: str
    birth_date: date
    sex: Sex

    @classmethod
    def parse(cls, raw: str) -> IdNumber:
        value = raw.strip().upper()
        if len(value) != 18:
            raise InvalidIdNumber("must have 18 characters")
        if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
            raise InvalidIdNumber("17 digits then a digit or X")
        if check_character(value[:17]) != value[17]:
            raise InvalidIdNumber("check character does not match")
        try:
            birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        except ValueError:
            raise InvalidIdNumber("birth date is not a real date") from None
        if birth.year < 1880:
            raise InvalidIdNumber("birth year is implausible")
        sex = Sex.MALE if int(value[16]) % 2 == 1 else Sex.FEMALE
        return cls(value=value, region_code=value[:6], birth_date=birth, sex=sex)


@dataclass(frozen=True)
class PrisonPeriod:
    """A recorded prison term; pension months inside it are not back-paid."""

    start: date
    end: date | None  # None: still serving

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class PersonDetails:
    """Everything about a person except the registry's own id."""

    name: str
    id_number: str
    sex: Sex
    birth_date: date
    phone: str | None
    region_code: str
    person_type: PersonType
    lives_outside_region: bool = False
    prison_periods: tuple[PrisonPeriod, ...] = ()
    monthly_pension_fen: int | None = None

    @property
    def is_pensioner(self) -> bool:
        return self.person_type in PENSIONER_TYPES


@dataclass(frozen=True)
class Person(PersonDetails):
    person_id: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class RegistryRow:
    """One row of a registry import or feed: the registry's fields, plus two reports the
    registry makes but does not own: a death it has heard of (it becomes a death
    signal), and when a new pensioner's first payment is due (their first deadline)."""

    details: PersonDetails
    reported_death: date | None = None
    first_payment: date | None = None


@dataclass(frozen=True)
class UpsertOutcome:
    """What an upsert did: the people it created, updated or left as they were, and those
    who became pensioners (new, or newly retired) and so need a first deadline."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    new_pensioners: tuple[Person, ...] = ()
    people: tuple[Person, ...] = ()

def build_details(
    *,
    name: str,
    id_number: str,
    region_code: str,
    person_type: str,
    today: date,
    phone: str | None = None,
    sex: str | None = None,
    birth_date: date | None = None,
    lives_outside_region: bool = False,
    prison_periods: tuple[PrisonPeriod, ...] = (),
    monthly_pension_fen: int | None = None,
) -> PersonDetails:
    """Validate raw values into ``PersonDetails``; sex and birth date come from the ID number."""
    ident = IdNumber.parse(id_number)
    if sex is not None and sex != ident.sex.value:
        raise InvalidPerson("sex does not match the ID number", field="sex")
    if birth_date is not None and birth_date != ident.birth_date:
        raise InvalidPerson("birth date does not match the ID number", field="birth_date")
    if ident.birth_date > today:
        raise InvalidIdNumber("birth date is in the future")
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidPerson("name must be 2-30 Chinese characters", field="name")
    if phone is not None and not _PHONE.match(phone):
        raise InvalidPerson("phone must be an 11-digit mainland mobile number", field="phone")
    if not regions.in_inner_mongolia(region_code):
        raise InvalidPerson("region code is not a division of Inner Mongolia", field="region_code")
    kind = _enum(PersonType, person_type, "person_type")
    if monthly_pension_fen is not None and monthly_pension_fen < 0:
        raise InvalidPerson("pension cannot be negative", field="monthly_pension_fen")
    _check_prison_periods(prison_periods, ident.birth_date, today)
    return PersonDetails(
        name=name, id_number=ident.value, sex=ident.sex, birth_date=ident.birth_date,
        phone=phone, region_code=region_code, person_type=kind,
        lives_outside_region=lives_outside_region, prison_periods=prison_periods,
        monthly_pension_fen=monthly_pension_fen,
    )


def check_reported_death(details: PersonDetails, death: date | None, today: date) -> None:
    if death is not None and not details.birth_date <= death <= today:
        raise InvalidPerson("death date must lie between birth and today", field="death_date")


def _enum(enum: type[_E], value: str, field_name: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidPerson(f"{field_name} must be one of {allowed}", field=field_name) from None


def _check_prison_periods(periods: tuple[PrisonPeriod, ...], born: date, today: date) -> None:
    previous_end: date | None = born
    for period in sorted(periods, key=lambda p: p.start):
        if period.end is not None and period.end < period.start:
            raise InvalidPerson("prison period ends before it starts", field="prison_periods")
        # An open period (still serving) can only be the last one.
        if period.start > today or previous_end is None or period.start < previous_end:
            raise InvalidPerson("prison periods overlap or lie outside life",
                                field="prison_periods")
        previous_end = period.end
