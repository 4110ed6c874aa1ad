"""Cross-region medical filing routes, the printable certificate, hospital verification
and settlement records."""

from __future__ import annotations

import html
import io
from datetime import date
from typing import Any, ClassVar

import segno

from api.base import BaseHandler, HandlerKind, Route, html_page
from api.openapi import Operation
from auth.access import Action, covers
from auth.model import Forbidden, Role
from common.errors import ValidationFailed
from common.idempotency import StoredResponse
from common.masking import mask_id_number
from common.versioning import etag
from medical_insurance import model as m
from medical_insurance import service as filings
from medical_insurance.model import CATEGORY_NAMES, Filing
from people.model import IdNumber, PersonNotFound

TAG = ("异地就医备案",)
_OBJ = {"type": "object"}
_STR = {"type": "string"}
_FILING_SCHEMA = {
    "type": "object", "required": ["person_id", "category", "destination", "start_date"],
    "properties": {
        "person_id": _STR, "category": {"enum": [c.value for c in m.Category]},
        "destination": {"type": "object", "properties": {"province_code": _STR,
                                                         "city_code": _STR}},
        "start_date": {"type": "string", "format": "date"}, "hospital": _STR,
        "employer": _STR, "referring_hospital": _STR, "transfer_reference": _STR,
        "admission_date": {"type": "string", "format": "date"},
        "discharge_date": {"type": "string", "format": "date"},
        "commitment": {"type": "object", "properties": {"accepted": {"type": "boolean"},
                                                        "version": _STR}},
    },
}


def filing_view(filing: Filing, today: date) -> dict[str, Any]:
    return {
        "filing_id": filing.filing_id, "person_id": filing.person_id,
        "category": filing.category.value, "category_name": CATEGORY_NAMES[filing.category],
        "long_term": filing.long_term,
        "destination": {"province_code": filing.destination.province_code,
                        "city_code": filing.destination.city_code,
                        "name": filing.destination.name},
        "hospital": filing.hospital, "start_date": filing.start_date.isoformat(),
        "end_date": filing.end_date.isoformat() if filing.end_date else None,
        "status": filing.status_on(today).value, "late": filing.late,
        "channel": filing.channel, "version": filing.version, "history": filing.history,
    }


class FilingHandler(BaseHandler):
    kind = HandlerKind.PERSON

    async def allowed_filing(self, filing_id: str, action: Action = Action.FILING
                             ) -> tuple[Filing, str | None]:
        """The filing, if the caller may act on its person's filings; else 404."""
        filing = await self.deps.filings.repo.get(filing_id)
        if filing is None:
            raise m.FilingNotFound(filing_id)
        return filing, await self.authorize(action, filing.person_id,
                                            m.FilingNotFound(filing_id))

    def answer(self, status: int, filing: Filing) -> None:
        self.write_json(status, filing_view(filing, self.deps.filings.today()),
                        {"ETag": etag(filing.version)})


