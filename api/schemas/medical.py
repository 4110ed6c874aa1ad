"""Cross-region medical filing (异地就医备案): the filing and its changes, the search,
hospital verification and settlement records."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, create_model

from api.contract import RequestModel, ResponseModel
from medical_insurance.model import Category, Status

Channel = Literal["app", "miniapp", "agent"]
HistoryEvent = Literal["file", "change", "cancel", "approve", "reject"]
RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]
Text = Annotated[str, Field(max_length=200)]
PersonId = Field(None, max_length=40, pattern=r"^[A-Za-z0-9]*$",
                 description="参保人编号；不填则为本人")

_GUANGZHOU: Any = {"province_code": "440000", "city_code": "440100"}
_FILING_EXAMPLE: Any = {
    "filing_id": "F3f9c2d7e8a1b4c5d6e7f8", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
    "category": "temporary_trip", "category_name": "其他临时外出", "long_term": False,
    "destination": {**_GUANGZHOU, "name": "广东省广州市"}, "hospital": None,
    "start_date": "2026-11-25", "end_date": "2027-05-24", "status": "effective",
    "late": False, "channel": "miniapp", "version": 1,
    "history": [{"at": "2026-11-22T02:00:00+00:00", "event": "file",
                 "actor": "A3f9c2d7e8a1b4c5d6e7f", "on_behalf": None, "status": "effective",
                 "reason": None}]}


# -- filing and changing -----------------------------------------------------------------


class DestinationInput(RequestModel):
    province_code: RegionCode = Field(description="就医地省级行政区划代码，如 440000")
    city_code: RegionCode = Field(description="就医地地市级行政区划代码，须属于该省，如 440100")


class Commitment(RequestModel):
    """The personal commitment (个人承诺书) that stands in for proof of residence."""

    accepted: bool = Field(description="已阅读并同意个人承诺书")
    version: str | None = Field(None, max_length=20, description="读过的承诺书版本，须为当前版本")


class FilingRequest(RequestModel):
    """A new filing. Which of the optional fields a category needs is the service's rule
    (``medical_insurance.model.RULES``). The destination and the start date, which every
    category needs, are checked there too, after the caller's right to file for the person:
    a caller who may not file for someone gets the same 404 whatever the body lacks."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "category": "temporary_trip",
        "destination": _GUANGZHOU, "start_date": "2026-11-25",
        "commitment": {"accepted": True, "version": "2026-01"}}]})

    person_id: str | None = PersonId
    category: Category = Field(description="备案类别")
    destination: DestinationInput | None = Field(None, description="就医地（必填）")
    start_date: dt.date | None = Field(
        None, description="开始日期（必填）：今天起 90 天内，最早一年前")
    hospital: Text | None = Field(None, description="定点医院（转诊、急诊抢救必填）")
    employer: Text | None = Field(None, description="工作单位（常驻异地工作必填）")
    referring_hospital: Text | None = Field(None, description="转出医院（异地转诊必填）")
    transfer_reference: Text | None = Field(None, description="转诊证明编号（异地转诊；没有时备案等待审核）")
    admission_date: dt.date | None = Field(None, description="已住院时的入院日期（补办备案）")
    discharge_date: dt.date | None = Field(
        None, description="出院日期；出院后不能再备案，只能回参保地手工报销")
    commitment: Commitment | None = Field(
        None, description="个人承诺书（长期居住、异地安置、异地工作和临时外出必填）")


