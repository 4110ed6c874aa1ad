"""Cards and card events in MongoDB. Documents never leave this module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import date, datetime
from typing import Any

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from common.versioning import Derived, Stepper
from social_card.model import Card, CardStatus

CARDS = "cards"
EVENTS = "card_events"
INDEXES = [
    IndexSpec(CARDS, [("person_id", 1)], name="person"),
    IndexSpec(CARDS, [("card_number", 1)], name="card_number"),
    IndexSpec(CARDS, [("status", 1)], name="status"),
]
_DATES = ("issued_on", "expires_on", "temp_loss_on")


class CardRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._stepper = stepper
        self._cards: Collection = db[CARDS]
        self._events: Collection = db[EVENTS]

    async def add(self, card: Card) -> None:
        await self._cards.insert_one(_doc(card))

    def derived_card(self, card: Card) -> Derived:
        """A card a version step creates (a replacement), written by that step."""
        return Derived(CARDS, _doc(card))

    async def step(self, card: Card, changed: Card, derived: Sequence[Derived] = ()) -> int:
        """Move ``card`` (at its version) to ``changed``; claim first, then write."""
        return await self._stepper.step(self._cards, card.card_id, card.version,
                                        changes_doc(changed), derived)

    async def step_changes(self, card: Card, changes: dict[str, Any]) -> int:
        return await self._stepper.step(self._cards, card.card_id, card.version, changes)

    async def get(self, card_id: str) -> Card | None:
        doc = await self._cards.find_one({"_id": card_id})
        return _card(doc) if doc else None

    async def by_number(self, card_number: str) -> Card | None:
        doc = await self._cards.find_one({"card_number": card_number})
        return _card(doc) if doc else None

    async def of_person(self, person_id: str) -> list[Card]:
        cursor = self._cards.find({"person_id": person_id}).sort("created_at", -1)
        return [_card(doc) async for doc in cursor]

    async def in_status(self, status: CardStatus) -> list[Card]:
        return [_card(doc) async for doc in self._cards.find({"status": status.value})]

    async def claim_event(self, source: str, record_id: str, doc: dict[str, Any]) -> bool:
        """Feeds are idempotent by the source's own record id."""
        return await insert_once(self._events, {"_id": f"{source}:{record_id}", **doc})


def changes_doc(card: Card) -> Document:
    doc = _doc(card)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _doc(card: Card) -> Document:
    doc = asdict(card)
    doc["_id"] = doc.pop("card_id")
    doc["status"] = card.status.value
    doc["bank_status"] = card.bank_status.value
    for name in _DATES:
        value = getattr(card, name)
        doc[name] = value.isoformat() if value else None
    return doc


def _card(doc: Document) -> Card:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(Card) if f.name != "card_id"}
    values["status"] = CardStatus(values["status"])
    values["bank_status"] = CardStatus(values["bank_status"])
    for name in _DATES:
        values[name] = date.fromisoformat(values[name]) if values[name] else None
    if isinstance(values["created_at"], datetime):
        values["created_at"] = as_utc(values["created_at"])
    values["steps"] = list(values["steps"] or [])
    values["history"] = list(values["history"] or [])
    values["delivery"] = dict(values["delivery"] or {})
    return Card(card_id=doc["_id"], **values)
