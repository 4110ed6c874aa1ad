"""A local stand-in for Aliyun's SMS API (dysmsapi, RPC style, version 2017-05-25).

It checks requests the way the real API does, in the same order: the common
parameters, the access key, the timestamp and nonce, the HMAC-SHA1 signature,
then SendSms's own parameters and the per-number limits for verification
codes. It answers with the real response shapes and error codes. Tests and the
demo steer it over ``/_control/*``, and ``/_dev`` shows the SMS it received.

    python -m standins.aliyun_sms --port 8102
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import string
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from tornado.web import Application

from standins.base import JsonHandler, Script, delay, run_standalone, standin_app
from standins.sms_templates import REGISTERED

DEV_ACCESS_KEYS = {"LTAIdevonly": "dev-only-aliyun-secret"}
DEV_SIGN_NAMES = frozenset({"内蒙古人社"})

@dataclass(frozen=True)
class Registered:
    """A template the account has registered (``sms_templates.REGISTERED``)."""

    code: str
    text: str
    verification: bool

    @classmethod
    def of(cls, code: str) -> Registered | None:
        found = REGISTERED.get(code)
        return cls(code, *found) if found else None

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(re.findall(r"\$\{(\w+)\}", self.text))

    def render(self, values: dict[str, Any]) -> str:
        return string.Template(self.text).safe_substitute({k: str(v) for k, v in values.items()})


_PHONE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_CODE_LIMITS = ((60, 1), (3600, 5), (86400, 10))  # verification codes per number
_COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce",
           "SignatureVersion", "Timestamp", "Version", "Signature")


@dataclass
class Received:
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, Any]
    text: str
    biz_id: str
    received_at: str


@dataclass
class AliyunState:
    access_keys: dict[str, str]
    sign_names: frozenset[str]
    script: Script = field(default_factory=Script)
    messages: list[Received] = field(default_factory=list)
    answered: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    code_sends: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    # Tests move the per-number limit windows forward with their own clock; request
    # timestamps are still checked against real time, as the SDK signs with real time.
    limit_clock_offset: float = 0.0

    def limit_now(self) -> float:
        return time.time() + self.limit_clock_offset

    def reset(self) -> None:
        self.limit_clock_offset = 0.0
        self.script.clear()
        self.messages.clear()
        self.answered.clear()
        self.code_sends.clear()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's signature algorithm defines it."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(text: str, secret: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


class SendSmsHandler(JsonHandler):
    async def get(self) -> None:
        await self.post()

    async def post(self) -> None:
        request_id = str(uuid.uuid4()).upper()
        answer = self.state.script.next()
        await delay(answer)
        try:
            params = self._authenticated_params()
            if answer is not None and answer.code:
                raise ApiError(200, str(answer.code), "scripted by the test")
            body = self._send_sms(params, request_id)
            status = 200
        except ApiError as error:
            status = error.status
            body = {"RequestId": request_id, "Code": error.code, "Message": error.message}
            if status != 200:
                body["HostId"] = "dysmsapi.aliyuncs.com"
        self.state.answered.append({"code": body["Code"], "request_id": request_id})
        self.write_json(body, status)

    def _authenticated_params(self) -> dict[str, str]:
        params = dict(parse_qsl(self.request.query, keep_blank_values=True))
        content_type = self.request.headers.get("Content-Type", "")
        if self.request.body and "application/x-www-form-urlencoded" in content_type:
            params.update(parse_qsl(self.request.body.decode(), keep_blank_values=True))
        for name in _COMMON:
            if name not in params:
                raise ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            raise ApiError(404, "InvalidApi.NotFound", "Specified api is not found.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise ApiError(400, "InvalidSignatureMethod", "Specified signature method is invalid.")
        secret = self.state.access_keys.get(params["AccessKeyId"])
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        self._check_timestamp(params["Timestamp"])
        if params["SignatureNonce"] in self.state.nonces:
            raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        signature = params.pop("Signature")
        expected_text = string_to_sign(self.request.method or "POST", params)
        if not hmac.compare_digest(sign(expected_text, secret), signature):
            raise ApiError(400, "SignatureDoesNotMatch",
                           "Specified signature does not match our calculation. "
                           f"server string to sign is:{expected_text}")
        self.state.nonces.add(params["SignatureNonce"])
        return params

    @staticmethod
    def _check_timestamp(value: str) -> None:
        try:
            stamp = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(400, "InvalidTimeStamp.Format",
                           "Specified time stamp or date value is not well formatted.") from None
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 15 * 60:
            raise ApiError(400, "InvalidTimeStamp.Expired",
                           "Specified time stamp or date value is expired.")

    def _send_sms(self, params: dict[str, str], request_id: str) -> dict[str, Any]:
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                raise ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        phone = params["PhoneNumbers"]
        if not _PHONE.match(phone):
            raise ApiError(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params["SignName"] not in self.state.sign_names:
            raise ApiError(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = Registered.of(params["TemplateCode"])
        if template is None:
            raise ApiError(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise ApiError(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if template.variables - set(values):
            raise ApiError(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if template.verification:
            self._count_code_send(phone)
        biz_id = f"{int(time.time() * 1000)}{uuid.uuid4().int % 10**6:06d}^0"
        self.state.messages.append(Received(
            phone=phone, sign_name=params["SignName"], template_code=params["TemplateCode"],
            params=values, text=f"【{params['SignName']}】{template.render(values)}",
            biz_id=biz_id, received_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ))
        return {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id}

    def _count_code_send(self, phone: str) -> None:
        now = self.state.limit_now()
        sends = self.state.code_sends[phone]
        for window, limit in _CODE_LIMITS:
            if sum(1 for t in sends if now - t < window) >= limit:
                raise ApiError(200, "isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控")
        sends.append(now)


class MessagesHandler(JsonHandler):
    def get(self) -> None:
        phone = self.get_argument("phone", None)
        messages = [asdict(m) for m in self.state.messages if phone in (None, m.phone)]
        self.write_json({"messages": messages, "answered": self.state.answered})


class PlanHandler(JsonHandler):
    def post(self) -> None:
        self.state.script.plan(self.body_json(), "code")
        self.write_json({"ok": True})


class AdvanceHandler(JsonHandler):
    def post(self) -> None:
        self.state.limit_clock_offset += float(self.body_json().get("seconds", 0))
        self.write_json({"ok": True})


class ResetHandler(JsonHandler):
    def post(self) -> None:
        self.state.reset()
        self.write_json({"ok": True})


class DevPageHandler(JsonHandler):
    """A page for a person running the demo: the SMS that would have reached phones."""

    def get(self) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(m.received_at)}</td><td>{html.escape(m.phone)}</td>"
            f"<td>{html.escape(m.template_code)}</td><td>{html.escape(m.text)}</td></tr>"
            for m in reversed(self.state.messages)
        ) or '<tr><td colspan="4">还没有短信</td></tr>'
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='5'><title>短信（阿里云替身）</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;"
            "padding:.4em .8em;text-align:left}</style></head><body>"
            f"<h1>收到的短信（{len(self.state.messages)} 条）</h1>"
            "<table><tr><th>时间 (UTC)</th><th>手机号</th><th>模板</th><th>内容</th></tr>"
            f"{rows}</table></body></html>"
        )


def make_app(access_keys: dict[str, str] | None = None,
             sign_names: frozenset[str] | None = None) -> Application:
    state = AliyunState(dict(access_keys or DEV_ACCESS_KEYS), sign_names or DEV_SIGN_NAMES)
    return standin_app(state, [
        (r"/", SendSmsHandler),
        (r"/_control/messages", MessagesHandler),
        (r"/_control/plan", PlanHandler),
        (r"/_control/reset", ResetHandler),
        (r"/_control/advance", AdvanceHandler),
        (r"/_dev", DevPageHandler),
    ])


if __name__ == "__main__":
    run_standalone("aliyun_sms", 8102, make_app)