class FilingChange(RequestModel):
    """What a change may set; at least one of them must differ from the filing."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"destination": {"province_code": "460000", "city_code": "460100"}}]})

    destination: DestinationInput | None = Field(None, description="新的就医地")
    start_date: dt.date | None = Field(None, description="新的开始日期（临时备案的有效期随之重算）")
    hospital: Text | None = Field(None, description="新的定点医院")


class FilingEventRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "缺少转诊证明"}]})

    reason: Text | None = Field(None, description="驳回原因（坐席驳回时填写，会通知本人）")


# -- the filing --------------------------------------------------------------------------


class DestinationView(ResponseModel):
    province_code: str
    city_code: str
    name: str = Field(description="省市名称，如 广东省广州市")


class FilingHistoryEntry(ResponseModel):
    at: str = Field(description="ISO 8601 时间")
    event: HistoryEvent
    actor: str = Field(description="办理的账号")
    on_behalf: str | None = Field(None, description="家属代办时，为谁办理")
    status: Status = Field(description="办理后的状态")
    reason: str | None = Field(None, description="驳回原因")


class FilingView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_FILING_EXAMPLE]})

    filing_id: str
    person_id: str
    category: Category
    category_name: str = Field(description="备案类别的中文名称")
    long_term: bool = Field(description="长期备案：变更或取消前一直有效")
    destination: DestinationView
    hospital: str | None = Field(description="定点医院")
    start_date: dt.date
    end_date: dt.date | None = Field(description="有效期至；长期备案为空")
    status: Status = Field(description="当天的状态（到期当天之后为 expired）")
    late: bool = Field(description="入院后、出院前补办的备案")
    channel: Channel = Field(description="办理渠道：app、miniapp 或 agent（坐席）")
    version: int = Field(description="记录版本，与 ETag 相同")
    history: list[FilingHistoryEntry] = Field(description="办理记录")


class FilingList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"filings": [_FILING_EXAMPLE]}]})

    filings: list[FilingView]
    next_cursor: str | None = Field(None, description="坐席查询：还有下一页时，把它作为 after "
                                    "再查一次")


class FilingsQueryFields(RequestModel):
    person_id: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9]*$",
                                  description="参保人编号；本人查询可不填，坐席按人查询时填写")
    status: Status | None = Field(None, description="只列这个状态的备案（到期按当天判断）")
    after: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9_-]*$",
                              description="坐席查询的下一页：上一页给的 next_cursor")
    limit: int = Field(50, ge=1, le=200, description="坐席查询每页条数")

    @property
    def since(self) -> dt.date | None:
        return self._day("from")

    @property
    def until(self) -> dt.date | None:
        return self._day("to")

    def _day(self, name: str) -> dt.date | None:
        day: dt.date | None = getattr(self, name)
        return day


# The query parameters are named ``from`` and ``to``, and ``BaseHandler.query`` reads each
# parameter by its field's name; ``from`` is a Python keyword, so these two fields are
# added by name here and read through ``since`` and ``until``.
_START_RANGE: dict[str, Any] = {
    "from": (dt.date | None, Field(None, description="开始日期不早于这一天（YYYY-MM-DD）")),
    "to": (dt.date | None, Field(None, description="开始日期不晚于这一天（YYYY-MM-DD）"))}
FilingsQuery = create_model("FilingsQuery", __base__=FilingsQueryFields, **_START_RANGE)


# -- hospitals and settlements -------------------------------------------------------------


class CoverageCheck(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id_number": "150102195003040117", **_GUANGZHOU, "date": "2027-01-10"}]})

    id_number: str = Field(min_length=1, max_length=18, description="公民身份号码（18 位）")
    province_code: RegionCode = Field(description="医院所在省级行政区划代码")
    city_code: RegionCode = Field(description="医院所在地市级行政区划代码")
    date: dt.date = Field(description="就医日期")


class CoverageAnswer(ResponseModel):
    """Covered or not; the category and validity only when covered."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "covered": True, "category": "temporary_trip", "category_name": "其他临时外出",
        "valid_from": "2026-11-25", "valid_until": "2027-05-24", "late_filing": False}]})

    covered: bool = Field(description="当天在该地有有效备案")
    category: Category | None = None
    category_name: str | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = Field(None, description="有效期至；长期备案为空")
    late_filing: bool | None = Field(None, description="入院后补办的备案")


class SettlementRecord(RequestModel):
    """A direct-settlement record from the national platform; its number makes it unique."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "settlement_no": "JS20261120001", "id_number": "150102195003040117",
        "date": "2026-11-20", "institution": "广州市第一人民医院", "amount_fen": 125000}]})

    settlement_no: str = Field(min_length=1, max_length=100, description="结算号")
    # A lower-case check character x names the same person as X.
    id_number: Annotated[str, AfterValidator(str.upper)] = Field(
        min_length=15, max_length=18, description="公民身份号码")
    date: dt.date = Field(description="结算日期")
    institution: str = Field(min_length=1, max_length=100, description="结算的医疗机构")
    amount_fen: int = Field(ge=0, strict=True, description="结算金额（分，整数）")


class SettlementOutcome(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "stored"}]})

    outcome: Literal["stored", "duplicate"] = Field(description="duplicate：这个结算号已记录过")
