"""Filings and settlement records in MongoDB. Documents never leave this module."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from common.versioning import Derived, Stepper
from medical_insurance.model import Category, Destination, Filing, Status

FILINGS = "filings"
SETTLEMENTS = "settlements"
INDEXES = [
    IndexSpec(FILINGS, [("person_id", 1), ("created_at", -1)], name="person"),
    IndexSpec(FILINGS, [("status", 1), ("end_date", 1)], name="status_end"),
    IndexSpec(FILINGS, [("region_code", 1), ("created_at", -1)], name="region"),
]


class FilingRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._stepper = stepper
        self._filings: Collection = db[FILINGS]
        self._settlements: Collection = db[SETTLEMENTS]

    async def step(self, filing: Filing, changed: Filing,
                   derived: Sequence[Derived] = ()) -> int:
        """Move ``filing`` (at its version) to ``changed``; claim first, then write."""
        return await self._stepper.step(self._filings, filing.filing_id, filing.version,
                                        changes_doc(changed), derived)

    async def add(self, filing: Filing, region_code: str) -> bool:
        """False when a filing with this id exists already (a retried create)."""
        return await insert_once(self._filings, {**_doc(filing), "region_code": region_code})

    async def get(self, filing_id: str) -> Filing | None:
        doc = await self._filings.find_one({"_id": filing_id})
        return _filing(doc) if doc else None

    async def of_person(self, person_id: str) -> list[Filing]:
        cursor = self._filings.find({"person_id": person_id}).sort("created_at", -1)
        return [_filing(doc) async for doc in cursor]

    async def search(self, *, region_prefixes: Sequence[str] | None, person_id: str | None,
                     statuses: Sequence[Status] | None, since: date | None,
                     until: date | None, limit: int) -> list[Filing]:
        """Filings newest first: of the regions whose codes start with one of
        ``region_prefixes`` (the person's region, stored with the filing; None: every
        region), of one person, stored in one of ``statuses``, starting within
        [since, until]. None and empty filters do not filter, except an empty list of
        regions, which covers nothing."""
        if region_prefixes is not None and not region_prefixes:
            return []
        query: Document = {}
        if region_prefixes is not None:
            query["$or"] = [{"region_code": {"$regex": f"^{re.escape(prefix)}"}}
                            for prefix in region_prefixes]
        if person_id:
            query["person_id"] = person_id
        if statuses:
            query["status"] = {"$in": [status.value for status in statuses]}
        if since or until:  # stored as ISO dates, which compare as text
            query["start_date"] = {**({"$gte": since.isoformat()} if since else {}),
                                   **({"$lte": until.isoformat()} if until else {})}
        cursor = self._filings.find(query).sort("created_at", -1).limit(limit)
        return [_filing(doc) async for doc in cursor]

    async def effective_temporary(self) -> list[Filing]:
        cursor = self._filings.find({"status": Status.EFFECTIVE.value, "end_date": {"$ne": None}})
        return [_filing(doc) async for doc in cursor]

    async def add_settlement(self, record: dict[str, Any]) -> bool:
        """Idempotent by settlement number."""
        return await insert_once(self._settlements, {"_id": record["settlement_no"], **record})


def changes_doc(filing: Filing) -> Document:
    doc = _doc(filing)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _doc(filing: Filing) -> Document:
    return {
        "_id": filing.filing_id, "person_id": filing.person_id, "category": filing.category.value,
        "destination": {"province_code": filing.destination.province_code,
                        "city_code": filing.destination.city_code},
        "start_date": filing.start_date.isoformat(),
        "end_date": filing.end_date.isoformat() if filing.end_date else None,
        "status": filing.status.value, "channel": filing.channel, "actor": filing.actor,
        "on_behalf": filing.on_behalf, "created_at": filing.created_at,
        "hospital": filing.hospital, "details": filing.details,
        "commitment_version": filing.commitment_version, "late": filing.late,
        "version": filing.version, "history": filing.history,
    }


def _filing(doc: Document) -> Filing:
    return Filing(
        filing_id=doc["_id"], person_id=doc["person_id"], category=Category(doc["category"]),
        destination=Destination(doc["destination"]["province_code"],
                                doc["destination"]["city_code"]),
        start_date=date.fromisoformat(doc["start_date"]),
        end_date=date.fromisoformat(doc["end_date"]) if doc.get("end_date") else None,
        status=Status(doc["status"]), channel=doc["channel"], actor=doc["actor"],
        created_at=as_utc(doc["created_at"]), on_behalf=doc.get("on_behalf"),
        hospital=doc.get("hospital"), details=dict(doc.get("details") or {}),
        commitment_version=doc.get("commitment_version"), late=bool(doc.get("late")),
        version=int(doc.get("version", 1)), history=list(doc.get("history") or []),
    )
