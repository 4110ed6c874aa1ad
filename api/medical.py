"""Cross-region medical filing routes, the printable certificate, hospital verification
and settlement records."""

from __future__ import annotations

import dataclasses
import html
import io
from datetime import date
from typing import ClassVar

import segno

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Link, Operation, Page, Reply, Resp
from api.http import HTML_POLICY
from api.schemas.medical import (
    CoverageAnswer,
    CoverageCheck,
    DestinationInput,
    DestinationView,
    FilingChange,
    FilingEventRequest,
    FilingHistoryEntry,
    FilingList,
    FilingRequest,
    FilingsQuery,
    FilingsQueryFields,
    FilingView,
    SettlementOutcome,
    SettlementRecord,
)
from auth.access import Action
from auth.model import Forbidden, RecordNotFound
from common.errors import ValidationFailed
from common.versioning import etag
from medical_insurance import model as m
from medical_insurance import service as filings
from medical_insurance.model import CATEGORY_NAMES, Filing, Status
from medical_insurance.service import FilingContext
from people.model import IdNumber, InvalidIdNumber, PersonNotFound

TAG = ("异地就医备案",)
SERVICE_TAG = ("机构接口",)
STATUS_NAMES = {Status.EFFECTIVE: "已生效", Status.PENDING_REVIEW: "待审核",
                Status.REJECTED: "未通过", Status.CANCELLED: "已取消", Status.EXPIRED: "已过期"}
HTML = "text/html; charset=UTF-8"
FOREVER = "长期有效（变更或取消前）"


def codes_of(destination: DestinationInput | None) -> tuple[str, str] | None:
    return (destination.province_code, destination.city_code) if destination else None


def filing_draft(request: FilingRequest) -> m.FilingDraft:
    commitment = request.commitment
    return m.FilingDraft(
        category=request.category, destination=codes_of(request.destination),
        start_date=request.start_date, hospital=request.hospital, employer=request.employer,
        referring_hospital=request.referring_hospital,
        transfer_reference=request.transfer_reference,
        admission_date=request.admission_date, discharge_date=request.discharge_date,
        commitment=m.Commitment(commitment.accepted, commitment.version) if commitment
        else None)


def filing_view(filing: Filing, today: date) -> FilingView:
    destination = filing.destination
    return FilingView(
        filing_id=filing.filing_id, person_id=filing.person_id, category=filing.category,
        category_name=CATEGORY_NAMES[filing.category], long_term=filing.long_term,
        destination=DestinationView(province_code=destination.province_code,
                                    city_code=destination.city_code, name=destination.name),
        hospital=filing.hospital, start_date=filing.start_date, end_date=filing.end_date,
        status=filing.status_on(today), late=filing.late, channel=filing.channel,
        version=filing.version,
        history=[FilingHistoryEntry.model_validate(entry) for entry in filing.history])


class FilingHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: FilingContext

    async def allowed_filing(self, filing_id: str) -> tuple[Filing, str | None]:
        """The filing, if the caller may act on its person's filings; otherwise the same
        404 as a filing that does not exist."""
        filing = await filings.get_filing(filing_id, ctx=self.ctx)
        on_behalf = await self.authorize(Action.FILING, filing.person_id,
                                         m.FilingNotFound(filing_id))
        return filing, on_behalf

    def filing_reply(self, filing: Filing, status: int = 200,
                     headers: dict[str, str] | None = None) -> Reply:
        """The filing with its version as the ETag, which a change or an event sends back."""
        return Reply(filing_view(filing, self.ctx.today()), status,
                     {"ETag": etag(filing.version), **(headers or {})})

    async def change(self, filing_id: str) -> Reply:
        """Change a filing at the version the caller saw (PATCH, or POST …/change)."""
        filing, on_behalf = await self.allowed_filing(filing_id)
        self.require_if_match(filing.version)
        change = self.body(FilingChange)
        edit = m.FilingEdit(destination=codes_of(change.destination),
                            start_date=change.start_date, hospital=change.hospital)
        moved = await filings.move(self.me, filing, "change", filing.version, edit=edit,
                                   on_behalf=on_behalf, ctx=self.ctx)
        return self.filing_reply(moved)


