"""Object-level access: the one ``authorize`` every handler that touches a person's data
uses. A citizen reaches their own records and those of family who authorised them (a
permission grants exactly its own domain); an agent reaches the people of their
regions; anything else answers as "not found"."""

from __future__ import annotations

from enum import StrEnum

from auth.family_repository import FamilyRepository
from auth.model import Permission, Principal, RecordNotFound, Role
from people.repository import PeopleRepository


class Action(StrEnum):
    """What a caller wants to do with a person's records: see their basic record, or see
    and act on one domain's records. A family member's permission grants exactly its
    own domain (least privilege); any confirmed link shows the basic record."""

    PERSON = "person"
    PENSION_CERT = Permission.PENSION_CERT.value
    CARD = Permission.CARD.value
    FILING = Permission.FILING.value
    RECORDS = Permission.RECORDS.value


class Authorizer:
    def __init__(self, people: PeopleRepository, family: FamilyRepository) -> None:
        self._people = people
        self._family = family

    async def authorize(self, principal: Principal, action: Action,
                        person_id: str) -> str | None:
        """Allow or answer 404. Returns the person acted for when a family member acts,
        so the audit can record both of them."""
        if principal.role is Role.ADMIN:
            return None
        if principal.role is Role.AGENT:
            person = await self._people.get(person_id)
            if person is not None and covers(principal.regions, person.region_code):
                return None
            raise RecordNotFound(person_id)
        if principal.role is Role.CITIZEN:
            if principal.person_id == person_id:
                return None
            link = await self._family.confirmed(person_id, principal.subject)
            if link is not None and (action is Action.PERSON or link.allows(action.value)):
                return person_id
        raise RecordNotFound(person_id)


def covers(regions: frozenset[str], region_code: str) -> bool:
    """An agent scoped to 150100 (a league) covers its counties 1501xx; 150000 all of it."""
    return any(region_code.startswith(region_prefix(region)) for region in regions)


def region_prefix(region: str) -> str:
    """The start of the region codes a region covers: 150100 (a league) -> 1501,
    150000 -> 15, a county 150102 -> itself."""
    prefix = region.rstrip("0") if region.endswith("00") else region
    return prefix if len(prefix) % 2 == 0 else prefix + "0"
