"""MongoDB storage of the person registry. Documents never leave this module."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.mongo import Collection, Database, Document, IndexSpec
from people.model import (
    PaymentStatus,
    Person,
    PersonDetails,
    PersonType,
    PrisonPeriod,
    Sex,
)

COLLECTION = "people"
INDEXES = [
    IndexSpec(COLLECTION, [("id_number", 1)], name="id_number_unique", unique=True),
    IndexSpec(COLLECTION, [("region_code", 1), ("person_type", 1)], name="region_type"),
]


def new_person_id() -> str:
    return "P" + secrets.token_hex(10)


class PeopleRepository:
    def __init__(self, db: Database) -> None:
        self._people: Collection = db[COLLECTION]

    async def get(self, person_id: str) -> Person | None:
        found = await self._people.find_one({"_id": person_id})
        return _from_doc(found) if found else None

    async def find_by_id_number(self, id_number: str) -> Person | None:
        found = await self._people.find_one({"id_number": id_number})
        return _from_doc(found) if found else None

    async def count(self) -> int:
        return await self._people.count_documents({})

    async def set_payment_status(self, person_id: str, status: PaymentStatus) -> None:
        await self._people.update_one({"_id": person_id},
                                      {"$set": {"payment_status": status.value}})

    async def record_death(self, person_id: str, day: date) -> None:
        await self._people.update_one({"_id": person_id},
                                      {"$set": {"death_date": day.isoformat()}})

    async def upsert_batch(self, batch: Sequence[PersonDetails]) -> tuple[int, int]:
        """Upsert many people by ID number in few round trips. Returns (created, updated).

        One query finds who exists, one ``insert_many`` adds the rest, and only
        records that really changed are rewritten; a row that loses a race
        with a concurrent import falls back to the one-by-one path.
        """
        latest = {d.id_number: d for d in batch}  # a file may list a person twice: last wins
        existing = {
            doc["id_number"]: doc
            async for doc in self._people.find({"id_number": {"$in": list(latest)}})
        }
        created = updated = 0
        fresh = [d for number, d in latest.items() if number not in existing]
        if fresh:
            try:
                result = await self._people.insert_many(
                    [{"_id": new_person_id(), **_to_fields(d)} for d in fresh], ordered=False)
                created += len(result.inserted_ids)
            except BulkWriteError as error:
                created += error.details.get("nInserted", 0)
                for failed in error.details.get("writeErrors", []):
                    _, was_created = await self.upsert(fresh[failed["index"]])
                    created += was_created
                    updated += not was_created
        for number, doc in existing.items():
            fields = _to_fields(latest[number])
            if any(doc.get(k) != v for k, v in fields.items()):
                await self._people.update_one({"_id": doc["_id"]}, {"$set": fields})
            updated += 1
        return created, updated

    async def upsert(self, details: PersonDetails) -> tuple[Person, bool]:
        """Insert a new person, or update the one with this ID number. Returns (person, created)."""
        fields = _to_fields(details)
        for _ in range(3):
            existing = await self._people.find_one({"id_number": details.id_number}, {"_id": 1})
            if existing is not None:
                await self._people.update_one({"_id": existing["_id"]}, {"$set": fields})
                return Person(**asdict_shallow(details), person_id=existing["_id"]), False
            person_id = new_person_id()
            try:
                await self._people.insert_one({"_id": person_id, **fields})
            except DuplicateKeyError:
                continue  # a concurrent import inserted this ID number first: update it
            return Person(**asdict_shallow(details), person_id=person_id), True
        raise RuntimeError("could not upsert person after concurrent inserts")


def asdict_shallow(details: PersonDetails) -> dict[str, Any]:
    # dataclasses.asdict would turn the PrisonPeriod tuple into dicts.
    return {name: getattr(details, name) for name in PersonDetails.__dataclass_fields__}


def _to_fields(details: PersonDetails) -> Document:
    doc = asdict(details)
    doc["sex"] = details.sex.value
    doc["person_type"] = details.person_type.value
    doc["payment_status"] = details.payment_status.value
    # Calendar dates are stored as ISO strings: they are days, not instants.
    doc["birth_date"] = details.birth_date.isoformat()
    doc["death_date"] = details.death_date.isoformat() if details.death_date else None
    doc["prison_periods"] = [
        {"start": p.start.isoformat(), "end": p.end.isoformat() if p.end else None}
        for p in details.prison_periods
    ]
    return doc


def _from_doc(doc: Document) -> Person:
    return Person(
        person_id=doc["_id"],
        name=doc["name"],
        id_number=doc["id_number"],
        sex=Sex(doc["sex"]),
        birth_date=date.fromisoformat(doc["birth_date"]),
        phone=doc.get("phone"),
        region_code=doc["region_code"],
        person_type=PersonType(doc["person_type"]),
        lives_outside_region=bool(doc.get("lives_outside_region", False)),
        prison_periods=tuple(
            PrisonPeriod(date.fromisoformat(p["start"]),
                         date.fromisoformat(p["end"]) if p.get("end") else None)
            for p in doc.get("prison_periods", [])
        ),
        monthly_pension_fen=doc.get("monthly_pension_fen"),
        payment_status=PaymentStatus(doc.get("payment_status", "not_applicable")),
        death_date=date.fromisoformat(doc["death_date"]) if doc.get("death_date") else None,
    )
