"""Storage for certification: consent, sealed templates (kept apart from identity data),
challenges, attempts, per-person state, signals and review cases (the payroll has its
own repository).

Collections are private; documents never leave this module. Every change of a
person's state goes through a version step, and what it derives (a review case, a
notice) is written by the step with an ``_id`` that comes from it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from bson.binary import Binary

from common.clock import as_utc
from common.mongo import (
    Collection,
    Database,
    Document,
    IndexSpec,
    delete_expired,
    insert_new,
    insert_once,
)
from common.versioning import Derived, Stepper
from pension_cert.check_model import (
    Attempt,
    Challenge,
    Consent,
    ConsentEntry,
    WeChatFaceCheck,
)
from pension_cert.model import CertState, CertStatus, Month, ReviewCase

CONSENTS = "face_consents"
TEMPLATES = "face_templates"
TEMPLATE_CHANGES = "face_template_changes"
CHALLENGES = "cert_challenges"
ATTEMPTS = "cert_attempts"
STATES = "cert_states"
SIGNALS = "cert_signals"
CASES = "review_cases"
FRAME_HASHES = "frame_hashes"
WECHAT_CHECKS = "wechat_face_checks"

CHANGE_MEMORY = timedelta(days=2)  # a process's index further behind than this rebuilds

INDEXES = [
    IndexSpec(TEMPLATES, [("region_code", 1)], name="region"),
    IndexSpec(ATTEMPTS, [("person_id", 1), ("at", -1)], name="person_at"),
    IndexSpec(STATES, [("valid_through", 1)], name="valid_through"),
    IndexSpec(CASES, [("status", 1), ("region_code", 1)], name="status_region"),
    IndexSpec(CHALLENGES, [("expires_at", 1)], name="expires_at", ttl=True),
    IndexSpec(FRAME_HASHES, [("person_id", 1), ("at", -1)], name="person_at"),
    IndexSpec(FRAME_HASHES, [("expires_at", 1)], name="expires_at", ttl=True),
    IndexSpec(WECHAT_CHECKS, [("expires_at", 1)], name="expires_at", ttl=True),
]


class CertRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._stepper = stepper
        self._consents: Collection = db[CONSENTS]
        self._templates: Collection = db[TEMPLATES]
        self._template_changes: Collection = db[TEMPLATE_CHANGES]
        self._challenges: Collection = db[CHALLENGES]
        self._attempts: Collection = db[ATTEMPTS]
        self._states: Collection = db[STATES]
        self._signals: Collection = db[SIGNALS]
        self._cases: Collection = db[CASES]
        self._frame_hashes: Collection = db[FRAME_HASHES]
        self._wechat_checks: Collection = db[WECHAT_CHECKS]

    # -- consent ---------------------------------------------------------------------

    async def consent(self, person_id: str) -> Consent | None:
        doc = await self._consents.find_one({"_id": person_id})
        if not doc:
            return None
        history = tuple(_consent_entry(entry) for entry in doc.get("history") or ())
        return Consent(latest=_consent_entry(doc), history=history)

    async def consented(self, person_ids: list[str]) -> set[str]:
        """Which of these people have given (and not withdrawn) face consent: one query."""
        cursor = self._consents.find({"_id": {"$in": person_ids}, "status": "given"}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def record_consent(self, person_id: str, entry: ConsentEntry) -> None:
        fields = asdict(entry)
        await self._consents.update_one(
            {"_id": person_id},
            {"$set": fields, "$push": {"history": fields}},
            upsert=True,
        )

    # -- templates -------------------------------------------------------------------

    async def save_template(self, person_id: str, blob: bytes, region_code: str, source: str,
                            now: datetime, *, consented: bool) -> None:
        """Store the sealed template, with whether the person has consented (a template
        imported before consent is kept but never used)."""
        await self._templates.update_one(
            {"_id": person_id},
            {"$set": {"blob": Binary(blob), "region_code": region_code, "source": source,
                      "updated_at": now, "consented": consented}},
            upsert=True,
        )
        await self._changed(region_code, person_id, now)

    async def set_template_consent(self, person_id: str, consented: bool,
                                   now: datetime) -> None:
        doc = await self._templates.find_one({"_id": person_id}, {"region_code": 1})
        if doc is None:
            return
        await self._templates.update_one({"_id": person_id}, {"$set": {"consented": consented}})
        await self._changed(doc["region_code"], person_id, now)

    async def template(self, person_id: str) -> bytes | None:
        doc = await self._templates.find_one({"_id": person_id})
        return bytes(doc["blob"]) if doc else None

    async def usable_template(self, person_id: str) -> bytes | None:
        """The template if the person has consented to its use."""
        doc = await self._templates.find_one({"_id": person_id})
        return bytes(doc["blob"]) if doc and doc.get("consented") else None

    async def template_fields(self, person_id: str) -> set[str]:
        """Which fields a stored template has (tests check nothing but the encoding is kept)."""
        doc = await self._templates.find_one({"_id": person_id})
        return set(doc) if doc else set()

    async def delete_template(self, person_id: str, now: datetime) -> bool:
        doc = await self._templates.find_one({"_id": person_id}, {"region_code": 1})
        deleted = (await self._templates.delete_one({"_id": person_id})).deleted_count == 1
        if deleted and doc is not None:
            await self._changed(doc["region_code"], person_id, now)
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

    async def region_templates(self, league: str) -> list[tuple[str, bytes]]:
        """The consented templates of a league (the first four digits of a region code)."""
        cursor = self._templates.find({"region_code": {"$regex": f"^{league}"},
                                       "consented": True})
        return [(doc["_id"], bytes(doc["blob"])) async for doc in cursor]

    async def region_token(self, league: str) -> str:
        """Changes whenever a template of the league is stored, consented or removed."""
        doc = await self._template_changes.find_one({"_id": f"region:{league}"})
        return str(doc["token"]) if doc else ""

    async def changes_since(self, league: str, after: str, limit: int = 5000
                            ) -> list[tuple[str, str]]:
        """(change key, person id) of the league's template changes after ``after``, in
        order. The keys are ``_id``s: one range read."""
        low = after or f"change:{league}:"
        cursor = self._template_changes.find(
            {"_id": {"$gt": low, "$lt": f"change:{league};"}}).sort("_id", 1).limit(limit)
        return [(doc["_id"], doc["person_id"]) async for doc in cursor]

    async def last_change(self, league: str) -> str:
        cursor = self._template_changes.find(
            {"_id": {"$gt": f"change:{league}:", "$lt": f"change:{league};"}},
            {"_id": 1}).sort("_id", -1).limit(1)
        return next(iter([doc["_id"] async for doc in cursor]), "")

    async def _changed(self, region_code: str, person_id: str, now: datetime) -> None:
        # A change record per template change, keyed in time order within its league,
        # and a new token for the league: each process's index catches up on just these.
        league = region_code[:4]
        key = f"change:{league}:{time.time_ns():020d}:{person_id}"
        await self._template_changes.insert_one({
            "_id": key, "person_id": person_id, "at": now,
            "expires_at": now + CHANGE_MEMORY})
        await self._template_changes.update_one(
            {"_id": f"region:{league}"}, {"$set": {"token": key, "at": now}}, upsert=True)

    # -- challenges, replay digests and attempts ------------------------------------------

    async def save_challenge(self, challenge: Challenge) -> bool:
        """Store a new challenge; False if one with its id exists (a retried create)."""
        fields = asdict(challenge)
        return await insert_once(self._challenges, {
            "_id": fields.pop("challenge_id"), **fields, "actions": list(challenge.actions)})

    async def challenge(self, challenge_id: str) -> Challenge | None:
        doc = await self._challenges.find_one({"_id": challenge_id})
        if doc is None:
            return None
        return Challenge(
            challenge_id=doc["_id"], person_id=doc["person_id"], account_id=doc["account_id"],
            session_id=doc.get("session_id"), on_behalf=doc.get("on_behalf"),
            nonce_hash=doc["nonce_hash"], actions=tuple(doc["actions"]),
            created_at=as_utc(doc["created_at"]), expires_at=as_utc(doc["expires_at"]),
            sample_seed=int(doc.get("sample_seed", 0)))

    async def save_wechat_check(self, check: WeChatFaceCheck) -> bool:
        fields = asdict(check)
        return await insert_once(self._wechat_checks, {"_id": fields.pop("check_id"), **fields})

    async def wechat_check(self, check_id: str) -> WeChatFaceCheck | None:
        doc = await self._wechat_checks.find_one({"_id": check_id})
        if doc is None:
            return None
        fields = {k: v for k, v in doc.items() if k != "_id"}
        return WeChatFaceCheck(check_id=doc["_id"], **{
            **fields, "created_at": as_utc(doc["created_at"]),
            "expires_at": as_utc(doc["expires_at"])})

    async def remember_submission(self, person_id: str, challenge_id: str,
                                  hashes: Sequence[int], now: datetime,
                                  keep_until: datetime) -> None:
        """The perceptual hashes of one submission's face frames (never the frames)."""
        if hashes:
            await insert_once(self._frame_hashes, {
                "_id": challenge_id, "person_id": person_id, "hashes": list(hashes),
                "at": now, "expires_at": keep_until})

    async def earlier_submissions(self, person_id: str, now: datetime,
                                  limit: int = 100) -> list[list[int]]:
        """The person's remembered submissions, newest first; expired ones are skipped
        here (housekeeping deletes them later)."""
        cursor = self._frame_hashes.find(
            {"person_id": person_id, "expires_at": {"$gt": now}}).sort("at", -1).limit(limit)
        return [[int(h) for h in doc["hashes"]] async for doc in cursor]

    async def forget_submissions(self, person_id: str) -> int:
        """On withdrawn consent: nothing derived from the person's face is kept."""
        return (await self._frame_hashes.delete_many({"person_id": person_id})).deleted_count

    async def log_attempt(self, attempt: Attempt) -> None:
        await self._attempts.insert_one({"_id": uuid.uuid4().hex, **asdict(attempt),
                                         "actions": list(attempt.actions)})

    async def attempts_of(self, person_id: str, limit: int = 50) -> list[Attempt]:
        cursor = self._attempts.find({"person_id": person_id}, {"_id": 0}).sort(
            "at", -1).limit(limit)
        return [Attempt(**{**doc, "at": as_utc(doc["at"]),
                           "actions": tuple(doc.get("actions") or ())})
                async for doc in cursor]

    async def sweep_expired(self, now: datetime) -> int:
        return (await delete_expired(self._challenges, now)
                + await delete_expired(self._template_changes, now)
                + await delete_expired(self._frame_hashes, now)
                + await delete_expired(self._wechat_checks, now))

    # -- state -----------------------------------------------------------------------

    async def state(self, person_id: str) -> CertState | None:
        doc = await self._states.find_one({"_id": person_id})
        return _state(doc) if doc else None

    async def states(self, person_ids: Sequence[str]) -> dict[str, CertState]:
        cursor = self._states.find({"_id": {"$in": list(person_ids)}})
        return {doc["_id"]: _state(doc) async for doc in cursor}

    async def create_state(self, state: CertState) -> bool:
        return await insert_once(self._states, _state_doc(state))

    async def create_states(self, states: Sequence[CertState]) -> None:
        """Each state that does not exist yet (an existing one is kept)."""
        await insert_new(self._states, [_state_doc(s) for s in states])

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

    async def cases_page(self, *, region_prefixes: Sequence[str] | None, status: str | None,
                         after: tuple[datetime, str] | None, limit: int) -> list[ReviewCase]:
        """A queue page: cases of the regions starting with one of ``region_prefixes``
        (None: all), in ``status`` (None: any), oldest first, strictly after ``after``."""
        if region_prefixes is not None and not region_prefixes:
            return []
        parts: list[Document] = [{"status": status}] if status else []
        if region_prefixes is not None:
            parts.append({"$or": [{"region_code": {"$regex": "^" + prefix}}
                                  for prefix in region_prefixes if prefix.isdigit()]})
        if after is not None:
            parts.append({"$or": [{"opened_at": {"$gt": after[0]}},
                                  {"opened_at": after[0], "_id": {"$gt": after[1]}}]})
        cursor = self._cases.find({"$and": parts} if parts else {}).sort(
            [("opened_at", 1), ("_id", 1)]).limit(limit)
        return [_case(doc) async for doc in cursor]

    async def mark_case(self, case_id: str, decision: str, by: str, at: datetime) -> None:
        """Written only by the holder of the case's ``decided`` claim."""
        await self._cases.update_one({"_id": case_id}, {"$set": {
            "status": decision, "decided_by": by, "decided_at": at}})


def case_id_for(person_id: str, version: int) -> str:
    """A review case opened by a step is named by that step."""
    return "RC" + hashlib.sha256(f"{person_id}:v{version}".encode()).hexdigest()[:16]


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


def _consent_entry(doc: Document) -> ConsentEntry:
    return ConsentEntry(
        status=doc["status"], at=as_utc(doc["at"]), notice_version=doc["notice_version"],
        purpose=doc.get("purpose", ""), retention=doc.get("retention", ""),
        actor=doc.get("actor", ""), channel=doc.get("channel", "self"),
        paper_reference=doc.get("paper_reference"), reason=doc.get("reason"))


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
