"""Messages, outcomes and the delivery rules. No I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from common.clock import SHANGHAI
from common.errors import DomainError, NotFound, RateLimited, ValidationFailed


class Channel(StrEnum):
    SMS = "sms"
    WECHAT = "wechat"


class Outcome(StrEnum):
    DELIVERED = "delivered"  # the provider accepted it
    RATE_LIMITED = "rate_limited"  # try again later
    TRANSIENT = "transient"  # provider or network trouble: try again later
    PERMANENT = "permanent"  # this message can never go (bad number): dead-letter
    CONFIG_ERROR = "config_error"  # our templates or keys are wrong: dead-letter, alert
    NO_SUBSCRIPTION = "no_subscription"  # WeChat 43101: the user has no subscription left

    @property
    def retry(self) -> bool:
        return self in (Outcome.RATE_LIMITED, Outcome.TRANSIENT)


class MessageStatus(StrEnum):
    PENDING = "pending"  # waiting for its not-before time or its next attempt
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"  # WeChat had no subscription; fallback recorded if any
    DEAD = "dead"  # gave up: permanent error or too many attempts


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    code: str  # the provider's own code ("OK", "isv.MOBILE_NUMBER_ILLEGAL", "43101")
    detail: str = ""
    provider_id: str | None = None  # Aliyun BizId / WeChat msgid
    alert: bool = False  # an operator should look (balance, out of service, config)


# Domain rules §5: Aliyun SendSms result codes.
_ALIYUN: dict[str, tuple[Outcome, bool]] = {
    "OK": (Outcome.DELIVERED, False),
    "isv.BUSINESS_LIMIT_CONTROL": (Outcome.RATE_LIMITED, False),
    "isv.DAY_LIMIT_CONTROL": (Outcome.RATE_LIMITED, False),
    "isp.SYSTEM_ERROR": (Outcome.TRANSIENT, False),
    "isv.OUT_OF_SERVICE": (Outcome.TRANSIENT, True),
    "isv.AMOUNT_NOT_ENOUGH": (Outcome.TRANSIENT, True),
    "isv.MOBILE_NUMBER_ILLEGAL": (Outcome.PERMANENT, False),
    "isv.SMS_TEMPLATE_ILLEGAL": (Outcome.CONFIG_ERROR, True),
    "isv.SMS_SIGNATURE_ILLEGAL": (Outcome.CONFIG_ERROR, True),
    "isv.TEMPLATE_MISSING_PARAMETERS": (Outcome.CONFIG_ERROR, True),
    "isv.INVALID_PARAMETERS": (Outcome.CONFIG_ERROR, True),
    "SignatureDoesNotMatch": (Outcome.CONFIG_ERROR, True),
    "InvalidAccessKeyId.NotFound": (Outcome.CONFIG_ERROR, True),
    # The SDK's own name for SignatureDoesNotMatch when only the secret is wrong.
    "InvalidAccessKeySecret": (Outcome.CONFIG_ERROR, True),
}


def classify_aliyun(code: str) -> tuple[Outcome, bool]:
    """(outcome, alert) for a SendSms ``Code``. Unknown codes retry, and an operator looks."""
    return _ALIYUN.get(code, (Outcome.TRANSIENT, True))


# WeChat subscribe-message errcodes.
_WECHAT: dict[int, tuple[Outcome, bool]] = {
    0: (Outcome.DELIVERED, False),
    43101: (Outcome.NO_SUBSCRIPTION, False),  # user refused, or the one-time grant is used
    40003: (Outcome.PERMANENT, False),  # invalid openid
    43302: (Outcome.PERMANENT, False),  # user unsubscribed / blocked
    40037: (Outcome.CONFIG_ERROR, True),  # invalid template_id
    47003: (Outcome.CONFIG_ERROR, True),  # template data does not fit the template
    41030: (Outcome.CONFIG_ERROR, True),  # invalid page
    45009: (Outcome.RATE_LIMITED, False),  # API call quota reached
    -1: (Outcome.TRANSIENT, False),  # system busy
    40001: (Outcome.TRANSIENT, False),  # access token invalid (refreshed, then retried)
    42001: (Outcome.TRANSIENT, False),  # access token expired
}


def classify_wechat(errcode: int) -> tuple[Outcome, bool]:
    return _WECHAT.get(errcode, (Outcome.TRANSIENT, True))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=2)
    # Aliyun's per-number windows are a minute, an hour, a day: wait at least a minute.
    rate_limited_floor: timedelta = timedelta(minutes=1)

    def delay(self, attempt: int, outcome: Outcome, rng: random.Random) -> timedelta:
        """Exponential backoff with jitter: half fixed, half random, so retries spread out."""
        ceiling = min(self.base * (2 ** (attempt - 1)), self.cap)
        delay = ceiling / 2 + ceiling / 2 * rng.random()
        if outcome is Outcome.RATE_LIMITED:
            delay = max(delay, self.rate_limited_floor)
        return delay


@dataclass(frozen=True)
class QuietHours:
    """Non-urgent messages are held between ``start`` and ``end`` Asia/Shanghai time."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def release_time(self, now: datetime) -> datetime:
        local = now.astimezone(SHANGHAI)
        clock = local.time()
        quiet = clock >= self.start or clock < self.end if self.start > self.end else (
            self.start <= clock < self.end)
        if not quiet:
            return now
        release_day = local.date() if clock < self.end else local.date() + timedelta(days=1)
        return datetime.combine(release_day, self.end, SHANGHAI)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        start, _, end = text.partition("-")
        return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))


@dataclass
class OutboxMessage:
    message_id: str
    kind: str
    channel: Channel
    dedupe_key: str
    params: dict[str, Any]
    not_before: datetime
    created_at: datetime
    person_id: str | None = None
    phone: str | None = None
    openid: str | None = None
    status: MessageStatus = MessageStatus.PENDING
    attempts: int = 0  # attempt slots used so far (including abandoned ones)
    attempt_base: int = 0  # attempts used before the last re-queue of a dead letter
    next_attempt_at: datetime | None = None
    last_outcome: str | None = None
    last_code: str | None = None
    dead_reason: str | None = None
    provider_id: str | None = None
    delivered_at: datetime | None = None
    fallback_message_id: str | None = None
    inbox_text: str = ""
    read_at: datetime | None = None

    @property
    def recipient(self) -> str:
        return (self.phone if self.channel is Channel.SMS else self.openid) or ""


@dataclass(frozen=True)
class Attempt:
    """One try of one message: its slot ``<message>:try<n>`` and what happened."""

    message_id: str
    number: int
    worker: str
    claimed_at: datetime
    lease_until: datetime
    outcome: str | None = None
    code: str | None = None
    detail: str | None = None
    provider_id: str | None = None
    finished_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return attempt_key(self.message_id, self.number)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def attempt_key(message_id: str, number: int) -> str:
    return f"{message_id}:try{number}"


class MessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"


class SmsNotSent(DomainError):
    """An immediate SMS (a login code) could not be sent now."""

    code = "SMS_NOT_SENT"


class InvalidPhone(DomainError):
    code = "INVALID_PHONE"


class SmsRateLimited(RateLimited):
    code = "SMS_RATE_LIMITED"


class UnknownTemplate(ValidationFailed):
    code = "UNKNOWN_TEMPLATE"
