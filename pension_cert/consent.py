"""Face-check consent (PIPL Art. 28): recorded with time, notice version, purpose and
retention; readable; withdrawing deletes the template; refusing changes nothing else."""

from __future__ import annotations

from typing import Any

from auth.model import Principal, Role
from common.errors import ValidationFailed
from pension_cert.context import (
    CONSENT_PURPOSE,
    NOTICE_VERSION,
    OTHER_ROUTES,
    TEMPLATE_RETENTION_TEXT,
    CertContext,
    pensioner,
)
from pension_cert.model import ConsentIsPersonal

DECISIONS = {"give": "given", "refuse": "refused", "withdraw": "withdrawn"}


async def record_consent(principal: Principal, person_id: str, decision: str, *,
                         ctx: CertContext, notice_version: str = NOTICE_VERSION,
                         paper_reference: str | None = None,
                         reason: str | None = None) -> dict[str, Any]:
    """give / refuse / withdraw. Withdrawing deletes the template; refusing changes nothing
    else. Consent is the person's own act: they give it themselves, or sign it on paper
    and an agent records the scanned paper's reference and why (audited). Nobody else,
    family included, can consent for them."""
    if decision not in DECISIONS:
        raise ValidationFailed("decision is give, refuse or withdraw", field="decision")
    channel = _consent_channel(principal, person_id, paper_reference, reason)
    await pensioner(person_id, ctx=ctx)
    now = ctx.clock.now()
    status = DECISIONS[decision]
    entry = {"status": status, "at": now, "notice_version": notice_version,
             "purpose": CONSENT_PURPOSE, "retention": TEMPLATE_RETENTION_TEXT,
             "actor": principal.subject, "channel": channel}
    if channel == "paper":
        entry.update(paper_reference=paper_reference, reason=reason)
    await ctx.repo.record_consent(person_id, entry)
    if decision == "withdraw":
        await ctx.repo.delete_template(person_id, now)
    await ctx.audit.record(actor=principal.subject, action=f"consent.{decision}",
                           object=person_id, outcome=status, channel=channel,
                           **({"paper_reference": paper_reference, "reason": reason}
                              if channel == "paper" else {}))
    return {**entry, "other_routes": OTHER_ROUTES}


def _consent_channel(principal: Principal, person_id: str, paper_reference: str | None,
                     reason: str | None) -> str:
    if principal.role is Role.CITIZEN and principal.person_id == person_id:
        return "self"
    if principal.role in (Role.AGENT, Role.ADMIN):
        if not (paper_reference and paper_reference.strip()):
            raise ValidationFailed("an agent records a signed paper consent: give the "
                                   "scanned paper's reference", field="paper_reference")
        if not (reason and len(reason.strip()) >= 4):
            raise ValidationFailed("say why the consent was given on paper", field="reason")
        return "paper"
    raise ConsentIsPersonal("only the person consents to a face check")


async def consent_of(person_id: str, *, ctx: CertContext) -> dict[str, Any]:
    consent = await ctx.repo.consent(person_id)
    template = await ctx.repo.template(person_id)
    return {"status": (consent or {}).get("status", "none"),
            "notice_version": (consent or {}).get("notice_version"),
            "history": (consent or {}).get("history", []), "has_reference": template is not None}
