"""What the console keeps itself: each reveal, filed per agent per day, so a day's count is
read with ``_id`` lookups alone (common/slots.py). Documents never leave this module."""

from __future__ import annotations

from datetime import date, datetime

from common.mongo import Database
from common.slots import SlotLists

REVEALS = "console_reveals"


class ConsoleRepository:
    def __init__(self, db: Database) -> None:
        self._reveals = SlotLists(db[REVEALS])

    async def add_reveal(self, agent_id: str, day: date, *, person_id: str, field: str,
                         reason: str, audit_id: str, at: datetime) -> int:
        """File one reveal; returns how many the agent has made that day, this one included."""
        position = await self._reveals.append(_key(agent_id, day), {
            "person_id": person_id, "field": field, "reason": reason, "audit_id": audit_id,
            "at": at})
        return position + 1

    async def reveals_on(self, agent_id: str, day: date) -> int:
        return await self._reveals.length(_key(agent_id, day))


def _key(agent_id: str, day: date) -> str:
    return f"{agent_id}@{day.isoformat()}"
