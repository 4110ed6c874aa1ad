"""The audit trail: who did what to which record, when (UTC), with what outcome, from where.

Kept at least 180 days (网络安全法 Art. 21): the housekeeping job deletes only entries
older than the configured retention, which can never be set below that, and
``delete_older_than`` itself refuses to reach younger entries whatever it is asked.
Identifiers in ``detail`` are masked before they are stored.

Reading (``page``) filters by actor, person, action and time, newest first, a page at a
time from a cursor; on MongoDB each filter has its index.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.clock import Clock, as_utc
from common.masking import mask_text
from common.mongo import Collection, Document, IndexSpec, delete_expired
from common.pagination import Cursor

COLLECTION = "audit"
MIN_RETENTION_DAYS = 180
MIN_RETENTION = timedelta(days=MIN_RETENTION_DAYS)
INDEXES = [
    IndexSpec(COLLECTION, [("at", 1)], name="at"),
    IndexSpec(COLLECTION, [("actor", 1), ("at", -1)], name="actor_at"),
    IndexSpec(COLLECTION, [("object", 1), ("at", -1)], name="object_at"),
    IndexSpec(COLLECTION, [("action", 1), ("at", -1)], name="action_at"),
    IndexSpec(COLLECTION, [("person_id", 1), ("at", -1)], name="person_at"),
]


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    object: str
    outcome: str
    client_ip: str | None
    on_behalf_of: str | None
    detail: dict[str, Any]
    entry_id: str = ""
    person_id: str | None = None  # the person whose records were touched, when known


@dataclass(frozen=True)
class AuditFilter:
    """Every given field must match; ``person`` matches the entry's person or object."""

    actor: str | None = None
    person: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def query(self) -> Document:
        query: Document = {}
        if self.actor:
            query["actor"] = self.actor
        if self.action:
            query["action"] = self.action
        if self.since or self.until:
            query["at"] = {**({"$gte": self.since} if self.since else {}),
                           **({"$lt": self.until} if self.until else {})}
        if self.person:
            query["$or"] = [{"person_id": self.person}, {"object": self.person}]
        return query


class AuditLog:
    def __init__(self, collection: Collection, clock: Clock) -> None:
        self._entries = collection
        self._clock = clock

    async def record(self, *, actor: str, action: str, object: str, outcome: str,
                     client_ip: str | None = None, on_behalf_of: str | None = None,
                     person_id: str | None = None, **detail: Any) -> str:
        """Store one entry; returns its id (which the console shows for each action)."""
        entry_id = uuid.uuid4().hex
        doc: Document = {
            "_id": entry_id, "at": self._clock.now(), "actor": actor, "action": action,
            "object": object, "outcome": outcome, "client_ip": client_ip,
            "on_behalf_of": on_behalf_of,
            "detail": {k: mask_text(v) if isinstance(v, str) else v for k, v in detail.items()},
        }
        if person_id is not None:
            doc["person_id"] = person_id
        await self._entries.insert_one(doc)
        return entry_id

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Delete entries older than ``cutoff``, but never one younger than the legal
        minimum: a cutoff closer to now than 180 days is moved back to 180 days."""
        oldest_allowed = self._clock.now() - MIN_RETENTION
        return await delete_expired(self._entries, min(cutoff, oldest_allowed), key="at")

    async def find(self, *, actor: str | None = None, action: str | None = None,
                   object: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = {k: v for k, v in {"actor": actor, "action": action, "object": object}.items()
                 if v is not None}
        cursor = self._entries.find(query).sort("at", -1).limit(limit)
        return [_entry(d) async for d in cursor]

    async def get(self, entry_id: str) -> AuditEntry | None:
        doc = await self._entries.find_one({"_id": entry_id})
        return _entry(doc) if doc else None

    async def page(self, where: AuditFilter, *, after: Cursor | None, limit: int
                   ) -> tuple[list[AuditEntry], Cursor | None]:
        """Entries matching ``where``, newest first, strictly after ``after``; and the
        cursor of the next page (None: this was the last)."""
        query = where.query()
        if after is not None:
            query = {"$and": [query, after.older_than("at")]} if query else \
                after.older_than("at")
        cursor = self._entries.find(query).sort([("at", -1), ("_id", -1)]).limit(limit + 1)
        found = [_entry(d) async for d in cursor]
        more = len(found) > limit
        found = found[:limit]
        return found, (Cursor(found[-1].at, found[-1].entry_id) if more and found else None)

    async def every(self, where: AuditFilter, *, chunk: int = 500,
                    at_most: int = 100_000) -> AsyncIterator[AuditEntry]:
        """Every matching entry, newest first, read a page at a time (for exports)."""
        after: Cursor | None = None
        sent = 0
        while sent < at_most:
            entries, after = await self.page(where, after=after, limit=min(chunk, at_most - sent))
            for entry in entries:
                yield entry
            sent += len(entries)
            if after is None:
                return


def _entry(doc: Document) -> AuditEntry:
    return AuditEntry(at=as_utc(doc["at"]), actor=doc["actor"], action=doc["action"],
                      object=doc["object"], outcome=doc["outcome"],
                      client_ip=doc.get("client_ip"), on_behalf_of=doc.get("on_behalf_of"),
                      detail=doc.get("detail") or {}, entry_id=str(doc["_id"]),
                      person_id=doc.get("person_id"))
