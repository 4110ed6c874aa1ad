"""Card use cases: status and progress, loss and its cancellation, replacement, renewal,
the 12333 phone channel, feeds from card makers and banks, and the electronic card code."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from auth import service as auth_service
from auth.model import Principal, Role
from auth.tokens import TokenService
from common.audit import AuditLog
from common.clock import Clock, local_date
from common.errors import PreconditionFailed
from common.guard import Guard
from common.versioning import Derived
from notifications.service import Notifier
from notifications.templates import CARD_CHANGED
from pension_cert import service as pension
from people.model import Person, PersonNotFound
from people.repository import PeopleRepository
from social_card import service_points
from social_card.model import (
    Card,
    CardConfig,
    CardInvalid,
    CardNotFound,
    CardStatus,
    Event,
    EventRequest,
    RenewalNotDue,
    Step,
    in_renewal_window,
    next_status,
)
from social_card.repository import CardRepository

CARD_VALIDITY_YEARS = 10
_CHANGE_TEXT = {
    Event.ACTIVATE: "已激活",
    Event.TEMP_LOSS: "已临时挂失",
    Event.CANCEL_TEMP_LOSS: "已解除临时挂失",
    Event.FORMAL_LOSS: "已正式挂失",
    Event.CANCEL_LOSS: "已解挂",
    Event.REPLACE: "已申请补卡，原卡已注销",
    Event.RENEW: "已申请换卡，原卡已注销",
    Event.CANCEL: "已注销",
}


@dataclass
class CardContext:
    repo: CardRepository
    people: PeopleRepository
    notifier: Notifier
    clock: Clock
    guard: Guard
    audit: AuditLog
    tokens: TokenService
    auth: auth_service.AuthContext
    cert: pension.CertContext
    config: CardConfig = field(default_factory=CardConfig)

    def today(self) -> date:
        return local_date(self.clock.now())


AGENT_ONLY = {Event.ACTIVATE, Event.CANCEL}


async def apply_event(principal: Principal, card: Card, event_name: str, *,
                      request: EventRequest, on_behalf: str | None, ctx: CardContext) -> Card:
    try:
        event = Event(event_name)
    except ValueError:
        raise CardInvalid("unknown card event", field="event") from None
    agent = principal.role in (Role.AGENT, Role.ADMIN)
    if event in AGENT_ONLY and not agent:
        raise CardInvalid("this is done at a service point", field="event")
    today = ctx.today()
    functions = _functions(request)
    current = card.status_on(today, ctx.config)
    updated = Card(**{**card.__dict__, "status": current, "history": list(card.history)})
    if "ss" in functions:
        updated.status = next_status(current, event)
    if "bank" in functions:
        updated.bank_status = next_status(card.bank_status, event)
    if event is Event.RENEW and not in_renewal_window(card, today):
        raise RenewalNotDue("renewal opens 60 days before expiry",
                            opens_on=(card.expires_on - timedelta(days=60)).isoformat()
                            if card.expires_on else None)
    if event is Event.TEMP_LOSS:
        updated.temp_loss_on = today
        if agent:
            _require_identity_questions(request)
    derived: list[Derived] = []
    if event in (Event.REPLACE, Event.RENEW):
        # The new card is written by the step that ends the old one, named by that step.
        replacement = _new_card(card, _delivery(request), ctx=ctx)
        updated.replaced_by = replacement.card_id
        derived.append(ctx.repo.derived_card(replacement))
    entry = {"at": ctx.clock.now().isoformat(), "event": event.value, "actor": principal.subject,
             "on_behalf": on_behalf, "functions": sorted(functions),
             "status": updated.status.value, "bank_status": updated.bank_status.value}
    if agent and event is Event.TEMP_LOSS:
        entry["verified_by"] = list(request.verified_by)
        entry["channel"] = "12333"
    updated.history.append(entry)
    notice = await _notice(card, _CHANGE_TEXT[event], ctx=ctx, version=card.version + 1)
    updated.version = await ctx.repo.step(card, updated, [*derived, *notice])
    await ctx.audit.record(actor=principal.subject, action=f"card.{event.value}",
                           object=card.card_id, outcome=updated.status.value,
                           on_behalf_of=on_behalf,
                           **({"verified_by": ",".join(request.verified_by)}
                              if "verified_by" in entry else {}))
    return updated


def _functions(request: EventRequest) -> set[str]:
    if not request.functions or not request.functions <= {"ss", "bank"}:
        raise CardInvalid("functions is a list of ss and/or bank", field="functions")
    return set(request.functions)


def _require_identity_questions(request: EventRequest) -> None:
    """The 12333 phone channel: the agent records at least two questions the caller got
    right, so a loss reported by phone is as sure as one at the counter."""
    if len({q for q in request.verified_by if q.strip()}) < 2:
        raise CardInvalid("record at least two identity questions the caller answered",
                          field="verified_by")


def _delivery(request: EventRequest) -> dict[str, str]:
    if request.service_point_id:
        point = service_points.by_id(request.service_point_id)
        if point is None:
            raise CardInvalid("unknown service point", field="service_point_id")
        return {"service_point_id": point.point_id, "service_point": point.name}
    address = (request.address or "").strip()
    if 6 <= len(address) <= 200:
        return {"address": address}
    raise CardInvalid("give a delivery address or a service point", field="service_point_id")


def _new_card(old: Card, delivery: dict[str, str], *, ctx: CardContext) -> Card:
    """The replacement, named by the step that ends ``old``: a retry cannot make two."""
    now = ctx.clock.now()
    step = f"{old.card_id}:v{old.version + 1}"
    return Card(card_id="C" + hashlib.sha256(step.encode()).hexdigest()[:20],
                person_id=old.person_id, card_number=_new_number(), bank=old.bank,
                status=CardStatus.SEALED, bank_status=CardStatus.SEALED, created_at=now,
                replacement_of=old.card_id, delivery=delivery,
                steps=[{"step": Step.DATA_ENTERED.value, "at": now.isoformat()}])


def _new_number() -> str:
    return "N" + "".join(str(secrets.randbelow(10)) for _ in range(8))


async def _notice(card: Card, change: str, *, ctx: CardContext, version: int) -> list[Derived]:
    """The holder's notice of a change, as a record the change's step writes."""
    person = await ctx.people.get(card.person_id)
    if person is None:
        return []
    message = await ctx.notifier.message(
        CARD_CHANGED, f"card:{card.card_id}:v{version}",
        {"name": person.name, "last4": card.last4, "change": change},
        person_id=person.person_id, phone=person.phone)
    return ctx.notifier.derived(message)


async def daily(*, ctx: CardContext, today: date | None = None) -> int:
    """Make self-lifted temporary losses durable and tell the holder."""
    today = today or ctx.today()
    lifted = 0
    for card in await ctx.repo.in_status(CardStatus.TEMP_LOSS):
        if card.status_on(today, ctx.config) is CardStatus.NORMAL:
            history = [*card.history, {"at": ctx.clock.now().isoformat(), "event": "auto_lift",
                                       "status": CardStatus.NORMAL.value}]
            lifted_card = Card(**{**card.__dict__, "status": CardStatus.NORMAL,
                                  "history": history,
                                  "bank_status": CardStatus.NORMAL
                                  if card.bank_status is CardStatus.TEMP_LOSS
                                  else card.bank_status})
            notice = await _notice(card, "临时挂失已到期自动解除", ctx=ctx,
                                   version=card.version + 1)
            try:
                await ctx.repo.step(card, lifted_card, notice)
            except PreconditionFailed:
                continue  # changed meanwhile; the next run looks again
            lifted += 1
    return lifted


# -- feeds --------------------------------------------------------------------------------


async def ingest_issuance(*, source: str, record_id: str, id_number: str, card_number: str,
                          step: str, at: datetime, bank: str, ctx: CardContext) -> str:
    """Issuance progress from card makers, banks and service points; idempotent by record."""
    try:
        step_value = Step(step)
    except ValueError:
        raise CardInvalid("unknown issuance step", field="step") from None
    person = await ctx.people.find_by_id_number(id_number)
    if person is None:
        raise PersonNotFound(id_number)
    if not await ctx.repo.claim_event(source, record_id, {"kind": "issuance", "step": step,
                                                          "card_number": card_number}):
        return "duplicate"
    card = await ctx.repo.by_number(card_number)
    entry = {"step": step_value.value, "at": at.isoformat()}
    if card is None:
        card = Card(card_id="C" + secrets.token_hex(10), person_id=person.person_id,
                    card_number=card_number, bank=bank, status=CardStatus.SEALED,
                    bank_status=CardStatus.SEALED, created_at=ctx.clock.now(), steps=[entry])
        await ctx.repo.add(card)
        return "created"
    if card.person_id != person.person_id:
        raise CardInvalid("card number belongs to another person", field="card_number")
    changes: dict[str, Any] = {"steps": [*card.steps, entry]}
    if step_value is Step.COLLECTED_INACTIVE:
        issued = local_date(at)
        changes.update(issued_on=issued.isoformat(),
                       expires_on=issued.replace(year=issued.year + CARD_VALIDITY_YEARS)
                       .isoformat())
    await ctx.repo.step_changes(card, changes)
    return "recorded"


async def ingest_usage(*, source: str, record_id: str, card_number: str, kind: str, day: date,
                       ctx: CardContext) -> str:
    """Card use at a hospital or pharmacy is proof of life for pension certification."""
    if kind not in ("hospital", "pharmacy", "bank", "other"):
        raise CardInvalid("kind is hospital, pharmacy, bank or other", field="kind")
    card = await ctx.repo.by_number(card_number)
    if card is None:
        raise CardNotFound(card_number)
    if not await ctx.repo.claim_event(source, record_id, {"kind": "usage", "use": kind,
                                                          "card_number": card_number,
                                                          "day": day.isoformat()}):
        return "duplicate"
    if kind in ("hospital", "pharmacy"):
        with contextlib.suppress(pension.NotAPensioner):  # only pensioners certify
            await pension.ingest_signal(source=f"card:{source}", record_id=record_id,
                                        person_id=card.person_id, kind="card_use",
                                        day=min(day, ctx.today()), ctx=ctx.cert)
    return "recorded"


async def holder_of(card: Card, *, ctx: CardContext) -> Person:
    person = await ctx.people.get(card.person_id)
    if person is None:
        raise CardNotFound(card.card_id)
    return person


def progress_view(card: Card, today: date) -> list[dict[str, str]]:
    return card.progress(today)


# -- reads for the HTTP layer ---------------------------------------------------------------


async def get_card(card_id: str, *, ctx: CardContext) -> Card:
    """The card, or CardNotFound (the caller then checks who may see it)."""
    card = await ctx.repo.get(card_id)
    if card is None:
        raise CardNotFound(card_id)
    return card


async def cards_of(person_id: str, *, ctx: CardContext) -> list[Card]:
    """A person's cards, newest first."""
    return await ctx.repo.of_person(person_id)
