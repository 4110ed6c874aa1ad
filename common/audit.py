"""The audit trail: who did what to which record, when (UTC), with what outcome, from where.

Kept at least 180 days (网络安全法 Art. 21): the housekeeping job deletes only entries
older than the configured retention, which can never be set below that.
Identifiers in ``detail`` are masked before they are stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.clock import Clock, as_utc
from common.masking import mask_text
from common.mongo import Collection, IndexSpec, delete_expired

COLLECTION = "audit"
MIN_RETENTION_DAYS = 180
INDEXES = [
    IndexSpec(COLLECTION, [("at", 1)], name="at"),
    IndexSpec(COLLECTION, [("actor", 1), ("at", -1)], name="actor_at"),
    IndexSpec(COLLECTION, [("object", 1), ("at", -1)], name="object_at"),
    IndexSpec(COLLECTION, [("action", 1), ("at", -1)], name="action_at"),
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


class AuditLog:
    def __init__(self, collection: Collection, clock: Clock) -> None:
        self._entries = collection
        self._clock = clock

    async def record(self, *, actor: str, action: str, object: str, outcome: str,
                     client_ip: str | None = None, on_behalf_of: str | None = None,
                     **detail: Any) -> None:
        await self._entries.insert_one({
            "_id": uuid.uuid4().hex, "at": self._clock.now(), "actor": actor, "action": action,
            "object": object, "outcome": outcome, "client_ip": client_ip,
            "on_behalf_of": on_behalf_of,
            "detail": {k: mask_text(v) if isinstance(v, str) else v for k, v in detail.items()},
        })

    async def delete_older_than(self, cutoff: datetime) -> int:
        return await delete_expired(self._entries, cutoff, key="at")

    async def find(self, *, actor: str | None = None, action: str | None = None,
                   object: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = {k: v for k, v in {"actor": actor, "action": action, "object": object}.items()
                 if v is not None}
        cursor = self._entries.find(query).sort("at", -1).limit(limit)
        return [AuditEntry(at=as_utc(d["at"]), actor=d["actor"], action=d["action"],
                           object=d["object"], outcome=d["outcome"], client_ip=d.get("client_ip"),
                           on_behalf_of=d.get("on_behalf_of"), detail=d.get("detail") or {})
                async for d in cursor]
