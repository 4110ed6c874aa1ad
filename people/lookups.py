"""Finding people by phone and by name with birth year, on ``_id``-shaped keys only.

The embedded database uses an index for an exact ``{"_id": k}`` filter and nothing else
(docs/devdb.md), so a 12333 agent's search by phone or by name must never query the
``people`` collection by those fields. The import files each person in short lists:

- ``t:<phone>``: everyone with that phone (a couple may share one);
- ``n:<name>:<birth year>:<league>``: everyone of that name born that year in that league
  (the first four digits of their region), so an agent reads only their own leagues.

A list is one small document per entry, ``<key>#<n>``, appended by inserting the next free
slot (the one atomic check FerretDB v1 has, so concurrent imports never overwrite each
other). A marker ``<key>@<person>`` says a person is filed under a key; it is written after
the entry, so a crash in between at worst files someone twice, which readers ignore.
Entries are never rewritten: when a person's phone or name changes the old entry stays and
the reader, which checks each person it finds against the registry, drops it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pymongo.errors import BulkWriteError

from common.mongo import Collection, Database, Document, insert_once
from people.model import Person

LOOKUPS = "people_lookups"
READ_AT_ONCE = 8  # slots of a list read in one go


def phone_key(phone: str) -> str:
    return f"t:{phone}"


def name_key(name: str, birth_year: int, league: str) -> str:
    """``league``: the first four digits of a region code (1501 for 呼和浩特)."""
    return f"n:{name}:{birth_year}:{league[:4]}"


def keys_of(person: Person) -> list[str]:
    keys = [name_key(person.name, person.birth_date.year, person.region_code)]
    if person.phone:
        keys.append(phone_key(person.phone))
    return keys


class PersonLookups:
    def __init__(self, db: Database) -> None:
        self._items: Collection = db[LOOKUPS]

    async def file(self, people: Iterable[Person]) -> None:
        """File each person under their keys, once per (key, person)."""
        pairs = list(dict.fromkeys((key, p.person_id) for p in people for key in keys_of(p)))
        if not pairs:
            return
        filed = await asyncio.gather(*[self._items.find_one({"_id": _marker(k, pid)}, {"_id": 1})
                                       for k, pid in pairs])
        todo = [pair for pair, found in zip(pairs, filed, strict=True) if found is None]
        if not todo:
            return
        # Each key's length is probed once (all keys at once), its new entries take the
        # next slots in one round trip; a slot a concurrent import took meanwhile is
        # appended again one by one. A common name filed for hundreds of people in one
        # import thus costs a probe per batch, not one per person.
        groups: dict[str, list[str]] = defaultdict(list)
        for key, pid in todo:
            groups[key].append(pid)
        keys = list(groups)
        lengths = await asyncio.gather(*[self._length(key) for key in keys])
        planned = [(key, pid, length + n) for key, length in zip(keys, lengths, strict=True)
                   for n, pid in enumerate(groups[key])]
        taken = await _insert_each(self._items, [
            {"_id": _slot(key, slot), "person_id": pid} for key, pid, slot in planned])
        for index in sorted(taken):
            key, pid, _ = planned[index]
            await self._append(key, pid)
        await _insert_each(self._items, [{"_id": _marker(k, pid)} for k, pid in todo])

    async def _append(self, key: str, person_id: str) -> None:
        position = await self._length(key)
        while not await insert_once(self._items, {"_id": _slot(key, position),
                                                  "person_id": person_id}):
            position += 1  # a concurrent import took it

    async def _length(self, key: str) -> int:
        """Slots are contiguous from 0: double until one is free, then bisect."""
        if not await self._exists(key, 0):
            return 0
        low, high = 0, 1
        while await self._exists(key, high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if await self._exists(key, middle) else (low, middle)
        return high

    async def _exists(self, key: str, position: int) -> bool:
        return await self._items.find_one({"_id": _slot(key, position)}, {"_id": 1}) is not None

    async def person_ids(self, key: str, limit: int = 200) -> list[str]:
        """Who is filed under ``key`` (oldest first, each once, at most ``limit``); the
        caller checks each against the registry, since entries are never rewritten."""
        found: list[str] = []
        start = 0
        while len(found) < limit:
            docs = await asyncio.gather(*[self._items.find_one({"_id": _slot(key, n)})
                                          for n in range(start, start + READ_AT_ONCE)])
            for doc in docs:
                if doc is None:
                    return found
                if doc["person_id"] not in found:
                    found.append(doc["person_id"])
            start += READ_AT_ONCE
        return found[:limit]

    async def by_phone(self, phone: str) -> list[str]:
        return await self.person_ids(phone_key(phone))

    async def by_name(self, name: str, birth_year: int, leagues: Sequence[str],
                      limit: int = 200) -> list[str]:
        lists = await asyncio.gather(*[self.person_ids(name_key(name, birth_year, league), limit)
                                       for league in leagues])
        return [pid for ids in lists for pid in ids][:limit]


async def _insert_each(collection: Collection, documents: list[Document]) -> set[int]:
    """Insert every document whose ``_id`` is new; the positions of those that existed."""
    if not documents:
        return set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(f.get("code") != 11000 for f in failures):
            raise
        return {f["index"] for f in failures}
    return set()


def _slot(key: str, position: int) -> str:
    return f"{key}#{position}"


def _marker(key: str, person_id: str) -> str:
    return f"{key}@{person_id}"
