"""Rate limits whose windows live in MongoDB, so every server process shares them.

Fixed windows are aligned to Asia/Shanghai midnight, so a "per day" limit resets
when a person's day does. Three kinds of rule:

- **hard** (attempt counts that must hold exactly, e.g. wrong codes, face tries):
  each hit takes one numbered slot through the guard, ``<window>:<n>`` for
  n = 1..limit. Duplicate-key rejection makes the count exact under any
  concurrency, on MongoDB and FerretDB alike.
- **rolling** (hard, but over any ``window``-long span, e.g. SMS codes per number):
  ``limit`` slots, each held for ``window`` after the hit that took it and taken
  over once lapsed. A fixed window would let two codes go one second apart across
  a minute boundary, which the SMS provider then refuses; a rolling count is never
  looser than the provider's, whichever way the provider counts.
- **soft** (traffic shaping where an occasional miscount is harmless): a
  counter document with ``$inc``. FerretDB's non-atomic updates may lose an
  increment under contention; that is acceptable only for soft rules.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from common.clock import Clock, as_utc
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
    rolling: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError(f"rate rule {self.name}: limit and window must be positive")
        if self.rolling and not self.hard:
            raise ValueError(f"rate rule {self.name}: a rolling rule is a hard one")


@dataclass(frozen=True)
class Hit:
    """The slots one counted attempt took: given back if the attempt never happened."""
    slots: tuple[tuple[str, str | None], ...]  # (guard key, owner)


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


def _fixed_base(scope: str, subject: str, rule: RateRule, window: _Window) -> str:
    return f"rl:{scope}:{_subject_hash(subject)}:{rule.name}:{window.index}"


def _rolling_base(scope: str, subject: str, rule: RateRule) -> str:
    return f"rl:{scope}:{_subject_hash(subject)}:{rule.name}:rolling"


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

    async def hit(self, scope: str, subject: str, rules: Sequence[RateRule]) -> Hit:
        """Count one attempt against every rule, or raise ``RateLimited``.

        A refused attempt is not counted against the other rules: slots taken
        for earlier rules in this call are given back.
        """
        now = self._clock.now()
        taken: list[tuple[str, str | None]] = []
        for rule in rules:
            free_at = await self._count_against(scope, subject, rule, now, taken)
            if free_at is None:
                continue
            await self.give_back(Hit(tuple(taken)))
            raise RateLimited(max(1, math.ceil((free_at - now).total_seconds())), rule=rule.name)
        return Hit(tuple(taken))

    async def give_back(self, hit: Hit) -> None:
        """Uncount an attempt that did not happen (e.g. the provider refused to send)."""
        for key, owner in hit.slots:
            await self._guard.release(key, owner=owner)

    async def used(self, scope: str, subject: str, rule: RateRule) -> int:
        """How many attempts the current window of a hard rule has used (for a rolling
        rule: the last ``window``)."""
        now = self._clock.now()
        if rule.rolling:
            base = _rolling_base(scope, subject, rule)
            live = 0
            for n in range(1, rule.limit + 1):
                holder = await self._guard.holder(f"{base}:{n}")
                if holder is not None and as_utc(holder["expires_at"]) > now:
                    live += 1
            return live
        base = _fixed_base(scope, subject, rule, _window(rule, now))
        return await self._guards.count_documents({"rl_window": base})

    async def _count_against(self, scope: str, subject: str, rule: RateRule, now: datetime,
                             taken: list[tuple[str, str | None]]) -> datetime | None:
        """Count the hit against ``rule`` (noting any slot in ``taken``). None when it
        fits, else when the rule would next have room."""
        if rule.rolling:
            return await self._take_rolling_slot(_rolling_base(scope, subject, rule), rule, taken)
        window = _window(rule, now)
        base = _fixed_base(scope, subject, rule, window)
        if rule.hard:
            slot = await self._take_slot(base, rule, window)
            if slot is not None:
                taken.append((slot, None))
                return None
        elif await self._count(base, rule, window) <= rule.limit:
            return None
        return window.ends_at

    async def _take_rolling_slot(self, base: str, rule: RateRule,
                                 taken: list[tuple[str, str | None]]) -> datetime | None:
        owner = secrets.token_hex(8)  # this hit's own mark, so a give-back frees only its slot
        soonest: datetime | None = None
        for n in range(1, rule.limit + 1):
            key = f"{base}:{n}"
            busy_until = await self._guard.claim_lapsing(key, ttl=rule.window, owner=owner)
            if busy_until is None:
                taken.append((key, owner))
                return None
            soonest = busy_until if soonest is None else min(soonest, busy_until)
        return soonest

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
