"""Storage for certification: consent, sealed templates (kept apart from identity data),
challenges, attempts, per-person state, payroll lines, signals and review cases.

Collections are private; documents never leave this module. Every change of a
person's state goes through a version step, and what it derives (a review case, a
notice) is written by the step with an ``_id`` that comes from it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bson.binary import Binary
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, delete_expired, insert_once
from common.versioning import Derived, Stepper
from pension_cert.model import CertState, CertStatus, Month
from pension_cert.payroll_model import Owed, PayrollLine

CONSENTS = "face_consents"
TEMPLATES = "face_templates"
TEMPLATE_CHANGES = "face_template_changes"
CHALLENGES = "cert_challenges"
ATTEMPTS = "cert_attempts"
STATES = "cert_states"
PAYROLL = "payroll_lines"
PAYROLL_RUNS = "payroll_runs"
SIGNALS = "cert_signals"
CASES = "review_cases"
FRAME_DIGESTS = "frame_digests"

INDEXES = [
    IndexSpec(TEMPLATES, [("region_code", 1)], name="region"),
    IndexSpec(ATTEMPTS, [("person_id", 1), ("at", -1)], name="person_at"),
    IndexSpec(STATES, [("valid_through", 1)], name="valid_through"),
    IndexSpec(PAYROLL, [("month", 1), ("person_id", 1)], name="month_person"),
    IndexSpec(PAYROLL, [("person_id", 1), ("month", -1)], name="person_month"),
    IndexSpec(CASES, [("status", 1), ("region_code", 1)], name="status_region"),
    IndexSpec(CHALLENGES, [("expires_at", 1)], name="expires_at", ttl=True),
    IndexSpec(FRAME_DIGESTS, [("expires_at", 1)], name="expires_at", ttl=True),
]


@dataclass(frozen=True)
class ReviewCase:
    case_id: str
    person_id: str
    region_code: str
    status: str
    opened_at: datetime
    day: str
    channel: str
    suspicion: dict[str, Any]
    previous_status: str


class CertRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._stepper = stepper
        self._consents: Collection = db[CONSENTS]
        self._templates: Collection = db[TEMPLATES]
        self._template_changes: Collection = db[TEMPLATE_CHANGES]
        self._challenges: Collection = db[CHALLENGES]
        self._attempts: Collection = db[ATTEMPTS]
        self._states: Collection = db[STATES]
        self._payroll: Collection = db[PAYROLL]
        self._runs: Collection = db[PAYROLL_RUNS]
        self._signals: Collection = db[SIGNALS]
        self._cases: Collection = db[CASES]
        self._frame_digests: Collection = db[FRAME_DIGESTS]

    # -- consent ---------------------------------------------------------------------

    async def consent(self, person_id: str) -> Document | None:
        doc = await self._consents.find_one({"_id": person_id})
        if doc:
            doc.pop("_id")
        return doc

    async def consented(self, person_ids: list[str]) -> set[str]:
        """Which of these people have given (and not withdrawn) face consent: one query."""
        cursor = self._consents.find({"_id": {"$in": person_ids}, "status": "given"}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def record_consent(self, person_id: str, entry: dict[str, Any]) -> None:
        await self._consents.update_one(
            {"_id": person_id},
            {"$set": dict(entry), "$push": {"history": entry}},
            upsert=True,
        )

    # -- templates -------------------------------------------------------------------

    async def save_template(self, person_id: str, blob: bytes, region_code: str, source: str,
                            now: datetime) -> None:
        await self._templates.update_one(
            {"_id": person_id},
            {"$set": {"blob": Binary(blob), "region_code": region_code, "source": source,
                      "updated_at": now}},
            upsert=True,
        )
        await self._changed(now)

    async def template(self, person_id: str) -> bytes | None:
        doc = await self._templates.find_one({"_id": person_id})
        return bytes(doc["blob"]) if doc else None

    async def template_fields(self, person_id: str) -> set[str]:
        """Which fields a stored template has (tests check nothing but the encoding is kept)."""
        doc = await self._templates.find_one({"_id": person_id})
        return set(doc) if doc else set()

    async def delete_template(self, person_id: str, now: datetime) -> bool:
        deleted = (await self._templates.delete_one({"_id": person_id})).deleted_count == 1
        if deleted:
            await self._changed(now)
        return deleted

    async def template_owners(self, batch: int = 500) -> AsyncIterator[list[str]]:
        """Everyone with a stored template, a batch at a time."""
        ids: list[str] = []
        async for doc in self._templates.find({}, {"_id": 1}).sort("_id", 1):
            ids.append(doc["_id"])
            if len(ids) >= batch:
                yield ids
                ids = []
        if ids:
            yield ids

    async def region_templates(self, region_prefix: str) -> list[tuple[str, bytes]]:
        cursor = self._templates.find({"region_code": {"$regex": f"^{region_prefix}"}})
        return [(doc["_id"], bytes(doc["blob"])) async for doc in cursor]

    async def change_token(self) -> str:
        doc = await self._template_changes.find_one({"_id": "templates"})
        return str(doc["token"]) if doc else ""

    async def _changed(self, now: datetime) -> None:
        # Any new token tells every process's in-memory index to reload.
        await self._template_changes.update_one(
            {"_id": "templates"}, {"$set": {"token": uuid.uuid4().hex, "at": now}}, upsert=True)

    # -- challenges, replay digests and attempts ------------------------------------------

    async def save_challenge(self, challenge: dict[str, Any]) -> None:
        await self._challenges.insert_one(challenge)

    async def challenge(self, challenge_id: str) -> Document | None:
        return await self._challenges.find_one({"_id": challenge_id})

    async def claim_frames(self, digests: list[str], challenge_id: str, now: datetime,
                           keep_until: datetime) -> bool:
        """Remember every frame's digest; False if any was submitted before (a replay)."""
        unique = sorted(set(digests))
        try:
            await self._frame_digests.insert_many(
                [{"_id": d, "challenge_id": challenge_id, "at": now, "expires_at": keep_until}
                 for d in unique], ordered=False)
        except (BulkWriteError, DuplicateKeyError):
            return False
        return True

    async def forget_frames(self) -> None:
        """Tests only: each test is its own recording session."""
        await self._frame_digests.delete_many({})

    async def log_attempt(self, entry: dict[str, Any]) -> None:
        await self._attempts.insert_one({"_id": uuid.uuid4().hex, **entry})

    async def attempts_of(self, person_id: str, limit: int = 50) -> list[Document]:
        cursor = self._attempts.find({"person_id": person_id}, {"_id": 0}).sort(
            "at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def sweep_expired(self, now: datetime) -> int:
        return (await delete_expired(self._challenges, now)
                + await delete_expired(self._frame_digests, now))

    # -- state -----------------------------------------------------------------------

    async def state(self, person_id: str) -> CertState | None:
        doc = await self._states.find_one({"_id": person_id})
        return _state(doc) if doc else None

    async def states(self, person_ids: Sequence[str]) -> dict[str, CertState]:
        cursor = self._states.find({"_id": {"$in": list(person_ids)}})
        return {doc["_id"]: _state(doc) async for doc in cursor}

    async def create_state(self, state: CertState) -> bool:
        return await insert_once(self._states, _state_doc(state))

    async def step_state(self, state: CertState, changed: CertState,
                         derived: Sequence[Derived] = ()) -> int:
        """Move ``state`` (at its version) to ``changed``; claim first, then write."""
        return await self._stepper.step(self._states, state.person_id, state.version,
                                        state_doc_changes(changed), derived)

    async def states_due(self, until: date, batch: int = 500) -> AsyncIterator[list[CertState]]:
        """States whose validity ends on or before ``until``, a batch at a time, by date."""
        async for chunk in _batches(self._states.find(
                {"valid_through": {"$lte": until.isoformat()}}).sort("valid_through", 1), batch):
            yield [_state(doc) for doc in chunk]

    async def all_states(self, batch: int = 500) -> AsyncIterator[list[CertState]]:
        async for chunk in _batches(self._states.find({}).sort("_id", 1), batch):
            yield [_state(doc) for doc in chunk]

    # -- payroll ---------------------------------------------------------------------

    async def run_of(self, month: Month) -> Document | None:
        return await self._runs.find_one({"_id": str(month)})

    async def start_run(self, month: Month, previous: Month | None, now: datetime) -> Document:
        """The month's run record; the first caller creates it, later callers read it."""
        await insert_once(self._runs, {"_id": str(month), "started_at": now,
                                       "previous": str(previous) if previous else None,
                                       "finished_at": None})
        found = await self._runs.find_one({"_id": str(month)})
        assert found is not None
        return found

    async def finish_run(self, month: Month, lines: int, now: datetime) -> None:
        await self._runs.update_one({"_id": str(month)},
                                    {"$set": {"finished_at": now, "lines": lines}})

    async def run_after_exists(self, month: Month) -> bool:
        return await self._runs.find_one({"_id": {"$gt": str(month)}}) is not None

    async def last_run_before(self, month: Month) -> Month | None:
        doc = await self._runs.find_one({"_id": {"$lt": str(month)}}, sort=[("_id", -1)])
        return Month.parse(doc["_id"]) if doc else None

    async def add_lines(self, lines: Sequence[PayrollLine]) -> None:
        """Insert a month's lines; a line already there (an earlier run) is kept as it was."""
        if not lines:
            return
        try:
            await self._payroll.insert_many([_line_doc(line) for line in lines], ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                raise

    async def lines_of(self, month: Month) -> list[PayrollLine]:
        cursor = self._payroll.find({"month": str(month)}).sort("person_id", 1)
        return [_line(doc) async for doc in cursor]

    async def line_ids(self, person_ids: Sequence[str], month: Month) -> dict[str, PayrollLine]:
        cursor = self._payroll.find({"_id": {"$in": [line_id(p, month) for p in person_ids]}})
        return {doc["person_id"]: _line(doc) async for doc in cursor}

    async def lines_of_person(self, person_id: str, limit: int = 120) -> list[PayrollLine]:
        cursor = self._payroll.find({"person_id": person_id}).sort("month", -1).limit(limit)
        return [_line(doc) async for doc in cursor]

    # -- signals and cases ---------------------------------------------------------------

    async def claim_signal(self, source: str, record_id: str, doc: dict[str, Any]) -> bool:
        return await insert_once(self._signals, {"_id": f"{source}:{record_id}", **doc})

    def derived_case(self, case: ReviewCase) -> Derived:
        return Derived(CASES, {"_id": case.case_id, **_case_doc(case)})

    async def case(self, case_id: str) -> ReviewCase | None:
        doc = await self._cases.find_one({"_id": case_id})
        return _case(doc) if doc else None

    async def open_cases(self) -> list[ReviewCase]:
        cursor = self._cases.find({"status": "open"}).sort("opened_at", 1)
        return [_case(doc) async for doc in cursor]

    async def mark_case(self, case_id: str, decision: str, by: str, at: datetime) -> None:
        """Written only by the holder of the case's ``decided`` claim."""
        await self._cases.update_one({"_id": case_id}, {"$set": {
            "status": decision, "decided_by": by, "decided_at": at}})


def case_id_for(person_id: str, version: int) -> str:
    """A review case opened by a step is named by that step."""
    return "RC" + hashlib.sha256(f"{person_id}:v{version}".encode()).hexdigest()[:16]


def line_id(person_id: str, month: Month) -> str:
    return f"payroll:{person_id}:{month}"


async def _batches(cursor: Any, size: int) -> AsyncIterator[list[Document]]:
    chunk: list[Document] = []
    async for doc in cursor:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def state_doc_changes(state: CertState) -> dict[str, Any]:
    doc = _state_doc(state)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _state_doc(state: CertState) -> Document:
    return {
        "_id": state.person_id,
        "valid_through": state.valid_through.isoformat(),
        "status": state.status.value,
        "last_certified_on": _iso(state.last_certified_on),
        "suspended_from": str(state.suspended_from) if state.suspended_from else None,
        "reminders_sent": list(state.reminders_sent),
        "version": state.version,
        "history": state.history,
        "death_date": _iso(state.death_date),
        "death_source": state.death_source,
        "blocked_for": state.blocked_for,
        "status_before_block": state.status_before_block.value if state.status_before_block
        else None,
    }


def _state(doc: Document) -> CertState:
    before = doc.get("status_before_block")
    return CertState(
        person_id=doc["_id"],
        valid_through=date.fromisoformat(doc["valid_through"]),
        status=CertStatus(doc["status"]),
        last_certified_on=_day(doc.get("last_certified_on")),
        suspended_from=Month.parse(doc["suspended_from"]) if doc.get("suspended_from") else None,
        reminders_sent=tuple(doc.get("reminders_sent") or ()),
        version=int(doc.get("version", 1)),
        history=list(doc.get("history") or []),
        death_date=_day(doc.get("death_date")),
        death_source=doc.get("death_source"),
        blocked_for=doc.get("blocked_for"),
        status_before_block=CertStatus(before) if before else None,
    )


def _line_doc(line: PayrollLine) -> Document:
    return {
        "_id": line_id(line.person_id, line.month), "person_id": line.person_id,
        "month": str(line.month), "status": line.status, "monthly_fen": line.monthly_fen,
        "region_code": line.region_code, "regular_fen": line.regular_fen,
        "backpay_months": [str(m) for m in line.backpay_months],
        "backpay_fen": line.backpay_fen,
        "excluded_prison_months": [str(m) for m in line.excluded_prison_months],
        "owed": [{"month": str(o.month), "fen": o.fen} for o in line.owed],
        "reason": line.reason, "total_fen": line.total_fen,
    }


def _line(doc: Document) -> PayrollLine:
    return PayrollLine(
        person_id=doc["person_id"], month=Month.parse(doc["month"]), status=doc["status"],
        monthly_fen=int(doc["monthly_fen"]), region_code=doc.get("region_code", ""),
        regular_fen=int(doc["regular_fen"]),
        backpay_months=tuple(Month.parse(m) for m in doc.get("backpay_months") or ()),
        backpay_fen=int(doc["backpay_fen"]),
        excluded_prison_months=tuple(Month.parse(m)
                                     for m in doc.get("excluded_prison_months") or ()),
        owed=tuple(Owed(Month.parse(o["month"]), int(o["fen"])) for o in doc.get("owed") or ()),
        reason=dict(doc.get("reason") or {}),
    )


def _case_doc(case: ReviewCase) -> Document:
    return {"person_id": case.person_id, "region_code": case.region_code,
            "status": case.status, "opened_at": case.opened_at, "day": case.day,
            "channel": case.channel, "suspicion": case.suspicion,
            "previous_status": case.previous_status}


def _case(doc: Document) -> ReviewCase:
    return ReviewCase(case_id=doc["_id"], person_id=doc["person_id"],
                      region_code=doc["region_code"], status=doc["status"],
                      opened_at=as_utc(doc["opened_at"]), day=doc["day"],
                      channel=doc["channel"], suspicion=dict(doc.get("suspicion") or {}),
                      previous_status=doc["previous_status"])
