"""What the HTTP layer reads of filings: an agent's search, a person's filings and the
printable certificate with its signed code."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from auth.access import region_prefix
from auth.model import Forbidden, Principal, Role
from common.masking import mask_id_number
from medical_insurance.model import Filing, Status
from people.model import PersonNotFound

if TYPE_CHECKING:  # the service module imports this one
    from medical_insurance.service import FilingContext

PAGE = 50  # filings on a page of an agent's search


@dataclass(frozen=True)
class FilingPage:
    filings: list[Filing]
    next_cursor: str | None  # None: this was the last page


async def search_filings(agent: Principal, *, person_id: str | None, status: Status | None,
                         since: date | None, until: date | None, client_ip: str | None = None,
                         after: str | None = None, limit: int = PAGE,
                         ctx: FilingContext) -> FilingPage:
    """An agent's search of the filings of their regions (an admin's: of every region), by
    person, status today and start date, newest first, a page at a time (``after``: the
    cursor the previous page gave). Every search is audited."""
    if agent.role not in (Role.AGENT, Role.ADMIN):
        raise Forbidden("agents search filings")
    prefixes = None if agent.role is Role.ADMIN else sorted(
        region_prefix(region) for region in agent.regions)
    stored, more = await ctx.repo.search(
        region_prefixes=prefixes, person_id=person_id, statuses=_stored_as(status),
        since=since, until=until, limit=limit, now=ctx.clock.now(), after=after)
    today = ctx.today()
    found = [f for f in stored if status is None or f.status_on(today) is status]
    await ctx.audit.record(actor=agent.subject, action="filing.search",
                           object=person_id or "-", outcome=str(len(found)),
                           client_ip=client_ip)
    return FilingPage(found, more)


async def filings_of(person_id: str, *, status: Status | None = None,
                     since: date | None = None, until: date | None = None,
                     ctx: FilingContext) -> list[Filing]:
    """A person's filings, newest first: those in ``status`` today, starting within
    [since, until]. The caller has checked who may read them."""
    today = ctx.today()
    return [f for f in await ctx.repo.of_person(person_id)
            if (status is None or f.status_on(today) is status)
            and (since is None or f.start_date >= since)
            and (until is None or f.start_date <= until)]


def _stored_as(status: Status | None) -> list[Status] | None:
    """The stored statuses of filings that read as ``status`` today: expiry is decided on
    read, so an expired filing may still be stored as effective."""
    if status is None:
        return None
    return [Status.EXPIRED, Status.EFFECTIVE] if status is Status.EXPIRED else [status]


# -- the certificate -------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """What the printed certificate shows: the filing, its holder's name and masked ID
    number, and the signed code that vouches for this version of the filing."""

    filing: Filing
    name: str
    id_number: str  # masked: the printout leaves the building
    code: str


async def certificate_of(filing: Filing, *, ctx: FilingContext) -> Certificate:
    """The certificate of a filing the caller has been allowed to read."""
    person = await ctx.people.get(filing.person_id)
    if person is None:
        raise PersonNotFound(filing.person_id)
    return Certificate(filing=filing, name=person.name,
                       id_number=mask_id_number(person.id_number),
                       code=certificate_code(filing, ctx.certificate_key))


def certificate_code(filing: Filing, key: bytes) -> str:
    """A short signed code printed on the certificate: the filing and version it vouches for."""
    return _code_for(filing.filing_id, str(filing.version), key)


def _code_for(filing_id: str, version: str, key: bytes) -> str:
    message = f"{filing_id}.{version}"
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()[:12]
    return f"{message}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def code_is_genuine(code: str, filing: Filing, key: bytes) -> bool:
    return hmac.compare_digest(code, certificate_code(filing, key))


def code_is_genuine_for(code: str, filing_id: str, version: str, key: bytes) -> bool:
    """The code was issued for this filing at ``version`` (perhaps an earlier version than
    the filing has now: the paper then vouches for what the filing was)."""
    return hmac.compare_digest(code.encode(), _code_for(filing_id, version, key).encode())
