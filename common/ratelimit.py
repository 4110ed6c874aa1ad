"""Rate limits whose windows live in MongoDB, so every server process shares them.

Windows are fixed and aligned to Asia/Shanghai midnight, so a "per day" limit
resets when a person's day does. Two kinds of rule:

- **hard** (attempt counts that must hold exactly, e.g. wrong codes, SMS sends):
  each hit takes one numbered slot through the guard, ``<window>:<n>`` for
  n = 1..limit. Duplicate-key rejection makes the count exact under any
  concurrency, on MongoDB and FerretDB alike.
- **soft** (traffic shaping where an occasional miscount is harmless): a
  counter document with ``$inc``. FerretDB's non-atomic updates may lose an
  increment under contention; that is acceptable only for soft rules.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from common.clock import Clock
from common.errors import RateLimited
from common.guard import Guard
from common.mongo import Collection, IndexSpec, delete_expired

COUNTERS = "rate_counters"
INDEXES = [
    IndexSpec(COUNTERS, [("expires_at", 1)], name="expires_at", ttl=True),
    IndexSpec("guards", [("rl_window", 1)], name="rl_window"),
]

# Shift so that integer windows start at Asia/Shanghai midnight (UTC+8, no DST).
_SHANGHAI_OFFSET = timedelta(hours=8)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RateRule:
    name: str
    limit: int
    window: timedelta
    hard: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError(f"rate rule {self.name}: limit and window must be positive")


@dataclass(frozen=True)
class _Window:
    index: int
    ends_at: datetime


def _window(rule: RateRule, now: datetime) -> _Window:
    seconds = rule.window.total_seconds()
    local_seconds = (now - _EPOCH + _SHANGHAI_OFFSET).total_seconds()
    index = math.floor(local_seconds / seconds)
    ends_at = _EPOCH - _SHANGHAI_OFFSET + timedelta(seconds=(index + 1) * seconds)
    return _Window(index, ends_at)


def _subject_hash(subject: str) -> str:
    # Subjects are phone numbers, ID numbers, IPs: keep them out of the keys.
    return hashlib.sha256(subject.encode()).hexdigest()[:24]


class RateLimiter:
    def __init__(self, guard: Guard, guards: Collection, counters: Collection,
                 clock: Clock) -> None:
        self._guard = guard
        self._guards = guards
        self._counters = counters
        self._clock = clock

    async def hit(self, scope: str, subject: str, rules: Sequence[RateRule]) -> None:
        """Count one attempt against every rule, or raise ``RateLimited``.

        A refused attempt is not counted against the other rules: slots taken
        for earlier rules in this call are given back.
        """
        now = self._clock.now()
        taken: list[str] = []
        for rule in rules:
            window = _window(rule, now)
            base = f"rl:{scope}:{_subject_hash(subject)}:{rule.name}:{window.index}"
            if rule.hard:
                slot = await self._take_slot(base, rule, window)
                if slot is not None:
                    taken.append(slot)
                    continue
            elif await self._count(base, rule, window) <= rule.limit:
                continue
            for slot in taken:
                await self._guard.release(slot)
            raise RateLimited(math.ceil((window.ends_at - now).total_seconds()), rule=rule.name)

    async def used(self, scope: str, subject: str, rule: RateRule) -> int:
        """How many attempts the current window of a hard rule has used."""
        window = _window(rule, self._clock.now())
        base = f"rl:{scope}:{_subject_hash(subject)}:{rule.name}:{window.index}"
        return await self._guards.count_documents({"rl_window": base})

    async def _take_slot(self, base: str, rule: RateRule, window: _Window) -> str | None:
        used = await self._guards.count_documents({"rl_window": base})
        ttl = window.ends_at - self._clock.now()
        for n in range(used + 1, rule.limit + 1):
            key = f"{base}:{n}"
            if await self._guard.claim(key, ttl=ttl, rl_window=base):
                return key
        return None

    async def _count(self, base: str, rule: RateRule, window: _Window) -> int:
        for _ in range(3):
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": base},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": window.ends_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return int(doc["count"]) if doc else 1
            except DuplicateKeyError:
                continue  # two first hits raced to create the counter; count again
        return rule.limit + 1

    async def sweep_expired(self) -> int:
        return await delete_expired(self._counters, self._clock.now())
