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
    Person,
    PersonDetails,
    PersonType,
    PrisonPeriod,
    Sex,
    UpsertOutcome,
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

    async def many(self, person_ids: Sequence[str]) -> dict[str, Person]:
        """Several people in one query, by id."""
        cursor = self._people.find({"_id": {"$in": list(person_ids)}})
        return {doc["_id"]: _from_doc(doc) async for doc in cursor}

    async def count(self) -> int:
        return await self._people.count_documents({})

    async def upsert_batch(self, batch: Sequence[PersonDetails]) -> UpsertOutcome:
        """Upsert many people by ID number in few round trips.

        One query finds who exists, one ``insert_many`` adds the rest, and only
        records that really changed are rewritten (a row identical to the stored
        record counts as unchanged); a row that loses a race with a concurrent
        import falls back to the one-by-one path. Only registry-owned fields are
        ever written here.
        """
        latest = {d.id_number: d for d in batch}  # a file may list a person twice: last wins
        existing = {
            doc["id_number"]: doc
            async for doc in self._people.find({"id_number": {"$in": list(latest)}})
        }
        totals = {"created": 0, "updated": 0, "unchanged": 0}
        new_pensioners: list[Person] = []
        people: list[Person] = []
        fresh = [d for number, d in latest.items() if number not in existing]
        if fresh:
            docs = [{"_id": new_person_id(), **_to_fields(d)} for d in fresh]
            failed: set[int] = set()
            try:
                await self._people.insert_many(docs, ordered=False)
            except BulkWriteError as error:
                failed = {f["index"] for f in error.details.get("writeErrors", [])}
            for i, doc in enumerate(docs):
                if i in failed:
                    continue
                person = _from_doc(doc)
                totals["created"] += 1
                people.append(person)
                if person.is_pensioner:
                    new_pensioners.append(person)
            for i in sorted(failed):  # lost a race with a concurrent import: one by one
                person, outcome, became = await self.upsert(fresh[i])
                totals[outcome] += 1
                people.append(person)
                if became:
                    new_pensioners.append(person)
        for number, doc in existing.items():
            person, outcome, became = await self._update(doc, latest[number])
            totals[outcome] += 1
            people.append(person)
            if became:
                new_pensioners.append(person)
        return UpsertOutcome(new_pensioners=tuple(new_pensioners), people=tuple(people),
                             **totals)

    async def upsert(self, details: PersonDetails) -> tuple[Person, str, bool]:
        """Insert a new person, or update the one with this ID number.

        Returns (person, "created" | "updated" | "unchanged", became a pensioner)."""
        for _ in range(3):
            existing = await self._people.find_one({"id_number": details.id_number})
            if existing is not None:
                return await self._update(existing, details)
            doc = {"_id": new_person_id(), **_to_fields(details)}
            try:
                await self._people.insert_one(doc)
            except DuplicateKeyError:
                continue  # a concurrent import inserted this ID number first: update it
            person = _from_doc(doc)
            return person, "created", person.is_pensioner
        raise RuntimeError("could not upsert person after concurrent inserts")

    async def _update(self, doc: Document, details: PersonDetails) -> tuple[Person, str, bool]:
        fields = _to_fields(details)
        person = Person(**asdict_shallow(details), person_id=doc["_id"])
        became = person.is_pensioner and not _from_doc(doc).is_pensioner
        if all(doc.get(k) == v for k, v in fields.items()):
            return person, "unchanged", False
        await self._people.update_one({"_id": doc["_id"]}, {"$set": fields})
        return person, "updated", became


def asdict_shallow(details: PersonDetails) -> dict[str, Any]:
    # dataclasses.asdict would turn the PrisonPeriod tuple into dicts.
    return {name: getattr(details, name) for name in PersonDetails.__dataclass_fields__}


def _to_fields(details: PersonDetails) -> Document:
    doc = asdict(details)
    doc["sex"] = details.sex.value
    doc["person_type"] = details.person_type.value
    # Calendar dates are stored as ISO strings: they are days, not instants.
    doc["birth_date"] = details.birth_date.isoformat()
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
    )