class FilingsHandler(FilingHandler):
    openapi: ClassVar = {
        "post": Operation("file", TAG, {201: ("已备案（或等待审核）", _OBJ)},
                          request_schema=_FILING_SCHEMA, idempotent_create=True,
                          errors=(m.FilingInvalid, m.LongTermFilingExists, m.AfterDischarge,
                                  PersonNotFound)),
        "get": Operation("filings", TAG, {200: ("备案列表", _OBJ)},
                         query={"person_id": _STR, "status": _STR, "from": _STR, "to": _STR}),
    }

    async def post(self) -> None:
        body = self.json_body()
        person_id = str(body.get("person_id") or self.me.person_id or "")
        on_behalf = await self.authorize(Action.FILING, person_id)
        channel = "agent" if self.is_agent else (
            self.me.audience or "app")

        async def create(seed: str) -> StoredResponse:
            filing = await filings.file(self.me, person_id, body, channel=channel,
                                        on_behalf=on_behalf, filing_id="F" + seed[:20],
                                        ctx=self.deps.filings)
            return StoredResponse(201, filing_view(filing, self.deps.filings.today()),
                                  {"ETag": etag(filing.version),
                                   "Location": f"/v1/medical/filings/{filing.filing_id}"})

        await self.create_idempotently(create)

    async def get(self) -> None:
        person_id = self.get_query_argument("person_id", None)
        today = self.deps.filings.today()
        if self.is_agent:
            found = await self._agent_search(person_id)
        else:
            target = person_id or self.me.person_id
            if not target:
                raise ValidationFailed("person_id is required", field="person_id")
            await self.authorize(Action.FILING, target)
            found = await self.deps.filings.repo.of_person(target)
        status = self.get_query_argument("status", None)
        if status:
            found = [f for f in found if f.status_on(today).value == status]
        self.write_json(200, {"filings": [filing_view(f, today) for f in found]})

    async def _agent_search(self, person_id: str | None) -> list[Filing]:
        """Agents search the filings of their regions by person, status and date."""
        query: dict[str, Any] = {}
        if person_id:
            query["person_id"] = person_id
        since, until = self.get_query_argument("from", None), self.get_query_argument("to", None)
        if since or until:
            query["start_date"] = {**({"$gte": since} if since else {}),
                                   **({"$lte": until} if until else {})}
        found = await self.deps.filings.repo.search(query)
        if self.me.role is Role.ADMIN:
            return found
        visible = []
        for filing in found:
            person = await self.deps.people.get(filing.person_id)
            if person and covers(self.me.regions, person.region_code):
                visible.append(filing)
        await self.deps.audit.record(actor=self.me.subject, action="filing.search",
                                     object=person_id or "-", outcome=str(len(visible)),
                                     client_ip=self.client_ip())
        return visible


class FilingDetailHandler(FilingHandler):
    openapi: ClassVar = {
        "get": Operation("filing", TAG, {200: ("备案", _OBJ)}, errors=(m.FilingNotFound,)),
        "patch": Operation("change_filing", TAG, {200: ("已变更", _OBJ)}, versioned_update=True,
                           request_schema=_OBJ,
                           errors=(m.FilingNotFound, m.TransitionRefused, m.ChangeLocked,
                                   m.FilingInvalid)),
    }

    async def get(self, filing_id: str) -> None:
        filing, _ = await self.allowed_filing(filing_id, Action.FILING)
        self.answer(200, filing)

    async def patch(self, filing_id: str) -> None:
        filing, on_behalf = await self.allowed_filing(filing_id)
        self.require_if_match(filing.version)
        moved = await filings.move(self.me, filing, "change", filing.version,
                                   body=self.json_body(), on_behalf=on_behalf,
                                   ctx=self.deps.filings)
        self.answer(200, moved)


class FilingEventHandler(FilingHandler):
    openapi: ClassVar = {"post": Operation(
        "filing_event", TAG, {200: ("状态已更新", _OBJ)}, versioned_update=True,
        request_schema=_OBJ,
        errors=(m.FilingNotFound, m.TransitionRefused, m.ChangeLocked, Forbidden))}

    async def post(self, filing_id: str, event: str) -> None:
        filing, on_behalf = await self.allowed_filing(filing_id)
        if event in ("approve", "reject") and not self.is_agent:
            raise Forbidden("agents review filings")
        self.require_if_match(filing.version)
        body = self.json_body() if self.body_bytes().strip() else {}
        moved = await filings.move(self.me, filing, event, filing.version, body=body,
                                   on_behalf=on_behalf, ctx=self.deps.filings)
        self.answer(200, moved)


