"""Idempotency-Key store: a retried create returns the first result and creates nothing.

Records are keyed per actor, so two people can never collide on a key, and
kept 24 hours (checked when read; there is no TTL index). The first request
inserts a *pending* record, and the duplicate-key rule decides which of two
simultaneous requests runs. Only successful results are stored: when the
operation fails, the record is removed so the client can retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from common.clock import Clock, as_utc
from common.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    ValidationFailed,
)
from common.mongo import Collection, Document, IndexSpec, delete_expired, insert_once

COLLECTION = "idempotency_keys"
INDEXES = [IndexSpec(COLLECTION, [("expires_at", 1)], name="expires_at", ttl=True)]

KEEP_FOR = timedelta(hours=24)
# A pending record older than this belongs to a request that died mid-way.
ABANDONED_AFTER = timedelta(minutes=2)
_KEY_SYNTAX = re.compile(r"^[\x21-\x7e]{8,128}$")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, collection: Collection, clock: Clock) -> None:
        self._records = collection
        self._clock = clock

    async def run(
        self,
        actor: str,
        key: str,
        fingerprint: str,
        operation: Callable[[], Awaitable[StoredResponse]],
    ) -> tuple[StoredResponse, bool]:
        """Run ``operation`` once per (actor, key). Returns (response, replayed)."""
        if not _KEY_SYNTAX.match(key):
            raise ValidationFailed("bad idempotency key", field="Idempotency-Key")
        record_id = f"{actor}:{key}"
        existing = await self._begin(record_id, fingerprint)
        if existing is not None:
            return _replay(existing, fingerprint), True
        try:
            response = await operation()
        except BaseException:
            await self._records.delete_one({"_id": record_id, "state": "pending"})
            raise
        await self._records.update_one(
            {"_id": record_id},
            {"$set": {"state": "done", "status": response.status,
                      "body": response.body, "headers": response.headers}},
        )
        return response, False

    async def _begin(self, record_id: str, fingerprint: str) -> Document | None:
        """Insert the pending record; return the live earlier record instead if there is one."""
        for _ in range(3):
            now = self._clock.now()
            if await insert_once(self._records, {
                "_id": record_id, "fingerprint": fingerprint, "state": "pending",
                "created_at": now, "expires_at": now + KEEP_FOR,
            }):
                return None
            found = await self._records.find_one({"_id": record_id})
            if found is None:
                continue  # removed between our insert and read: try again
            if not self._is_dead(found, now):
                return found
            # Expired, or abandoned by a crashed request: clear it and start over.
            # Two retries racing here are still decided by the insert above.
            await self._records.delete_one({"_id": record_id, "created_at": found["created_at"]})
        raise IdempotencyInProgress("could not take idempotency key")

    async def sweep_expired(self) -> int:
        return await delete_expired(self._records, self._clock.now())

    def _is_dead(self, record: Document, now: datetime) -> bool:
        if as_utc(record["expires_at"]) <= now:
            return True
        abandoned_at = as_utc(record["created_at"]) + ABANDONED_AFTER
        return record["state"] == "pending" and abandoned_at <= now


def _replay(record: Document, fingerprint: str) -> StoredResponse:
    if record["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused("same key, different request")
    if record["state"] != "done":
        raise IdempotencyInProgress("first request still running")
    return StoredResponse(int(record["status"]), record["body"], dict(record.get("headers") or {}))
