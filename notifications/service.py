"""Notification use cases: queue a message through the outbox, or send a login code now."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.clock import Clock
from common.errors import RateLimited, ValidationFailed
from common.ratelimit import RateLimiter, RateRule
from common.versioning import Derived
from notifications.model import (
    Channel,
    InvalidPhone,
    MessageNotFound,
    OutboxMessage,
    Outcome,
    QuietHours,
    RetryPolicy,
    SendResult,
    SmsNotSent,
    SmsRateLimited,
)
from notifications.repository import OutboxRepository, message_id_for
from notifications.templates import LOGIN_CODE, template_for

_PHONE = re.compile(r"^1[3-9]\d{9}$")

# What Aliyun enforces per number for verification codes (domain rules §5). Counted
# over rolling spans: fixed windows would let a code go a second after the last one
# across a minute boundary, and the provider would refuse it.
LOGIN_CODE_RULES = (
    RateRule("sms_code_minute", limit=1, window=timedelta(minutes=1), rolling=True),
    RateRule("sms_code_hour", limit=5, window=timedelta(hours=1), rolling=True),
    RateRule("sms_code_day", limit=10, window=timedelta(days=1), rolling=True),
)


class SmsSender(Protocol):
    async def send(self, phone: str, template_code: str,
                   params: Mapping[str, Any]) -> SendResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class NotificationPolicy:
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease: timedelta = timedelta(seconds=60)  # longer than any send can take


def build_message(
    *,
    kind: str,
    dedupe_key: str,
    params: Mapping[str, Any],
    clock: Clock,
    policy: NotificationPolicy,
    person_id: str | None = None,
    phone: str | None = None,
    openid: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """The outbox message for an event, not yet stored. Same dedupe key, same ``_id``.

    WeChat is used when the person has an openid and the kind has a WeChat
    template; the phone is kept so that an undeliverable WeChat message can
    fall back to SMS.
    """
    template = template_for(kind)
    if template.immediate_only:
        raise ValidationFailed(f"{kind} is sent immediately, never queued", field="kind")
    template.check_params(params)
    channel = Channel.WECHAT if openid and template.wechat_template_id else Channel.SMS
    if channel is Channel.SMS and not (phone and _PHONE.match(phone)):
        raise InvalidPhone("an SMS needs a valid phone number", field="phone")
    now = clock.now()
    due = max(not_before or now, now)
    if not template.urgent:
        due = policy.quiet_hours.release_time(due)
    message = OutboxMessage(
        message_id=message_id_for(dedupe_key), kind=kind, channel=channel,
        dedupe_key=dedupe_key, params=dict(params), not_before=due, created_at=now,
        person_id=person_id, phone=phone, openid=openid if channel is Channel.WECHAT else None,
        next_attempt_at=due, inbox_text=template.render_inbox(params) if person_id else "",
    )
    return message


async def enqueue(*, outbox: OutboxRepository, **fields: Any) -> OutboxMessage:
    """Write a message to the outbox; the worker delivers it. Same dedupe key, same message."""
    stored, _ = await outbox.add(build_message(**fields))
    return stored


class ContactBook(Protocol):
    """Where a person can be reached besides the registry's phone (their WeChat openid)."""

    async def openid_of(self, person_id: str) -> str | None: ...


class NoContacts:
    async def openid_of(self, person_id: str) -> str | None:
        return None


@dataclass
class Notifier:
    """How the domains tell people things: by WeChat subscribe message when the person
    uses the mini-program (an undeliverable one falls back to SMS), else by SMS."""

    outbox: OutboxRepository
    clock: Clock
    policy: NotificationPolicy
    contacts: ContactBook = field(default_factory=NoContacts)

    async def message(self, kind: str, dedupe_key: str, params: Mapping[str, Any], *,
                      person_id: str | None, phone: str | None,
                      not_before: datetime | None = None) -> OutboxMessage | None:
        """The message to send, or None when the person cannot be reached at all."""
        openid = await self.contacts.openid_of(person_id) if person_id else None
        has_wechat = openid is not None and template_for(kind).wechat_template_id is not None
        if not has_wechat and not (phone and _PHONE.match(phone)):
            return None
        return build_message(kind=kind, dedupe_key=dedupe_key, params=params, clock=self.clock,
                             policy=self.policy, person_id=person_id, phone=phone,
                             openid=openid, not_before=not_before)

    def derived(self, message: OutboxMessage | None) -> list[Derived]:
        """The message as a record a version step writes (none when there is no message)."""
        return [] if message is None else [self.outbox.derived(message)]

    async def notify(self, kind: str, dedupe_key: str, params: Mapping[str, Any], *,
                     person_id: str | None, phone: str | None,
                     not_before: datetime | None = None) -> OutboxMessage | None:
        message = await self.message(kind, dedupe_key, params, person_id=person_id,
                                     phone=phone, not_before=not_before)
        if message is None:
            return None
        stored, _ = await self.outbox.add(message)
        return stored


async def send_login_code(phone: str, code: str, *, sms: SmsSender,
                          limiter: RateLimiter) -> None:
    """Send a login code at once (never queued, never held for quiet hours).

    The per-number limits are checked here first, so a person hears "try again
    in a minute" from us rather than a refusal from the provider.
    """
    if not _PHONE.match(phone):
        raise InvalidPhone("not a mainland mobile number", field="phone")
    try:
        hit = await limiter.hit("sms_code", phone, LOGIN_CODE_RULES)
    except RateLimited as limited:
        raise SmsRateLimited(limited.retry_after, rule=limited.rule) from None
    template = template_for(LOGIN_CODE)
    result = await sms.send(phone, template.aliyun_template_code, {"code": code})
    if result.outcome is Outcome.DELIVERED:
        return
    if result.outcome in (Outcome.PERMANENT, Outcome.CONFIG_ERROR):
        # Refused outright, so nothing reached the number: this try must not hold up
        # the next one. A transient failure may have gone out, and Aliyun's own rate
        # limit means it counts sends we did not see: both keep their slots, so the
        # "wait a minute" the person hears holds.
        await limiter.give_back(hit)
    if result.outcome is Outcome.RATE_LIMITED:
        raise SmsRateLimited(60, rule=result.code)
    if result.outcome is Outcome.PERMANENT:
        raise InvalidPhone(result.code, field="phone")
    raise SmsNotSent(result.code)


# -- the in-app inbox ------------------------------------------------------------------


@dataclass(frozen=True)
class InboxContext:
    outbox: OutboxRepository
    clock: Clock


async def inbox_of(person_id: str | None, *, ctx: InboxContext) -> list[OutboxMessage]:
    """A person's own messages, newest first (an account not yet bound has none)."""
    return await ctx.outbox.inbox(person_id) if person_id else []


async def mark_read(person_id: str | None, message_id: str, *, ctx: InboxContext) -> None:
    if not (person_id and await ctx.outbox.mark_read(message_id, person_id, ctx.clock.now())):
        raise MessageNotFound(message_id)  # not theirs, or no such message: the same
