"""The guard: a claim that holds under concurrency on MongoDB and FerretDB alike.

FerretDB v1 runs ``update``/``findAndModify`` as read-then-write by ``_id``
without re-checking the filter, so a conditional update cannot protect a
single-use code, an attempt slot or a version step. An insert can: both servers
reject a second document with the same ``_id`` atomically (E11000). So every
such claim is an insert whose ``_id`` is the guarded key, and only the winner
goes on to change state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from common.clock import Clock, as_utc
from common.mongo import Collection, IndexSpec, delete_expired, insert_once

COLLECTION = "guards"
_TAKEOVER_PERIOD = timedelta(seconds=30)

INDEXES = [
    IndexSpec(COLLECTION, [("expires_at", 1)], name="expires_at", ttl=True),
    IndexSpec(COLLECTION, [("applied", 1), ("claimed_at", 1)], name="unapplied_steps"),
]


class Guard:
    def __init__(self, collection: Collection, clock: Clock) -> None:
        self._guards = collection
        self._clock = clock

    async def claim(self, key: str, *, ttl: timedelta | None = None,
                    owner: str | None = None, **data: Any) -> bool:
        """Try to take ``key``. True: this caller won. False: someone holds it already.

        ``ttl`` only marks when the claim may be swept away; expiry is never
        enforced by the database, and whoever reads a claim checks it.
        """
        now = self._clock.now()
        document = {"_id": key, "claimed_at": now, "owner": owner, **data}
        if ttl is not None:
            document["expires_at"] = now + ttl
        return await insert_once(self._guards, document)

    async def claim_lapsing(self, key: str, *, ttl: timedelta, owner: str) -> datetime | None:
        """Take ``key`` for ``ttl`` unless someone else holds it and their time has not run
        out; a lapsed claim is taken over (expiry is checked here, on read). Returns None
        when the key is ours, else when the other holder's claim runs out."""
        for _ in range(5):
            if await self.claim(key, ttl=ttl, owner=owner):
                return None
            holder = await self.holder(key)
            if holder is None:
                continue  # released meanwhile: try again
            if holder.get("owner") == owner:
                return None  # an earlier try of this very request took it
            expires = holder.get("expires_at")
            if expires is not None and as_utc(expires) > self._clock.now():
                return as_utc(expires)
            await self._remove_lapsed(key, holder)
        return self._clock.now() + ttl  # lost every race: as if just taken by another

    async def _remove_lapsed(self, key: str, lapsed: dict[str, Any]) -> None:
        """Delete a lapsed claim so that it can be claimed again, by one caller only.

        A delete on FerretDB v1 reads and then deletes by ``_id``, so when several callers
        found the same lapsed claim, a late deleter could remove the fresh claim an early
        one had just made, and both would hold the key. So the right to delete is itself a
        claim, keyed by the lapsed claim (its owner and time): one caller wins it. Its key
        also names a 30 s period, so a winner that died before deleting holds nobody up
        for longer than that.
        """
        period = int(self._clock.now().timestamp() // _TAKEOVER_PERIOD.total_seconds())
        marker = (f"takeover:{key}:{lapsed.get('owner')}:"
                  f"{as_utc(lapsed['claimed_at']).isoformat()}:{period}")
        if await self.claim(marker, ttl=_TAKEOVER_PERIOD * 2):
            await self._guards.delete_one({"_id": key, "owner": lapsed.get("owner"),
                                           "claimed_at": lapsed["claimed_at"]})

    async def holder(self, key: str) -> dict[str, Any] | None:
        """Who holds ``key`` and since when, or None."""
        found = await self._guards.find_one({"_id": key})
        if found is None:
            return None
        found.pop("_id")
        return found

    async def mark(self, key: str, **fields: Any) -> None:
        """Note something on a claim (e.g. that a step's effects are written). The claim
        itself is the insert; a lost note only means a roll-forward re-checks."""
        await self._guards.update_one({"_id": key}, {"$set": fields})

    async def unapplied_steps(self, claimed_before: datetime, limit: int) -> list[str]:
        """Version steps claimed before ``claimed_before`` whose effects were never noted."""
        cursor = self._guards.find({"applied": False, "claimed_at": {"$lt": claimed_before}},
                                   {"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def release(self, key: str, *, owner: str | None = None) -> bool:
        """Give a claim back (for claims that guard a step that then failed)."""
        query: dict[str, Any] = {"_id": key}
        if owner is not None:
            query["owner"] = owner
        result = await self._guards.delete_one(query)
        return result.deleted_count == 1

    async def sweep_expired(self, *, before: datetime | None = None) -> int:
        """Delete claims whose ``expires_at`` has passed (FerretDB has no TTL index to do it).
        A claim without ``expires_at`` (a long-term slot) is never swept."""
        return await delete_expired(self._guards, before or self._clock.now())