class FilingsHandler(FilingHandler):
    openapi: ClassVar = {
        "post": Operation(
            "create_filing", "异地就医备案", "本人、获授权家属或坐席为参保人备案；"
            "即时生效，缺少转诊证明的转诊备案等待审核。", TAG,
            {201: Resp("已备案（或等待审核）", FilingView, etag=True, location=True)},
            body=FilingRequest, idempotent_create=True,
            links={"get": Link("get_filing", {"filing_id": "$response.body#/filing_id"},
                               "查看这条备案"),
                   "certificate": Link("get_filing_certificate",
                                       {"filing_id": "$response.body#/filing_id"},
                                       "打印备案凭证"),
                   "cancel": Link("apply_filing_event", {
                       "filing_id": "$response.body#/filing_id", "event": "cancel"},
                       "取消这条备案")},
            errors=(m.FilingInvalid, m.AfterDischarge, m.LongTermFilingExists,
                    PersonNotFound, RecordNotFound),
            invalid=m.FilingInvalid),
        "get": Operation(
            "list_filings", "备案列表", "本人或获授权家属查看参保人的备案；坐席查询所辖地区的"
            "备案，可按人员、状态和开始日期筛选。", TAG, {200: Resp("备案列表", FilingList)},
            query=FilingsQuery, errors=(RecordNotFound,)),
    }

    async def post(self) -> Reply:
        request = self.body(FilingRequest)
        person_id = request.person_id or self.me.person_id or ""
        # Whether the caller may file for this person comes before what the filing lacks.
        on_behalf = await self.authorize(Action.FILING, person_id)
        channel = "agent" if self.is_agent else (self.me.audience or "app")
        draft = filing_draft(request)

        async def create(seed: str) -> Reply:
            filing = await filings.file(self.me, person_id, draft, channel=channel,
                                        on_behalf=on_behalf, filing_id="F" + seed[:20],
                                        ctx=self.ctx)
            return self.filing_reply(filing, 201,
                                     {"Location": f"/v1/medical/filings/{filing.filing_id}"})

        return await self.create_idempotently(create)

    async def get(self) -> FilingList:
        query = self.query(FilingsQuery)
        today = self.ctx.today()
        if self.is_agent:  # the filings of their regions, a page at a time (audited)
            page = await filings.search_filings(
                self.me, person_id=query.person_id or None, status=query.status,
                since=query.since, until=query.until, client_ip=self.client_ip(),
                after=query.after or None, limit=query.limit, ctx=self.ctx)
            return FilingList(filings=[filing_view(f, today) for f in page.filings],
                              next_cursor=page.next_cursor)
        found = await self._of_person(query)
        return FilingList(filings=[filing_view(f, today) for f in found])

    async def _of_person(self, query: FilingsQueryFields) -> list[Filing]:
        """Citizens: their own filings, or those of family who authorised them."""
        person_id = query.person_id or self.me.person_id
        if not person_id:
            raise ValidationFailed("person_id is required", field="person_id")
        await self.authorize(Action.FILING, person_id)
        return await filings.filings_of(
            person_id, status=query.status, since=query.since, until=query.until,
            ctx=self.ctx)


class FilingDetailHandler(FilingHandler):
    openapi: ClassVar = {
        "get": Operation(
            "get_filing", "查看备案", "备案的类别、就医地、有效期、状态和办理记录。", TAG,
            {200: Resp("备案", FilingView, etag=True)}, errors=(m.FilingNotFound,)),
        "patch": Operation(
            "change_filing", "变更备案", "更换就医地、开始日期或定点医院；长期备案在备案后"
            "6 个月内不能变更。", TAG, {200: Resp("已变更", FilingView, etag=True)},
            body=FilingChange, versioned_update=True,
            errors=(m.FilingNotFound, m.TransitionRefused, m.ChangeLocked, m.FilingInvalid),
            invalid=m.FilingInvalid),
    }

    async def get(self, filing_id: str) -> Reply:
        filing, _ = await self.allowed_filing(filing_id)
        return self.filing_reply(filing)

    async def patch(self, filing_id: str) -> Reply:
        return await self.change(filing_id)



class FilingChangeHandler(FilingHandler):
    """The same change as PATCH, for clients that can send only GET and POST (WeChat's
    ``wx.request`` has no PATCH)."""

    openapi: ClassVar = {"post": dataclasses.replace(
        FilingDetailHandler.openapi["patch"], operation_id="change_filing_by_post",
        summary="变更备案（POST）", description="与 PATCH 变更备案相同，供只能发送 POST 的客户端"
        "（如微信小程序）使用。")}

    async def post(self, filing_id: str) -> Reply:
        return await self.change(filing_id)


class FilingEventHandler(FilingHandler):
    openapi: ClassVar = {"post": Operation(
        "apply_filing_event", "取消、批准或驳回备案", "本人、获授权家属或坐席取消备案；"
        "坐席批准或驳回等待审核的备案。", TAG, {200: Resp("状态已更新", FilingView, etag=True)},
        body=FilingEventRequest, empty_body=True, versioned_update=True,
        errors=(m.FilingNotFound, m.TransitionRefused, m.ChangeLocked, Forbidden),
        invalid=m.FilingInvalid)}

    async def post(self, filing_id: str, event: str) -> Reply:
        filing, on_behalf = await self.allowed_filing(filing_id)
        if event in ("approve", "reject") and not self.is_agent:
            raise Forbidden("agents review filings")
        self.require_if_match(filing.version)
        request = self.body(FilingEventRequest)
        moved = await filings.move(self.me, filing, event, filing.version,
                                   edit=m.FilingEdit(reason=request.reason),
                                   on_behalf=on_behalf, ctx=self.ctx)
        return self.filing_reply(moved)


