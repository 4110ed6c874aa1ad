"""Filings and settlement records in MongoDB. Documents never leave this module."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_once
from common.pagination import Cursor
from common.slots import DayIndex, Position, SlotLists, prefix_keys, region_keys
from common.versioning import Derived, Stepper
from medical_insurance.model import Category, Destination, Filing, Status

FILINGS = "filings"
SETTLEMENTS = "settlements"
T = TypeVar("T")
FILING_LISTS = "filing_lists"
LISTING_LEASE = timedelta(minutes=1)
LISTS_COMPLETE = "lists-complete:v1"
INDEXES = [
    IndexSpec(FILINGS, [("person_id", 1), ("created_at", -1)], name="person"),
    IndexSpec(FILINGS, [("status", 1), ("end_date", 1)], name="status_end"),
    IndexSpec(FILINGS, [("region_code", 1), ("created_at", -1)], name="region"),
]


class FilingRepository:
    """Filings by ``_id``, and two lists of them on ``_id``-shaped keys (common/slots.py)
    so that neither a person's filings nor an agent's search scans the collection on the
    embedded database: a person's list, and a day index per region level (province,
    league, county, and ``*`` for all)."""

    SCAN_LIMIT = 500  # a search examines at most this many filings, then hands a cursor

    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._stepper = stepper
        self._filings: Collection = db[FILINGS]
        self._settlements: Collection = db[SETTLEMENTS]
        self._lists = SlotLists(db[FILING_LISTS])
        self._by_day = DayIndex(self._lists)

    async def step(self, filing: Filing, changed: Filing,
                   derived: Sequence[Derived] = ()) -> int:
        """Move ``filing`` (at its version) to ``changed``; claim first, then write."""
        return await self._stepper.step(self._filings, filing.filing_id, filing.version,
                                        changes_doc(changed), derived)

    async def add(self, filing: Filing, region_code: str) -> bool:
        """False when a filing with this id exists already (a retried create). The lists
        are written after the filing, so a retry after a crash completes them."""
        added = await insert_once(self._filings, {**_doc(filing), "region_code": region_code})
        if added or not (await self._lists.marked([_listed(filing.filing_id)]))[0]:
            await self._list(filing, region_code)
        return added

    async def finish_listing(self, filing_id: str) -> None:
        """List a stored filing whose create died between storing and listing it (its
        retry finds the filing and must not leave it out of the lists)."""
        if (await self._lists.marked([_listed(filing_id)]))[0]:
            return
        doc = await self._filings.find_one({"_id": filing_id})
        if doc is not None:
            await self._list(_filing(doc), doc.get("region_code", ""))

    async def _list(self, filing: Filing, region_code: str) -> None:
        """List a filing once: a create and its retry racing to list it take a lapsing
        lease first, so only one writes (one that died is taken over after the lease)."""
        lease = await self._stepper.guard.claim_lapsing(
            f"listing:{filing.filing_id}", ttl=LISTING_LEASE, owner=secrets.token_hex(8))
        if lease is not None:
            return  # another request is listing it right now
        entry = {"at": filing.created_at, "id": filing.filing_id}
        day = as_utc(filing.created_at).date()
        await asyncio.gather(
            self._lists.append(_person_key(filing.person_id), entry),
            *[self._by_day.add(key, day, entry) for key in region_keys(region_code)])
        await self._lists.mark(_listed(filing.filing_id))

    async def list_unlisted(self) -> int:
        """Lists the filings stored before the lists existed (one scan, once per
        database); returns how many."""
        if (await self._lists.marked([LISTS_COMPLETE]))[0]:
            return 0
        count = 0
        async for doc in self._filings.find({}):
            if not (await self._lists.marked([_listed(doc["_id"])]))[0]:
                await self._list(_filing(doc), doc.get("region_code", ""))
                count += 1
        await self._lists.mark(LISTS_COMPLETE)
        return count

    async def get(self, filing_id: str) -> Filing | None:
        doc = await self._filings.find_one({"_id": filing_id})
        return _filing(doc) if doc else None

    async def of_person(self, person_id: str) -> list[Filing]:
        """A person's filings, newest first."""
        entries = await self._lists.items(_person_key(person_id))
        # A filing is listed twice when a create and its retry both finish the listing
        # (neither saw the other's marker yet): each filing counts once.
        found = await self._many(list(dict.fromkeys(e["id"] for e in entries)))
        return sorted((f for _, f in found), key=lambda f: (as_utc(f.created_at), f.filing_id),
                      reverse=True)

    async def search(self, *, region_prefixes: Sequence[str] | None, person_id: str | None,
                     statuses: Sequence[Status] | None, since: date | None,
                     until: date | None, limit: int, now: datetime,
                     after: str | None = None) -> tuple[list[Filing], str | None]:
        """Filings newest first: of the regions whose codes start with one of
        ``region_prefixes`` (the person's region, stored with the filing; None: every
        region), of one person, stored in one of ``statuses``, starting within
        [since, until]. None and empty filters do not filter, except an empty list of
        regions, which covers nothing. Returns up to ``limit`` filings and the opaque
        cursor to go on from (None: nothing more); a page may hold fewer than ``limit``
        when the filters are rare, since a page examines at most SCAN_LIMIT filings."""
        if region_prefixes is not None and not region_prefixes:
            return [], None

        def wanted(filing: Filing, region: str) -> bool:
            return ((region_prefixes is None or region.startswith(tuple(region_prefixes)))
                    and (not statuses or filing.status in statuses)
                    and (since is None or filing.start_date >= since)
                    and (until is None or filing.start_date <= until))

        candidates: AsyncIterator[tuple[Document, str]]
        if person_id:  # a person's few filings: sorted whole, resumed by (time, id)
            entries = await self._lists.items(_person_key(person_id))
            candidates = _ids_after(entries, Cursor.decode(after, "after") if after else None)
        else:
            keys = prefix_keys(region_prefixes)
            candidates = _positioned(self._by_day.newest_first(
                keys, as_utc(now).date(), Position.decode(after) if after else None))
        return await self._page(candidates, wanted, limit)

    async def _page(self, candidates: AsyncIterator[tuple[Document, str]],
                    wanted: Callable[[Filing, str], bool], limit: int
                    ) -> tuple[list[Filing], str | None]:
        """Up to ``limit`` wanted filings, and the position after the last one (or after
        the last examined, when SCAN_LIMIT ends the page)."""
        page: list[Filing] = []
        examined = 0
        seen: set[str] = set()  # a filing listed twice (see _list) is shown once
        last = ""
        async for chunk in _chunks(candidates, limit + 1):
            docs = await asyncio.gather(*[self._filings.find_one({"_id": e["id"]})
                                          for e, _ in chunk])
            for (entry, position), doc in zip(chunk, docs, strict=True):
                examined += 1
                if entry["id"] not in seen and doc is not None and wanted(
                        filing := _filing(doc), doc.get("region_code", "")):
                    if len(page) == limit:
                        return page, last
                    page.append(filing)
                seen.add(entry["id"])
                last = position
                if examined >= self.SCAN_LIMIT:
                    return page, position
        return page, None

    async def _many(self, filing_ids: Sequence[str]) -> list[tuple[str, Filing]]:
        docs = await asyncio.gather(*[self._filings.find_one({"_id": i}) for i in filing_ids])
        return [(doc.get("region_code", ""), _filing(doc)) for doc in docs if doc is not None]

    async def effective_temporary(self) -> list[Filing]:
        cursor = self._filings.find({"status": Status.EFFECTIVE.value, "end_date": {"$ne": None}})
        return [_filing(doc) async for doc in cursor]

    async def add_settlement(self, record: dict[str, Any]) -> bool:
        """Idempotent by settlement number."""
        return await insert_once(self._settlements, {"_id": record["settlement_no"], **record})


