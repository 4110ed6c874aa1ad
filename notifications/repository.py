"""Outbox and attempt-log storage. Documents never leave this module.

A message's ``_id`` is derived from its dedupe key, so the same key can never
make two messages: the second insert is a duplicate-key error on MongoDB and
FerretDB alike. Each attempt is a document ``<message>:try<n>`` in the attempt
log; inserting it *is* the claim on that attempt (the guard pattern), and it
then records what happened.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, delete_expired, insert_once
from common.versioning import Derived
from notifications.model import (
    Attempt,
    Channel,
    MessageStatus,
    OutboxMessage,
    SendResult,
    attempt_key,
)

OUTBOX = "outbox"
ARCHIVE = "outbox_archive"  # delivered (or undeliverable) messages: the poller never reads it
ATTEMPTS = "outbox_attempts"
INDEXES = [
    IndexSpec(OUTBOX, [("status", 1), ("next_attempt_at", 1)], name="status_due"),
    IndexSpec(OUTBOX, [("person_id", 1), ("created_at", -1)], name="person_inbox"),
    IndexSpec(ARCHIVE, [("person_id", 1), ("created_at", -1)], name="person_inbox"),
    IndexSpec(ATTEMPTS, [("message_id", 1), ("number", 1)], name="message_attempts"),
    IndexSpec(ATTEMPTS, [("expires_at", 1)], name="expires_at", ttl=True),
]
FINISHED = frozenset({MessageStatus.DELIVERED.value, MessageStatus.NOT_DELIVERED.value})
# The attempt log is evidence of what was sent (and any duplicate): kept 90 days.
ATTEMPT_LOG_KEPT = timedelta(days=90)

_DATETIME_FIELDS = ("not_before", "created_at", "next_attempt_at", "delivered_at", "read_at")


def message_id_for(dedupe_key: str) -> str:
    return "m" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:24]


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._outbox: Collection = db[OUTBOX]
        self._archive: Collection = db[ARCHIVE]
        self._attempts: Collection = db[ATTEMPTS]

    # -- messages ---------------------------------------------------------------

    async def add(self, message: OutboxMessage) -> tuple[OutboxMessage, bool]:
        """Store a new message; if its dedupe key exists already, return that one instead."""
        if await insert_once(self._outbox, _message_doc(message)):
            return message, True
        existing = await self.get(message.message_id)
        assert existing is not None
        return existing, False

    def derived(self, message: OutboxMessage) -> Derived:
        """The message as a record a version step writes (its ``_id`` is its dedupe key's)."""
        return Derived(OUTBOX, _message_doc(message))

    async def get(self, message_id: str) -> OutboxMessage | None:
        found = await self._outbox.find_one({"_id": message_id}) or await self._archive.find_one(
            {"_id": message_id})
        return _message(found) if found else None

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        cursor = self._outbox.find(
            {"status": MessageStatus.PENDING.value, "next_attempt_at": {"$lte": now}}
        ).sort("next_attempt_at", ASCENDING).limit(limit)
        return [_message(doc) async for doc in cursor]

    async def update(self, message_id: str, expected_attempts: int, changes: dict[str, Any]
                     ) -> bool:
        """Write a message's new state, unless another attempt has moved it on already. A
        message that is done is moved to the archive, so the outbox the poller reads
        holds only what is still to send (and dead letters)."""
        result = await self._outbox.update_one(
            {"_id": message_id, "attempts": expected_attempts}, {"$set": _encode(changes)}
        )
        if result.matched_count == 1 and changes.get("status") in FINISHED:
            await self._archive_one(message_id)
        return result.matched_count == 1

    async def _archive_one(self, message_id: str) -> None:
        # Copy first, then delete: a crash in between leaves a finished message in the
        # outbox, which the poller ignores and ``archive_finished`` moves later.
        doc = await self._outbox.find_one({"_id": message_id})
        if doc is not None and doc.get("status") in FINISHED:
            await insert_once(self._archive, doc)
            await self._outbox.delete_one({"_id": message_id})

    async def archive_finished(self, limit: int = 1000) -> int:
        """Move finished messages left in the outbox (by a crash) to the archive."""
        cursor = self._outbox.find({"status": {"$in": sorted(FINISHED)}}, {"_id": 1}).limit(limit)
        ids = [doc["_id"] async for doc in cursor]
        for message_id in ids:
            await self._archive_one(message_id)
        return len(ids)

    async def reschedule(self, message_id: str, at: datetime) -> None:
        await self._outbox.update_one({"_id": message_id, "status": "pending"},
                                      {"$set": {"next_attempt_at": at}})

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        cursor = self._outbox.find({"status": MessageStatus.DEAD.value}).sort(
            "created_at", DESCENDING).limit(limit)
        return [_message(doc) async for doc in cursor]

    async def requeue(self, message_id: str, now: datetime) -> bool:
        """Give a dead letter a new set of attempts (after an operator fixed the cause)."""
        message = await self.get(message_id)
        if message is None or message.status is not MessageStatus.DEAD:
            return False
        result = await self._outbox.update_one(
            {"_id": message_id, "status": MessageStatus.DEAD.value},
            {"$set": {"status": MessageStatus.PENDING.value, "next_attempt_at": now,
                      "dead_reason": None, "attempt_base": message.attempts}},
        )
        return result.modified_count == 1

    async def inbox(self, person_id: str, limit: int = 50) -> list[OutboxMessage]:
        found = []
        for collection in (self._outbox, self._archive):
            cursor = collection.find({"person_id": person_id, "inbox_text": {"$ne": ""}}).sort(
                "created_at", DESCENDING).limit(limit)
            found += [_message(doc) async for doc in cursor]
        unique = {m.message_id: m for m in found}  # one caught mid-move is in both
        return sorted(unique.values(), key=lambda m: m.created_at, reverse=True)[:limit]

    async def mark_read(self, message_id: str, person_id: str, now: datetime) -> bool:
        """Mark one of the person's own inbox messages read. False: not theirs, or no such.
        Read by ``_id`` alone, the owner checked here (the embedded database only uses an
        index for an exact ``_id``)."""
        for collection in (self._outbox, self._archive):
            found = await collection.find_one({"_id": message_id})
            if found is None:
                continue
            if found.get("person_id") != person_id or not found.get("inbox_text"):
                return False
            if found.get("read_at") is None:
                await collection.update_one({"_id": message_id}, {"$set": {"read_at": now}})
            return True
        return False

    async def backlog(self, now: datetime) -> tuple[int, float, int]:
        """(pending messages, age in seconds of the oldest one already due, dead letters)."""
        pending = await self._outbox.count_documents({"status": MessageStatus.PENDING.value})
        oldest = await self._outbox.find_one(
            {"status": MessageStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
            sort=[("not_before", ASCENDING)],
        )
        age = (now - as_utc(oldest["not_before"])).total_seconds() if oldest else 0.0
        dead = await self._outbox.count_documents({"status": MessageStatus.DEAD.value})
        return pending, max(age, 0.0), dead

    async def sweep_expired(self, now: datetime) -> int:
        return await delete_expired(self._attempts, now)

    # -- attempts ---------------------------------------------------------------

    async def claim_attempt(self, message_id: str, number: int, worker: str, now: datetime,
                            lease: timedelta) -> Attempt | None:
        attempt = Attempt(message_id=message_id, number=number, worker=worker,
                          claimed_at=now, lease_until=now + lease)
        claimed = await insert_once(self._attempts, {"_id": attempt.key, **asdict(attempt),
                                                     "expires_at": now + ATTEMPT_LOG_KEPT})
        return attempt if claimed else None

    async def get_attempt(self, message_id: str, number: int) -> Attempt | None:
        found = await self._attempts.find_one({"_id": attempt_key(message_id, number)})
        return _attempt(found) if found else None

    async def attempts(self, message_id: str) -> list[Attempt]:
        cursor = self._attempts.find({"message_id": message_id}).sort("number", ASCENDING)
        return [_attempt(doc) async for doc in cursor]

    async def finish_attempt(self, attempt: Attempt, result: SendResult, now: datetime,
                             extra: dict[str, Any]) -> None:
        await self._attempts.update_one({"_id": attempt.key}, {"$set": {
            "outcome": result.outcome.value, "code": result.code, "detail": result.detail[:500],
            "provider_id": result.provider_id, "finished_at": now, "extra": _encode(extra),
        }})

    async def mark_abandoned(self, attempt: Attempt, now: datetime) -> None:
        """The worker holding this attempt died: whether the provider got it is unknown."""
        await self._attempts.update_one(
            {"_id": attempt.key, "finished_at": None},
            {"$set": {"outcome": "abandoned", "finished_at": now,
                      "detail": "lease expired before the worker recorded a result"}},
        )


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, MessageStatus | Channel) else v
            for k, v in values.items()}


def _message_doc(message: OutboxMessage) -> Document:
    doc = _encode(asdict(message))
    doc["_id"] = doc.pop("message_id")
    return doc


def _message(doc: Document) -> OutboxMessage:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(OutboxMessage)
                              if f.name != "message_id"}
    for name in _DATETIME_FIELDS:
        if values[name] is not None:
            values[name] = as_utc(values[name])
    values["channel"] = Channel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    values["params"] = dict(values["params"] or {})
    values["attempts"] = int(values["attempts"] or 0)
    values["inbox_text"] = values["inbox_text"] or ""
    return OutboxMessage(message_id=doc["_id"], **values)


def _attempt(doc: Document) -> Attempt:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(Attempt)}
    for name in ("claimed_at", "lease_until", "finished_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    values["extra"] = dict(values["extra"] or {})
    return Attempt(**values)
