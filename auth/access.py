"""Object-level access: the one ``authorize`` every handler that touches a person's data
uses, and family authorisation (亲情服务) that extends a citizen's reach."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from auth.model import (
    FAMILY_TRANSITIONS,
    FamilyLink,
    FamilyLinkNotFound,
    FamilyMemberNotFound,
    FamilyStatus,
    FamilyTransitionRefused,
    NotVerified,
    Permission,
    Principal,
    Role,
)
from auth.repository import AuthRepository
from common.audit import AuditLog
from common.clock import Clock, as_utc
from common.errors import NotFound, ValidationFailed
from common.guard import Guard
from common.mongo import insert_once
from common.versioning import step_version
from people.model import IdNumber, InvalidIdNumber
from people.repository import PeopleRepository


class Action(StrEnum):
    """What a caller wants to do with a person's records: see their basic record, or see
    and act on one domain's records. A family member's permission grants exactly its
    own domain (least privilege); any confirmed link shows the basic record."""

    PERSON = "person"
    PENSION_CERT = Permission.PENSION_CERT.value
    CARD = Permission.CARD.value
    FILING = Permission.FILING.value


class RecordNotFound(NotFound):
    """Not there, or not the caller's to see: both answer the same 404."""

    code = "NOT_FOUND"


async def authorize(principal: Principal, action: Action, person_id: str, *,
                    people: PeopleRepository, repo: AuthRepository) -> str | None:
    """Allow or answer 404. Returns the person acted for when a family member acts,
    so the audit can record both of them."""
    if principal.role is Role.ADMIN:
        return None
    if principal.role is Role.AGENT:
        person = await people.get(person_id)
        if person is not None and covers(principal.regions, person.region_code):
            return None
        raise RecordNotFound(person_id)
    if principal.role is Role.CITIZEN:
        if principal.person_id == person_id:
            return None
        link = await _confirmed_link(repo, person_id, principal.subject)
        if link is not None and (action is Action.PERSON or link.allows(action.value)):
            return person_id
    raise RecordNotFound(person_id)


def covers(regions: frozenset[str], region_code: str) -> bool:
    """An agent scoped to 150100 (a league) covers its counties 1501xx; 150000 all of it."""
    for region in regions:
        prefix = region.rstrip("0") if region.endswith("00") else region
        prefix = prefix if len(prefix) % 2 == 0 else prefix + "0"
        if region_code.startswith(prefix):
            return True
    return False


async def _confirmed_link(repo: AuthRepository, grantor_person_id: str,
                          grantee_account_id: str) -> FamilyLink | None:
    doc = await repo.family.find_one({"grantor_person_id": grantor_person_id,
                                      "grantee_account_id": grantee_account_id,
                                      "status": FamilyStatus.CONFIRMED.value})
    return _link(doc) if doc else None


# -- family links ---------------------------------------------------------------------------


async def invite_family(principal: Principal, *, phone: str | None, id_number: str | None,
                        permissions: list[str], link_id: str, repo: AuthRepository,
                        people: PeopleRepository, clock: Clock, audit: AuditLog,
                        client_ip: str) -> FamilyLink:
    """Citizen A invites B (by phone or ID number) to act for A with ``permissions``.
    ``link_id`` comes from the request's Idempotency-Key: a retry finds the first link."""
    existing = await repo.family.find_one({"_id": link_id})
    if existing is not None:
        return _link(existing)
    if principal.person_id is None:
        raise NotVerified("only a verified citizen can authorise family")
    perms = _permissions(permissions)
    grantee = await _find_grantee(phone, id_number, repo=repo, people=people)
    if grantee == principal.subject:
        raise ValidationFailed("cannot authorise yourself", field="phone")
    now = clock.now()
    link = FamilyLink(link_id=link_id, grantor_person_id=principal.person_id,
                      grantor_account_id=principal.subject, grantee_account_id=grantee,
                      permissions=perms, status=FamilyStatus.INVITED, created_at=now,
                      updated_at=now)
    if not await insert_once(repo.family, _doc(link)):
        stored = await repo.family.find_one({"_id": link_id})
        assert stored is not None
        return _link(stored)
    await audit.record(actor=principal.subject, action="family.invite", object=link.link_id,
                       outcome="invited", client_ip=client_ip, grantee=grantee,
                       permissions=",".join(perms))
    return link


async def _find_grantee(phone: str | None, id_number: str | None, *, repo: AuthRepository,
                        people: PeopleRepository) -> str:
    if bool(phone) == bool(id_number):
        raise ValidationFailed("give the family member's phone or ID number", field="phone")
    if phone:
        owner = await repo.identity_owner(f"phone:{phone.strip()}")
    else:
        try:
            person = await people.find_by_id_number(IdNumber.parse(id_number or "").value)
        except InvalidIdNumber:
            person = None
        owner = (await repo.identity_owner(f"person:{person.person_id}")) if person else None
    if owner is None:
        raise FamilyMemberNotFound("family member has no account yet")
    return owner


def _permissions(requested: list[str]) -> tuple[str, ...]:
    allowed = {p.value for p in Permission}
    if not requested or not set(requested) <= allowed:
        raise ValidationFailed(f"permissions must be some of {', '.join(sorted(allowed))}",
                               field="permissions")
    return tuple(sorted(set(requested)))


async def family_links(principal: Principal, *, repo: AuthRepository) -> list[FamilyLink]:
    cursor = repo.family.find({"$or": [{"grantor_account_id": principal.subject},
                                       {"grantee_account_id": principal.subject}]})
    return [_link(doc) async for doc in cursor]


async def get_link(principal: Principal, link_id: str, *, repo: AuthRepository) -> FamilyLink:
    doc = await repo.family.find_one({"_id": link_id})
    link = _link(doc) if doc else None
    if link is None or link.side_of(principal.subject) is None:
        raise FamilyLinkNotFound(link_id)
    return link


async def move_family_link(principal: Principal, link_id: str, event: str,
                           expected_version: int | None, *, repo: AuthRepository, guard: Guard,
                           clock: Clock, audit: AuditLog, client_ip: str) -> FamilyLink:
    """accept (B), confirm (A), end (either side)."""
    link = await get_link(principal, link_id, repo=repo)
    side = link.side_of(principal.subject)
    assert side is not None
    target = FAMILY_TRANSITIONS.get((link.status, event, side))
    if target is None:
        raise FamilyTransitionRefused(f"cannot {event} a link that is {link.status.value}",
                                      current_state=link.status.value)
    now = clock.now()
    version = await step_version(
        guard=guard, clock=clock, collection=repo.family, record_id=link_id,
        expected_version=expected_version if expected_version is not None else link.version,
        changes={"status": target.value, "updated_at": now,
                 **({"ended_by": side} if target is FamilyStatus.ENDED else {})})
    await audit.record(actor=principal.subject, action=f"family.{event}", object=link_id,
                       outcome=target.value, client_ip=client_ip)
    link.status, link.version, link.updated_at = target, version, now
    return link


def _doc(link: FamilyLink) -> dict[str, Any]:
    doc = asdict(link)
    doc["_id"] = doc.pop("link_id")
    doc["status"] = link.status.value
    doc["permissions"] = list(link.permissions)
    return doc


def _link(doc: dict[str, Any]) -> FamilyLink:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(FamilyLink)
                              if f.name != "link_id"}
    for name in ("created_at", "updated_at"):
        if isinstance(values[name], datetime):
            values[name] = as_utc(values[name])
    values["status"] = FamilyStatus(values["status"])
    values["permissions"] = tuple(values["permissions"] or ())
    return FamilyLink(link_id=doc["_id"], **values)
