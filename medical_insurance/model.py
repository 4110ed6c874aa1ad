"""Cross-region medical filing (异地就医备案): categories, rules and the lifecycle. No I/O.

Basis: 医保发〔2022〕22号. A filing takes effect when it is made (即时生效); long-term
filings last until changed or cancelled; temporary ones for a configured number of
months. A personal commitment (承诺书) stands in for proof of residence. Referrals
without the hospital's transfer reference wait for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from common.errors import Conflict, NotFound, ValidationFailed
from pension_cert.model import add_months, valid_through
from people import regions


class Category(StrEnum):
    RESETTLED_RETIREE = "resettled_retiree"  # 异地安置退休
    LONG_TERM_RESIDENT = "long_term_resident"  # 异地长期居住
    WORK_ELSEWHERE = "work_elsewhere"  # 常驻异地工作
    REFERRAL = "referral"  # 异地转诊
    EMERGENCY = "emergency"  # 急诊抢救
    TEMPORARY_TRIP = "temporary_trip"  # 其他临时外出


CATEGORY_NAMES = {
    Category.RESETTLED_RETIREE: "异地安置退休", Category.LONG_TERM_RESIDENT: "异地长期居住",
    Category.WORK_ELSEWHERE: "常驻异地工作", Category.REFERRAL: "异地转诊",
    Category.EMERGENCY: "急诊抢救", Category.TEMPORARY_TRIP: "其他临时外出",
}


class Status(StrEnum):
    EFFECTIVE = "effective"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CategoryRule:
    long_term: bool
    required: tuple[str, ...]  # request fields beyond person, destination and start date
    commitment: bool  # a commitment letter is accepted (and needed) instead of proof
    pensioners_only: bool = False
    review_without: str | None = None  # missing this field sends the filing to review


RULES: dict[Category, CategoryRule] = {
    Category.RESETTLED_RETIREE: CategoryRule(True, (), True, pensioners_only=True),
    Category.LONG_TERM_RESIDENT: CategoryRule(True, (), True),
    Category.WORK_ELSEWHERE: CategoryRule(True, ("employer",), True),
    Category.REFERRAL: CategoryRule(False, ("hospital", "referring_hospital"), False,
                                    review_without="transfer_reference"),
    Category.EMERGENCY: CategoryRule(False, ("hospital",), False),
    Category.TEMPORARY_TRIP: CategoryRule(False, (), True),
}


@dataclass(frozen=True)
class FilingConfig:
    temporary_months: int = 6
    # Some regions forbid changing or cancelling a long-term filing in its first months.
    change_lock_months: int = 6
    expiry_notice_days: int = 7
    commitment_version: str = "2026-01"


# (status, event) -> status; every other pair is refused with the current state.
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.EFFECTIVE, "change"): Status.EFFECTIVE,
    (Status.EFFECTIVE, "cancel"): Status.CANCELLED,
    (Status.EFFECTIVE, "expire"): Status.EXPIRED,
    (Status.PENDING_REVIEW, "change"): Status.PENDING_REVIEW,
    (Status.PENDING_REVIEW, "approve"): Status.EFFECTIVE,
    (Status.PENDING_REVIEW, "reject"): Status.REJECTED,
    (Status.PENDING_REVIEW, "cancel"): Status.CANCELLED,
}


class FilingNotFound(NotFound):
    code = "FILING_NOT_FOUND"


class FilingInvalid(ValidationFailed):
    code = "FILING_INVALID"


class TransitionRefused(Conflict):
    code = "FILING_TRANSITION_REFUSED"


class LongTermFilingExists(Conflict):
    code = "LONG_TERM_FILING_EXISTS"


class ChangeLocked(Conflict):
    code = "FILING_CHANGE_LOCKED"


class AfterDischarge(ValidationFailed):
    code = "FILING_AFTER_DISCHARGE"


@dataclass(frozen=True)
class Destination:
    province_code: str
    city_code: str

    @classmethod
    def of(cls, province: str, city: str) -> Destination:
        """A destination from its codes: the city must be a prefecture of the province."""
        if not regions.is_province(province):
            raise FilingInvalid("unknown province code", field="destination.province_code")
        if not regions.is_prefecture(city) or regions.province_of(city) != province:
            raise FilingInvalid("the city is not in that province", field="destination.city_code")
        return cls(province, city)

    @property
    def name(self) -> str:
        return f"{regions.region_name(self.province_code)}{regions.region_name(self.city_code)}"


@dataclass(frozen=True)
class Commitment:
    accepted: bool
    version: str | None


@dataclass(frozen=True)
class FilingDraft:
    """What a person asks to file, already well-typed. Which fields a category needs,
    and whether the codes and dates make sense, are the rules the service applies."""

    category: Category
    destination: tuple[str, str] | None  # (province code, city code)
    start_date: date | None
    hospital: str | None = None
    employer: str | None = None
    referring_hospital: str | None = None
    transfer_reference: str | None = None
    admission_date: date | None = None
    discharge_date: date | None = None
    commitment: Commitment | None = None

    def text(self, name: str) -> str | None:
        """A text field by the name a category rule uses; blank counts as missing."""
        value = getattr(self, name)
        return value.strip() or None if isinstance(value, str) else None


@dataclass(frozen=True)
class FilingEdit:
    """A change (destination, start date, hospital) or a review's reason."""

    destination: tuple[str, str] | None = None
    start_date: date | None = None
    hospital: str | None = None
    reason: str | None = None


@dataclass
class Filing:
    filing_id: str
    person_id: str
    category: Category
    destination: Destination
    start_date: date
    end_date: date | None  # None: until changed or cancelled
    status: Status
    channel: str
    actor: str
    created_at: datetime
    on_behalf: str | None = None
    hospital: str | None = None
    details: dict[str, str] = field(default_factory=dict)  # employer, referral, ...
    commitment_version: str | None = None
    late: bool = False  # made after admission, before discharge (Art. 16)
    version: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def long_term(self) -> bool:
        return RULES[self.category].long_term

    def status_on(self, today: date) -> Status:
        """Expiry is decided when read; the daily job only makes it durable."""
        if self.status is Status.EFFECTIVE and self.end_date is not None and today > self.end_date:
            return Status.EXPIRED
        return self.status

    def covers(self, province: str, city: str, day: date) -> bool:
        return (self.status_on(day) is Status.EFFECTIVE
                and self.destination.province_code == province
                and self.destination.city_code == city
                and self.start_date <= day
                and (self.end_date is None or day <= self.end_date))


def end_date_for(category: Category, start: date, config: FilingConfig) -> date | None:
    if RULES[category].long_term:
        return None
    return valid_through(start, config.temporary_months)


def check_transition(filing: Filing, event: str, today: date) -> Status:
    current = filing.status_on(today)
    target = TRANSITIONS.get((current, event))
    if target is None:
        raise TransitionRefused(f"cannot {event} a filing that is {current.value}",
                                current_state=current.value)
    return target


def check_change_lock(filing: Filing, today: date, config: FilingConfig) -> None:
    if filing.long_term and config.change_lock_months and today < add_months(
            filing.start_date, config.change_lock_months):
        unlock = add_months(filing.start_date, config.change_lock_months)
        raise ChangeLocked("long-term filings cannot change in their first months",
                           unlock_date=unlock.isoformat())
