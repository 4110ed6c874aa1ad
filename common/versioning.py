"""Versioned records: ETags, If-Match, and the one way every state change is made.

Every versioned record carries an integer ``version``; its ETag is ``"v<version>"``.
A change **claims its version step first** and acts only after winning it:

1. the step from version n to n+1 is claimed through the guard as
   ``<collection>:<id>:v<n+1>`` (an insert: exactly one of several concurrent
   writers wins, even on FerretDB whose conditional updates are not atomic);
2. the claim stores the intended change *and* every derived record (a payroll
   line, a new card, a notice), each with an ``_id`` that comes from the step;
3. only then is the record updated and the derived records inserted.

A writer that loses the claim has written nothing. A winner that dies after
claiming leaves a claim that the next writer (or the housekeeping job) rolls
forward exactly: same change, same derived ``_id``s, so nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from common.clock import Clock, as_utc
from common.errors import PreconditionFailed, PreconditionRequired
from common.guard import Guard
from common.mongo import Collection, Database, Document, insert_once

# How long a step's winner has to write before others roll it forward.
STEP_LEASE = timedelta(seconds=30)
# Claims are kept this long: long enough that no stale writer can reuse a version.
STEP_KEEP = timedelta(days=2)


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


@dataclass(frozen=True)
class Derived:
    """A record a step writes after it is won. Repositories build these (the collection
    name stays theirs); its ``_id`` must come from the step, so a replay inserts nothing."""

    collection: str
    document: Document = field(default_factory=dict)


def step_key(collection: Collection, record_id: str, version: int) -> str:
    return f"{collection.name}:{record_id}:v{version}"


async def step_version(
    *,
    guard: Guard,
    clock: Clock,
    collection: Collection,
    record_id: str,
    expected_version: int,
    changes: dict[str, Any],
    derived: Sequence[Derived] = (),
) -> int:
    """Claim the step from ``expected_version``, then apply ``changes`` and write ``derived``.

    Raises ``PreconditionFailed`` (having written nothing) when another writer got there
    first; a claim abandoned by a crashed writer is rolled forward before refusing.
    """
    new_version = expected_version + 1
    key = step_key(collection, record_id, new_version)
    claim: dict[str, Any] = {"collection": collection.name, "record_id": record_id,
                             "version": new_version, "changes": changes,
                             "derived": [{"collection": d.collection, "document": d.document}
                                         for d in derived],
                             "applied": False}
    if not await guard.claim(key, ttl=STEP_KEEP, **claim):
        await _roll_forward_if_abandoned(guard, clock, collection.database, key)
        raise PreconditionFailed("version already stepped", current_etag=etag(new_version))
    await _apply(guard, collection.database, key, claim)
    return new_version


class Stepper:
    """``step_version`` bound to the guard and clock, for repositories to hold."""

    def __init__(self, guard: Guard, clock: Clock) -> None:
        self.guard = guard
        self.clock = clock

    async def step(self, collection: Collection, record_id: str, expected_version: int,
                   changes: dict[str, Any], derived: Sequence[Derived] = ()) -> int:
        return await step_version(guard=self.guard, clock=self.clock, collection=collection,
                                  record_id=record_id, expected_version=expected_version,
                                  changes=changes, derived=derived)


async def _apply(guard: Guard, db: Database, key: str, claim: Document) -> None:
    records = db[claim["collection"]]
    new_version = int(claim["version"])
    result = await records.update_one(
        {"_id": claim["record_id"], "version": new_version - 1},
        {"$set": {**claim["changes"], "version": new_version}},
    )
    if result.matched_count != 1:
        current = await records.find_one({"_id": claim["record_id"]}, {"version": 1})
        if current is None or int(current.get("version", 0)) < new_version:
            raise PreconditionFailed("record moved on", current_etag=None)
        # Already rolled forward by another writer while this one was slow: fine.
    for item in claim["derived"]:
        await insert_once(db[item["collection"]], dict(item["document"]))
    await guard.mark(key, applied=True)


async def _roll_forward_if_abandoned(guard: Guard, clock: Clock, db: Database,
                                     key: str) -> bool:
    claim = await guard.holder(key)
    if claim is None or claim.get("applied") or "changes" not in claim:
        return False
    claim = {**_parse_step_key(key), "derived": [], **claim}
    if as_utc(claim["claimed_at"]) + STEP_LEASE > clock.now():
        return False  # its writer may still be working
    try:
        await _apply(guard, db, key, claim)
    except PreconditionFailed:
        return False
    return True


def _parse_step_key(key: str) -> Document:
    """``<collection>:<record id>:v<n>`` back into its parts."""
    collection, _, rest = key.partition(":")
    record_id, _, version = rest.rpartition(":v")
    return {"collection": collection, "record_id": record_id, "version": int(version)}


async def roll_forward_abandoned_steps(guard: Guard, clock: Clock, db: Database,
                                       limit: int = 1000) -> int:
    """Finish every step whose writer died after claiming it (a housekeeping job)."""
    finished = 0
    for key in await guard.unapplied_steps(clock.now() - STEP_LEASE, limit):
        finished += await _roll_forward_if_abandoned(guard, clock, db, key)
    return finished
