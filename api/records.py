"""Records routes: the contribution feed and history, proofs of insurance (JSON, printable
page, PDF) and the public check of printed codes."""

from __future__ import annotations

from typing import ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Operation, Page, Reply, Resp
from api.http import HTML_POLICY
from api.proof_print import proof_page, proof_pdf
from api.schemas.records import (
    ContributionFed,
    ContributionHistory,
    ContributionIn,
    ContributionMonth,
    ContributionYear,
    PaidType,
    PersonQuery,
    ProofPeriodView,
    ProofRequest,
    ProofView,
    VerificationView,
    VerifiedFact,
    VerifyRequest,
)
from auth.access import Action
from common.clock import local_date
from common.errors import RateLimited, ValidationFailed
from common.signed_codes import CodeNotGenuine
from people.model import PersonNotFound
from records import model as m
from records import proof as proofs
from records import service as records
from records.service import RecordsContext
from records.verification import VerifyContext, verify_code

TAG = ("缴费与参保证明",)
HTML = "text/html; charset=UTF-8"
STATUS_NAMES = {"valid": "有效", "expired": "已过期", "revoked": "已作废"}
MINIMUM_RULE = ("《社会保险法》第十六条：达到法定退休年龄时累计缴费满15年（180个月）的，按月领取"
                "基本养老金；各地缴费年限合并计算，同一月份重复缴费只计一次。")


class RecordsHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: RecordsContext

    def person_of(self, person_id: str | None) -> str:
        chosen = person_id or self.me.person_id
        if not chosen:  # a console account is nobody: it names the person
            raise ValidationFailed("person_id is required", field="person_id")
        return chosen

    async def allowed(self, person_id: str) -> str | None:
        return await self.authorize(Action.RECORDS, person_id, PersonNotFound(person_id))


class ContributionFeedHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "contributions"
    ctx: RecordsContext
    openapi: ClassVar = {"post": Operation(
        "feed_contribution", "缴费记录推送", "征缴系统逐条推送缴费记录；同一来源记录只存一次，"
        "同月同险种的新记录作为更正版本保存。", ("机构接口",),
        {200: Resp("已处理", ContributionFed)}, body=ContributionIn,
        errors=(m.InvalidContribution, m.SourceRecordConflict), invalid=m.InvalidContribution)}

    async def post(self) -> ContributionFed:
        row = self.body(ContributionIn)
        outcome = await records.feed_contribution(row.as_row(), ctx=self.ctx)
        return ContributionFed.model_validate({"outcome": outcome})


class ContributionsHandler(RecordsHandler):
    openapi: ClassVar = {"get": Operation(
        "get_contributions", "缴费记录", "逐月缴费（断缴月份标明）、年度汇总、各险种累计月数和"
        "计入15年最低缴费年限的月数。", TAG, {200: Resp("缴费记录", ContributionHistory)},
        query=PersonQuery, errors=(PersonNotFound,))}

    async def get(self) -> ContributionHistory:
        person_id = self.person_of(self.query(PersonQuery).person_id)
        on_behalf = await self.allowed(person_id)
        found = await records.read_contributions(self.me, person_id, client_ip=self.client_ip(),
                                                 on_behalf=on_behalf, ctx=self.ctx)
        today_month = m.Month.of(local_date(self.ctx.clock.now()))
        return ContributionHistory(
            person_id=person_id,
            months=[_month_view(row) for row in m.month_by_month(found, today_month)],
            years=[ContributionYear(year=y.year, months={k.value: n for k, n in y.months.items()},
                                    employer_fen=y.employer_fen, personal_fen=y.personal_fen)
                   for y in m.yearly(found)],
            paid_months={k.value: n for k, n in m.paid_months(found).items()},
            counted_towards_minimum=m.counted_towards_minimum(found),
            minimum_months=m.MINIMUM_MONTHS, minimum_rule=MINIMUM_RULE)


def _month_view(row: m.MonthRow) -> ContributionMonth:
    return ContributionMonth(
        month=str(row.month), gap=not row.paid, corrected=row.corrected,
        paid=[PaidType(insurance_type=c.insurance_type.value,
                       name=m.TYPE_NAMES[c.insurance_type], base_fen=c.base_fen,
                       employer_fen=c.employer_fen, personal_fen=c.personal_fen,
                       payer=c.payer.value, payer_name=m.PAYER_NAMES[c.payer],
                       version=c.version)
              for c in sorted(row.paid.values(), key=lambda c: list(m.InsuranceType).index(
                  c.insurance_type))])


def proof_view(proof: proofs.Proof, ctx: RecordsContext) -> ProofView:
    base = f"/v1/records/proofs/{proof.proof_id}"
    return ProofView(
        proof_id=proof.proof_id, person_id=proof.person_id, name=proof.name,
        id_number=proof.id_number, issued_on=proof.issued_on, expires_at=proof.expires_at,
        status=proof.status(ctx.clock.now()),
        months={k.value: n for k, n in proof.months.items()},
        periods=[ProofPeriodView(insurance_type=p.insurance_type.value,
                                 name=m.TYPE_NAMES[p.insurance_type], first=p.first,
                                 last=p.last, months=p.months) for p in proof.periods],
        code=proof.code, print_url=f"{base}/print", pdf_url=f"{base}/pdf")


