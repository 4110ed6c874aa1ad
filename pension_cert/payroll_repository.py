"""Storage for the monthly payroll: one run record per month and one line per pensioner
per month, named ``payroll:<person>:<month>`` so a second run (or one after a crash)
writes nothing twice. Collections are private; documents never leave this module."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError

from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, insert_new, insert_once
from pension_cert.model import Month
from pension_cert.payroll_model import Owed, PayrollLine, PayrollRun

PAYROLL = "payroll_lines"
PAYROLL_RUNS = "payroll_runs"
RAISES = "pension_raises"  # every imported raise, by (person, effective month)
PENDING_RAISES = "pension_raises_pending"  # raises whose differences are not paid yet

INDEXES = [
    IndexSpec(PAYROLL, [("month", 1), ("person_id", 1)], name="month_person"),
    IndexSpec(PAYROLL, [("person_id", 1), ("month", -1)], name="person_month"),
]
DUPLICATE_KEY = 11000


class PayrollRepository:
    def __init__(self, db: Database) -> None:
        self._lines: Collection = db[PAYROLL]
        self._runs: Collection = db[PAYROLL_RUNS]
        self._raises: Collection = db[RAISES]
        self._pending: Collection = db[PENDING_RAISES]

    # -- raises ----------------------------------------------------------------------------

    async def add_raise(self, person_id: str, effective: Month, new_fen: int, old_fen: int,
                        now: datetime) -> tuple[str, int]:
        """Claim the raise (its record, keyed by person and month, is the guard), then
        queue its differences under the same key unless they were paid already: a retry
        after a crash between the two completes the queue, and nothing is paid twice.
        Returns ("stored" | "unchanged" | "conflict", the amount before the raise)."""
        raise_id = f"{person_id}:{effective}"
        doc: Document = {"person_id": person_id, "effective": str(effective),
                         "new_fen": new_fen, "old_fen": old_fen, "imported_at": now}
        if await insert_once(self._raises, {"_id": raise_id, **doc}):
            outcome = "stored"
        else:
            found = await self._raises.find_one({"_id": raise_id})
            if not found or found["new_fen"] != new_fen:
                return "conflict", old_fen
            outcome, doc = "unchanged", {k: v for k, v in found.items() if k != "_id"}
        if await self._raises.find_one({"_id": f"settled:{raise_id}"}) is None:
            await insert_once(self._pending, {"_id": raise_id, **doc})
        return outcome, int(doc["old_fen"])

    async def pending_raises(self) -> dict[str, list[dict[str, Any]]]:
        """Raises not yet settled, by person (a small collection: read whole)."""
        found: dict[str, list[dict[str, Any]]] = {}
        async for doc in self._pending.find({}):
            found.setdefault(doc["person_id"], []).append(
                {"raise_id": doc["_id"], "effective": Month.parse(doc["effective"]),
                 "new_fen": int(doc["new_fen"]), "old_fen": int(doc["old_fen"])})
        return found

    async def settle_raises(self, raise_ids: Sequence[str]) -> None:
        """Mark raises paid (the marker first: a raise imported again is never queued
        again), then drop them from the queue."""
        if raise_ids:
            await insert_new(self._raises, [{"_id": f"settled:{r}"} for r in raise_ids])
            await self._pending.delete_many({"_id": {"$in": list(raise_ids)}})

    async def person_lines(self, person_id: str, months: Sequence[Month]
                           ) -> dict[Month, PayrollLine]:
        """The person's lines of these months (by ``_id``: no scan on any database)."""
        found = {}
        for month in months:
            doc = await self._lines.find_one({"_id": line_id(person_id, month)})
            if doc is not None:
                found[month] = _line(doc)
        return found

    async def run_months(self) -> list[Month]:
        """Every month run so far, oldest first (one small record per month)."""
        return sorted([Month.parse(doc["_id"]) async for doc in self._runs.find({}, {"_id": 1})])

    # -- runs ------------------------------------------------------------------------------

    async def run_of(self, month: Month) -> PayrollRun | None:
        doc = await self._runs.find_one({"_id": str(month)})
        return _run(doc) if doc else None

    async def start_run(self, month: Month, previous: Month | None, now: datetime) -> PayrollRun:
        """The month's run record; the first caller creates it, later callers read it."""
        await insert_once(self._runs, {"_id": str(month), "started_at": now,
                                       "previous": str(previous) if previous else None,
                                       "finished_at": None})
        run = await self.run_of(month)
        assert run is not None
        return run

    async def finish_run(self, month: Month, lines: int, now: datetime) -> None:
        await self._runs.update_one({"_id": str(month)},
                                    {"$set": {"finished_at": now, "lines": lines}})

    async def run_after_exists(self, month: Month) -> bool:
        return await self._runs.find_one({"_id": {"$gt": str(month)}}) is not None

    async def last_run_before(self, month: Month) -> Month | None:
        doc = await self._runs.find_one({"_id": {"$lt": str(month)}}, sort=[("_id", -1)])
        return Month.parse(doc["_id"]) if doc else None

    # -- lines -----------------------------------------------------------------------------

    async def add_lines(self, lines: Sequence[PayrollLine]) -> None:
        """Insert a month's lines; a line already there (an earlier run) is kept as it was."""
        if not lines:
            return
        try:
            await self._lines.insert_many([_line_doc(line) for line in lines], ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != DUPLICATE_KEY
                   for e in error.details.get("writeErrors", [])):
                raise

    async def lines_of(self, month: Month) -> list[PayrollLine]:
        cursor = self._lines.find({"month": str(month)}).sort("person_id", 1)
        return [_line(doc) async for doc in cursor]

    async def lines_for(self, person_ids: Sequence[str], month: Month
                        ) -> dict[str, PayrollLine]:
        """The month's lines of these people, by person."""
        cursor = self._lines.find({"_id": {"$in": [line_id(p, month) for p in person_ids]}})
        return {doc["person_id"]: _line(doc) async for doc in cursor}


