"""Proof of insurance (参保证明): the facts as of the day it is issued (the person masked,
insured types, their periods and months paid), kept under the proof's id, and a signed
code (ES256, 90 days) that the public verification route checks. The printed facts are
frozen at issue, so the verifier sees exactly what the paper says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from common.clock import as_utc, local_date
from common.masking import mask_id_number, mask_name
from people.model import PersonNotFound
from records.model import TYPE_NAMES, InsuranceType, ProofNotFound, paid_months, periods
from records.service import RecordsContext, contributions_of

PROOF_VALIDITY = timedelta(days=90)


@dataclass(frozen=True)
class ProofPeriod:
    insurance_type: InsuranceType
    first: str  # YYYY-MM
    last: str
    months: int


@dataclass(frozen=True)
class Proof:
    proof_id: str
    person_id: str
    name: str  # masked
    id_number: str  # masked
    region_code: str
    issued_at: datetime
    issued_on: date
    expires_at: datetime
    types: list[InsuranceType]
    months: dict[InsuranceType, int]
    periods: list[ProofPeriod]
    code: str
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "valid"


async def issue_proof(person_id: str, seed: str, *, actor: str,
                      ctx: RecordsContext) -> Proof:
    """Issue (or, for a retried request, find) the proof whose id comes from ``seed``."""
    proof_id = "P" + seed[:20].upper()
    found = await ctx.proofs.get(proof_id)
    if found is None:
        person = await ctx.people.get(person_id)
        if person is None:
            raise PersonNotFound(person_id)
        records = await contributions_of(person_id, ctx=ctx)
        months = paid_months(records)
        types = [kind for kind in InsuranceType if months[kind] > 0]
        code, expires = ctx.signer.sign(proof_id, PROOF_VALIDITY, typ="insurance-proof")
        now = ctx.clock.now()
        doc = {
            "person_id": person_id, "name": mask_name(person.name),
            "id_number": mask_id_number(person.id_number), "region_code": person.region_code,
            "issued_at": now, "issued_on": local_date(now).isoformat(), "expires_at": expires,
            "types": [t.value for t in types], "months": {t.value: months[t] for t in types},
            "periods": [{"insurance_type": t.value, "first": str(p.first),
                         "last": str(p.last), "months": p.months}
                        for t in types for p in periods(records, t)],
            "code": code, "actor": actor, "revoked_at": None}
        await ctx.proofs.add(proof_id, doc)
        found = await ctx.proofs.get(proof_id)
        assert found is not None
    return _proof(found)


async def proof_of(proof_id: str, *, ctx: RecordsContext) -> Proof:
    found = await ctx.proofs.get(proof_id)
    if found is None:
        raise ProofNotFound(proof_id)
    return _proof(found)


async def revoke_proof(proof: Proof, *, actor: str, ctx: RecordsContext) -> Proof:
    await ctx.proofs.revoke(proof.proof_id, ctx.clock.now(), actor)
    return await proof_of(proof.proof_id, ctx=ctx)


def _proof(doc: dict[str, Any]) -> Proof:
    return Proof(
        proof_id=doc["proof_id"], person_id=doc["person_id"], name=doc["name"],
        id_number=doc["id_number"], region_code=doc["region_code"],
        issued_at=doc["issued_at"], issued_on=date.fromisoformat(doc["issued_on"]),
        expires_at=as_utc(doc["expires_at"]),
        types=[InsuranceType(t) for t in doc["types"]],
        months={InsuranceType(k): int(v) for k, v in doc["months"].items()},
        periods=[ProofPeriod(InsuranceType(p["insurance_type"]), p["first"], p["last"],
                             int(p["months"])) for p in doc["periods"]],
        code=doc["code"],
        revoked_at=as_utc(doc["revoked_at"]) if doc.get("revoked_at") else None)


def describe_types(proof: Proof) -> list[str]:
    return [f"{TYPE_NAMES[t]}：累计缴费{proof.months[t]}个月" for t in proof.types]


