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
from collections.abc import Collection as Collection_
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

    async def file(self, people: Iterable[Person], new: Collection_[str] = frozenset()
                   ) -> None:
        """File each person under their keys, once per (key, person). ``new``: people
        just stored, who cannot be filed yet (their markers need no look-up)."""
        pairs = list(dict.fromkeys((key, p.person_id) for p in people for key in keys_of(p)))
        if not pairs:
            return
        known = [pair for pair in pairs if pair[1] not in new]
        filed = await asyncio.gather(*[self._items.find_one({"_id": _marker(k, pid)}, {"_id": 1})
                                       for k, pid in known])
        done = {pair for pair, found in zip(known, filed, strict=True) if found is not None}
        todo = [pair for pair in pairs if pair not in done]
        if not todo:
            return
        groups: dict[str, list[str]] = defaultdict(list)
        for key, pid in todo:
            groups[key].append(pid)
        await self._file_groups(groups)
        await _insert_each(self._items, [{"_id": _marker(k, pid)} for k, pid in todo])

    async def _file_groups(self, groups: dict[str, list[str]]) -> None:
        """Most keys are new (a phone, a name of a year): each key's entries take slots
        0, 1, … in one round trip. A key that exists already is probed once for its
        length and its entries take the next slots, again in one round trip; a slot a
        concurrent import took meanwhile is appended one by one."""
        first = await _insert_each(self._items, [
            {"_id": _slot(key, n), "person_id": pid}
            for key, pids in groups.items() for n, pid in enumerate(pids)])
        planned = [(key, pid) for key, pids in groups.items() for pid in pids]
        existing = list(dict.fromkeys(planned[i][0] for i in first))
        if not existing:
            return
        # A key whose slot 0 was taken before: its entries go after what is there.
        lengths = dict(zip(existing, await asyncio.gather(
            *[self._length(key) for key in existing]), strict=True))
        retry = [(planned[i][0], planned[i][1]) for i in sorted(first)]
        # Entries of such a key that did land (at slots past the old list's end) stay
        # where they are: the list is still contiguous, and the rest go after them.
        later: dict[str, int] = defaultdict(int)
        docs = []
        for key, pid in retry:
            docs.append({"_id": _slot(key, lengths[key] + later[key]), "person_id": pid})
            later[key] += 1
        for index in sorted(await _insert_each(self._items, docs)):
            await self._append(*retry[index])

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