def line_id(person_id: str, month: Month) -> str:
    """A person's line of a month is named by both: a month decides each person once."""
    return f"payroll:{person_id}:{month}"


def _run(doc: Document) -> PayrollRun:
    finished = doc.get("finished_at")
    return PayrollRun(month=Month.parse(doc["_id"]), started_at=as_utc(doc["started_at"]),
                      previous=Month.parse(doc["previous"]) if doc.get("previous") else None,
                      finished_at=as_utc(finished) if finished else None,
                      lines=doc.get("lines"))


def _line_doc(line: PayrollLine) -> Document:
    return {
        "_id": line_id(line.person_id, line.month), "person_id": line.person_id,
        "month": str(line.month), "status": line.status, "monthly_fen": line.monthly_fen,
        "region_code": line.region_code, "regular_fen": line.regular_fen,
        "backpay_months": [str(m) for m in line.backpay_months],
        "backpay_fen": line.backpay_fen,
        "excluded_prison_months": [str(m) for m in line.excluded_prison_months],
        "owed": [{"month": str(o.month), "fen": o.fen} for o in line.owed],
        "reason": line.reason, "total_fen": line.total_fen,
        "raise_months": [str(m) for m in line.raise_months], "raise_fen": line.raise_fen,
        "raises_settled": list(line.raises_settled),
    }


def _line(doc: Document) -> PayrollLine:
    return PayrollLine(
        person_id=doc["person_id"], month=Month.parse(doc["month"]), status=doc["status"],
        monthly_fen=int(doc["monthly_fen"]), region_code=doc.get("region_code", ""),
        regular_fen=int(doc["regular_fen"]),
        backpay_months=tuple(Month.parse(m) for m in doc.get("backpay_months") or ()),
        backpay_fen=int(doc["backpay_fen"]),
        excluded_prison_months=tuple(Month.parse(m)
                                     for m in doc.get("excluded_prison_months") or ()),
        owed=tuple(Owed(Month.parse(o["month"]), int(o["fen"])) for o in doc.get("owed") or ()),
        reason=dict(doc.get("reason") or {}),
        raise_months=tuple(Month.parse(m) for m in doc.get("raise_months") or ()),
        raise_fen=int(doc.get("raise_fen", 0)),
        raises_settled=tuple(doc.get("raises_settled") or ()),
    )