class ProofsHandler(RecordsHandler):
    openapi: ClassVar = {"post": Operation(
        "issue_insurance_proof", "开具参保证明", "本人、获授权家属或坐席开具参保缴费证明，"
        "带签名二维码，90天内可公开核验。", TAG, {201: Resp("已开具", ProofView)},
        body=ProofRequest, empty_body=True, idempotent_create=True,
        errors=(PersonNotFound,))}

    async def post(self) -> Reply:
        person_id = self.person_of(self.body(ProofRequest).person_id)
        await self.allowed(person_id)

        async def issue(seed: str) -> Reply:
            proof = await proofs.issue_proof(person_id, seed, actor=self.me.subject,
                                             ctx=self.ctx)
            return Reply(proof_view(proof, self.ctx), 201)

        return await self.create_idempotently(issue)


class ProofHandler(RecordsHandler):
    async def allowed_proof(self, proof_id: str) -> proofs.Proof:
        proof = await proofs.proof_of(proof_id, ctx=self.ctx)
        await self.authorize(Action.RECORDS, proof.person_id, m.ProofNotFound(proof_id))
        return proof


class ProofDetailHandler(ProofHandler):
    openapi: ClassVar = {"get": Operation(
        "get_insurance_proof", "参保证明", "已开具的参保证明及其状态。", TAG,
        {200: Resp("参保证明", ProofView)}, errors=(m.ProofNotFound,))}

    async def get(self, proof_id: str) -> ProofView:
        return proof_view(await self.allowed_proof(proof_id), self.ctx)


class ProofPrintHandler(ProofHandler):
    openapi: ClassVar = {"get": Operation(
        "print_insurance_proof", "打印参保证明", "可打印的参保证明（HTML），姓名和身份证号脱敏。",
        TAG, {200: Resp("参保证明（HTML）", content_type="text/html",
                        schema={"type": "string"})}, errors=(m.ProofNotFound,))}

    async def get(self, proof_id: str) -> Page:
        proof = await self.allowed_proof(proof_id)
        return Page(proof_page(proof), HTML, headers={"Content-Security-Policy": HTML_POLICY})


class ProofPdfHandler(ProofHandler):
    openapi: ClassVar = {"get": Operation(
        "insurance_proof_pdf", "参保证明PDF", "参保证明的PDF文件。", TAG,
        {200: Resp("参保证明（PDF）", content_type="application/pdf",
                   schema={"type": "string", "format": "binary"})},
        errors=(m.ProofNotFound,))}

    async def get(self, proof_id: str) -> Page:
        proof = await self.allowed_proof(proof_id)
        return Page(proof_pdf(proof), "application/pdf", headers={
            "Content-Disposition": f'inline; filename="{proof.proof_id}.pdf"'})


class ProofRevokeHandler(ProofHandler):
    openapi: ClassVar = {"post": Operation(
        "revoke_insurance_proof", "作废参保证明", "本人或坐席作废已开具的证明，核验时显示已作废。",
        TAG, {200: Resp("已作废", ProofView)}, errors=(m.ProofNotFound,))}

    async def post(self, proof_id: str) -> ProofView:
        proof = await self.allowed_proof(proof_id)
        revoked = await proofs.revoke_proof(proof, actor=self.me.subject, ctx=self.ctx)
        return proof_view(revoked, self.ctx)


class VerifyHandler(BaseHandler):
    """For whoever is handed the paper: is this proof or filing certificate genuine?"""

    kind = HandlerKind.PUBLIC
    ctx: VerifyContext
    openapi: ClassVar = {"post": Operation(
        "verify_document_code", "凭证真伪核验", "任何人可核验参保证明二维码或备案凭证校验码："
        "有效、已过期或已作废，并显示凭证证明的事项（已脱敏）。", ("公开核验",),
        {200: Resp("核验结果", VerificationView)}, body=VerifyRequest,
        errors=(CodeNotGenuine, RateLimited), invalid=CodeNotGenuine)}

    async def post(self) -> VerificationView:
        request = self.body(VerifyRequest)
        found = await verify_code(request.code, client_ip=self.client_ip(), ctx=self.ctx)
        return VerificationView(
            kind=found.kind, status=found.status,
            status_name=STATUS_NAMES[found.status], document_id=found.document_id,
            facts=[VerifiedFact(label=k, value=v) for k, v in found.facts])


_PROOF = r"(?P<proof_id>P[A-Z0-9]{1,40})"
routes: list[Route] = [
    (r"/v1/records/contributions/feed", ContributionFeedHandler, {"context": "records"}),
    (r"/v1/records/contributions", ContributionsHandler, {"context": "records"}),
    (r"/v1/records/proofs", ProofsHandler, {"context": "records"}),
    (rf"/v1/records/proofs/{_PROOF}", ProofDetailHandler, {"context": "records"}),
    (rf"/v1/records/proofs/{_PROOF}/print", ProofPrintHandler, {"context": "records"}),
    (rf"/v1/records/proofs/{_PROOF}/pdf", ProofPdfHandler, {"context": "records"}),
    (rf"/v1/records/proofs/{_PROOF}/revoke", ProofRevokeHandler, {"context": "records"}),
    (r"/v1/verify", VerifyHandler, {"context": "verify"}),
]
