"""The 12333 agent console: caller search, the one-screen overview, reveals, actions, the
queues and the audit trail.

Names, ID numbers and phones in answers have types that mask them: an answer cannot carry
a whole one, whoever builds it (each mask is idempotent). The one exception is a reveal's
``value``, which is what a reveal is for, and which is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field
from pydantic.config import JsonDict

from api.contract import RequestModel, ResponseModel
from api.schemas.card import CardView
from api.schemas.medical import FilingView
from common.masking import mask_id_number, mask_name, mask_phone, mask_text
from console.model import AGENT_CERTIFICATIONS, CASE_STATUSES
from medical_insurance.model import Status

MaskedName = Annotated[str, AfterValidator(mask_name), Field(description="姓名（脱敏）")]
MaskedIdNumber = Annotated[str, AfterValidator(mask_id_number),
                           Field(description="身份证号（脱敏）")]
MaskedPhone = Annotated[str, AfterValidator(mask_phone), Field(description="手机号（脱敏）")]
MaskedText = Annotated[str, AfterValidator(mask_text)]
Region = Field(None, pattern=r"^15\d{4}$", description="只看这个行政区划（须在本人辖区内）")
After = Field(None, max_length=200, pattern=r"^[A-Za-z0-9_-]*$",
              description="下一页：上一页给的 next_cursor")
Limit = Field(50, ge=1, le=200, description="每页条数")
CaseStatus = Literal["open", "clear", "fraud", "confirm"]
assert set(CASE_STATUSES) == {"open", "clear", "fraud", "confirm"}
assert set(AGENT_CERTIFICATIONS) == {"home_visit", "office"}



def _example_of(model: type[ResponseModel]) -> JsonDict:
    extra: Any = model.model_config.get("json_schema_extra")
    example: JsonDict = extra["examples"][0]
    return example


_CARD = _example_of(CardView)
_FILING = _example_of(FilingView)
_CALLER: JsonDict = {
    "person_id": "P3f9c2d7e8a1b4c5d6e7f", "name": "张**", "id_number": "1501**********0117",
    "phone": "138****5678", "region_code": "150102", "region_name": "新城区",
    "person_type": "retiree", "person_type_name": "退休人员"}


# -- the agent ----------------------------------------------------------------------------


class Choice(ResponseModel):
    code: str
    name: str


class ConsoleMe(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "A3f9c2d7e8a1b4c5d6e7f", "display_name": "王坐席", "role": "agent",
        "regions": [{"code": "150100", "name": "呼和浩特市"}],
        "now": "2026-11-22T02:00:00+00:00", "session_started_at": "2026-11-22T02:00:00+00:00",
        "session_ends_at": "2026-11-22T14:00:00+00:00", "idle_timeout_seconds": 1800,
        "reveal_reasons": [{"code": "caller_identity", "name": "核实来电人身份"}],
        "identity_questions": [{"code": "name", "name": "姓名"}]}]})

    account_id: str
    display_name: str
    role: Literal["agent", "admin"]
    regions: list[Choice] = Field(description="辖区")
    now: AwareDatetime = Field(description="服务器当前时间")
    session_started_at: AwareDatetime | None
    session_ends_at: AwareDatetime | None = Field(description="登录满 12 小时的时间")
    idle_timeout_seconds: int = Field(description="无操作多久自动退出")
    reveal_reasons: list[Choice] = Field(description="查看完整证件号或手机号的理由")
    identity_questions: list[Choice] = Field(description="电话挂失时可核对的身份问题")


class ConsoleClock(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"now": "2026-11-22T02:00:00+00:00"}]})

    now: AwareDatetime = Field(description="服务器当前时间（控制台据此提示自动退出）")


# -- search ---------------------------------------------------------------------------------


class CallerSearch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id_number": "150102195003040117"}, {"phone": "13812345678"},
        {"name": "张建国", "birth_year": 1950}]})

    id_number: str | None = Field(None, max_length=18, description="身份证号（18 位）")
    phone: str | None = Field(None, max_length=20, description="手机号")
    name: str | None = Field(None, max_length=30, description="姓名（须同时给出出生年份）")
    birth_year: int | None = Field(None, ge=1880, le=2100, description="出生年份")


class CallerSummary(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CALLER]})

    person_id: str
    name: MaskedName
    id_number: MaskedIdNumber
    phone: MaskedPhone | None
    region_code: str
    region_name: str
    person_type: str
    person_type_name: str


class CallerList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"callers": [_CALLER], "more": False}]})

    callers: list[CallerSummary] = Field(description="至多 20 人，只含本人辖区")
    more: bool = Field(description="超过 20 人：请补充条件")


# -- the overview ---------------------------------------------------------------------------


class AttemptRow(ResponseModel):
    at: AwareDatetime
    channel: str
    result: Literal["pass", "fail"]
    reason: str | None
    reason_text: str | None = Field(description="未通过原因（中文）")


class SignalRow(ResponseModel):
    day: str | None = Field(description="生存信息的日期")
    note: MaskedText = Field(description="数据来源与记录")
    result: str | None


class CaseRow(ResponseModel):
    case_id: str
    day: str
    kind: str
    kind_name: str
    opened_at: AwareDatetime
    status: str
    version: int = Field(description="ETag 版本：待处理为 1")


class CertificationPanel(ResponseModel):
    status: str
    status_name: str
    valid_through: dt.date | None = Field(description="认证有效期至（截止日期）")
    last_certified_on: dt.date | None
    suspended_from: str | None = Field(description="暂停发放起始月份")
    version: int = Field(description="认证记录的版本（办理认证、重发提醒时作 If-Match）")
    attempts: list[AttemptRow] = Field(description="最近的人脸认证尝试及原因")
    signals: list[SignalRow] = Field(description="静默认证的生存信息")
    cases: list[CaseRow] = Field(description="待复核案件")


class NoticeRow(ResponseModel):
    message_id: str
    kind: str
    kind_name: str
    channel: str
    status: str
    delivered: bool
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None


class FamilyRow(ResponseModel):
    link_id: str
    direction: Literal["granted", "acting"] = Field(
        description="granted：本人授权他人代办；acting：本人为他人代办")
    status: str
    permissions: list[str]
    created_at: AwareDatetime


class CallerOverview(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "identity": _CALLER,
        "certification": {
            "status": "due_soon", "status_name": "即将到期", "valid_through": "2026-11-30",
            "last_certified_on": "2025-12-01", "suspended_from": None, "version": 3,
            "attempts": [{"at": "2026-11-20T02:00:00+00:00", "channel": "app",
                          "result": "fail", "reason": "STILL_PHOTO",
                          "reason_text": "没有检测到眨眼等动作，请按提示重新拍摄。"}],
            "signals": [{"day": "2026-10-01", "note": "card_use R1", "result": "certified"}],
            "cases": []},
        "filings_current": [_FILING], "filings_past": [], "cards": [_CARD],
        "notifications": [{"message_id": "m3f9c2d7e8a1b4c5d6e7f0a1b", "kind": "cert_due_soon",
                           "kind_name": "认证到期提醒", "channel": "sms",
                           "status": "delivered", "delivered": True,
                           "created_at": "2026-10-31T02:00:00+00:00",
                           "delivered_at": "2026-10-31T02:00:05+00:00"}],
        "family": [{"link_id": "F3f9c2d7e8a1b4c5d6e7f", "direction": "granted",
                    "status": "confirmed", "permissions": ["pension_cert"],
                    "created_at": "2026-01-05T02:00:00+00:00"}]}]})

    identity: CallerSummary
    certification: CertificationPanel
    filings_current: list[FilingView] = Field(description="有效和待审核的备案")
    filings_past: list[FilingView] = Field(description="已过期、已取消、未通过的备案")
    cards: list[CardView] = Field(description="社保卡、状态与制卡进度")
    notifications: list[NoticeRow] = Field(description="最近的通知及是否送达")
    family: list[FamilyRow] = Field(description="亲情服务关系")


# -- reveal and actions --------------------------------------------------------------------


class RevealRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"field": "phone", "reason": "callback", "note": "来电中断，回拨确认挂失结果"}]})

    field: Literal["id_number", "phone"]
    reason: str = Field(min_length=1, max_length=40, description="理由（固定列表之一）")
    note: str = Field(min_length=1, max_length=200, description="补充说明（至少 4 个字）")


class Revealed(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"field": "id_number", "value": "150102195003040117",
         "audit_id": "9f1c2a9e0b4d4c7e8a1f2b3c4d5e6f70", "reveals_today": 3, "alert": False}]})

    field: Literal["id_number", "phone"]
    value: str = Field(description="完整的证件号或手机号（仅此一处，已记录审计）")
    audit_id: str
    reveals_today: int = Field(description="本人今天查看完整信息的次数")
    alert: bool = Field(description="是否已超过每日提醒阈值")


class TempLossRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"verified_by": ["id_number", "address"]}]})

    verified_by: list[str] = Field(min_length=1, max_length=6,
                                   description="来电人答对的身份问题（代码，至少两个）")


class ConsoleCertification(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "home_visit", "note": "上门核实本人健在，卧床"}]})

    kind: Literal["home_visit", "office"]
    note: str = Field(min_length=1, max_length=500, description="核实情况（至少 4 个字）")


class VisitBooking(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"preferred_dates": ["2026-11-25", "2026-11-26"], "address": "新城区海东路 12 号 3 单元 501"}]})

    preferred_dates: list[dt.date] = Field(min_length=1, max_length=3,
                                           description="希望上门的日期（1 到 3 个，60 天内）")
    address: str = Field(min_length=1, max_length=200, description="上门地址")
    phone: str | None = Field(None, max_length=20,
                              description="联系电话；不填则用登记的手机号（不必查看完整号码）")


class NoBody(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class CaseDecision(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"decision": "clear"}]})

    decision: Literal["clear", "fraud", "confirm"]


class FilingReview(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "转诊证明已补交"}]})

    reason: str | None = Field(None, max_length=200, description="驳回时必填：原因")


class ActionDone(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"audit_id": "9f1c2a9e0b4d4c7e8a1f2b3c4d5e6f70", "version": 4, "detail": {}}]})

    audit_id: str = Field(description="这次办理的审计记录编号")
    version: int = Field(description="记录的新版本（ETag）")
    detail: dict[str, str] = Field(description="办理结果的补充信息")


# -- queues ---------------------------------------------------------------------------------


class CaseQueueQuery(RequestModel):
    status: CaseStatus = Field("open", description="案件状态")
    region: str | None = Region
    after: str | None = After
    limit: int = Limit


class CaseQueueRow(ResponseModel):
    case: CaseRow
    person_id: str
    name: MaskedName
    region_code: str
    region_name: str


class CaseQueue(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cases": [{
        "case": {"case_id": "RC3f9c2d7e8a1b4c5d", "day": "2026-11-20",
                 "kind": "life_after_death", "kind_name": "死亡后仍有生存信息",
                 "opened_at": "2026-11-20T02:00:00+00:00", "status": "open", "version": 1},
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "name": "张**", "region_code": "150102",
        "region_name": "新城区"}], "next_cursor": None}]})

    cases: list[CaseQueueRow]
    next_cursor: str | None = Field(description="还有下一页时，作为 after 再查一次")


class FilingQueueQuery(RequestModel):
    status: Status | None = Field(None, description="备案状态（当天）；不填为全部")
    region: str | None = Region
    after: str | None = After
    limit: int = Limit


class FilingQueueRow(ResponseModel):
    filing: FilingView
    name: MaskedName
    region_code: str
    region_name: str


class FilingQueue(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"filings": [{
        "filing": _FILING, "name": "张**", "region_code": "150102", "region_name": "新城区"}],
        "next_cursor": None}]})

    filings: list[FilingQueueRow]
    next_cursor: str | None = Field(description="还有下一页时，作为 after 再查一次")


# -- the audit trail ----------------------------------------------------------------------


class AuditQueryFields(RequestModel):
    actor: str | None = Field(None, max_length=200, description="坐席（账号编号或用户名）；"
                              "坐席只能看本人记录")
    person: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9]*$",
                               description="参保人编号")
    action: str | None = Field(None, max_length=60, pattern=r"^[a-z_.]*$",
                               description="操作，例如 console.reveal")
    since: dt.date | None = Field(None, description="起始日期（含）")
    until: dt.date | None = Field(None, description="截止日期（含）")


class AuditQuery(AuditQueryFields):
    after: str | None = After
    limit: int = Limit


class AuditRow(ResponseModel):
    audit_id: str
    at: AwareDatetime
    actor: MaskedText
    action: str
    object: MaskedText
    person_id: str | None
    outcome: MaskedText
    client_ip: str | None
    on_behalf_of: str | None
    detail: dict[str, Any]


class AuditList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"entries": [{
        "audit_id": "9f1c2a9e0b4d4c7e8a1f2b3c4d5e6f70", "at": "2026-11-22T02:00:00+00:00",
        "actor": "A3f9c2d7e8a1b4c5d6e7f", "action": "console.reveal",
        "object": "P3f9c2d7e8a1b4c5d6e7f", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
        "outcome": "phone", "client_ip": "198.51.100.7", "on_behalf_of": None,
        "detail": {"reason": "callback", "note": "来电中断，回拨"}}], "next_cursor": None}]})

    entries: list[AuditRow]
    next_cursor: str | None = Field(description="还有下一页时，作为 after 再查一次")


class ClockMove(RequestModel):
    """Test-only: move the application's clock (refused outside dev/test)."""

    advance_seconds: int = Field(ge=0, le=400 * 86400)
