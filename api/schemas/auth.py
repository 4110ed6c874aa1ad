"""Identity: logins, tokens, sessions, real-name binding, family links, the inbox and the
person record."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from api.contract import RequestModel, ResponseModel

Device = Field(None, description="设备信息，例如 {\"model\": \"iPhone 13\"}")


class WeChatLogin(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "0a3Xk2ll2o1Ksf4Qw7nl2Kb9Xk1Xk2lA", "device": {"model": "iPhone 13"}}]})

    code: str = Field(min_length=1, max_length=200, description="wx.login() 得到的 code")
    device: dict[str, Any] | None = Device


class WeChatPhone(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "e31968a7f94cc5ee25"}]})

    code: str = Field(min_length=1, max_length=200, description="getPhoneNumber 按钮得到的 code")


class SmsCodeRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "13812345678"}]})

    phone: str = Field(min_length=1, max_length=20)


class SmsLogin(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"challenge_id": "C3f9c2d7e8a1b4c5d6e7f", "code": "123456"}]})

    challenge_id: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=10)
    device: dict[str, Any] | None = Device


class Refresh(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"refresh_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjYtMTEifQ.e30.c2ln"}]})

    refresh_token: str = Field(min_length=1, max_length=4000)


class ConsoleLogin(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "wang.agent", "password": "correct horse battery", "totp": "492039"}]})

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=200)
    totp: str = Field(min_length=1, max_length=10, description="动态验证码（6 位）")


class RealNameCodeRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id_number": "150102195003040117", "name": "张建国"}]})

    id_number: str = Field(min_length=1, max_length=18)
    name: str = Field(min_length=1, max_length=30)


class RealNameConfirm(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"challenge_id": "C3f9c2d7e8a1b4c5d6e7f", "code": "123456"}]})

    challenge_id: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=10)


class FamilyInvite(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"phone": "13812345678", "permissions": ["pension_cert", "card"]}]})

    phone: str | None = Field(None, max_length=20, description="家人的手机号（或身份证号）")
    id_number: str | None = Field(None, max_length=18)
    permissions: list[Literal["pension_cert", "card", "filing", "records"]] = Field(
        min_length=1, max_length=3, description="授权家人办理的业务")


class AccountView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "A3f9c2d7e8a1b4c5d6e7f", "role": "citizen", "verified": True,
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "phone": "138****5678", "wechat_linked": True}]})

    account_id: str
    role: Literal["citizen", "agent", "admin"]
    verified: bool
    person_id: str | None
    phone: str | None = Field(description="已脱敏")
    wechat_linked: bool


class LoginAnswer(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "refresh_token": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
        "token_type": "Bearer", "expires_in": 900, "session_id": "S3f9c2d7e8a1b4c5d6e7f",
        "new_account": False, "account": {
            "account_id": "A3f9c2d7e8a1b4c5d6e7f", "role": "citizen", "verified": True,
            "person_id": "P3f9c2d7e8a1b4c5d6e7f", "phone": "138****5678",
            "wechat_linked": True}}]})

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    session_id: str
    new_account: bool
    account: AccountView


class CodeSent(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"challenge_id": "C3f9c2d7e8a1b4c5d6e7f", "expires_in": 300}]})

    challenge_id: str
    expires_in: int


class RealNameCodeSent(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "challenge_id": "C3f9c2d7e8a1b4c5d6e7f",
        "message": "如身份证号和姓名与参保登记一致，验证码已发送到参保登记的手机号。"}]})

    challenge_id: str
    message: str


class SessionView(ResponseModel):
    session_id: str
    audience: Literal["miniapp", "app", "console"]
    device: dict[str, str]
    created_at: datetime
    last_seen_at: datetime
    ended: bool
    current: bool


class SessionList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"sessions": [{
        "session_id": "S3f9c2d7e8a1b4c5d6e7f", "audience": "miniapp",
        "device": {"model": "iPhone 13"}, "created_at": "2026-11-22T02:00:00+00:00",
        "last_seen_at": "2026-11-22T02:05:00+00:00", "ended": False, "current": True}]}]})

    sessions: list[SessionView]


class InboxMessage(ResponseModel):
    message_id: str
    kind: str
    text: str
    created_at: datetime
    read: bool


class Inbox(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"messages": [{
        "message_id": "m3f9c2d7e8a1b4c5d6e7f8a9b", "kind": "cert_due_soon",
        "text": "您的养老金领取资格认证将于2026-12-31到期，请及时认证。",
        "created_at": "2026-11-22T02:00:00+00:00", "read": False}]}]})

    messages: list[InboxMessage]


class FamilyLinkView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "link_id": "L3f9c2d7e8a1b4c5d6e7f", "status": "invited",
        "grantor_person_id": "P3f9c2d7e8a1b4c5d6e7f", "grantee_account_id": "A3f9c2d7e8a1b4c5d6e7f",
        "permissions": ["card"], "version": 1}]})

    link_id: str
    status: Literal["invited", "accepted", "confirmed", "ended"]
    grantor_person_id: str
    grantee_account_id: str
    permissions: list[str]
    version: int


class FamilyLinks(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"links": []}]})

    links: list[FamilyLinkView]


class PersonView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_id": "P3f9c2d7e8a1b4c5d6e7f", "name": "张**", "id_number": "1501**********011X",
        "phone": "138****5678", "region_code": "150102", "person_type": "retiree",
        "payment_status": "paying"}]})

    person_id: str
    name: str = Field(description="本人看全名，其他人看到已脱敏的姓名")
    id_number: str = Field(description="已脱敏")
    phone: str | None = Field(description="已脱敏")
    region_code: str
    person_type: Literal["retiree", "survivor", "employee", "resident"]
    payment_status: Literal["not_applicable", "paying", "suspended", "stopped"]
