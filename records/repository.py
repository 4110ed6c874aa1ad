"""Contribution records and issued proofs in MongoDB. Documents never leave this module.

A contribution is stored once under its source record id (so a feed resent writes
nothing), after its version claim ``ver:<person>:<month>:<type>:<n>`` (naming the
source record that holds it) has made two concurrent corrections of one month take
different versions. A person's records are read back from
a per-person list (common/slots.py) written by each import batch, so reading one person
never scans the collection on the embedded database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_new, insert_once
from common.slots import SlotLists
from pension_cert.model import Month
from records.model import Contribution, InsuranceType, Payer

CONTRIBUTIONS = "contributions"
CONTRIBUTION_LISTS = "contribution_lists"
VERSION_CLAIMS = "contribution_versions"
PROOFS = "insurance_proofs"
INDEXES = [
    IndexSpec(CONTRIBUTIONS, [("person_id", 1), ("month", 1)], name="person_month"),
]


class ContributionRepository:
    def __init__(self, db: Database) -> None:
        self._rows: Collection = db[CONTRIBUTIONS]
        self._versions: Collection = db[VERSION_CLAIMS]
        self._lists = SlotLists(db[CONTRIBUTION_LISTS])

    async def of_person(self, person_id: str) -> list[Contribution]:
        """Every stored record of the person (all versions), each once."""
        seen: dict[str, Contribution] = {}
        for entry in await self._lists.items(_key(person_id)):
            for doc in entry["rows"]:
                seen.setdefault(doc["source_record_id"], _record(person_id, doc))
        return list(seen.values())

    async def claim_versions(self, records: Sequence[Contribution]) -> dict[int, str | None]:
        """Claim each record's (person, month, type, version) for its source record. For
        the positions held already: the source record holding each (None if unknown)."""
        taken = sorted(await insert_new(self._versions, [
            {"_id": _version_id(r), "source_record_id": r.source_record_id}
            for r in records]))
        holders = await asyncio.gather(
            *[self._versions.find_one({"_id": _version_id(records[i])}) for i in taken])
        return {i: (doc or {}).get("source_record_id") for i, doc in zip(taken, holders,
                                                                          strict=True)}

    async def release_versions(self, records: Sequence[Contribution]) -> None:
        """Give back the version claims of rows that were refused after claiming (only a
        claim naming the row's own source record is removed)."""
        for record in records:
            await self._versions.delete_one({"_id": _version_id(record),
                                             "source_record_id": record.source_record_id})

    async def store(self, records: Sequence[Contribution], now: datetime) -> set[int]:
        """Store records under their source record ids; the positions whose id existed."""
        return await insert_new(self._rows, [
            {"_id": r.source_record_id, "person_id": r.person_id, "imported_at": now,
             **_fields(r)} for r in records])

    async def by_source(self, source_record_ids: Sequence[str]) -> dict[str, Contribution]:
        found = {}
        for source_id in source_record_ids:
            doc = await self._rows.find_one({"_id": source_id})
            if doc is not None:
                found[source_id] = _record(doc["person_id"], doc)
        return found

    async def list_for(self, person_id: str, records: Sequence[Contribution]) -> None:
        """Add records to the person's list (one entry per import batch and person)."""
        if records:
            await self._lists.append(_key(person_id), {"rows": [_fields(r) for r in records]})

    async def count(self) -> int:
        return await self._rows.count_documents({})


class ProofRepository:
    """Issued proofs of insurance: the facts as printed, for the verification route."""

    def __init__(self, db: Database) -> None:
        self._proofs: Collection = db[PROOFS]

    async def add(self, proof_id: str, doc: Document) -> bool:
        return await insert_once(self._proofs, {"_id": proof_id, **doc})

    async def get(self, proof_id: str) -> dict[str, Any] | None:
        doc = await self._proofs.find_one({"_id": proof_id})
        if doc is None:
            return None
        doc["proof_id"] = doc.pop("_id")
        doc["issued_at"] = as_utc(doc["issued_at"])
        return doc

    async def revoke(self, proof_id: str, at: datetime, by: str) -> None:
        await self._proofs.update_one({"_id": proof_id, "revoked_at": None},
                                      {"$set": {"revoked_at": at, "revoked_by": by}})


def _key(person_id: str) -> str:
    return f"p{person_id}"


def _version_id(record: Contribution) -> str:
    return (f"ver:{record.person_id}:{record.month}:{record.insurance_type.value}"
            f":{record.version}")


def _fields(record: Contribution) -> Document:
    return {"source_record_id": record.source_record_id, "month": str(record.month),
            "insurance_type": record.insurance_type.value, "base_fen": record.base_fen,
            "employer_fen": record.employer_fen, "personal_fen": record.personal_fen,
            "payer": record.payer.value, "version": record.version}


def _record(person_id: str, doc: Document) -> Contribution:
    return Contribution(
        person_id=person_id, source_record_id=doc["source_record_id"],
        month=Month.parse(doc["month"]), insurance_type=InsuranceType(doc["insurance_type"]),
        base_fen=int(doc["base_fen"]), employer_fen=int(doc["employer_fen"]),
        personal_fen=int(doc["personal_fen"]), payer=Payer(doc["payer"]),
        version=int(doc.get("version", 1)))
