"""What certification does with the registry's reports: a new pensioner gets a first
deadline, and a reported death becomes a death signal (which no import can clear)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pension_cert.context import CertContext
from pension_cert.cycle import register_new_retirees
from pension_cert.signals import ingest_signal
from people.model import Person


class CertRegistryHooks:
    def __init__(self, ctx: CertContext) -> None:
        self._ctx = ctx

    async def new_pensioners(self, arrivals: Sequence[tuple[Person, date | None]]) -> None:
        await register_new_retirees([(p.person_id, first) for p, first in arrivals
                                     if p.is_pensioner], ctx=self._ctx)

    async def death_reported(self, person: Person, day: date, source: str) -> None:
        if not person.is_pensioner:
            return  # the registry keeps it; certification has nothing to stop
        await ingest_signal(source=source, record_id=f"{person.person_id}:{day}",
                            person_id=person.person_id, kind="death", day=day, ctx=self._ctx)