async def _ids_after(entries: Sequence[Document], before: Cursor | None
                     ) -> AsyncIterator[tuple[Document, str]]:
    for entry in sorted(entries, key=lambda e: (as_utc(e["at"]), e["id"]), reverse=True):
        at = as_utc(entry["at"])
        if before is None or (at, entry["id"]) < (before.at, before.record_id):
            yield entry, Cursor(at, entry["id"]).encode()


async def _positioned(walk: AsyncIterator[tuple[Document, Position]]
                      ) -> AsyncIterator[tuple[Document, str]]:
    async for entry, position in walk:
        yield entry, position.encode()


async def _chunks(items: AsyncIterator[T], size: int) -> AsyncIterator[list[T]]:
    chunk: list[T] = []
    async for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _person_key(person_id: str) -> str:
    return f"p{person_id}"


def _listed(filing_id: str) -> str:
    return f"listed:{filing_id}"




def changes_doc(filing: Filing) -> Document:
    doc = _doc(filing)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _doc(filing: Filing) -> Document:
    return {
        "_id": filing.filing_id, "person_id": filing.person_id, "category": filing.category.value,
        "destination": {"province_code": filing.destination.province_code,
                        "city_code": filing.destination.city_code},
        "start_date": filing.start_date.isoformat(),
        "end_date": filing.end_date.isoformat() if filing.end_date else None,
        "status": filing.status.value, "channel": filing.channel, "actor": filing.actor,
        "on_behalf": filing.on_behalf, "created_at": filing.created_at,
        "hospital": filing.hospital, "details": filing.details,
        "commitment_version": filing.commitment_version, "late": filing.late,
        "version": filing.version, "history": filing.history,
    }


def _filing(doc: Document) -> Filing:
    return Filing(
        filing_id=doc["_id"], person_id=doc["person_id"], category=Category(doc["category"]),
        destination=Destination(doc["destination"]["province_code"],
                                doc["destination"]["city_code"]),
        start_date=date.fromisoformat(doc["start_date"]),
        end_date=date.fromisoformat(doc["end_date"]) if doc.get("end_date") else None,
        status=Status(doc["status"]), channel=doc["channel"], actor=doc["actor"],
        created_at=as_utc(doc["created_at"]), on_behalf=doc.get("on_behalf"),
        hospital=doc.get("hospital"), details=dict(doc.get("details") or {}),
        commitment_version=doc.get("commitment_version"), late=bool(doc.get("late")),
        version=int(doc.get("version", 1)), history=list(doc.get("history") or []),
    )
