"""The demo: 300 deterministic people across all 12 leagues, with certification histories
and a few reminders, loaded through the same import as real data."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from tqdm import tqdm

from common.clock import local_date
from composition import Container
from notifications.templates import CERT_DUE_SOON
from pension_cert.model import CertState, cycle_months, valid_through
from people.demo import DEMO_SEED, demo_rows
from people.model import Person
from people.service import ImportReport, import_people

DEMO_REMINDERS = 5


class DemoHistories:
    """Certification histories for the demo pensioners instead of first deadlines: most
    certified some months ago, a few due soon or overdue, so the daily job has
    reminders and suspensions to make. Deaths go the real way, as death signals."""

    def __init__(self, deps: Container) -> None:
        self._deps = deps

    async def new_pensioners(self, arrivals: Sequence[tuple[Person, date | None]]) -> None:
        await self._deps.cert.repo.create_states([self._history(p) for p, _ in arrivals])

    def _history(self, person: Person) -> CertState:
        deps = self._deps
        rng = random.Random(f"{DEMO_SEED}:{person.id_number}")  # noqa: S311 - demo data
        today = local_date(deps.clock.now())
        months = cycle_months(person, today, deps.cert.config.cycle_rules)
        certified = today - timedelta(days=rng.randrange(10, months * 31 + 40))
        return CertState(
            person_id=person.person_id, last_certified_on=certified,
            valid_through=valid_through(certified, months),
            history=[{"day": certified.isoformat(), "channel": "agent", "result": "certified",
                      "note": "demo history"}])

    async def death_reported(self, person: Person, day: date, source: str) -> None:
        await self._deps.registry_hooks.death_reported(person, day, source)


async def seed_demo(deps: Container, *, progress: bool) -> ImportReport:
    rows = demo_rows()
    with tqdm(total=len(rows), desc="demo people", disable=not progress, unit="row") as bar:
        report = await import_people(enumerate(rows, start=2), people=deps.people,
                                     clock=deps.clock, hooks=DemoHistories(deps),
                                     source="demo", on_row=lambda: bar.update())
    await _demo_reminders(deps, rows)
    return report


async def _demo_reminders(deps: Container, rows: list[dict[str, str]]) -> None:
    """A few certification reminders, so the demo shows SMS arriving at the stand-in.

    Quiet hours apply as in production: at night they wait until 08:00.
    """
    due = local_date(deps.clock.now()) + timedelta(days=30)
    retirees = [r for r in rows if r["person_type"] == "retiree" and r["phone"]
                and not r["death_date"]][:DEMO_REMINDERS]
    for row in retirees:
        person = await deps.people.find_by_id_number(row["id_number"])
        if person is None:
            continue
        await deps.notifier.notify(CERT_DUE_SOON, f"demo:{CERT_DUE_SOON}:{person.person_id}",
                                   {"name": person.name, "due_date": due.isoformat()},
                                   person_id=person.person_id, phone=person.phone)
