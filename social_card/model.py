"""The social-security card: its lifecycle as one state x event table, issuance progress,
and the working-day arithmetic of temporary loss. No I/O. Domain rules §4."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

import holidays

from common.errors import Conflict, DomainError, NotFound, ValidationFailed


class CardStatus(StrEnum):
    SEALED = "sealed"  # 封存: made, not activated (or unclaimed and put away)
    NORMAL = "normal"  # 正常
    TEMP_LOSS = "temp_loss"  # 临时挂失
    FORMAL_LOSS = "formal_loss"  # 正式挂失
    CANCELLED = "cancelled"  # 注销


STATUS_NAMES = {CardStatus.SEALED: "封存", CardStatus.NORMAL: "正常",
                CardStatus.TEMP_LOSS: "临时挂失", CardStatus.FORMAL_LOSS: "正式挂失",
                CardStatus.CANCELLED: "注销"}


class Event(StrEnum):
    ACTIVATE = "activate"
    TEMP_LOSS = "temp_loss"
    CANCEL_TEMP_LOSS = "cancel_temp_loss"
    FORMAL_LOSS = "formal_loss"
    CANCEL_LOSS = "cancel_loss"  # 解挂: only until a replacement has been applied for
    REPLACE = "replace"  # 补卡: the lost card ends, a new one is made
    RENEW = "renew"  # 换卡: within 60 days before expiry
    CANCEL = "cancel"  # 注销 (death, emigration): agents only


# The whole lifecycle. Any (status, event) not here is refused with the current status.
TRANSITIONS: dict[tuple[CardStatus, Event], CardStatus] = {
    (CardStatus.SEALED, Event.ACTIVATE): CardStatus.NORMAL,
    (CardStatus.NORMAL, Event.TEMP_LOSS): CardStatus.TEMP_LOSS,
    (CardStatus.TEMP_LOSS, Event.CANCEL_TEMP_LOSS): CardStatus.NORMAL,
    (CardStatus.NORMAL, Event.FORMAL_LOSS): CardStatus.FORMAL_LOSS,
    (CardStatus.TEMP_LOSS, Event.FORMAL_LOSS): CardStatus.FORMAL_LOSS,
    (CardStatus.FORMAL_LOSS, Event.CANCEL_LOSS): CardStatus.NORMAL,
    (CardStatus.FORMAL_LOSS, Event.REPLACE): CardStatus.CANCELLED,
    (CardStatus.NORMAL, Event.RENEW): CardStatus.CANCELLED,
    (CardStatus.SEALED, Event.CANCEL): CardStatus.CANCELLED,
    (CardStatus.NORMAL, Event.CANCEL): CardStatus.CANCELLED,
    (CardStatus.TEMP_LOSS, Event.CANCEL): CardStatus.CANCELLED,
    (CardStatus.FORMAL_LOSS, Event.CANCEL): CardStatus.CANCELLED,
}


class Step(StrEnum):
    DATA_ENTERED = "data_entered"  # 数据录入
    PAID = "paid"  # 已缴费
    MAKING = "making"  # 制卡中
    CITY_BANK_RECEIVED = "city_bank_received"  # 市银行签收
    OUTLET_RECEIVED = "outlet_received"  # 网点签收
    COLLECTED_INACTIVE = "collected_inactive"  # 领卡未激活
    FAILED = "failed"  # 制卡失败
    RESEALED = "resealed"  # unclaimed for over a year: put away (封存)


STEP_ORDER = [Step.DATA_ENTERED, Step.PAID, Step.MAKING, Step.CITY_BANK_RECEIVED,
              Step.OUTLET_RECEIVED, Step.COLLECTED_INACTIVE]
STEP_NAMES = {Step.DATA_ENTERED: "数据录入", Step.PAID: "已缴费", Step.MAKING: "制卡中",
              Step.CITY_BANK_RECEIVED: "市银行签收", Step.OUTLET_RECEIVED: "网点签收",
              Step.COLLECTED_INACTIVE: "领卡未激活", Step.FAILED: "制卡失败",
              Step.RESEALED: "逾期未领，已封存"}
UNCLAIMED_LIMIT = timedelta(days=365)
RENEWAL_WINDOW = timedelta(days=60)


@dataclass(frozen=True)
class CardConfig:
    temp_loss_working_days: int = 15  # 7, 10 or 15 depending on the city


class CardNotFound(NotFound):
    code = "CARD_NOT_FOUND"


class CardTransitionRefused(Conflict):
    code = "CARD_TRANSITION_REFUSED"


class RenewalNotDue(Conflict):
    code = "RENEWAL_NOT_DUE"


class CardInvalid(ValidationFailed):
    code = "CARD_INVALID"


class ECodeRefused(Conflict):
    code = "ECODE_REFUSED"


class ECodeConfirmationNeeded(Conflict):
    code = "ECODE_SMS_CONFIRMATION_REQUIRED"


class ECodeInvalid(DomainError):
    code = "ECODE_INVALID"


class ECodeUsed(Conflict):
    code = "ECODE_USED"


@dataclass(frozen=True)
class EventRequest:
    """What an event needs beyond its name, already well-typed: which functions (social
    security, bank), the identity questions a 12333 caller answered, and where a
    replacement goes (a service point, or an address)."""

    functions: frozenset[str] = frozenset({"ss", "bank"})
    verified_by: tuple[str, ...] = ()
    service_point_id: str | None = None
    address: str | None = None


@dataclass
class Card:
    card_id: str
    person_id: str
    card_number: str
    bank: str
    status: CardStatus  # the social-security function
    bank_status: CardStatus  # the bank function, reported lost separately
    created_at: datetime
    issued_on: date | None = None
    expires_on: date | None = None
    steps: list[dict[str, str]] = field(default_factory=list)  # {"step", "at"}
    temp_loss_on: date | None = None
    replaced_by: str | None = None
    replacement_of: str | None = None
    delivery: dict[str, str] = field(default_factory=dict)
    version: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last4(self) -> str:
        return self.card_number[-4:]

    def status_on(self, today: date, config: CardConfig) -> CardStatus:
        """A temporary loss lifts itself after the configured working days (decided on read)."""
        if self.status is CardStatus.TEMP_LOSS and self.temp_loss_on is not None and (
                today >= lifts_on(self.temp_loss_on, config.temp_loss_working_days)):
            return CardStatus.NORMAL
        return self.status

    def progress(self, today: date) -> list[dict[str, str]]:
        steps = list(self.steps)
        outlet = next((s for s in steps if s["step"] == Step.OUTLET_RECEIVED.value), None)
        collected = any(s["step"] == Step.COLLECTED_INACTIVE.value for s in steps)
        resealed = any(s["step"] == Step.RESEALED.value for s in steps)
        if outlet and not collected and not resealed:
            waiting_since = date.fromisoformat(outlet["at"][:10])
            if today - waiting_since > UNCLAIMED_LIMIT:
                steps.append({"step": Step.RESEALED.value,
                              "at": (waiting_since + UNCLAIMED_LIMIT).isoformat()})
        return [{**s, "name": STEP_NAMES[Step(s["step"])]} for s in steps]


def next_status(status: CardStatus, event: Event) -> CardStatus:
    target = TRANSITIONS.get((status, event))
    if target is None:
        raise CardTransitionRefused(f"cannot {event.value} a card that is {status.value}",
                                    current_state=status.value,
                                    current_state_name=STATUS_NAMES[status])
    return target


@cache
def _calendar(year: int) -> holidays.HolidayBase:
    # China's public holidays and its adjusted working weekends (调休), from the pinned package.
    return holidays.China(years=[year - 1, year, year + 1])


def is_working_day(day: date) -> bool:
    return bool(_calendar(day.year).is_working_day(day))


def lifts_on(reported: date, working_days: int) -> date:
    """The day a temporary loss reported on ``reported`` lifts: the day after the
    ``working_days``-th working day following the report."""
    day, counted = reported, 0
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day + timedelta(days=1)


def in_renewal_window(card: Card, today: date) -> bool:
    return card.expires_on is not None and card.expires_on - RENEWAL_WINDOW <= today
