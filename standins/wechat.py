"""A local stand-in for the WeChat server APIs this service calls.

Speaks the real wire format: ``GET /cgi-bin/token``, ``POST /cgi-bin/stable_token``
and ``POST /cgi-bin/message/subscribe/send``, with WeChat's real error codes
(40001 invalid token, 40013 invalid appid, 40125 invalid secret, 40037 invalid
template, 47003 bad data, 43101 no subscription). A one-time subscription
allows one message. Tests steer it over ``/_control/*``.

    python -m standins.wechat --port 8101
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tornado.web import Application

from notifications.templates import REGISTRY
from standins.base import JsonHandler, Script, delay, run_standalone

DEV_APPS = {"wx-dev-appid": "dev-only-wechat-secret"}
TOKEN_LIFETIME = 7200


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
    def initialize(self, state: WeChatState) -> None:
        self.state = state

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
    def initialize(self, state: WeChatState) -> None:
        self.state = state

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


class SubscribeSendHandler(JsonHandler):
    def initialize(self, state: WeChatState) -> None:
        self.state = state

    async def post(self) -> None:
        answer = self.state.script.next()
        await delay(answer)
        if not self.state.token_valid(self.get_argument("access_token", "")):
            self.write_json({"errcode": 40001, "errmsg": "invalid credential, access_token "
                             "is invalid or not latest"})
            return
        if answer is not None and answer.code is not None:
            self.write_json({"errcode": int(answer.code), "errmsg": "scripted by the test"})
            return
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


class ControlHandler(JsonHandler):
    def initialize(self, state: WeChatState) -> None:
        self.state = state

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
            self.state.script.plan(body, "errcode")
        elif what == "expire_tokens":
            self.state.tokens.clear()
        elif what == "reset":
            self.state.script.clear()
            self.state.messages.clear()
            self.state.subscriptions.clear()
            self.state.token_requests = 0
        else:
            self.send_error(404)
            return
        self.write_json({"ok": True})


def make_app(apps: dict[str, str] | None = None) -> Application:
    templates = {t.wechat_template_id: frozenset(t.wechat_fields)
                 for t in REGISTRY.values() if t.wechat_template_id}
    state = WeChatState(apps=dict(apps or DEV_APPS), templates=templates)
    kwargs = {"state": state}
    app = Application([
        (r"/cgi-bin/token", TokenHandler, kwargs),
        (r"/cgi-bin/stable_token", StableTokenHandler, kwargs),
        (r"/cgi-bin/message/subscribe/send", SubscribeSendHandler, kwargs),
        (r"/_control/(\w+)", ControlHandler, kwargs),
    ])
    app.settings["state"] = state
    return app


if __name__ == "__main__":
    run_standalone("wechat", 8101, make_app)
