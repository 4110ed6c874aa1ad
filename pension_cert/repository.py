"""Storage for certification: consent, sealed templates (kept apart from identity data),
challenges, attempts, per-person state, payroll events, signals and review cases."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from bson.binary import Binary
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from pension_cert.model import CertState, CertStatus, Month

CONSENTS = "face_consents"
TEMPLATES = "face_templates"
TEMPLATE_CHANGES = "face_template_changes"
CHALLENGES = "cert_challenges"
ATTEMPTS = "cert_attempts"
STATES = "cert_states"
PAYROLL = "payroll_events"
SIGNALS = "cert_signals"
CASES = "review_cases"
FRAME_DIGESTS = "frame_digests"

INDEXES = [
    IndexSpec(TEMPLATES, [("region_code", 1)], name="region"),
    IndexSpec(ATTEMPTS, [("person_id", 1), ("at", -1)], name="person_at"),
    IndexSpec(STATES, [("valid_through", 1)], name="valid_through"),
    IndexSpec(PAYROLL, [("month", 1)], name="month"),
    IndexSpec(CASES, [("status", 1), ("region_code", 1)], name="status_region"),
]


class CertRepository:
    def __init__(self, db: Database) -> None:
        self.consents: Collection = db[CONSENTS]
        self.templates: Collection = db[TEMPLATES]
        self.template_changes: Collection = db[TEMPLATE_CHANGES]
        self.challenges: Collection = db[CHALLENGES]
        self.attempts: Collection = db[ATTEMPTS]
        self.states: Collection = db[STATES]
        self.payroll: Collection = db[PAYROLL]
        self.signals: Collection = db[SIGNALS]
        self.cases: Collection = db[CASES]
        self.frame_digests: Collection = db[FRAME_DIGESTS]

    # -- consent ---------------------------------------------------------------------

    async def consent(self, person_id: str) -> Document | None:
        doc = await self.consents.find_one({"_id": person_id})
        if doc:
            doc.pop("_id")
        return doc

    async def consented(self, person_ids: list[str]) -> set[str]:
        """Which of these people have given (and not withdrawn) face consent: one query."""
        cursor = self.consents.find({"_id": {"$in": person_ids}, "status": "given"}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def record_consent(self, person_id: str, entry: dict[str, Any]) -> None:
        await self.consents.update_one(
            {"_id": person_id},
            {"$set": {k: v for k, v in entry.items()}, "$push": {"history": entry}},
            upsert=True,
        )

    # -- templates -------------------------------------------------------------------

    async def save_template(self, person_id: str, blob: bytes, region_code: str, source: str,
                            now: datetime) -> None:
        await self.templates.update_one(
            {"_id": person_id},
            {"$set": {"blob": Binary(blob), "region_code": region_code, "source": source,
                      "updated_at": now}},
            upsert=True,
        )
        await self._changed(now)

    async def template(self, person_id: str) -> bytes | None:
        doc = await self.templates.find_one({"_id": person_id})
        return bytes(doc["blob"]) if doc else None

    async def delete_template(self, person_id: str, now: datetime) -> bool:
        deleted = (await self.templates.delete_one({"_id": person_id})).deleted_count == 1
        if deleted:
            await self._changed(now)
        return deleted

    async def region_templates(self, region_prefix: str) -> list[tuple[str, bytes]]:
        cursor = self.templates.find({"region_code": {"$regex": f"^{region_prefix}"}})
        return [(doc["_id"], bytes(doc["blob"])) async for doc in cursor]

    async def change_token(self) -> str:
        doc = await self.template_changes.find_one({"_id": "templates"})
        return str(doc["token"]) if doc else ""

    async def _changed(self, now: datetime) -> None:
        # Any new token tells every process's in-memory index to reload.
        await self.template_changes.update_one(
            {"_id": "templates"}, {"$set": {"token": uuid.uuid4().hex, "at": now}}, upsert=True)

    # -- challenges, replay digests and attempts ------------------------------------------

    async def save_challenge(self, challenge: dict[str, Any]) -> None:
        await self.challenges.insert_one(challenge)

    async def challenge(self, challenge_id: str) -> Document | None:
        return await self.challenges.find_one({"_id": challenge_id})

    async def claim_frames(self, digests: list[str], challenge_id: str, now: datetime) -> bool:
        """Remember every frame's digest; False if any was submitted before (a replay)."""
        unique = sorted(set(digests))
        try:
            await self.frame_digests.insert_many(
                [{"_id": d, "challenge_id": challenge_id, "at": now} for d in unique],
                ordered=False)
        except (BulkWriteError, DuplicateKeyError):
            return False
        return True

    async def log_attempt(self, entry: dict[str, Any]) -> None:
        await self.attempts.insert_one({"_id": uuid.uuid4().hex, **entry})

    async def attempts_of(self, person_id: str, limit: int = 50) -> list[Document]:
        cursor = self.attempts.find({"person_id": person_id}).sort("at", -1).limit(limit)
        return [doc async for doc in cursor]

    # -- state -----------------------------------------------------------------------

    async def state(self, person_id: str) -> CertState | None:
        doc = await self.states.find_one({"_id": person_id})
        return _state(doc) if doc else None

    async def create_state(self, state: CertState) -> bool:
        return await insert_once(self.states, _state_doc(state))

    async def all_states(self) -> list[CertState]:
        return [_state(doc) async for doc in self.states.find({})]

    # -- payroll, signals, cases ------------------------------------------------------------

    async def add_payroll_event(self, event: dict[str, Any]) -> bool:
        """Idempotent by (month, person, kind): a second run adds nothing."""
        key = f"{event['month']}:{event['person_id']}:{event['kind']}"
        return await insert_once(self.payroll, {"_id": key, **event})

    async def withdraw_payroll_event(self, month: Month, person_id: str, kind: str) -> None:
        await self.payroll.delete_one({"_id": f"{month}:{person_id}:{kind}"})

    async def payroll_events(self, month: Month) -> list[Document]:
        cursor = self.payroll.find({"month": str(month)})
        return sorted([doc async for doc in cursor], key=lambda d: (d["kind"], d["person_id"]))

    async def claim_signal(self, source: str, record_id: str, doc: dict[str, Any]) -> bool:
        return await insert_once(self.signals, {"_id": f"{source}:{record_id}", **doc})

    async def open_case(self, case: dict[str, Any]) -> None:
        await self.cases.insert_one(case)

    async def case(self, case_id: str) -> Document | None:
        return await self.cases.find_one({"_id": case_id})

    async def open_cases(self) -> list[Document]:
        return [doc async for doc in self.cases.find({"status": "open"}).sort("opened_at", 1)]


def state_doc_changes(state: CertState) -> dict[str, Any]:
    doc = _state_doc(state)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _state_doc(state: CertState) -> Document:
    return {
        "_id": state.person_id,
        "valid_through": state.valid_through.isoformat(),
        "status": state.status.value,
        "last_certified_on": state.last_certified_on.isoformat() if state.last_certified_on
        else None,
        "suspended_from": str(state.suspended_from) if state.suspended_from else None,
        "reminders_sent": list(state.reminders_sent),
        "version": state.version,
        "history": state.history,
    }


def _state(doc: Document) -> CertState:
    return CertState(
        person_id=doc["_id"],
        valid_through=date.fromisoformat(doc["valid_through"]),
        status=CertStatus(doc["status"]),
        last_certified_on=date.fromisoformat(doc["last_certified_on"])
        if doc.get("last_certified_on") else None,
        suspended_from=Month.parse(doc["suspended_from"]) if doc.get("suspended_from") else None,
        reminders_sent=tuple(doc.get("reminders_sent") or ()),
        version=int(doc.get("version", 1)),
        history=list(doc.get("history") or []),
    )


