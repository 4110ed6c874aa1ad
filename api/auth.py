"""Login routes: the mini-program, the app by SMS code, the agents' console; tokens and
logging out."""

from __future__ import annotations

from typing import Any, ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.contract import NO_CONTENT, Operation, Reply, Resp
from api.errors import ApiError
from api.schemas.auth import (
    AccountView,
    CodeSent,
    ConsoleLogin,
    LoginAnswer,
    Refresh,
    SmsCodeRequest,
    SmsLogin,
    WeChatLogin,
    WeChatPhone,
)
from auth import model as m
from auth import service
from auth.context import AuthContext, LoginResult
from auth.model import Account
from auth.tokens import TokenRejected
from common.errors import RateLimited
from common.masking import mask_phone
from notifications.model import InvalidPhone, SmsNotSent, SmsRateLimited

TAG = ("身份与登录",)
_LOGIN_OK = {200: Resp("登录成功，返回令牌", LoginAnswer)}


def account_view(account: Account) -> AccountView:
    return AccountView(account_id=account.account_id, role=account.role.value,
                       verified=account.person_id is not None, person_id=account.person_id,
                       phone=mask_phone(account.phone) if account.phone else None,
                       wechat_linked=account.openid is not None)


class AuthHandler(BaseHandler):
    ctx: AuthContext

    def device(self, given: dict[str, Any] | None) -> dict[str, str]:
        device = {str(k): str(v) for k, v in (given or {}).items()}
        device.setdefault("user_agent", self.request.headers.get("User-Agent", ""))
        device["ip"] = self.client_ip()
        return device


def login_answer(result: LoginResult) -> LoginAnswer:
    return LoginAnswer(access_token=result.access_token, refresh_token=result.refresh_token,
                       token_type="Bearer", expires_in=result.expires_in,  # noqa: S106
                       session_id=result.session.session_id, new_account=result.created,
                       account=account_view(result.account))


class WeChatLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "wechat_login", "小程序登录", "用 wx.login() 的 code 登录；session_key 只留在服务端。",
        TAG, _LOGIN_OK, body=WeChatLogin,
        errors=(m.WeChatCodeInvalid, m.WeChatBusy, m.WeChatUserBlocked,
                m.WeChatUnavailableError, RateLimited))}

    async def post(self) -> LoginAnswer:
        login = self.body(WeChatLogin)
        return login_answer(await service.login_with_wechat(
            login.code, self.device(login.device), ctx=self.ctx, client_ip=self.client_ip()))


class WeChatPhoneHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "wechat_bind_phone", "绑定微信手机号", "用 getPhoneNumber 按钮的 code 绑定手机号；"
        "同一手机号的 App 账号与小程序账号合并为一个。", TAG, _LOGIN_OK, body=WeChatPhone,
        errors=(m.WeChatCodeInvalid, m.PhoneBelongsToAnotherPerson, m.WeChatUnavailableError,
                RateLimited))}

    async def post(self) -> LoginAnswer:
        code = self.body(WeChatPhone).code
        return login_answer(await service.bind_wechat_phone(
            self.me, code, self.device(None), ctx=self.ctx, client_ip=self.client_ip()))


class SmsCodeHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "request_sms_code", "获取短信验证码", "App 登录用的 6 位验证码，5 分钟有效；"
        "无论手机号是否注册，回答都一样。", TAG,
        {202: Resp("验证码已发送", CodeSent)}, body=SmsCodeRequest,
        errors=(RateLimited, SmsRateLimited, SmsNotSent, InvalidPhone))}

    async def post(self) -> Reply:
        phone = self.body(SmsCodeRequest).phone
        challenge_id, expires_in = await service.request_login_code(
            phone, ctx=self.ctx, client_ip=self.client_ip())
        return Reply(CodeSent(challenge_id=challenge_id, expires_in=expires_in), 202)


class SmsLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "sms_login", "短信验证码登录", "用验证码登录 App；同一手机号总是同一个账号。", TAG,
        _LOGIN_OK, body=SmsLogin,
        errors=(m.CodeInvalid, m.CodeExpired, m.CodeExhausted, RateLimited))}

    async def post(self) -> LoginAnswer:
        login = self.body(SmsLogin)
        return login_answer(await service.login_with_code(
            login.challenge_id, login.code, self.device(login.device), ctx=self.ctx,
            client_ip=self.client_ip()))


class RefreshHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "refresh_tokens", "刷新令牌", "刷新令牌只能用一次；重复使用会结束整个登录会话。", TAG,
        _LOGIN_OK, body=Refresh, errors=("UNAUTHENTICATED",))}

    async def post(self) -> LoginAnswer:
        token = self.body(Refresh).refresh_token
        try:
            result = await service.refresh_tokens(token, ctx=self.ctx, client_ip=self.client_ip())
        except TokenRejected:
            raise ApiError(401) from None
        return login_answer(result)


class LogoutHandler(AuthHandler):
    kind = HandlerKind.PERSON
    openapi: ClassVar = {"post": Operation(
        "logout", "退出登录", "结束当前会话，令牌立即失效。", TAG, {204: Resp("已退出")})}

    async def post(self) -> Reply:
        await service.end_session(self.me, self.me.session_id or "", ctx=self.ctx,
                                  reason="logout", client_ip=self.client_ip())
        return NO_CONTENT


class ConsoleLoginHandler(AuthHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation(
        "console_login", "坐席登录", "密码加动态验证码；连续 5 次失败锁定 15 分钟。", ("坐席",),
        _LOGIN_OK, body=ConsoleLogin, errors=(m.LoginFailed, m.AccountLocked, RateLimited))}

    async def post(self) -> LoginAnswer:
        login = self.body(ConsoleLogin)
        return login_answer(await service.console_login(
            login.username, login.password, login.totp, self.device(None), ctx=self.ctx,
            client_ip=self.client_ip()))


routes: list[Route] = [
    (r"/v1/auth/wechat/login", WeChatLoginHandler, {"context": "auth"}),
    (r"/v1/auth/wechat/phone", WeChatPhoneHandler, {"context": "auth"}),
    (r"/v1/auth/sms/code", SmsCodeHandler, {"context": "auth"}),
    (r"/v1/auth/sms/login", SmsLoginHandler, {"context": "auth"}),
    (r"/v1/auth/refresh", RefreshHandler, {"context": "auth"}),
    (r"/v1/auth/logout", LogoutHandler, {"context": "auth"}),
    (r"/v1/console/login", ConsoleLoginHandler, {"context": "auth"}),
]
