"""MongoDB storage of the person registry. Documents never leave this module."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from people.lookups import PersonLookups
from people.model import (
    Person,
    PersonDetails,
    PersonType,
    PrisonPeriod,
    Sex,
    UpsertOutcome,
)

COLLECTION = "people"
# id_number -> person_id, keyed by the ID number: the embedded database uses an index
# only for an exact ``_id``, so finding people by ID number goes through here.
BY_ID_NUMBER = "people_by_id_number"
LOOKUPS_AT_ONCE = 64
INDEXES = [
    IndexSpec(COLLECTION, [("id_number", 1)], name="id_number_unique", unique=True),
    IndexSpec(COLLECTION, [("region_code", 1), ("person_type", 1)], name="region_type"),
]


def new_person_id() -> str:
    return "P" + secrets.token_hex(10)


class PeopleRepository:
    def __init__(self, db: Database) -> None:
        self._people: Collection = db[COLLECTION]
        self._by_number: Collection = db[BY_ID_NUMBER]
        self.lookups = PersonLookups(db)  # by phone, by name and birth year (console search)

    async def get(self, person_id: str) -> Person | None:
        found = await self._people.find_one({"_id": person_id})
        return _from_doc(found) if found else None

    async def find_by_id_number(self, id_number: str) -> Person | None:
        doc = await self._doc_by_number(id_number)
        return _from_doc(doc) if doc else None

    async def _doc_by_number(self, id_number: str) -> Document | None:
        entry = await self._by_number.find_one({"_id": id_number})
        if entry is None:
            return None
        return await self._people.find_one({"_id": entry["person_id"]})

    async def _adopt(self, id_number: str) -> Document | None:
        """A person stored without a lookup entry (before lookups existed): found the slow
        way, once, when inserting the ID number again collides with it."""
        found = await self._people.find_one({"id_number": id_number})
        if found is not None:
            await insert_once(self._by_number, {"_id": id_number, "person_id": found["_id"]})
        return found

    async def _docs_by_number(self, numbers: Sequence[str]) -> dict[str, Document]:
        """Existing people by ID number, looked up by ``_id`` a few dozen at a time."""
        found: dict[str, Document] = {}
        for start in range(0, len(numbers), LOOKUPS_AT_ONCE):
            chunk = numbers[start:start + LOOKUPS_AT_ONCE]
            docs = await asyncio.gather(*[self._doc_by_number(n) for n in chunk])
            found.update({n: d for n, d in zip(chunk, docs, strict=True) if d is not None})
        return found

    async def many(self, person_ids: Sequence[str]) -> dict[str, Person]:
        """Several people in one query, by id."""
        cursor = self._people.find({"_id": {"$in": list(person_ids)}})
        return {doc["_id"]: _from_doc(doc) async for doc in cursor}

    async def set_pension_amount(self, person_id: str, monthly_fen: int) -> None:
        """A raise from the registry's import (the registry owns amounts)."""
        await self._people.update_one({"_id": person_id},
                                      {"$set": {"monthly_pension_fen": monthly_fen}})

    async def count(self) -> int:
        return await self._people.count_documents({})

    async def upsert_batch(self, batch: Sequence[PersonDetails]) -> UpsertOutcome:
        """Upsert many people by ID number in few round trips.

        Lookups by ``_id`` find who exists, two ``insert_many`` add the rest, and only
        records that really changed are rewritten (a row identical to the stored
        record counts as unchanged); a row that loses a race with a concurrent
        import falls back to the one-by-one path. Only registry-owned fields are
        ever written here.
        """
        latest = {d.id_number: d for d in batch}  # a file may list a person twice: last wins
        existing = await self._docs_by_number(list(latest))
        totals = {"created": 0, "updated": 0, "unchanged": 0}
        new_pensioners: list[Person] = []
        people: list[Person] = []
        created: set[str] = set()  # stored by this call: filed under no key yet
        fresh = [d for number, d in latest.items() if number not in existing]
        if fresh:
            docs = [{"_id": new_person_id(), **_to_fields(d)} for d in fresh]
            # The ID number is claimed first (its lookup is an insert keyed by it), then
            # the person is stored: a crash in between leaves a claim the next import
            # finds and completes.
            failed = await _insert_all(self._by_number, [
                {"_id": d["id_number"], "person_id": d["_id"]} for d in docs])
            claimed = [i for i in range(len(docs)) if i not in failed]
            failed |= {claimed[j] for j in await _insert_all(
                self._people, [docs[i] for i in claimed])}
            for i, doc in enumerate(docs):
                if i in failed:
                    continue
                person = _from_doc(doc)
                totals["created"] += 1
                people.append(person)
                created.add(person.person_id)
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
        await self.lookups.file(people, new=created)
        return UpsertOutcome(new_pensioners=tuple(new_pensioners), people=tuple(people),
                             **totals)

    async def upsert(self, details: PersonDetails) -> tuple[Person, str, bool]:
        """Insert a new person, or update the one with this ID number.

        Returns (person, "created" | "updated" | "unchanged", became a pensioner)."""
        for _ in range(3):
            existing = await self._doc_by_number(details.id_number)
            if existing is not None:
                updated = await self._update(existing, details)
                await self.lookups.file([updated[0]])
                return updated
            claim = await self._by_number.find_one({"_id": details.id_number})
            person_id = claim["person_id"] if claim else new_person_id()
            if claim is None and not await insert_once(
                    self._by_number, {"_id": details.id_number, "person_id": person_id}):
                continue  # a concurrent import claimed this ID number first: update it
            doc = {"_id": person_id, **_to_fields(details)}
            try:
                await self._people.insert_one(doc)
            except DuplicateKeyError:
                adopted = await self._adopt(details.id_number)
                if adopted is not None and adopted["_id"] != person_id:
                    await self._by_number.update_one({"_id": details.id_number},
                                                     {"$set": {"person_id": adopted["_id"]}})
                continue
            person = _from_doc(doc)
            await self.lookups.file([person])
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


async def _insert_all(collection: Collection, docs: list[Document]) -> set[int]:
    """Insert ``docs``; the positions (in ``docs``) of those that already existed."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        return {f["index"] for f in error.details.get("writeErrors", [])}
    return set()


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
