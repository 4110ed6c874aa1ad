"""The social-security card: the card and its progress, lifecycle events, the electronic
card code, the issuance and usage feeds, and the service points.

Card numbers and names in answers have types that mask them (``MaskedCardNumber``,
``MaskedName``): an answer cannot carry a whole one, whoever builds it. Both masks are
idempotent, so a value a service has already masked comes out the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field
from pydantic.config import JsonDict

from api.contract import RequestModel, ResponseModel
from common.masking import mask_card_number, mask_name
from social_card.model import CardStatus, Event, Step

Function = Literal["ss", "bank"]  # the social-security function, the bank function
UsageKind = Literal["hospital", "pharmacy", "bank", "other"]
MaskedCardNumber = Annotated[str, AfterValidator(mask_card_number),
                             Field(description="卡号（脱敏：前四位和后四位）")]
MaskedName = Annotated[str, AfterValidator(mask_name), Field(description="姓名（脱敏）")]
Question = Annotated[str, Field(min_length=1, max_length=50)]
PersonId = Field(None, max_length=40, pattern=r"^[A-Za-z0-9]*$",
                 description="参保人编号；不填则为本人")

_CARD_EXAMPLE: JsonDict = {
    "card_id": "C3f9c2d7e8a1b4c5d6e7f", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
    "card_number": "6217********7366", "bank": "中国工商银行", "status": "temp_loss",
    "status_name": "临时挂失", "bank_status": "temp_loss", "issued_on": "2020-01-01",
    "expires_on": "2030-01-01",
    "progress": [{"step": "data_entered", "at": "2019-12-01T09:00:00+08:00",
                  "name": "数据录入"},
                 {"step": "collected_inactive", "at": "2020-01-01T09:00:00+08:00",
                  "name": "领卡未激活"}],
    "temp_loss_lifts_on": "2026-12-12", "replaced_by": None, "replacement_of": None,
    "delivery": {"address": None, "service_point_id": None, "service_point": None},
    "renewal_open": False, "version": 2,
    "history": [{"at": "2026-11-22T02:00:00+00:00", "event": "temp_loss",
                 "actor": "A3f9c2d7e8a1b4c5d6e7f", "on_behalf": None,
                 "functions": ["bank", "ss"], "status": "temp_loss",
                 "bank_status": "temp_loss", "verified_by": None, "channel": None}]}


# -- the card ----------------------------------------------------------------------------


class CardProgressStep(ResponseModel):
    step: Step
    at: str = Field(description="ISO 8601 时间（逾期封存只给日期）")
    name: str = Field(description="步骤的中文名称")


class CardDelivery(ResponseModel):
    """Where a replacement or renewal is delivered: an address or a service point."""

    address: str | None = Field(None, description="邮寄地址")
    service_point_id: str | None = Field(None, description="领卡网点编号")
    service_point: str | None = Field(None, description="领卡网点名称")


class CardHistoryEntry(ResponseModel):
    at: str = Field(description="ISO 8601 时间")
    event: Event | Literal["auto_lift"] = Field(description="auto_lift：临时挂失到期自动解除")
    status: CardStatus
    bank_status: CardStatus | None = None
    actor: str | None = Field(None, description="办理的账号")
    on_behalf: str | None = Field(None, description="家属代办时，为谁办理")
    functions: list[Function] | None = None
    verified_by: list[str] | None = Field(None, description="12333 电话挂失时核对的身份问题")
    channel: Literal["12333"] | None = None


class CardView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CARD_EXAMPLE]})

    card_id: str
    person_id: str
    card_number: MaskedCardNumber
    bank: str
    status: CardStatus = Field(description="社保功能的状态")
    status_name: str
    bank_status: CardStatus = Field(description="银行功能的状态（可单独挂失）")
    issued_on: dt.date | None
    expires_on: dt.date | None
    progress: list[CardProgressStep] = Field(description="制卡进度")
    temp_loss_lifts_on: dt.date | None = Field(description="临时挂失自动解除的日期")
    replaced_by: str | None = Field(description="补卡或换卡后的新卡")
    replacement_of: str | None = Field(description="这张卡补换的是哪张卡")
    delivery: CardDelivery
    renewal_open: bool = Field(description="是否已到可以换卡的时间（到期前 60 天）")
    version: int = Field(description="记录版本，与 ETag 相同")
    history: list[CardHistoryEntry] = Field(description="最近 20 条办理记录")


class CardList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cards": [_CARD_EXAMPLE]}]})

    cards: list[CardView]


class CardsQuery(RequestModel):
    person_id: str | None = PersonId


class CardEventRequest(RequestModel):
    """What an event needs beyond its name: which functions, the 12333 identity questions
    (agents' temporary loss), and where a replacement or renewal goes."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"functions": ["ss", "bank"], "service_point_id": "SP150100A"}]})

    functions: list[Function] = Field(["ss", "bank"], min_length=1, max_length=2,
                                      description="挂失或解挂哪项功能，默认两项都办")
    verified_by: list[Question] | None = Field(
        None, max_length=10, description="坐席电话挂失时，来电人答对的身份问题（至少两个）")
    address: str | None = Field(None, max_length=200,
                                description="补卡、换卡的邮寄地址（6 到 200 个字）")
    service_point_id: str | None = Field(None, max_length=40,
                                         description="补卡、换卡的领卡网点（二选一）")


# -- the electronic card code ----------------------------------------------------------------


class ECodeSmsSent(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"challenge_id": "C3f9c2d7e8a1b4c5d6e7f"}]})

    challenge_id: str = Field(description="随验证码一起提交")


class ECodeRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"challenge_id": "C3f9c2d7e8a1b4c5d6e7f", "code": "123456"}]})

    challenge_id: str | None = Field(None, max_length=200,
                                     description="临时挂失期间：短信确认的编号")
    code: str | None = Field(None, max_length=10, description="临时挂失期间：短信验证码；"
                             "确认后的有效期内刷新时不带")


class ECode(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjYtMTEifQ.e30.c2ln", "expires_in": 60,
        "qr_svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"87\" height=\"87\"></svg>"}]})

    code: str = Field(description="电子社保卡码，扫一次即失效")
    expires_in: int = Field(description="多少秒内有效")
    qr_svg: str = Field(description="二维码（SVG）")
    authorised_for: int | None = Field(
        None, description="临时挂失期间：这次短信确认还有多少秒有效。在此之前，只带 challenge_id"
        "（不带验证码）即可刷新电子社保卡码；过期后要重新短信确认。不在挂失期间时为空")


class ECodeScan(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjYtMTEifQ.e30.c2ln"}]})

    code: str = Field(min_length=1, max_length=4000, description="扫到的电子社保卡码")


class ECodeHolder(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "张**", "card_number": "6217********7366", "status": "normal",
        "status_name": "正常", "valid": True, "expires_on": "2030-01-01"}]})

    name: MaskedName
    card_number: MaskedCardNumber
    status: CardStatus
    status_name: str
    valid: bool = Field(description="卡正常且未过期")
    expires_on: dt.date | None


# -- feeds ---------------------------------------------------------------------------------


class IssuanceRecord(RequestModel):
    """One issuance step from a card maker, a bank or a service point."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "record_id": "M-2026-000123", "id_number": "150102195003040117",
        "card_number": "6217195910147366", "step": "making",
        "at": "2026-11-12T09:00:00+08:00", "bank": "中国工商银行"}]})

    record_id: str = Field(min_length=1, max_length=100, description="数据源自己的记录编号")
    id_number: str = Field(min_length=15, max_length=18, description="公民身份号码")
    card_number: str = Field(min_length=1, max_length=40)
    step: Step
    # Aware only: a time without its zone would be read in the server's zone.
    at: AwareDatetime = Field(description="带时区的时间")
    bank: str | None = Field(None, max_length=60, description="发卡银行，缺省为中国工商银行")


class IssuanceOutcome(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "recorded"}]})

    outcome: Literal["created", "recorded", "duplicate"]


class UsageRecord(RequestModel):
    """Use of a card; at a hospital or pharmacy it is proof of life for a pensioner."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "record_id": "U-2026-000123", "card_number": "6217195910147366",
        "kind": "pharmacy", "date": "2026-11-21"}]})

    record_id: str = Field(min_length=1, max_length=100, description="数据源自己的记录编号")
    card_number: str = Field(min_length=1, max_length=40)
    kind: UsageKind
    date: dt.date = Field(description="用卡日期")


class UsageOutcome(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "recorded"}]})

    outcome: Literal["recorded", "duplicate"]


# -- service points ------------------------------------------------------------------------


class ServicePointsQuery(RequestModel):
    region: str = Field("15", max_length=6, pattern=r"^[0-9]*$",
                        description="行政区划代码前缀，例如 1502 为包头市；默认全区")


class ServicePointView(ResponseModel):
    service_point_id: str
    name: str
    address: str
    region_code: str


class ServicePointList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"service_points": [{
        "service_point_id": "SP150200A", "name": "包头市社保卡服务中心",
        "address": "包头市昆都仑区", "region_code": "150203"}]}]})

    service_points: list[ServicePointView]
