"""Identity routes: logins, tokens, sessions, real-name binding, family, inbox, console,
and the person record that every role reaches through ``authorize``."""

from __future__ import annotations

from typing import Any, ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.errors import ApiError
from api.openapi import Operation
from auth import access, service
from auth import model as m
from auth.access import Action
from auth.model import (
    Account,
    FamilyLink,
    MessageNotFound,
    Role,
    Session,
)
from auth.service import LoginResult
from auth.tokens import TokenRejected
from common.errors import NotFound, RateLimited, ValidationFailed
from common.idempotency import StoredResponse
from common.masking import mask_id_number, mask_name, mask_phone
from common.versioning import etag
from notifications.model import InvalidPhone, SmsNotSent, SmsRateLimited
from pension_cert.model import PaymentStatus
from pension_cert.service import person_payment
from people.model import Person, PersonNotFound

TAG = ("身份与登录",)
_OBJ = {"type": "object"}


def _schema(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": True}


_STR = {"type": "string"}
_DEVICE = {"type": "object", "description": "设备信息，例如 {\"model\": \"iPhone 13\"}"}


class AuthHandler(BaseHandler):
    """Shared helpers: required fields, device info, and the shapes of answers."""

    def field(self, name: str, *, max_length: int = 200) -> str:
        value = self.json_body().get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise ValidationFailed(f"{name} is required", field=name)
        return value.strip()

    def device(self) -> dict[str, str]:
        given = self.json_body().get("device")
        device = {k: str(v) for k, v in given.items()} if isinstance(given, dict) else {}
        device.setdefault("user_agent", self.request.headers.get("User-Agent", ""))
        device["ip"] = self.client_ip()
        return device

    def login_answer(self, result: LoginResult, status: int = 200) -> None:
        self.write_json(status, {
            "access_token": result.access_token, "refresh_token": result.refresh_token,
            "token_type": "Bearer", "expires_in": result.expires_in,
            "session_id": result.session.session_id, "new_account": result.created,
            "account": account_view(result.account),
        })


def account_view(account: Account) -> dict[str, Any]:
    return {"account_id": account.account_id, "role": account.role.value,
            "verified": account.person_id is not None, "person_id": account.person_id,
            "phone": mask_phone(account.phone) if account.phone else None,
            "wechat_linked": account.openid is not None}


def session_view(session: Session, current: str | None) -> dict[str, Any]:
    return {"session_id": session.session_id, "audience": session.audience.value,
            "device": session.device, "created_at": session.created_at.isoformat(),
            "last_seen_at": session.last_seen_at.isoformat(),
            "ended": session.ended_at is not None, "current": session.session_id == current}


def person_view(person: Person, payment: PaymentStatus, *, full_name: bool) -> dict[str, Any]:
    name = person.name if full_name else mask_name(person.name)
    return {"person_id": person.person_id, "name": name,
            "id_number": mask_id_number(person.id_number),
            "phone": mask_phone(person.phone) if person.phone else None,
            "region_code": person.region_code, "person_type": person.person_type.value,
            "payment_status": payment.value}


def link_view(link: FamilyLink) -> dict[str, Any]:
    return {"link_id": link.link_id, "status": link.status.value,
            "grantor_person_id": link.grantor_person_id,
            "grantee_account_id": link.grantee_account_id,
            "permissions": list(link.permissions), "version": link.version}


_LOGIN_OK = {200: ("登录成功，返回令牌", _OBJ)}


class WeChatLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "wechat_login", TAG, _LOGIN_OK, request_schema=_schema(["code"], code=_STR, device=_DEVICE),
        errors=(m.WeChatCodeInvalid, m.WeChatBusy, m.WeChatUserBlocked,
                m.WeChatUnavailableError, RateLimited))}

    async def post(self) -> None:
        result = await service.login_with_wechat(
            self.field("code"), self.device(), ctx=self.deps.auth,
            wechat=self.deps.gateways.wechat, client_ip=self.client_ip())
        self.login_answer(result)


class WeChatPhoneHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "wechat_bind_phone", TAG, _LOGIN_OK, request_schema=_schema(["code"], code=_STR),
        errors=(m.WeChatCodeInvalid, m.PhoneBelongsToAnotherPerson,
                m.WeChatUnavailableError))}

    async def post(self) -> None:
        result = await service.bind_wechat_phone(
            self.me, self.field("code"), self.device(), ctx=self.deps.auth,
            wechat=self.deps.gateways.wechat, client_ip=self.client_ip())
        self.login_answer(result)


class SmsCodeHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "sms_code", TAG, {202: ("验证码已发送（无论手机号是否已注册，回答都一样）", _OBJ)},
        request_schema=_schema(["phone"], phone=_STR),
        errors=(RateLimited, SmsRateLimited, SmsNotSent, InvalidPhone))}

    async def post(self) -> None:
        challenge_id, expires_in = await service.request_login_code(
            self.field("phone", max_length=20), ctx=self.deps.auth, sms=self.deps.gateways.sms,
            client_ip=self.client_ip())
        self.write_json(202, {"challenge_id": challenge_id, "expires_in": expires_in})


class SmsLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "sms_login", TAG, _LOGIN_OK,
        request_schema=_schema(["challenge_id", "code"], challenge_id=_STR, code=_STR,
                               device=_DEVICE),
        errors=(m.CodeInvalid, m.CodeExpired, m.CodeExhausted,
                RateLimited))}

    async def post(self) -> None:
        result = await service.login_with_code(
            self.field("challenge_id"), self.field("code", max_length=10), self.device(),
            ctx=self.deps.auth, client_ip=self.client_ip())
        self.login_answer(result)


class RefreshHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "refresh", TAG, _LOGIN_OK, request_schema=_schema(["refresh_token"], refresh_token=_STR),
        errors=("UNAUTHENTICATED",))}

    async def post(self) -> None:
        try:
            result = await service.refresh_tokens(self.field("refresh_token", max_length=4000),
                                                  ctx=self.deps.auth, client_ip=self.client_ip())
        except TokenRejected:
            raise ApiError(401) from None
        self.login_answer(result)


class LogoutHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation("logout", TAG, {204: ("已退出", None)})}

    async def post(self) -> None:
        await service.end_session(self.me, self.me.session_id or "", ctx=self.deps.auth,
                                  reason="logout", client_ip=self.client_ip())
        self.set_status(204)
        self.finish()


class MeHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation("me", TAG, {200: ("当前账号", _OBJ)})}

    async def get(self) -> None:
        account = await self.deps.auth.repo.account(self.me.subject)
        assert account is not None
        self.write_json(200, account_view(account))


class SessionsHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation("my_sessions", TAG, {200: ("登录设备列表", _OBJ)})}

    async def get(self) -> None:
        sessions = await service.sessions_of(self.me, ctx=self.deps.auth)
        self.write_json(200, {"sessions": [session_view(s, self.me.session_id) for s in sessions]})


class SessionHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"delete": Operation("end_session", TAG, {204: ("已下线", None)},
                                             errors=(m.SessionNotFound,))}

    async def delete(self, session_id: str) -> None:
        await service.end_session(self.me, session_id, ctx=self.deps.auth, reason="ended_by_user",
                                  client_ip=self.client_ip())
        self.set_status(204)
        self.finish()


class RealNameCodeHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "real_name_code", TAG,
        {202: ("已受理：信息一致时验证码发到参保登记的手机（无论是否一致，回答都一样）", _OBJ)},
        request_schema=_schema(["id_number", "name"], id_number=_STR, name=_STR),
        errors=(m.AccountAlreadyBound, RateLimited))}

    async def post(self) -> None:
        challenge_id = await service.request_real_name_code(
            self.me, self.field("id_number", max_length=18), self.field("name", max_length=30),
            ctx=self.deps.auth, people=self.deps.people, sms=self.deps.gateways.sms,
            client_ip=self.client_ip())
        self.write_json(202, {"challenge_id": challenge_id,
                              "message": service.REAL_NAME_CODE_SENT})


class RealNameHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "real_name_bind", TAG, {200: ("实名认证完成", _OBJ)},
        request_schema=_schema(["challenge_id", "code"], challenge_id=_STR, code=_STR),
        errors=(m.CodeInvalid, m.CodeExpired, m.CodeExhausted,
                m.PersonAlreadyBound, m.AccountAlreadyBound))}

    async def post(self) -> None:
        account = await service.confirm_real_name(
            self.me, self.field("challenge_id"), self.field("code", max_length=10),
            ctx=self.deps.auth, client_ip=self.client_ip())
        self.write_json(200, account_view(account))


class InboxHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation("inbox", TAG, {200: ("站内消息", _OBJ)})}

    async def get(self) -> None:
        messages = (await self.deps.outbox.inbox(self.me.person_id)
                    if self.me.person_id else [])
        self.write_json(200, {"messages": [
            {"message_id": m.message_id, "kind": m.kind, "text": m.inbox_text,
             "created_at": m.created_at.isoformat(), "read": m.read_at is not None}
            for m in messages]})


class InboxReadHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation("inbox_mark_read", TAG, {204: ("已读", None)},
                                           errors=(MessageNotFound,))}

    async def post(self, message_id: str) -> None:
        if not (self.me.person_id and await self.deps.outbox.mark_read(
                message_id, self.me.person_id, self.deps.clock.now())):
            raise MessageNotFound(message_id)
        self.set_status(204)
        self.finish()


class FamilyLinksHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {
        "get": Operation("family_links", ("亲情服务",), {200: ("我的亲情授权", _OBJ)}),
        "post": Operation(
            "family_invite", ("亲情服务",), {201: ("已邀请", _OBJ)},
            request_schema=_schema(["permissions"], phone=_STR, id_number=_STR,
                                   permissions={"type": "array", "items": _STR}),
            idempotent_create=True,
            errors=(m.NotVerified, m.FamilyMemberNotFound)),
    }

    async def get(self) -> None:
        links = await access.family_links(self.me, repo=self.deps.auth.repo)
        self.write_json(200, {"links": [link_view(link) for link in links]})

    async def post(self) -> None:
        body = self.json_body()
        permissions = body.get("permissions")
        if not isinstance(permissions, list):
            raise ValidationFailed("permissions must be a list", field="permissions")

        async def invite(seed: str) -> StoredResponse:
            link = await access.invite_family(
                self.me, phone=body.get("phone"), id_number=body.get("id_number"),
                permissions=[str(p) for p in permissions], link_id="L" + seed[:20],
                repo=self.deps.auth.repo,
                people=self.deps.people, clock=self.deps.clock, audit=self.deps.audit,
                client_ip=self.client_ip())
            return StoredResponse(201, link_view(link), {"ETag": etag(link.version)})

        await self.create_idempotently(invite)


class FamilyLinkEventHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "family_link_event", ("亲情服务",), {200: ("状态已更新", _OBJ)}, versioned_update=True,
        errors=(m.FamilyLinkNotFound, m.FamilyTransitionRefused))}

    async def post(self, link_id: str, event: str) -> None:
        link = await access.get_link(self.me, link_id, repo=self.deps.auth.repo)
        self.require_if_match(link.version)
        moved = await access.move_family_link(
            self.me, link_id, event, link.version, repo=self.deps.auth.repo,
            guard=self.deps.guard, clock=self.deps.clock, audit=self.deps.audit,
            client_ip=self.client_ip())
        self.write_json(200, link_view(moved), {"ETag": etag(moved.version)})


class ConsoleLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "console_login", ("坐席",), _LOGIN_OK,
        request_schema=_schema(["username", "password", "totp"], username=_STR, password=_STR,
                               totp=_STR),
        errors=(m.LoginFailed, m.AccountLocked, RateLimited))}

    async def post(self) -> None:
        result = await service.console_login(
            self.field("username"), self.field("password", max_length=200),
            self.field("totp", max_length=10), self.device(), ctx=self.deps.auth,
            client_ip=self.client_ip())
        self.login_answer(result)


class PersonHandler(AuthHandler):
    """A person's basic record: the citizen themself, confirmed family, agents of the region."""

    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation(
        "person", ("参保人",), {200: ("参保人信息（已脱敏）", _OBJ)}, errors=(PersonNotFound,))}

    async def get(self, person_id: str) -> None:
        on_behalf = await self.authorize(Action.PERSON, person_id)
        try:
            person, payment = await person_payment(person_id, ctx=self.deps.cert)
        except NotFound:
            raise access.RecordNotFound(person_id) from None
        if self.me.role is not Role.CITIZEN or on_behalf:
            await self.deps.audit.record(actor=self.me.subject, action="person.read",
                                         object=person_id, outcome="ok",
                                         client_ip=self.client_ip(), on_behalf_of=on_behalf)
        self.write_json(200, person_view(person, payment,
                                         full_name=self.me.person_id == person_id))


class ServicePersonCheckHandler(AuthHandler):
    """For institutions: is this ID number and name an insured person here?"""

    kind = HandlerKind.SERVICE
    service_scope = "people.verify"
    openapi: ClassVar = {"post": Operation(
        "service_person_check", ("机构接口",), {200: ("核验结果", _OBJ)},
        request_schema=_schema(["id_number", "name"], id_number=_STR, name=_STR),
        errors=(m.Forbidden,))}

    async def post(self) -> None:
        id_number, name = self.field("id_number", max_length=18), self.field("name")
        person = await self.deps.people.find_by_id_number(id_number.upper())
        matched = person is not None and person.name == name
        self.write_json(200, {"insured": matched,
                              "region_code": person.region_code if matched and person else None})


routes: list[Route] = [
    (r"/v1/auth/wechat/login", WeChatLoginHandler),
    (r"/v1/auth/wechat/phone", WeChatPhoneHandler),
    (r"/v1/auth/sms/code", SmsCodeHandler),
    (r"/v1/auth/sms/login", SmsLoginHandler),
    (r"/v1/auth/refresh", RefreshHandler),
    (r"/v1/auth/logout", LogoutHandler),
    (r"/v1/me", MeHandler),
    (r"/v1/me/sessions", SessionsHandler),
    (r"/v1/me/sessions/(?P<session_id>[A-Za-z0-9]+)", SessionHandler),
    (r"/v1/me/real-name/code", RealNameCodeHandler),
    (r"/v1/me/real-name", RealNameHandler),
    (r"/v1/me/inbox", InboxHandler),
    (r"/v1/me/inbox/(?P<message_id>[A-Za-z0-9]+)/read", InboxReadHandler),
    (r"/v1/family/links", FamilyLinksHandler),
    (r"/v1/family/links/(?P<link_id>[A-Za-z0-9]+)/(?P<event>accept|confirm|end)",
     FamilyLinkEventHandler),
    (r"/v1/console/login", ConsoleLoginHandler),
    (r"/v1/people/(?P<person_id>[A-Za-z0-9]+)", PersonHandler),
    (r"/v1/service/people/verify", ServicePersonCheckHandler),
]