class CertificateHandler(FilingHandler):
    """备案凭证: a printable page with the details, a QR code and a signed code."""

    openapi: ClassVar = {"get": Operation(
        "get_filing_certificate", "备案凭证", "可打印的备案凭证：备案信息、二维码和校验码，"
        "身份证号脱敏。", TAG,
        {200: Resp("可打印的备案凭证（HTML）", content_type="text/html",
                   schema={"type": "string"})},
        errors=(m.FilingNotFound, PersonNotFound))}

    async def get(self, filing_id: str) -> Page:
        filing, _ = await self.allowed_filing(filing_id)
        certificate = await filings.certificate_of(filing, ctx=self.ctx)
        page = certificate_page(certificate.filing, certificate.name, certificate.id_number,
                                certificate.code, self.ctx.today())
        return Page(page, HTML, headers={"Content-Security-Policy": HTML_POLICY})


def certificate_page(filing: Filing, name: str, masked_id_number: str, code: str,
                     today: date) -> str:
    view = filing_view(filing, today)
    rows = [("姓名", name), ("身份证号", masked_id_number),
            ("备案类别", view.category_name), ("就医地", view.destination.name),
            ("定点医院", filing.hospital or "—"), ("开始日期", view.start_date.isoformat()),
            ("有效期至", view.end_date.isoformat() if view.end_date else FOREVER),
            ("状态", STATUS_NAMES[view.status]), ("备案编号", filing.filing_id),
            ("校验码", code)]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    # The print button is wired by /assets/print.js: the page policy allows no inline script.
    return ("<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<title>异地就医备案凭证</title><style>body{font-family:sans-serif;max-width:40em;"
            "margin:2em auto}th{text-align:left;padding:.3em 1em .3em 0}"
            "@media print{button{display:none}}</style></head><body>"
            "<h1>异地就医备案凭证</h1>"
            f"<table>{table}</table><div>{qr_svg(code)}</div>"
            "<p>医疗机构可凭身份证号在医保系统核验本备案；校验码用于核对凭证真伪。</p>"
            "<button id='print' type='button'>打印</button>"
            "<script src='/assets/print.js'></script></body></html>")


def qr_svg(code: str) -> str:
    qr = io.BytesIO()
    segno.make(code, error="m").save(qr, kind="svg", scale=4, xmldecl=False)
    return qr.getvalue().decode()


class VerifyHandler(BaseHandler):
    """For hospital systems: does an effective filing cover this person here, that day?"""

    kind = HandlerKind.SERVICE
    service_scope = "filing.verify"
    ctx: FilingContext
    openapi: ClassVar = {"post": Operation(
        "verify_filing", "医院核验备案", "医疗机构核验参保人当天在本地是否有有效备案，"
        "以及类别和有效期；每次核验都记录在案。", SERVICE_TAG,
        {200: Resp("核验结果", CoverageAnswer)}, body=CoverageCheck,
        errors=(m.FilingInvalid, InvalidIdNumber), invalid=m.FilingInvalid)}

    async def post(self) -> CoverageAnswer:
        check = self.body(CoverageCheck)
        answer = await filings.verify_coverage(
            institution=self.me.subject, id_number=IdNumber.parse(check.id_number).value,
            province=check.province_code, city=check.city_code, day=check.date, ctx=self.ctx)
        return CoverageAnswer.model_validate(answer)


class SettlementsHandler(BaseHandler):
    """Direct-settlement records; a pensioner's settlement is also proof of life."""

    kind = HandlerKind.SERVICE
    service_scope = "settlement.ingest"
    ctx: FilingContext
    openapi: ClassVar = {"post": Operation(
        "record_settlement", "异地就医结算记录", "国家平台推送直接结算记录；同一结算号只记录一次，"
        "养老金领取人员的结算同时作为生存信息。", SERVICE_TAG,
        {200: Resp("已记录（重复结算号不会重复记录）", SettlementOutcome)},
        body=SettlementRecord, errors=(PersonNotFound, InvalidIdNumber))}

    async def post(self) -> SettlementOutcome:
        record = self.body(SettlementRecord)
        # The source is the authenticated key, never a name the body claims.
        outcome = await filings.record_settlement(
            settlement_no=record.settlement_no, id_number=IdNumber.parse(record.id_number).value,
            day=record.date,
            institution=record.institution, amount_fen=record.amount_fen,
            source=self.me.subject, ctx=self.ctx)
        return SettlementOutcome.model_validate({"outcome": outcome})


_FILING = r"(?P<filing_id>F[A-Za-z0-9]+)"
routes: list[Route] = [
    (r"/v1/medical/filings", FilingsHandler, {"context": "filings"}),
    (r"/v1/medical/filings/verify", VerifyHandler, {"context": "filings"}),
    (r"/v1/medical/settlements", SettlementsHandler, {"context": "filings"}),
    (rf"/v1/medical/filings/{_FILING}", FilingDetailHandler, {"context": "filings"}),
    (rf"/v1/medical/filings/{_FILING}/change", FilingChangeHandler, {"context": "filings"}),
    (rf"/v1/medical/filings/{_FILING}/(?P<event>cancel|approve|reject)", FilingEventHandler,
     {"context": "filings"}),
    (rf"/v1/medical/filings/{_FILING}/certificate", CertificateHandler,
     {"context": "filings"}),
]
