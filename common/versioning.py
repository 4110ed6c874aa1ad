"""Versioned records: ETags, If-Match, and a version step that holds on FerretDB.

Every versioned record carries an integer ``version``. Its ETag is ``"v<version>"``.
An update names the version it read (If-Match); the step from version n to n+1
is claimed through the guard as ``<collection>:<id>:v<n+1>``, so exactly one of
several concurrent writers wins even though FerretDB's conditional update is
not atomic. The claim records the intended change, so if its winner dies
before writing, the next writer rolls the change forward instead of finding
the record stuck.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.clock import Clock, as_utc
from common.errors import PreconditionFailed, PreconditionRequired
from common.guard import Guard
from common.mongo import Collection

# How long a version claim's winner has to write before others roll it forward.
STEP_LEASE = timedelta(seconds=30)


def etag(version: int) -> str:
    return f'"v{version}"'


def check_if_match(if_match: str | None, current_version: int) -> None:
    """Raise unless ``If-Match`` names the current version (strong comparison)."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("If-Match is required", current_etag=etag(current_version))
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or etag(current_version) in tags:
        return
    raise PreconditionFailed("stale ETag", current_etag=etag(current_version))


async def step_version(
    *,
    guard: Guard,
    clock: Clock,
    collection: Collection,
    record_id: str,
    expected_version: int,
    changes: dict[str, Any],
) -> int:
    """Apply ``changes`` and move the record from ``expected_version`` to the next one.

    Raises ``PreconditionFailed`` when another writer got there first.
    """
    new_version = expected_version + 1
    key = f"{collection.name}:{record_id}:v{new_version}"
    if not await guard.claim(key, ttl=timedelta(days=1), changes=changes):
        await _roll_forward_if_abandoned(guard, clock, collection, record_id, key,
                                         expected_version)
        raise PreconditionFailed("version already stepped", current_etag=etag(new_version))
    result = await collection.update_one(
        {"_id": record_id, "version": expected_version},
        {"$set": {**changes, "version": new_version}},
    )
    if result.matched_count != 1:
        raise PreconditionFailed("record moved on", current_etag=None)
    return new_version


async def _roll_forward_if_abandoned(guard: Guard, clock: Clock, collection: Collection,
                                     record_id: str, key: str, expected_version: int) -> None:
    claim = await guard.holder(key)
    if claim is None or as_utc(claim["claimed_at"]) + STEP_LEASE > clock.now():
        return
    await collection.update_one(
        {"_id": record_id, "version": expected_version},
        {"$set": {**claim.get("changes", {}), "version": expected_version + 1}},
    )
