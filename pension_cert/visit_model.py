"""Home-visit bookings (上门认证预约): a citizen or family member books a visit for a
pensioner who can't use the face check; it lands in the queue of the agents of the
pensioner's league, and the visit's outcome closes it. One open booking per person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from common.errors import Conflict, NotFound, ValidationFailed

MAX_PREFERRED_DATES = 3
BOOKING_HORIZON = timedelta(days=60)


class VisitStatus(StrEnum):
    OPEN = "open"
    DONE = "done"  # visited: certified at home, or could not be
    CANCELLED = "cancelled"


class VisitResult(StrEnum):
    CERTIFIED = "certified"
    NOT_AT_HOME = "not_at_home"
    CANNOT_CERTIFY = "cannot_certify"


class VisitNotFound(NotFound):
    code = "HOME_VISIT_NOT_FOUND"


class VisitAlreadyBooked(Conflict):
    code = "HOME_VISIT_ALREADY_BOOKED"


class InvalidVisit(ValidationFailed):
    code = "INVALID_HOME_VISIT"


@dataclass(frozen=True)
class HomeVisit:
    booking_id: str
    person_id: str
    region_code: str
    preferred_dates: tuple[date, ...]
    address: str
    phone: str
    booked_by: str
    created_at: datetime
    status: VisitStatus = VisitStatus.OPEN
    result: VisitResult | None = None
    note: str = ""
    closed_by: str | None = None
    closed_on: date | None = None
    version: int = 1
    history: list[dict[str, str]] = field(default_factory=list)


def check_request(preferred: list[date], address: str, phone: str, today: date) -> None:
    if not 1 <= len(preferred) <= MAX_PREFERRED_DATES:
        raise InvalidVisit(f"give 1 to {MAX_PREFERRED_DATES} preferred dates",
                           field="preferred_dates")
    if any(d < today or d > today + BOOKING_HORIZON for d in preferred):
        raise InvalidVisit("preferred dates lie between today and 60 days ahead",
                           field="preferred_dates")
    if len(address.strip()) < 6:
        raise InvalidVisit("the address must let the agent find the home", field="address")
    digits = phone.strip()
    if not (digits.isdigit() and len(digits) == 11 and digits.startswith("1")):
        raise InvalidVisit("a mobile number has 11 digits", field="phone")
