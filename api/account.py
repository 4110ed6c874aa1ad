"""The caller's own account: who they are, their devices, real-name binding, family links,
the in-app inbox, and the person record every role reaches through ``authorize``."""

from __future__ import annotations

from typing import ClassVar

from api.auth import AuthHandler, account_view
from api.base import BaseHandler, HandlerKind, Route
from api.contract import NO_CONTENT, Link, Operation, Reply, Resp
from api.schemas.auth import (
    AccountView,
    FamilyInvite,
    FamilyLinks,
    FamilyLinkView,
    Inbox,
    InboxMessage,
    PersonView,
    RealNameCodeRequest,
    RealNameCodeSent,
    RealNameConfirm,
    SessionList,
    SessionView,
)
from auth import model as m
from auth import service
from auth.access import Action
from auth.model import FamilyLink, RecordNotFound
from common.errors import NotFound, RateLimited
from common.masking import mask_id_number, mask_name, mask_phone
from common.versioning import etag
from notifications import service as inbox
from notifications.model import MessageNotFound, SmsRateLimited
from notifications.service import InboxContext
from pension_cert import service as cert
from pension_cert.context import CertContext
from people.model import PersonNotFound

TAG = ("身份与登录",)
FAMILY = ("亲情服务",)


def link_view(link: FamilyLink) -> FamilyLinkView:
    return FamilyLinkView(link_id=link.link_id, status=link.status.value,
                          grantor_person_id=link.grantor_person_id,
                          grantee_account_id=link.grantee_account_id,
                          permissions=list(link.permissions), version=link.version)


class MeHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation(
        "get_me", "当前账号", "登录的是谁、是否已实名、手机号（脱敏）、是否绑定微信。", TAG,
        {200: Resp("当前账号", AccountView)})}

    async def get(self) -> AccountView:
        # The authenticator loaded the account (and refused a merged one) for this request.
        loaded = self.me.account
        return account_view(loaded if loaded is not None else
                            await service.live_account(self.me.subject, ctx=self.ctx))


class SessionsHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"get": Operation(
        "list_my_sessions", "登录设备", "本账号在哪些设备上登录过，哪个是当前设备。", TAG,
        {200: Resp("登录设备列表", SessionList)})}

    async def get(self) -> SessionList:
        sessions = await service.sessions_of(self.me, ctx=self.ctx)
        return SessionList(sessions=[SessionView(
            session_id=s.session_id, audience=s.audience.value, device=s.device,
            created_at=s.created_at, last_seen_at=s.last_seen_at, ended=s.ended_at is not None,
            current=s.session_id == self.me.session_id) for s in sessions])


class SessionHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"delete": Operation(
        "end_my_session", "让设备下线", "结束本账号的某个登录会话，立即生效。", TAG,
        {204: Resp("已下线")}, errors=(m.SessionNotFound,))}

    async def delete(self, session_id: str) -> Reply:
        await service.end_session(self.me, session_id, ctx=self.ctx, reason="ended_by_user",
                                  client_ip=self.client_ip())
        return NO_CONTENT


class RealNameCodeHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "request_real_name_code", "实名认证：获取验证码", "身份证号和姓名与参保登记一致时，"
        "验证码发到登记的手机；无论是否一致，回答都一样。", TAG,
        {202: Resp("已受理", RealNameCodeSent)}, body=RealNameCodeRequest,
        errors=(m.AccountAlreadyBound, RateLimited, SmsRateLimited))}

    async def post(self) -> Reply:
        request = self.body(RealNameCodeRequest)
        challenge_id = await service.request_real_name_code(
            self.me, request.id_number, request.name, ctx=self.ctx, client_ip=self.client_ip())
        return Reply(RealNameCodeSent(challenge_id=challenge_id,
                                      message=service.REAL_NAME_CODE_SENT), 202)


class RealNameHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "confirm_real_name", "实名认证：提交验证码", "验证码正确即完成实名，账号与参保人绑定。",
        TAG, {200: Resp("实名认证完成", AccountView)}, body=RealNameConfirm,
        errors=(m.CodeInvalid, m.CodeExpired, m.CodeExhausted, m.PersonAlreadyBound,
                m.AccountAlreadyBound))}

    async def post(self) -> AccountView:
        confirm = self.body(RealNameConfirm)
        account = await service.confirm_real_name(self.me, confirm.challenge_id, confirm.code,
                                                  ctx=self.ctx, client_ip=self.client_ip())
        return account_view(account)


class FamilyLinksHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {
        "get": Operation("list_family_links", "我的亲情授权", "我授权的家人，以及授权我的家人。",
                         FAMILY, {200: Resp("亲情授权", FamilyLinks)}),
        "post": Operation(
            "invite_family", "邀请家人代办", "按手机号或身份证号邀请已注册的家人，"
            "授权其代办养老金认证、社保卡或异地就医备案。", FAMILY,
            {201: Resp("已邀请", FamilyLinkView, etag=True)}, body=FamilyInvite,
            idempotent_create=True,
            links={"accept": Link("move_family_link", {
                "link_id": "$response.body#/link_id", "event": "accept"}, "家人接受邀请")},
            errors=(m.NotVerified, m.FamilyMemberNotFound)),
    }

    async def get(self) -> FamilyLinks:
        links = await service.family_links(self.me, ctx=self.ctx)
        return FamilyLinks(links=[link_view(link) for link in links])

    async def post(self) -> Reply:
        invitation = self.body(FamilyInvite)

        async def invite(seed: str) -> Reply:
            link = await service.invite_family(
                self.me, phone=invitation.phone, id_number=invitation.id_number,
                permissions=list(invitation.permissions), link_id="L" + seed[:20],
                ctx=self.ctx, client_ip=self.client_ip())
            return Reply(link_view(link), 201, {"ETag": etag(link.version)})

        return await self.create_idempotently(invite)


class FamilyLinkEventHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "move_family_link", "接受、确认或结束亲情授权", "家人接受，本人确认后生效；"
        "任何一方都可以结束。", FAMILY, {200: Resp("状态已更新", FamilyLinkView, etag=True)},
        versioned_update=True, errors=(m.FamilyLinkNotFound, m.FamilyTransitionRefused))}

    async def post(self, link_id: str, event: str) -> Reply:
        moved = await service.move_family_link(
            self.me, link_id, event, self.request.headers.get("If-Match"), ctx=self.ctx,
            client_ip=self.client_ip())
        return Reply(link_view(moved), 200, {"ETag": etag(moved.version)})


class InboxHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: InboxContext
    openapi: ClassVar = {"get": Operation(
        "get_inbox", "站内消息", "认证提醒、办理结果等消息，最新的在前。", TAG,
        {200: Resp("站内消息", Inbox)})}

    async def get(self) -> Inbox:
        messages = await inbox.inbox_of(self.me.person_id, ctx=self.ctx)
        return Inbox(messages=[InboxMessage(
            message_id=msg.message_id, kind=msg.kind, text=msg.inbox_text,
            created_at=msg.created_at, read=msg.read_at is not None) for msg in messages])


class InboxReadHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: InboxContext
    openapi: ClassVar = {"post": Operation(
        "mark_message_read", "标为已读", "把自己的一条站内消息标为已读。", TAG,
        {204: Resp("已读")}, errors=(MessageNotFound,))}

    async def post(self, message_id: str) -> Reply:
        await inbox.mark_read(self.me.person_id, message_id, ctx=self.ctx)
        return NO_CONTENT


class PersonHandler(BaseHandler):
    """A person's basic record: the citizen themself, confirmed family, agents of the region."""

    kind = HandlerKind.PERSON
    ctx: CertContext
    openapi: ClassVar = {"get": Operation(
        "get_person", "参保人信息", "参保人的基本信息（脱敏）与养老金发放状态；坐席和家人查看"
        "都会记录。", ("参保人",), {200: Resp("参保人信息（已脱敏）", PersonView)},
        errors=(PersonNotFound,))}

    async def get(self, person_id: str) -> PersonView:
        on_behalf = await self.authorize(Action.PERSON, person_id)
        try:
            person, payment = await cert.person_record(self.me, person_id, on_behalf=on_behalf,
                                                       client_ip=self.client_ip(), ctx=self.ctx)
        except NotFound:
            raise RecordNotFound(person_id) from None
        own = self.me.person_id == person_id
        return PersonView(person_id=person.person_id,
                          name=person.name if own else mask_name(person.name),
                          id_number=mask_id_number(person.id_number),
                          phone=mask_phone(person.phone) if person.phone else None,
                          region_code=person.region_code,
                          person_type=person.person_type.value, payment_status=payment.value)


routes: list[Route] = [
    (r"/v1/me", MeHandler, {"context": "auth"}),
    (r"/v1/me/sessions", SessionsHandler, {"context": "auth"}),
    (r"/v1/me/sessions/(?P<session_id>[A-Za-z0-9]+)", SessionHandler, {"context": "auth"}),
    (r"/v1/me/real-name/code", RealNameCodeHandler, {"context": "auth"}),
    (r"/v1/me/real-name", RealNameHandler, {"context": "auth"}),
    (r"/v1/me/inbox", InboxHandler, {"context": "inbox"}),
    (r"/v1/me/inbox/(?P<message_id>[A-Za-z0-9]+)/read", InboxReadHandler, {"context": "inbox"}),
    (r"/v1/family/links", FamilyLinksHandler, {"context": "auth"}),
    (r"/v1/family/links/(?P<link_id>[A-Za-z0-9]+)/(?P<event>accept|confirm|end)",
     FamilyLinkEventHandler, {"context": "auth"}),
    (r"/v1/people/(?P<person_id>[A-Za-z0-9]+)", PersonHandler, {"context": "cert"}),
]
