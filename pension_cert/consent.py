"""Face-check consent (PIPL Art. 28): recorded with time, notice version, purpose and
retention; readable; withdrawing deletes the template; refusing changes nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from auth.model import Principal, Role
from common.errors import ValidationFailed
from pension_cert.check_model import Consent, ConsentEntry, ConsentIsPersonal, NoticeOutdated
from pension_cert.context import CertContext, pensioner
from pension_cert.notice import Notice

DECISIONS = {"give": "given", "refuse": "refused", "withdraw": "withdrawn"}


def notice_of(ctx: CertContext) -> Notice:
    """The notice a person reads before deciding (what GET /v1/pension/consent-notice shows)."""
    return ctx.consent_notice()


async def record_consent(principal: Principal, person_id: str, decision: str, *,
                         ctx: CertContext, notice_version: str | None = None,
                         paper_reference: str | None = None,
                         reason: str | None = None) -> ConsentEntry:
    """give / refuse / withdraw. Withdrawing deletes the template; refusing changes nothing
    else. Consent is the person's own act: they give it themselves, or sign it on paper
    and an agent records the scanned paper's reference and why (audited). Nobody else,
    family included, can consent for them."""
    if decision not in DECISIONS:
        raise ValidationFailed("decision is give, refuse or withdraw", field="decision")
    notice = ctx.consent_notice()
    if decision == "give" and notice_version not in (None, notice.version):
        # Consent counts for the notice the person read: a client showing an older text
        # must show the current one first (GET /v1/pension/consent-notice). None: the
        # caller showed the current one (an agent's paper form is always the current).
        raise NoticeOutdated("the notice shown is not the current one", field="notice_version",
                             current_version=notice.version)
    channel = _consent_channel(principal, person_id, paper_reference, reason)
    await pensioner(person_id, ctx=ctx)
    now = ctx.clock.now()
    status = DECISIONS[decision]
    on_paper = channel == "paper"
    entry = ConsentEntry(status=status, at=now, notice_version=notice_version or notice.version,
                         purpose=notice.purpose, retention=notice.retention,
                         actor=principal.subject, channel=channel,
                         paper_reference=paper_reference if on_paper else None,
                         reason=reason if on_paper else None)
    await ctx.repo.record_consent(person_id, entry)
    if decision == "withdraw":
        await ctx.repo.delete_template(person_id, now)
        await ctx.repo.forget_submissions(person_id)
    else:  # a template imported before consent may now be used (or still not)
        await ctx.repo.set_template_consent(person_id, decision == "give", now)
    await ctx.audit.record(actor=principal.subject, action=f"consent.{decision}",
                           object=person_id, outcome=status, channel=channel,
                           **({"paper_reference": paper_reference, "reason": reason}
                              if on_paper else {}))
    return entry


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


@dataclass(frozen=True)
class ConsentView:
    """What a person (or their agent) sees of their consent."""

    consent: Consent | None
    has_reference: bool

    @property
    def status(self) -> str:
        return self.consent.latest.status if self.consent else "none"


async def consent_of(person_id: str, *, ctx: CertContext) -> ConsentView:
    consent = await ctx.repo.consent(person_id)
    return ConsentView(consent, has_reference=await ctx.repo.template(person_id) is not None)
