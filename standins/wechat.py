"""A local stand-in for the WeChat server APIs this service calls.

Speaks the real wire format: ``GET /cgi-bin/token``, ``POST /cgi-bin/stable_token``,
``POST /cgi-bin/message/subscribe/send``, ``GET /sns/jscode2session``,
``POST /wxa/business/getuserphonenumber`` and face verification (``wechat_face``),
with WeChat's real error codes (40001 invalid token, 40013 invalid appid, 40125
invalid secret, 40029 invalid code, 40037 invalid template, 47003 bad data, 43101 no
subscription). A
one-time subscription allows one message; login and phone codes work once and
expire after 5 minutes. Tests and the demo mint codes and script failures over
``/_control/*``.

    python -m standins.wechat --port 8101
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tornado.web import Application

from standins.base import JsonHandler, Script, delay, run_standalone, standin_app
from standins.wechat_face import (
    FaceVerification,
    get_verify_id,
    query_verify_info,
    verify_on_phone,
)
from standins.wechat_templates import SUBSCRIBE_TEMPLATES

DEV_APPS = {"wx-dev-appid": "dev-only-wechat-secret"}
TOKEN_LIFETIME = 7200
CODE_LIFETIME = 300


@dataclass
class MintedCode:
    value: dict[str, Any]  # {"openid", "unionid"} or {"phone"}
    expires_at: float
    used: bool = False


@dataclass
class WeChatState:
    apps: dict[str, str]
    # template id -> the data keys it expects
    templates: dict[str, frozenset[str]]
    script: Script = field(default_factory=Script)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (appid, expiry)
    current: dict[str, str] = field(default_factory=dict)  # appid -> its latest token
    # (openid, template_id) -> sends left; a long-term grant is -1
    subscriptions: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    messages: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    login_codes: dict[str, MintedCode] = field(default_factory=dict)
    phone_codes: dict[str, MintedCode] = field(default_factory=dict)
    scripts: dict[str, Script] = field(default_factory=lambda: defaultdict(Script))
    clock_offset: float = 0.0  # tests move code expiry forward with their own clock
    face: dict[str, FaceVerification] = field(default_factory=dict)  # verify_id -> check

    def now(self) -> float:
        return time.time() + self.clock_offset

    def mint(self, codes: dict[str, MintedCode], value: dict[str, Any]) -> str:
        code = secrets.token_urlsafe(24)
        codes[code] = MintedCode(value, self.now() + CODE_LIFETIME)
        return code

    def redeem(self, codes: dict[str, MintedCode], code: str) -> dict[str, Any] | None:
        """A code works once, within five minutes."""
        minted = codes.get(code)
        if minted is None or minted.used or minted.expires_at <= self.now():
            return None
        minted.used = True
        return minted.value

    def issue_token(self, appid: str, *, replace: bool) -> tuple[str, int]:
        now = time.time()
        current = self.current.get(appid)
        if not replace and current in self.tokens and self.tokens[current][1] > now + 300:
            return current, int(self.tokens[current][1] - now)
        if replace and current:
            self.tokens.pop(current, None)  # a new token invalidates the previous one
        token = secrets.token_urlsafe(48)
        self.tokens[token] = (appid, now + TOKEN_LIFETIME)
        self.current[appid] = token
        return token, TOKEN_LIFETIME

    def token_valid(self, token: str) -> bool:
        entry = self.tokens.get(token)
        return entry is not None and entry[1] > time.time()


def _credentials_error(state: WeChatState, appid: str, secret: str) -> dict[str, Any] | None:
    if appid not in state.apps:
        return {"errcode": 40013, "errmsg": "invalid appid"}
    if not secrets.compare_digest(state.apps[appid], secret):
        return {"errcode": 40125, "errmsg": "invalid appsecret"}
    return None


class TokenHandler(JsonHandler):
    def get(self) -> None:
        self.state.token_requests += 1
        if self.get_argument("grant_type", "") != "client_credential":
            self.write_json({"errcode": 40002, "errmsg": "invalid grant_type"})
            return
        appid, secret = self.get_argument("appid", ""), self.get_argument("secret", "")
        error = _credentials_error(self.state, appid, secret)
        if error:
            self.write_json(error)
            return
        token, expires_in = self.state.issue_token(appid, replace=True)
        self.write_json({"access_token": token, "expires_in": expires_in})


class StableTokenHandler(JsonHandler):
    def post(self) -> None:
        self.state.token_requests += 1
        body = self.body_json()
        if body.get("grant_type") != "client_credential":
            self.write_json({"errcode": 40002, "errmsg": "invalid grant_type"})
            return
        appid, secret = str(body.get("appid", "")), str(body.get("secret", ""))
        error = _credentials_error(self.state, appid, secret)
        if error:
            self.write_json(error)
            return
        token, expires_in = self.state.issue_token(appid, replace=bool(body.get("force_refresh")))
        self.write_json({"access_token": token, "expires_in": expires_in})


class TokenApiHandler(JsonHandler):
    """An API called with ``?access_token=``: scripted delay, token check, scripted error."""

    state: WeChatState

    async def answered_early(self, script: Script) -> bool:
        answer = script.next()
        await delay(answer)
        if not self.state.token_valid(self.get_argument("access_token", "")):
            self.write_json({"errcode": 40001, "errmsg": "invalid credential, access_token "
                             "is invalid or not latest"})
            return True
        if answer is not None and answer.code is not None:
            self.write_json({"errcode": int(answer.code), "errmsg": "scripted by the test"})
            return True
        return False


class SubscribeSendHandler(TokenApiHandler):
    async def post(self) -> None:
        if not await self.answered_early(self.state.script):
            self.write_json(self._send(self.body_json()))

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        openid, template_id = str(body.get("touser", "")), str(body.get("template_id", ""))
        if not openid:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        expected = self.state.templates.get(template_id)
        if expected is None:
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        data = body.get("data")
        if not isinstance(data, dict) or set(data) != expected or not all(
                isinstance(v, dict) and isinstance(v.get("value"), str) and len(v["value"]) <= 20
                for v in data.values()):
            return {"errcode": 47003, "errmsg": "argument invalid! data.value invalid"}
        key = (openid, template_id)
        left = self.state.subscriptions.get(key, 0)
        if left == 0:
            return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        if left > 0:
            self.state.subscriptions[key] = left - 1
        msgid = secrets.randbelow(10**15)
        self.state.messages.append({"touser": openid, "template_id": template_id, "data": data,
                                    "page": body.get("page"), "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


class CodeToSessionHandler(JsonHandler):
    async def get(self) -> None:
        answer = self.state.scripts["jscode2session"].next()
        await delay(answer)
        appid, secret = self.get_argument("appid", ""), self.get_argument("secret", "")
        error = _credentials_error(self.state, appid, secret)
        if error:
            self.write_json(error)
            return
        if answer is not None and answer.code is not None:
            self.write_json({"errcode": int(answer.code), "errmsg": "scripted by the test"})
            return
        if self.get_argument("grant_type", "") != "authorization_code":
            self.write_json({"errcode": 40002, "errmsg": "invalid grant_type"})
            return
        identity = self.state.redeem(self.state.login_codes, self.get_argument("js_code", ""))
        if identity is None:
            self.write_json({"errcode": 40029, "errmsg": "invalid code"})
            return
        body = {"openid": identity["openid"], "session_key": secrets.token_urlsafe(16)}
        if identity.get("unionid"):
            body["unionid"] = identity["unionid"]
        self.write_json(body)


class PhoneNumberHandler(TokenApiHandler):
    async def post(self) -> None:
        if await self.answered_early(self.state.scripts["getuserphonenumber"]):
            return
        found = self.state.redeem(self.state.phone_codes, str(self.body_json().get("code", "")))
        if found is None:
            self.write_json({"errcode": 40029, "errmsg": "invalid code"})
            return
        phone = str(found["phone"])
        self.write_json({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
            "watermark": {"timestamp": int(self.state.now()), "appid": next(iter(self.state.apps))},
        }})


class FaceApiHandler(TokenApiHandler):
    """getverifyid and queryverifyinfo (人脸核身 2.0)."""

    async def post(self, api: str) -> None:
        if await self.answered_early(self.state.scripts[api]):
            return
        answer = get_verify_id if api == "getverifyid" else query_verify_info
        self.write_json(answer(self.state, self.body_json()))


class ControlHandler(JsonHandler):
    def get(self, what: str) -> None:
        if what == "messages":
            self.write_json({"messages": self.state.messages})
        elif what == "stats":
            self.write_json({"token_requests": self.state.token_requests})
        else:
            self.send_error(404)

    def post(self, what: str) -> None:
        body = self.body_json()
        if what == "subscriptions":
            # count: how many one-time grants; -1: a long-term subscription
            key = (str(body["openid"]), str(body["template_id"]))
            count = int(body.get("count", 1))
            left = self.state.subscriptions.get(key, 0)
            self.state.subscriptions[key] = -1 if count < 0 else max(left, 0) + count
        elif what == "plan":
            api = str(body.get("api", "subscribe_send"))
            script = self.state.script if api == "subscribe_send" else self.state.scripts[api]
            script.plan(body, "errcode")
        elif what == "login_code":
            code = self.state.mint(self.state.login_codes, {
                "openid": str(body["openid"]), "unionid": body.get("unionid")})
            self.write_json({"code": code})
            return
        elif what == "phone_code":
            code = self.state.mint(self.state.phone_codes, {"phone": str(body["phone"])})
            self.write_json({"code": code})
            return
        elif what == "face_verify":
            if not verify_on_phone(self.state, body):
                self.send_error(404)
                return
        elif what == "advance":
            self.state.clock_offset += float(body.get("seconds", 0))
        elif what == "expire_tokens":
            self.state.tokens.clear()
        elif what == "reset":
            self.state.script.clear()
            self.state.scripts.clear()
            self.state.clock_offset = 0.0
            self.state.messages.clear()
            self.state.subscriptions.clear()
            self.state.token_requests = 0
            self.state.face.clear()
        else:
            self.send_error(404)
            return
        self.write_json({"ok": True})


def make_app(apps: dict[str, str] | None = None) -> Application:
    state = WeChatState(apps=dict(apps or DEV_APPS), templates=dict(SUBSCRIBE_TEMPLATES))
    return standin_app(state, [
        (r"/cgi-bin/token", TokenHandler),
        (r"/cgi-bin/stable_token", StableTokenHandler),
        (r"/cgi-bin/message/subscribe/send", SubscribeSendHandler),
        (r"/sns/jscode2session", CodeToSessionHandler),
        (r"/wxa/business/getuserphonenumber", PhoneNumberHandler),
        (r"/cityservice/face/identify/(getverifyid|queryverifyinfo)", FaceApiHandler),
        (r"/_control/(\w+)", ControlHandler),
    ])


if __name__ == "__main__":
    run_standalone("wechat", 8101, make_app)