class CertificateHandler(FilingHandler):
    """备案凭证: a printable page with the details, a QR code and a signed code."""

    openapi: ClassVar = {"get": Operation("filing_certificate", TAG,
                                          {200: ("可打印的备案凭证（HTML）", {"type": "string"})},
                                          errors=(m.FilingNotFound,), response_type="text/html")}

    async def get(self, filing_id: str) -> None:
        filing, _ = await self.allowed_filing(filing_id, Action.FILING)
        person = await self.deps.people.get(filing.person_id)
        assert person is not None
        code = filings.certificate_code(filing, self.deps.filings.certificate_key)
        qr = io.BytesIO()
        segno.make(code, error="m").save(qr, kind="svg", scale=4, xmldecl=False)
        view = filing_view(filing, self.deps.filings.today())
        rows = [("姓名", person.name), ("身份证号", mask_id_number(person.id_number)),
                ("备案类别", view["category_name"]), ("就医地", view["destination"]["name"]),
                ("定点医院", filing.hospital or "—"), ("开始日期", view["start_date"]),
                ("有效期至", view["end_date"] or "长期有效（变更或取消前）"),
                ("状态", {"effective": "已生效", "pending_review": "待审核",
                          "rejected": "未通过", "cancelled": "已取消",
                          "expired": "已过期"}[view["status"]]),
                ("备案编号", filing.filing_id), ("校验码", code)]
        table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in rows)
        html_page(self,
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<title>异地就医备案凭证</title><style>body{font-family:sans-serif;max-width:40em;"
            "margin:2em auto}th{text-align:left;padding:.3em 1em .3em 0}"
            "@media print{button{display:none}}</style></head><body>"
            "<h1>异地就医备案凭证</h1>"
            f"<table>{table}</table><div>{qr.getvalue().decode()}</div>"
            "<p>医疗机构可凭身份证号在医保系统核验本备案；校验码用于核对凭证真伪。</p>"
            "<button id='print' type='button'>打印</button>"
            "<script src='/assets/print.js'></script></body></html>")


class VerifyHandler(BaseHandler):
    """For hospital systems: does an effective filing cover this person here, that day?"""

    kind = HandlerKind.SERVICE
    service_scope = "filing.verify"
    openapi: ClassVar = {"post": Operation(
        "verify_filing", ("机构接口",), {200: ("核验结果", _OBJ)},
        request_schema={"type": "object",
                        "required": ["id_number", "province_code", "city_code", "date"],
                        "properties": {"id_number": _STR, "province_code": _STR,
                                       "city_code": _STR, "date": _STR}},
        errors=(m.FilingInvalid,))}

    async def post(self) -> None:
        body = self.json_body()
        try:
            id_number = IdNumber.parse(str(body.get("id_number", ""))).value
            day = date.fromisoformat(str(body.get("date", "")))
        except ValueError:
            raise m.FilingInvalid("id_number and date (YYYY-MM-DD) are required",
                                  field="id_number") from None
        assert self.principal is not None
        answer = await filings.verify_coverage(
            institution=self.principal.subject, id_number=id_number,
            province=str(body.get("province_code", "")), city=str(body.get("city_code", "")),
            day=day, ctx=self.deps.filings)
        self.write_json(200, answer)


class SettlementsHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "settlement.ingest"
    openapi: ClassVar = {"post": Operation(
        "settlement", ("机构接口",), {200: ("已记录（重复结算号不会重复记录）", _OBJ)},
        request_schema={"type": "object",
                        "required": ["settlement_no", "id_number", "date", "institution",
                                     "amount_fen"],
                        "properties": {"settlement_no": _STR, "id_number": _STR, "date": _STR,
                                       "institution": _STR, "amount_fen": {"type": "integer"}}},
        errors=(PersonNotFound,))}

    async def post(self) -> None:
        body = self.json_body()
        try:
            day = date.fromisoformat(str(body.get("date", "")))
            amount = body.get("amount_fen")
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise ValueError
            settlement_no = str(body["settlement_no"])
            institution = str(body["institution"])
        except (ValueError, KeyError):
            raise ValidationFailed("settlement_no, date, institution and integer amount_fen "
                                   "are required", field="settlement_no") from None
        assert self.principal is not None
        outcome = await filings.record_settlement(
            settlement_no=settlement_no, id_number=str(body.get("id_number", "")).upper(),
            day=day, institution=institution, amount_fen=amount,
            source=self.principal.subject, ctx=self.deps.filings)
        self.write_json(200, {"outcome": outcome})


routes: list[Route] = [
    (r"/v1/medical/filings", FilingsHandler),
    (r"/v1/medical/filings/verify", VerifyHandler),
    (r"/v1/medical/settlements", SettlementsHandler),
    (r"/v1/medical/filings/(?P<filing_id>F[A-Za-z0-9]+)", FilingDetailHandler),
    (r"/v1/medical/filings/(?P<filing_id>F[A-Za-z0-9]+)/(?P<event>cancel|approve|reject)",
     FilingEventHandler),
    (r"/v1/medical/filings/(?P<filing_id>F[A-Za-z0-9]+)/certificate", CertificateHandler),
]
