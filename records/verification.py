"""The public check of printed codes, for whoever is handed the paper (a landlord, a school,
a hospital): the QR of a proof of insurance, or the 校验码 of a filing certificate. It
answers valid, expired or revoked with the masked facts the paper certifies; a code this
service did not issue, or one altered, is refused. Rate-limited per client address and
audited, since it is open to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from common.audit import AuditLog
from common.masking import mask_id_number, mask_name
from common.ratelimit import RateLimiter, RateRule
from common.signed_codes import CodeNotGenuine
from medical_insurance import queries as filing_queries
from medical_insurance.model import CATEGORY_NAMES, FilingNotFound, Status
from medical_insurance.service import FilingContext, get_filing
from records.model import TYPE_NAMES
from records.proof import proof_of
from records.service import RecordsContext

VERIFY_RULES = (RateRule("verify_ip_hour", limit=60, window=timedelta(hours=1)),)
FILING_STATES = {Status.EFFECTIVE: "valid", Status.EXPIRED: "expired",
                 Status.CANCELLED: "revoked", Status.REJECTED: "revoked",
                 Status.PENDING_REVIEW: "revoked"}


@dataclass(frozen=True)
class VerifyContext:
    records: RecordsContext
    filings: FilingContext
    limiter: RateLimiter
    audit: AuditLog


@dataclass(frozen=True)
class Verification:
    kind: str  # "insurance_proof" | "filing_certificate"
    status: str  # "valid" | "expired" | "revoked"
    document_id: str
    facts: list[tuple[str, str]]  # (label, value), masked, as the paper prints them


async def verify_code(code: str, *, client_ip: str, ctx: VerifyContext) -> Verification:
    await ctx.limiter.hit("verify", client_ip, VERIFY_RULES)
    code = code.strip()
    try:
        found = (await _proof(code, ctx) if code.startswith("eyJ")
                 else await _filing(code, ctx))
    except CodeNotGenuine:
        await ctx.audit.record(actor=f"public:{client_ip}", action="code.verify",
                               object="-", outcome="not_genuine", client_ip=client_ip)
        raise
    await ctx.audit.record(actor=f"public:{client_ip}", action="code.verify",
                           object=found.document_id, outcome=found.status,
                           client_ip=client_ip, kind=found.kind)
    return found


async def _proof(code: str, ctx: VerifyContext) -> Verification:
    checked = ctx.records.signer.check(code)
    if checked.claims.get("typ") != "insurance-proof":
        raise CodeNotGenuine("this code is not a proof of insurance", field="code")
    proof = await proof_of(str(checked.claims["sub"]), ctx=ctx.records)
    status = proof.status(ctx.records.clock.now())
    facts = [("姓名", proof.name), ("身份证号", proof.id_number),
             ("出具日期", proof.issued_on.isoformat()),
             ("有效期至", proof.expires_at.date().isoformat())]
    facts += [(TYPE_NAMES[t], f"累计缴费{proof.months[t]}个月") for t in proof.types]
    facts += [(f"{TYPE_NAMES[p.insurance_type]}缴费期间", f"{p.first}至{p.last}（{p.months}个月）")
              for p in proof.periods]
    return Verification("insurance_proof", status, proof.proof_id, facts)


async def _filing(code: str, ctx: VerifyContext) -> Verification:
    filing_id, _, rest = code.partition(".")
    try:
        filing = await get_filing(filing_id, ctx=ctx.filings)
    except FilingNotFound:
        raise CodeNotGenuine("this code was not issued here", field="code") from None
    version = rest.partition(".")[0]
    printed = filing if str(filing.version) == version else None
    genuine = filing_queries.code_is_genuine_for(code, filing_id, version,
                                                 ctx.filings.certificate_key)
    if not genuine:
        raise CodeNotGenuine("this code was not issued here or has been altered", field="code")
    person = await ctx.filings.people.get(filing.person_id)
    status = FILING_STATES[filing.status_on(ctx.filings.today())]
    if printed is None:  # the filing changed since this paper was printed
        status = "revoked"
    facts = [("姓名", mask_name(person.name) if person else "—"),
             ("身份证号", mask_id_number(person.id_number) if person else "—"),
             ("备案类别", CATEGORY_NAMES[filing.category]),
             ("就医地", filing.destination.name),
             ("开始日期", filing.start_date.isoformat()),
             ("有效期至", filing.end_date.isoformat() if filing.end_date else "长期有效")]
    return Verification("filing_certificate", status, filing.filing_id, facts)
