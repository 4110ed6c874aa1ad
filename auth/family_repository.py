"""Family links (亲情服务) in MongoDB: who may act for whom, with which permissions.
Documents never leave this module."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from auth.model import FamilyLink, FamilyStatus
from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from common.versioning import Stepper

FAMILY = "family_links"
INDEXES = [
    IndexSpec(FAMILY, [("grantor_person_id", 1)], name="grantor"),
    IndexSpec(FAMILY, [("grantee_account_id", 1)], name="grantee"),
]


class FamilyRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._links: Collection = db[FAMILY]
        self._stepper = stepper

    async def add(self, link: FamilyLink) -> bool:
        """False when a link with this id exists (a retried invitation)."""
        return await insert_once(self._links, _doc(link))

    async def get(self, link_id: str) -> FamilyLink | None:
        doc = await self._links.find_one({"_id": link_id})
        return _link(doc) if doc else None

    async def confirmed(self, grantor_person_id: str, grantee_account_id: str
                        ) -> FamilyLink | None:
        doc = await self._links.find_one({"grantor_person_id": grantor_person_id,
                                          "grantee_account_id": grantee_account_id,
                                          "status": FamilyStatus.CONFIRMED.value})
        return _link(doc) if doc else None

    async def of_account(self, account_id: str) -> list[FamilyLink]:
        cursor = self._links.find({"$or": [{"grantor_account_id": account_id},
                                           {"grantee_account_id": account_id}]})
        return [_link(doc) async for doc in cursor]

    async def of_person(self, person_id: str) -> list[FamilyLink]:
        cursor = self._links.find({"grantor_person_id": person_id})
        return [_link(doc) async for doc in cursor]

    async def step(self, link: FamilyLink, changes: dict[str, Any],
                   expected_version: int) -> int:
        return await self._stepper.step(self._links, link.link_id, expected_version, changes)


def _doc(link: FamilyLink) -> Document:
    doc = asdict(link)
    doc["_id"] = doc.pop("link_id")
    doc["status"] = link.status.value
    doc["permissions"] = list(link.permissions)
    return doc


def _link(doc: Document) -> FamilyLink:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(FamilyLink)
                              if f.name != "link_id"}
    for name in ("created_at", "updated_at"):
        if isinstance(values[name], datetime):
            values[name] = as_utc(values[name])
    values["status"] = FamilyStatus(values["status"])
    values["permissions"] = tuple(values["permissions"] or ())
    return FamilyLink(link_id=doc["_id"], **values)
