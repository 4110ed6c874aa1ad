"""Records people ask for: contribution history, proof of insurance and its public check,
pension payment details, the certification plan and home-visit bookings.

Names, ID numbers and phone numbers in answers have types that mask them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field

from api.contract import RequestModel, ResponseModel
from common.masking import mask_id_number, mask_name, mask_phone

MaskedName = Annotated[str, AfterValidator(mask_name), Field(description="姓名（脱敏）")]
MaskedIdNumber = Annotated[str, AfterValidator(mask_id_number),
                           Field(description="身份证号（脱敏）")]
MaskedPhone = Annotated[str, AfterValidator(mask_phone), Field(description="手机号（脱敏）")]
PersonIdQuery = Field(None, max_length=40, pattern=r"^[A-Za-z0-9]*$",
                      description="参保人编号；不填则为本人")
MonthText = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="月份 YYYY-MM")]
InsuranceTypeName = Literal["pension", "medical", "unemployment", "work_injury"]


class ContributionIn(RequestModel):
    """One contribution row from the collection system; amounts are whole fen."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "source_record_id": "JF-2026-000001", "id_number": "150102195003040117",
        "month": "2026-10", "insurance_type": "pension", "base_fen": "500000",
        "employer_fen": "80000", "personal_fen": "40000", "payer": "employer"}]})

    source_record_id: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=15, max_length=18)
    month: str = Field(max_length=7)
    insurance_type: str = Field(max_length=20)
    base_fen: str = Field(max_length=12, description="缴费基数（分）")
    employer_fen: str = Field(max_length=12, description="单位缴纳（分）")
    personal_fen: str = Field(max_length=12, description="个人缴纳（分）")
    payer: str = Field(max_length=10, description="employer 或 flexible")

    def as_row(self) -> dict[str, str]:
        return self.model_dump()


class ContributionFed(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "stored"}]})

    outcome: Literal["stored", "corrected", "unchanged"]


class PersonQuery(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"person_id": "P3f9c2d7e8a1b4c5d6e7f"}]})

    person_id: str | None = PersonIdQuery


class PaidType(ResponseModel):
    insurance_type: InsuranceTypeName
    name: str
    base_fen: int
    employer_fen: int
    personal_fen: int
    payer: Literal["employer", "flexible"]
    payer_name: str
    version: int = Field(description="1 为原始记录；更大的数为更正后的版本")


class ContributionMonth(ResponseModel):
    month: MonthText
    gap: bool = Field(description="这个月没有任何缴费记录（断缴）")
    corrected: bool
    paid: list[PaidType]


class ContributionYear(ResponseModel):
    year: int
    months: dict[str, int] = Field(description="各险种缴费月数")
    employer_fen: int
    personal_fen: int


class ContributionHistory(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f",
        "months": [{"month": "2024-02", "gap": False, "corrected": False, "paid": [{
            "insurance_type": "pension", "name": "基本养老保险", "base_fen": 500000,
            "employer_fen": 80000, "personal_fen": 40000, "payer": "employer",
            "payer_name": "单位缴纳", "version": 1}]},
                   {"month": "2024-01", "gap": True, "corrected": False, "paid": []}],
        "years": [{"year": 2024, "months": {"pension": 1}, "employer_fen": 80000,
                   "personal_fen": 40000}],
        "paid_months": {"pension": 1, "medical": 0, "unemployment": 0, "work_injury": 0},
        "counted_towards_minimum": 1, "minimum_months": 180,
        "minimum_rule": "《社会保险法》第十六条：累计缴费满15年"}]})

    person_id: str
    months: list[ContributionMonth] = Field(description="逐月，最新在前；断缴月份标明")
    years: list[ContributionYear]
    paid_months: dict[str, int] = Field(description="各险种累计缴费月数")
    counted_towards_minimum: int = Field(
        description="计入养老保险最低缴费年限（15年，180个月）的月数")
    minimum_months: int
    minimum_rule: str


class ProofRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"person_id": "P3f9c2d7e8a1b4c5d6e7f"}]})

    person_id: str | None = PersonIdQuery


class ProofPeriodView(ResponseModel):
    insurance_type: InsuranceTypeName
    name: str
    first: MonthText
    last: MonthText
    months: int


class ProofView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "proof_id": "P3F9C2D7E8A1B4C5D6E7F", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
        "name": "张*国", "id_number": "1501**********0117", "issued_on": "2026-11-25",
        "expires_at": "2027-02-23T02:00:00+00:00", "status": "valid",
        "months": {"pension": 4}, "periods": [{"insurance_type": "pension",
                                               "name": "基本养老保险", "first": "2024-01",
                                               "last": "2024-04", "months": 4}],
        "code": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImRvYy0yMDI2In0.eyJzdWIiOiJQMyJ9.c2lnbmF0dXJl",
        "print_url": "/v1/records/proofs/P3F9C2D7E8A1B4C5D6E7F/print",
        "pdf_url": "/v1/records/proofs/P3F9C2D7E8A1B4C5D6E7F/pdf"}]})

    proof_id: str
    person_id: str
    name: MaskedName
    id_number: MaskedIdNumber
    issued_on: dt.date
    expires_at: AwareDatetime
    status: Literal["valid", "expired", "revoked"]
    months: dict[str, int]
    periods: list[ProofPeriodView]
    code: str = Field(description="二维码中的签名码（ES256），用于公开核验")
    print_url: str
    pdf_url: str


class VerifyRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "F3f9c2d7e8a1b4c5d6e7f.1.Zk3l9sQ2xY7wVb4k"}]})

    code: str = Field(min_length=8, max_length=2000, description="凭证上的二维码内容或校验码")


class VerifiedFact(ResponseModel):
    label: str
    value: str


class VerificationView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "insurance_proof", "status": "valid", "status_name": "有效",
        "document_id": "P3F9C2D7E8A1B4C5D6E7F",
        "facts": [{"label": "姓名", "value": "张*国"},
                  {"label": "基本养老保险", "value": "累计缴费4个月"}]}]})

    kind: Literal["insurance_proof", "filing_certificate"]
    status: Literal["valid", "expired", "revoked"]
    status_name: str
    document_id: str
    facts: list[VerifiedFact] = Field(description="凭证所证明的事项（已脱敏）")


class PaymentMonthView(ResponseModel):
    month: MonthText
    status: Literal["paid", "withheld", "stopped"]
    monthly_fen: int
    regular_fen: int
    backpay_months: list[MonthText]
    backpay_fen: int
    excluded_prison_months: list[MonthText]
    raise_months: list[MonthText]
    raise_fen: int
    total_fen: int
    explanations: list[str] = Field(description="白话说明：暂停、补发和调待差额的原因")


class PaymentDetails(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "months": [{
            "month": "2026-07", "status": "paid", "monthly_fen": 300000,
            "regular_fen": 300000, "backpay_months": ["2026-04", "2026-05", "2026-06"],
            "backpay_fen": 900000, "excluded_prison_months": [], "raise_months": [],
            "raise_fen": 0, "total_fen": 1200000,
            "explanations": ["2026年7月发放3000.00元", "2026年7月补发4月、5月、6月（共9000.00元）"]}]}]})

    person_id: str
    months: list[PaymentMonthView]


class CertifiedByView(ResponseModel):
    channel: str
    day: dt.date
    description: str


class RouteOptionView(ResponseModel):
    route: Literal["face", "family", "home_visit", "office"]
    available: bool
    how: str


class VisitView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "booking_id": "V3F9C2D7E8A1B4C5D6E7F", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
        "region_code": "150102", "preferred_dates": ["2026-12-01"],
        "address": "呼和浩特市新城区某街道某小区3号楼2单元501", "phone": "139****5678",
        "status": "open", "result": None, "note": "",
        "created_at": "2026-11-25T02:00:00+00:00", "closed_on": None, "version": 1}]})

    booking_id: str
    person_id: str
    region_code: str
    preferred_dates: list[dt.date]
    address: str
    phone: MaskedPhone
    status: Literal["open", "done", "cancelled"]
    result: Literal["certified", "not_at_home", "cannot_certify"] | None
    note: str
    created_at: AwareDatetime
    closed_on: dt.date | None
    version: int


class PlanView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "status": "certified", "must_act": False,
        "act_by": None, "valid_through": "2027-06-19",
        "last_certified": {"channel": "passive", "day": "2026-06-20",
                           "description": "2026-06-20在某医院的医保就医结算证明您健在"},
        "summary": "您已完成认证，有效期至2027-06-19，现在不需要做什么",
        "if_not": "如果在2027-06-19前没有完成认证，将从2027年7月起暂停发放养老金",
        "routes": [{"route": "office", "available": True, "how": "带身份证到社保窗口"}],
        "open_visit": None}]})

    person_id: str
    status: str
    must_act: bool
    act_by: dt.date | None
    valid_through: dt.date
    last_certified: CertifiedByView | None
    summary: str
    if_not: str
    routes: list[RouteOptionView]
    open_visit: VisitView | None


class VisitRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "preferred_dates": ["2026-12-01"],
        "address": "呼和浩特市新城区某街道某小区3号楼2单元501", "phone": "13812345678"}]})

    person_id: str | None = PersonIdQuery
    preferred_dates: list[dt.date] = Field(min_length=1, max_length=3)
    address: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=11, max_length=11)


class VisitsQuery(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "open"}]})

    status: Literal["open", "done", "cancelled"] | None = None
    after: str | None = Field(None, max_length=200)


class VisitList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"visits": [], "next_cursor": None}]})

    visits: list[VisitView]
    next_cursor: str | None


class VisitOutcome(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"result": "certified", "note": "本人在家，核对身份证"}]})

    result: Literal["certified", "not_at_home", "cannot_certify"]
    note: str = Field(min_length=4, max_length=500)


class CoverageQuery(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"month": "2026-11"}]})

    month: str = Field(pattern=r"^\d{4}-\d{2}$")


class LeagueCoverageView(ResponseModel):
    league: str
    league_name: str
    pensioners: int
    certified: int
    by_channel: dict[str, int]
    shares: dict[str, float]
    due_next_30_days: int
    suspended: int


class CoverageReport(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "month": "2026-11", "leagues": [{
            "league": "150200", "league_name": "包头市", "pensioners": 3, "certified": 3,
            "by_channel": {"passive": 2, "face": 0, "family": 0, "agent": 1},
            "shares": {"passive": 0.667, "face": 0.0, "family": 0.0, "agent": 0.333},
            "due_next_30_days": 0, "suspended": 0}]}]})

    month: MonthText
    leagues: list[LeagueCoverageView]
