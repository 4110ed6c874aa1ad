"""The outbox worker: claims due messages attempt by attempt, sends, records.

Each try of a message is a slot ``<message>:try<n>`` in the attempt log, taken
by inserting it (the guard pattern), with a lease. So several workers on
several machines never work on the same attempt, and a worker that dies after
claiming leaves a slot whose lease runs out; the next worker marks it
abandoned and takes the next slot. Delivery is therefore at least once: a
duplicate needs a worker to die after the provider accepted and before the
result was written, and that attempt then shows as "abandoned" in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from common.clock import Clock, as_utc
from notifications.model import (
    Attempt,
    Channel,
    MessageStatus,
    OutboxMessage,
    Outcome,
    SendResult,
)
from notifications.repository import OutboxRepository
from notifications.service import NotificationPolicy, SmsSender, enqueue
from notifications.templates import template_for
from notifications.wechat import WeChatApi

log = logging.getLogger(__name__)


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sends = Counter("outbox_sends_total", "Send attempts by kind, channel and outcome",
                             ["kind", "channel", "outcome"], registry=registry)
        self.backlog = Gauge("outbox_backlog", "Messages waiting to be delivered",
                             registry=registry)
        self.oldest_age = Gauge("outbox_oldest_due_age_seconds",
                                "How long the oldest due message has waited", registry=registry)
        self.dead = Gauge("outbox_dead_letters", "Messages given up on", registry=registry)
        self.alerts = Counter("outbox_provider_alerts_total",
                              "Provider answers an operator must act on (balance, config)",
                              ["code"], registry=registry)


@dataclass
class Gateways:
    sms: SmsSender
    wechat: WeChatApi


GAUGE_SECONDS = 15.0  # how often the backlog gauges are counted again


class OutboxWorker:
    def __init__(self, *, outbox: OutboxRepository, gateways: Gateways, clock: Clock,
                 policy: NotificationPolicy, metrics: OutboxMetrics | None = None,
                 worker_id: str | None = None, rng: random.Random | None = None) -> None:
        self.outbox = outbox
        self.gateways = gateways
        self.clock = clock
        self.policy = policy
        self.metrics = metrics
        self.worker_id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._gauges_at = float("-inf")

    # -- the loop ---------------------------------------------------------------

    async def run_once(self, limit: int = 50) -> int:
        """Work through the messages due now. Returns how many attempts were made."""
        attempts = 0
        for message in await self.outbox.due(self.clock.now(), limit):
            attempts += await self.process(message)
        now = time.monotonic()
        if now - self._gauges_at >= GAUGE_SECONDS:  # counting is a scan: not every poll
            self._gauges_at = now
            await self.refresh_gauges()
        return attempts

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 1.0,
                          idle_seconds: float = 5.0) -> None:
        """Poll every ``poll_seconds`` while there is work; with nothing to do, back off to
        ``idle_seconds`` between polls (an idle service costs next to nothing)."""
        wait = poll_seconds
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("outbox worker pass failed; trying again")
                worked = 0
            if worked:
                wait = poll_seconds
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(idle_seconds, wait * 2)

    async def process(self, message: OutboxMessage) -> int:
        if await self._held_for_quiet_hours(message):
            return 0
        attempt = await self.claim(message)
        if attempt is None:
            return 0
        result = await self.send(message)
        await self.record(message, attempt, result)
        return 1

    # -- the three steps (a crash can fall between any two) ----------------------

    async def claim(self, message: OutboxMessage) -> Attempt | None:
        """Take the next attempt slot of ``message``, or None if it is not ours to try."""
        now = self.clock.now()
        number = message.attempts + 1
        while True:
            if number - message.attempt_base > self.policy.retry.max_attempts:
                await self._give_up(message, number - 1, "too many attempts")
                return None
            attempt = await self.outbox.claim_attempt(message.message_id, number, self.worker_id,
                                                      now, self.policy.lease)
            if attempt is not None:
                return attempt
            held = await self.outbox.get_attempt(message.message_id, number)
            if held is None:
                continue  # vanished between insert and read; try the same slot again
            if held.finished and held.outcome != "abandoned":
                await self._roll_forward(message, held)
                return None
            if not held.finished:
                if held.lease_until > now:
                    return None  # another worker is on this attempt right now
                await self.outbox.mark_abandoned(held, now)
            number += 1

    async def send(self, message: OutboxMessage) -> SendResult:
        template = template_for(message.kind)
        try:
            if message.channel is Channel.WECHAT:
                assert message.openid
                assert template.wechat_template_id
                return await self.gateways.wechat.send_subscribe(
                    openid=message.openid, template_id=template.wechat_template_id,
                    page=template.wechat_page, data=template.wechat_data(message.params))
            assert message.phone
            return await self.gateways.sms.send(message.phone, template.aliyun_template_code,
                                                message.params)
        except Exception as error:  # a bug or an outage must not lose the message
            log.exception("send failed unexpectedly", extra={"message_id": message.message_id})
            return SendResult(Outcome.TRANSIENT, "exception", f"{type(error).__name__}")

    async def record(self, message: OutboxMessage, attempt: Attempt, result: SendResult) -> None:
        now = self.clock.now()
        extra = self._decide(message, attempt.number, result, now)
        await self.outbox.finish_attempt(attempt, result, now, extra)
        finished = Attempt(**{**attempt.__dict__, "outcome": result.outcome.value,
                              "code": result.code, "detail": result.detail,
                              "provider_id": result.provider_id, "finished_at": now,
                              "extra": extra})
        await self._apply(message, finished)
        if self.metrics:
            self.metrics.sends.labels(message.kind, message.channel.value,
                                      result.outcome.value).inc()
        if result.alert:
            if self.metrics:
                self.metrics.alerts.labels(result.code).inc()
            log.error("notification provider needs an operator: %s %s", result.code,
                      result.detail, extra={"message_id": message.message_id})

    # -- deciding and applying an attempt's result ---------------------------------

    def _decide(self, message: OutboxMessage, number: int, result: SendResult,
                now: datetime) -> dict[str, Any]:
        """What the message becomes after this attempt; stored with the attempt so a
        worker that dies before updating the message can be rolled forward exactly."""
        outcome = result.outcome
        if outcome is Outcome.DELIVERED:
            return {"status": MessageStatus.DELIVERED.value}
        if outcome is Outcome.NO_SUBSCRIPTION:
            return {"status": MessageStatus.NOT_DELIVERED.value}
        used = number - message.attempt_base
        if outcome.retry and used < self.policy.retry.max_attempts:
            delay = self.policy.retry.delay(used, outcome, self._rng)
            return {"status": MessageStatus.PENDING.value, "retry_at": now + delay}
        reason = f"{result.code}: {result.detail}" if not outcome.retry else (
            f"gave up after {used} attempts; last {result.code}: {result.detail}")
        return {"status": MessageStatus.DEAD.value, "dead_reason": reason[:500]}

    async def _apply(self, message: OutboxMessage, attempt: Attempt) -> None:
        decision = attempt.extra
        changes: dict[str, Any] = {
            "attempts": attempt.number, "status": decision["status"],
            "last_outcome": attempt.outcome, "last_code": attempt.code,
        }
        if decision["status"] == MessageStatus.DELIVERED.value:
            changes.update(delivered_at=attempt.finished_at, provider_id=attempt.provider_id)
        elif decision["status"] == MessageStatus.PENDING.value:
            changes["next_attempt_at"] = as_utc(decision["retry_at"])
        elif decision["status"] == MessageStatus.DEAD.value:
            changes["dead_reason"] = decision["dead_reason"]
        elif decision["status"] == MessageStatus.NOT_DELIVERED.value:
            fallback = await self._fall_back_to_sms(message)
            changes["fallback_message_id"] = fallback
        await self.outbox.update(message.message_id, message.attempts, changes)

    async def _roll_forward(self, message: OutboxMessage, attempt: Attempt) -> None:
        """An attempt finished but its worker died before updating the message."""
        if attempt.outcome == "abandoned" or not attempt.extra:
            return
        await self._apply(message, attempt)

    async def _fall_back_to_sms(self, message: OutboxMessage) -> str | None:
        template = template_for(message.kind)
        if not (template.sms_fallback and message.phone):
            return None
        fallback = await enqueue(
            kind=message.kind, dedupe_key=f"{message.dedupe_key}:sms-fallback",
            params=message.params, outbox=self.outbox, clock=self.clock, policy=self.policy,
            person_id=None, phone=message.phone,
        )
        return fallback.message_id

    async def _give_up(self, message: OutboxMessage, attempts: int, reason: str) -> None:
        await self.outbox.update(message.message_id, message.attempts, {
            "status": MessageStatus.DEAD.value, "attempts": attempts, "dead_reason": reason})

    async def _held_for_quiet_hours(self, message: OutboxMessage) -> bool:
        if template_for(message.kind).urgent:
            return False
        now = self.clock.now()
        release = self.policy.quiet_hours.release_time(now)
        if release > now:
            await self.outbox.reschedule(message.message_id, release)
            return True
        return False

    async def refresh_gauges(self) -> None:
        if self.metrics is None:
            return
        pending, age, dead = await self.outbox.backlog(self.clock.now())
        self.metrics.backlog.set(pending)
        self.metrics.oldest_age.set(age)
        self.metrics.dead.set(dead)


