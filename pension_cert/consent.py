"""Face-check consent (PIPL Art. 28): recorded with time, notice version, purpose and
retention; readable; withdrawing deletes the template; refusing changes nothing else."""

from __future__ import annotations

from typing import Any

from common.errors import ValidationFailed
from pension_cert.context import (
    CONSENT_PURPOSE,
    NOTICE_VERSION,
    OTHER_ROUTES,
    TEMPLATE_RETENTION_TEXT,
    CertContext,
    pensioner,
)

DECISIONS = {"give": "given", "refuse": "refused", "withdraw": "withdrawn"}


async def record_consent(person_id: str, decision: str, *, actor: str, ctx: CertContext,
                         notice_version: str = NOTICE_VERSION) -> dict[str, Any]:
    """give / refuse / withdraw. Withdrawing deletes the template; refusing changes nothing else."""
    if decision not in DECISIONS:
        raise ValidationFailed("decision is give, refuse or withdraw", field="decision")
    await pensioner(person_id, ctx=ctx)
    now = ctx.clock.now()
    status = DECISIONS[decision]
    entry = {"status": status, "at": now, "notice_version": notice_version,
             "purpose": CONSENT_PURPOSE, "retention": TEMPLATE_RETENTION_TEXT, "actor": actor}
    await ctx.repo.record_consent(person_id, entry)
    if decision == "withdraw":
        await ctx.repo.delete_template(person_id, now)
    await ctx.audit.record(actor=actor, action=f"consent.{decision}", object=person_id,
                           outcome=status)
    return {**entry, "other_routes": OTHER_ROUTES}


async def consent_of(person_id: str, *, ctx: CertContext) -> dict[str, Any]:
    consent = await ctx.repo.consent(person_id)
    template = await ctx.repo.template(person_id)
    return {"status": (consent or {}).get("status", "none"),
            "notice_version": (consent or {}).get("notice_version"),
            "history": (consent or {}).get("history", []), "has_reference": template is not None}
