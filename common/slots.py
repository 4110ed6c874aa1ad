"""Append-only lists kept as one small document per item, each found by its exact ``_id``.

Why: the embedded FerretDB v1 pushes only an exact ``{"_id": k}`` filter down to SQLite,
so every other query reads and decodes the whole collection (docs/devdb.md). A list whose
items are ``<key>#<n>`` is read with ``_id`` lookups alone, at a cost that does not grow
with the collection. An append claims the next free slot by inserting it (the one atomic
check FerretDB v1 offers), so concurrent appends never overwrite each other and leave no
gaps; a reader finds the length by probing.

``DayIndex`` files items under a key by day, with month and year markers so a reader
walking back in time skips empty years and months with a handful of lookups, and reads a
long day from the top down, a chunk at a time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from common.clock import as_utc
from common.errors import ValidationFailed
from common.mongo import Collection, Document, insert_once

FIRST_YEAR = 2016  # nothing in this service is older: the walk back stops here


class SlotLists:
    def __init__(self, collection: Collection) -> None:
        self._items = collection

    async def append(self, key: str, item: Document) -> int:
        """Store ``item`` at the end of ``key``'s list; returns its position."""
        position = await self.length(key)
        while not await insert_once(self._items, {"_id": _slot(key, position), **item}):
            position += 1  # a concurrent append took it
        return position

    async def length(self, key: str) -> int:
        """Items are contiguous from 0: double until a slot is free, then bisect."""
        if not await self._exists(key, 0):
            return 0
        low, high = 0, 1  # low exists; high is probed
        while await self._exists(key, high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if await self._exists(key, middle) else (low, middle)
        return high

    async def items(self, key: str) -> list[Document]:
        """The whole list, oldest first (for short lists, e.g. one person's filings)."""
        count = await self.length(key)
        found = await asyncio.gather(*[self._items.find_one({"_id": _slot(key, n)})
                                       for n in range(count)])
        return [_without_id(doc) for doc in found if doc is not None]

    async def slots(self, key: str, positions: Iterable[int]) -> list[Document | None]:
        """The items at ``positions`` (None where a slot is empty), in that order."""
        found = await asyncio.gather(*[self._items.find_one({"_id": _slot(key, n)})
                                       for n in positions])
        return [_without_id(doc) if doc is not None else None for doc in found]

    async def mark(self, marker: str) -> None:
        await insert_once(self._items, {"_id": marker})

    async def marked(self, markers: Sequence[str]) -> list[bool]:
        found = await asyncio.gather(*[self._items.find_one({"_id": m}) for m in markers])
        return [doc is not None for doc in found]

    async def _exists(self, key: str, position: int) -> bool:
        return await self._items.find_one({"_id": _slot(key, position)}, {"_id": 1}) is not None


@dataclass(frozen=True)
class Position:
    """Where a walk stopped: a day, and for each key how many of that day's slots are
    still unread (slots are read from the top down). Exact, whatever the items' times."""

    day: date
    unread: dict[str, int]

    def encode(self) -> str:
        raw = json.dumps({"d": self.day.isoformat(), "u": self.unread}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, field: str = "after") -> Position:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            unread = {str(k): int(v) for k, v in dict(raw["u"]).items()}
            if any(v < 0 for v in unread.values()):
                raise ValueError("negative position")
            return cls(date.fromisoformat(raw["d"]), unread)
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise ValidationFailed("not a cursor this service gave out", field=field) from None


class DayIndex:
    """Items filed under (key, day), each with an ``at`` time and an ``id``; read back
    newest day first, and within a day newest first across several keys, resumable from
    the exact ``Position`` a walk reached.

    Within one (key, day) list the order is append order (slot order), which is time
    order as long as the writers' clocks agree; the merge across keys takes the newest
    head. The order is a fixed function of the stored slots, so a page boundary never
    repeats or skips an item, even when clocks disagree."""

    def __init__(self, lists: SlotLists) -> None:
        self._lists = lists

    async def add(self, key: str, day: date, item: Document) -> None:
        await self._lists.append(f"{key}@{day.isoformat()}", item)
        # The markers follow the item: a crash in between only hides the item from the
        # skip-ahead until the next item of that month is filed.
        await self._lists.mark(f"{key}@{day:%Y-%m}")
        await self._lists.mark(f"{key}@{day:%Y}")

    async def newest_first(self, keys: Sequence[str], newest: date,
                           after: Position | None = None
                           ) -> AsyncIterator[tuple[Document, Position]]:
        """Every key's items with the position just after each, from ``after`` on."""
        start = min(newest, after.day) if after else newest
        async for day in self._days(keys, start):
            resume = after.unread if after is not None and day == after.day else {}
            readers = {k: _Reader(self._lists, f"{k}@{day.isoformat()}") for k in keys}
            await asyncio.gather(*[r.open(resume.get(k)) for k, r in readers.items()])
            while True:
                heads = [(head, r) for r in readers.values() if (head := r.head()) is not None]
                if not heads:
                    break
                item, reader = max(heads, key=lambda pair: _order(pair[0]))
                await reader.pop()
                yield item, Position(day, {k: r.unread for k, r in readers.items()})

    async def _days(self, keys: Sequence[str], newest: date) -> AsyncIterator[date]:
        """Days from ``newest`` back to the first year that may have items, skipping years
        and months whose markers say nothing was filed (each level checked at once)."""
        years = list(range(newest.year, FIRST_YEAR - 1, -1))
        for year in await self._present(keys, [str(y) for y in years], years):
            months = list(range(newest.month if year == newest.year else 12, 0, -1))
            for month in await self._present(
                    keys, [f"{year}-{m:02d}" for m in months], months):
                last = calendar.monthrange(year, month)[1]
                if (year, month) == (newest.year, newest.month):
                    last = newest.day
                for day in range(last, 0, -1):
                    yield date(year, month, day)

    async def _present(self, keys: Sequence[str], periods: Sequence[str],
                       values: Sequence[int]) -> list[int]:
        marked = await self._lists.marked([f"{k}@{p}" for p in periods for k in keys])
        return [value for n, value in enumerate(values)
                if any(marked[n * len(keys):(n + 1) * len(keys)])]


class _Reader:
    """One (key, day) list read from the top down, a chunk of slots at a time."""

    CHUNK = 16

    def __init__(self, lists: SlotLists, key: str) -> None:
        self._lists, self._key = lists, key
        self._buffer: list[tuple[int, Document]] = []  # (slot, item), top slot first
        self._next = 0  # slots below this are not read yet

    async def open(self, unread: int | None) -> None:
        length = await self._lists.length(self._key)
        self._next = length if unread is None else min(unread, length)
        await self._fill()

    @property
    def unread(self) -> int:
        """Slots not yet emitted: everything below the head (or below what is read)."""
        return self._buffer[0][0] + 1 if self._buffer else self._next

    def head(self) -> Document | None:
        return self._buffer[0][1] if self._buffer else None

    async def pop(self) -> None:
        self._buffer.pop(0)
        if not self._buffer:
            await self._fill()

    async def _fill(self) -> None:
        while not self._buffer and self._next > 0:
            low = max(0, self._next - self.CHUNK)
            slots = range(self._next - 1, low - 1, -1)
            found = await self._lists.slots(self._key, slots)
            self._buffer = [(n, d) for n, d in zip(slots, found, strict=True) if d is not None]
            self._next = low


def region_keys(region_code: str) -> list[str]:
    """The day-index keys a record of ``region_code`` is filed under: every prefix an
    agent's regions may have (province 2, league 4, county 6 digits, as
    ``auth.access.region_prefix`` cuts them), and ``*`` for an admin's view of all."""
    return ["*"] + [f"r{region_code[:n]}" for n in (2, 4, 6) if len(region_code) >= n]


def prefix_keys(region_prefixes: Sequence[str] | None) -> list[str]:
    """The keys to walk for these prefixes (None: every region)."""
    return ["*"] if region_prefixes is None else [f"r{p}" for p in region_prefixes]


def _order(item: Document) -> tuple[datetime, str]:
    return as_utc(item["at"]), str(item["id"])


def _slot(key: str, position: int) -> str:
    return f"{key}#{position}"


def _without_id(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}
