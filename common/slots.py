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
import calendar
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime

from common.clock import as_utc
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


class DayIndex:
    """Items filed under (key, day), each with an ``at`` time and an ``id``; read back
    newest first across several keys, from any (at, id) position onwards.

    Within one (key, day) list, slot order is append order, which is time order: items
    of one instant are ordered by id when read, so pages never repeat or skip them. Two
    appends racing with different times may land in reverse slot order; only then may a
    page boundary between exactly those two repeat or skip one."""

    def __init__(self, lists: SlotLists) -> None:
        self._lists = lists

    async def add(self, key: str, day: date, item: Document) -> None:
        await self._lists.append(f"{key}@{day.isoformat()}", item)
        # The markers follow the item: a crash in between only hides the item from the
        # skip-ahead until the next item of that month is filed.
        await self._lists.mark(f"{key}@{day:%Y-%m}")
        await self._lists.mark(f"{key}@{day:%Y}")

    async def newest_first(self, keys: Sequence[str], newest: date,
                           before: tuple[datetime, str] | None = None
                           ) -> AsyncIterator[Document]:
        """Every key's items, newest first, strictly older than ``before`` if given."""
        async for day in self._days(keys, newest):
            readers = [_Reader(self._lists, f"{k}@{day.isoformat()}") for k in keys]
            await asyncio.gather(*[r.open(before) for r in readers])
            while True:
                heads = [(head, r) for r in readers if (head := r.head()) is not None]
                if not heads:
                    break
                item, reader = max(heads, key=lambda pair: _order(pair[0]))
                await reader.pop()
                if before is None or _order(item) < before:
                    yield item

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
        self._buffer: list[Document] = []
        self._next = 0  # slots below this are still unread

    async def open(self, before: tuple[datetime, str] | None) -> None:
        self._next = await self._lists.length(self._key)
        if before is not None and self._next:
            self._next = await self._first_older(before)
        await self._fill()

    def head(self) -> Document | None:
        return self._buffer[0] if self._buffer else None

    async def pop(self) -> None:
        self._buffer.pop(0)
        if not self._buffer:
            await self._fill()

    async def _fill(self) -> None:
        """The next chunk below, newest first by (time, id). Items appended at the same
        instant may lie in any slot order, so a chunk never splits such a group: it grows
        downwards while the slot below holds the same time as the oldest item read."""
        low = max(0, self._next - self.CHUNK)
        found = [d for d in await self._lists.slots(self._key, range(low, self._next))
                 if d is not None]
        while low > 0 and found:
            [below] = await self._lists.slots(self._key, [low - 1])
            if below is None or as_utc(below["at"]) != min(as_utc(d["at"]) for d in found):
                break
            found.append(below)
            low -= 1
        self._buffer = sorted(found, key=_order, reverse=True)
        self._next = low

    async def _first_older(self, before: tuple[datetime, str]) -> int:
        """The first slot whose time is after ``before``'s (bisect on time alone: among
        equal times the slot order says nothing). Reading starts just below it; the walk
        drops the items of ``before``'s own instant that are not older than it."""
        low, high = 0, self._next
        while low < high:
            middle = (low + high) // 2
            [doc] = await self._lists.slots(self._key, [middle])
            if doc is not None and as_utc(doc["at"]) <= before[0]:
                low = middle + 1
            else:
                high = middle
        return low


def _order(item: Document) -> tuple[datetime, str]:
    return as_utc(item["at"]), str(item["id"])


def _slot(key: str, position: int) -> str:
    return f"{key}#{position}"


def _without_id(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}
