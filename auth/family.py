"""Family authorisation (亲情服务): A invites B to act for A with some permissions;
B accepts, A confirms; either side can end it."""

from __future__ import annotations

from auth.context import AuthContext
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
)
from common.errors import ValidationFailed
from common.versioning import check_if_match
from people.model import IdNumber, InvalidIdNumber


async def invite_family(principal: Principal, *, phone: str | None, id_number: str | None,
                        permissions: list[str], link_id: str, ctx: AuthContext,
                        client_ip: str) -> FamilyLink:
    """Citizen A invites B (by phone or ID number) to act for A with ``permissions``.
    ``link_id`` comes from the request's Idempotency-Key: a retry finds the first link."""
    existing = await ctx.family.get(link_id)
    if existing is not None:
        return existing
    if principal.person_id is None:
        raise NotVerified("only a verified citizen can authorise family")
    perms = _permissions(permissions)
    grantee = await _find_grantee(phone, id_number, ctx=ctx)
    if grantee == principal.subject:
        raise ValidationFailed("cannot authorise yourself", field="phone")
    now = ctx.clock.now()
    link = FamilyLink(link_id=link_id, grantor_person_id=principal.person_id,
                      grantor_account_id=principal.subject, grantee_account_id=grantee,
                      permissions=perms, status=FamilyStatus.INVITED, created_at=now,
                      updated_at=now)
    if not await ctx.family.add(link):
        stored = await ctx.family.get(link_id)
        assert stored is not None
        return stored
    await ctx.audit.record(actor=principal.subject, action="family.invite",
                           object=link.link_id, outcome="invited", client_ip=client_ip,
                           grantee=grantee, permissions=",".join(perms))
    return link


async def _find_grantee(phone: str | None, id_number: str | None, *, ctx: AuthContext) -> str:
    if bool(phone) == bool(id_number):
        raise ValidationFailed("give the family member's phone or ID number", field="phone")
    if phone:
        owner = await ctx.repo.identity_owner(f"phone:{phone.strip()}")
    else:
        try:
            person = await ctx.people.find_by_id_number(IdNumber.parse(id_number or "").value)
        except InvalidIdNumber:
            person = None
        owner = (await ctx.repo.identity_owner(f"person:{person.person_id}")) if person \
            else None
    if owner is None:
        raise FamilyMemberNotFound("family member has no account yet")
    return owner


def _permissions(requested: list[str]) -> tuple[str, ...]:
    allowed = {p.value for p in Permission}
    if not requested or not set(requested) <= allowed:
        raise ValidationFailed(f"permissions must be some of {', '.join(sorted(allowed))}",
                               field="permissions")
    return tuple(sorted(set(requested)))


async def family_links(principal: Principal, *, ctx: AuthContext) -> list[FamilyLink]:
    return await ctx.family.of_account(principal.subject)


async def get_link(principal: Principal, link_id: str, *, ctx: AuthContext) -> FamilyLink:
    link = await ctx.family.get(link_id)
    if link is None or link.side_of(principal.subject) is None:
        raise FamilyLinkNotFound(link_id)
    return link


async def move_family_link(principal: Principal, link_id: str, event: str,
                           if_match: str | None, *, ctx: AuthContext,
                           client_ip: str) -> FamilyLink:
    """accept (B), confirm (A), end (either side); If-Match names the version read."""
    link = await get_link(principal, link_id, ctx=ctx)
    check_if_match(if_match, link.version)
    side = link.side_of(principal.subject)
    assert side is not None
    target = FAMILY_TRANSITIONS.get((link.status, event, side))
    if target is None:
        raise FamilyTransitionRefused(f"cannot {event} a link that is {link.status.value}",
                                      current_state=link.status.value)
    now = ctx.clock.now()
    version = await ctx.family.step(link, {
        "status": target.value, "updated_at": now,
        **({"ended_by": side} if target is FamilyStatus.ENDED else {})}, link.version)
    await ctx.audit.record(actor=principal.subject, action=f"family.{event}", object=link_id,
                           outcome=target.value, client_ip=client_ip)
    link.status, link.version, link.updated_at = target, version, now
    return link
