"""Home-visit bookings in MongoDB. Documents never leave this module.

The one-open-booking-per-person rule is an insert keyed ``open:<person>`` (FerretDB v1's
one atomic check); the agents' queue is a day index per region level (common/slots.py),
so a league's queue never scans the collection on the embedded database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from common.clock import as_utc
from common.mongo import Collection, Database, Document, insert_once
from common.slots import DayIndex, Position, SlotLists, prefix_keys, region_keys
from common.versioning import Stepper
from pension_cert.visit_model import HomeVisit, VisitResult, VisitStatus

VISITS = "home_visits"
VISIT_LISTS = "home_visit_lists"
SCAN_LIMIT = 500
STALE_CLAIM = timedelta(minutes=5)  # a booking slot claimed by a request that died


class VisitRepository:
    def __init__(self, db: Database, stepper: Stepper) -> None:
        self._visits: Collection = db[VISITS]
        self._stepper = stepper
        self._lists = SlotLists(db[VISIT_LISTS])
        self._by_day = DayIndex(self._lists)

    async def add(self, visit: HomeVisit) -> str:
        """Store a new booking; returns the id of the person's open booking (this one,
        or one made before, which wins). The person's slot is claimed first; a retry of
        the same booking finds its own claim and completes it, and a claim whose booking
        never got stored (its request died) lapses after STALE_CLAIM."""
        slot = f"open:{visit.person_id}"
        for _ in range(2):
            if await insert_once(self._visits, {"_id": slot, "booking_id": visit.booking_id,
                                                "claimed_at": visit.created_at}):
                break
            holder = await self._visits.find_one({"_id": slot})
            if holder is None:
                continue  # closed meanwhile: claim again
            if holder["booking_id"] == visit.booking_id:
                break  # our own claim, from a request that died: complete it
            if await self.get(holder["booking_id"]) is not None or (
                    visit.created_at - as_utc(holder["claimed_at"]) < STALE_CLAIM):
                return str(holder["booking_id"])
            await self._visits.delete_one({"_id": slot, "booking_id": holder["booking_id"]})
        else:
            holder = await self._visits.find_one({"_id": slot})
            return str(holder["booking_id"]) if holder else visit.booking_id
        if await insert_once(self._visits, _doc(visit)):
            entry = {"at": visit.created_at, "id": visit.booking_id}
            day = as_utc(visit.created_at).date()
            await asyncio.gather(*[self._by_day.add(key, day, entry)
                                   for key in region_keys(visit.region_code)])
        return visit.booking_id

    async def get(self, booking_id: str) -> HomeVisit | None:
        doc = await self._visits.find_one({"_id": booking_id})
        return _visit(doc) if doc and "person_id" in doc else None

    async def open_of(self, person_id: str) -> HomeVisit | None:
        holder = await self._visits.find_one({"_id": f"open:{person_id}"})
        return await self.get(holder["booking_id"]) if holder else None

    async def step(self, visit: HomeVisit, changed: HomeVisit) -> int:
        """Close or change a booking at its version; a closed booking frees the person's
        slot for a new one."""
        version = await self._stepper.step(self._visits, visit.booking_id, visit.version,
                                           _changes(changed))
        if changed.status is not VisitStatus.OPEN:
            await self._visits.delete_one({"_id": f"open:{visit.person_id}",
                                           "booking_id": visit.booking_id})
        return version

    async def queue(self, *, region_prefixes: Sequence[str] | None,
                    status: VisitStatus | None, now: datetime, limit: int,
                    after: Position | None) -> tuple[list[HomeVisit], Position | None]:
        """Bookings of these regions, newest first; the position after the page's last."""
        keys = prefix_keys(region_prefixes)
        if region_prefixes is not None and not region_prefixes:
            return [], None
        page: list[HomeVisit] = []
        examined = 0
        last: Position | None = None
        async for entry, position in self._by_day.newest_first(keys, as_utc(now).date(), after):
            examined += 1
            visit = await self.get(entry["id"])
            if visit is not None and (status is None or visit.status is status):
                if len(page) == limit:
                    return page, last
                page.append(visit)
            last = position
            if examined >= SCAN_LIMIT:
                return page, position
        return page, None




def _changes(visit: HomeVisit) -> Document:
    doc = _doc(visit)
    doc.pop("_id")
    doc.pop("version")
    return doc


def _doc(visit: HomeVisit) -> Document:
    return {
        "_id": visit.booking_id, "person_id": visit.person_id, "region_code": visit.region_code,
        "preferred_dates": [d.isoformat() for d in visit.preferred_dates],
        "address": visit.address, "phone": visit.phone, "booked_by": visit.booked_by,
        "created_at": visit.created_at, "status": visit.status.value,
        "result": visit.result.value if visit.result else None, "note": visit.note,
        "closed_by": visit.closed_by,
        "closed_on": visit.closed_on.isoformat() if visit.closed_on else None,
        "version": visit.version, "history": visit.history,
    }


def _visit(doc: Document) -> HomeVisit:
    return HomeVisit(
        booking_id=doc["_id"], person_id=doc["person_id"], region_code=doc["region_code"],
        preferred_dates=tuple(date.fromisoformat(d) for d in doc["preferred_dates"]),
        address=doc["address"], phone=doc["phone"], booked_by=doc["booked_by"],
        created_at=as_utc(doc["created_at"]), status=VisitStatus(doc["status"]),
        result=VisitResult(doc["result"]) if doc.get("result") else None,
        note=doc.get("note", ""), closed_by=doc.get("closed_by"),
        closed_on=date.fromisoformat(doc["closed_on"]) if doc.get("closed_on") else None,
        version=int(doc.get("version", 1)), history=list(doc.get("history") or []))
