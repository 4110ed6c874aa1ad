"""WeChat server APIs: a shared access-token cache, subscribe messages, the mini-program
login, and face verification (人脸核身 2.0: ``getverifyid`` and ``queryverifyinfo``).

The access token lives 7200 s and every fresh ``cgi-bin/token`` call invalidates
the previous one, so the token is fetched from one place: ``stable_token``,
refreshed early (5 minutes before expiry), with one refresh at a time however
many sends ask for it concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from common.clock import Clock
from notifications.model import Outcome, SendResult, classify_wechat

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
_TOKEN_ERRORS = (40001, 42001, 40014)


CERT_TYPE = "IDENTITY_CARD"  # 二代身份证


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    """What ``queryverifyinfo`` wants instead of the identity: each field base64-encoded,
    joined as ``cert_type=..&cert_name=..&cert_no=..``, SHA-256 in lowercase hex."""
    joined = "&".join(f"{name}={base64.b64encode(value.encode()).decode()}" for name, value in
                      (("cert_type", cert_type), ("cert_name", cert_name), ("cert_no", cert_no)))
    return hashlib.sha256(joined.encode()).hexdigest()


class WeChatUnavailable(RuntimeError):
    """WeChat did not answer, or answered with an error for the token itself."""


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime


class WeChatApi:
    """The server-side WeChat calls this service makes, at a configurable base URL."""

    def __init__(self, *, base_url: str, appid: str, secret: str, clock: Clock,
                 timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._appid = appid
        self._secret = secret
        self._clock = clock
        self._timeout = timeout
        self._http = AsyncHTTPClient()
        self._token: _Token | None = None
        self._refresh_lock = asyncio.Lock()
        self.token_fetches = 0

    async def access_token(self) -> str:
        token = self._token
        if token is not None and self._clock.now() < token.expires_at - REFRESH_MARGIN:
            return token.value
        async with self._refresh_lock:  # single flight: later callers reuse the result
            token = self._token
            if token is not None and self._clock.now() < token.expires_at - REFRESH_MARGIN:
                return token.value
            self._token = await self._fetch_token()
            return self._token.value

    def invalidate_token(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self) -> _Token:
        self.token_fetches += 1
        body = await self._call("POST", "/cgi-bin/stable_token", {
            "grant_type": "client_credential", "appid": self._appid,
            "secret": self._secret, "force_refresh": False,
        })
        if "access_token" not in body:
            raise WeChatUnavailable(f"stable_token errcode {body.get('errcode')}")
        return _Token(body["access_token"],
                      self._clock.now() + timedelta(seconds=int(body.get("expires_in", 7200))))

    async def send_subscribe(self, *, openid: str, template_id: str, page: str,
                             data: Mapping[str, Any], state: str = "formal") -> SendResult:
        for _ in range(2):  # a token rejected as invalid is refreshed once
            try:
                token = await self.access_token()
                body = await self._call(
                    "POST", f"/cgi-bin/message/subscribe/send?access_token={token}",
                    {"touser": openid, "template_id": template_id, "page": page, "data": data,
                     "miniprogram_state": state, "lang": "zh_CN"},
                )
            except WeChatUnavailable as error:
                return SendResult(Outcome.TRANSIENT, "unavailable", str(error))
            errcode = int(body.get("errcode", 0))
            if errcode in _TOKEN_ERRORS:
                self.invalidate_token(token)
                continue
            outcome, alert = classify_wechat(errcode)
            msgid = body.get("msgid")
            return SendResult(outcome, str(errcode), str(body.get("errmsg", "")),
                              provider_id=str(msgid) if msgid is not None else None, alert=alert)
        return SendResult(Outcome.TRANSIENT, "40001", "access token rejected twice")

    async def code_to_session(self, js_code: str) -> dict[str, Any]:
        """``jscode2session``: the login code from ``wx.login`` -> openid, session_key, unionid.

        Returns WeChat's body as is (with ``errcode`` on failure); the caller maps errors.
        """
        query = urlencode({"appid": self._appid, "secret": self._secret, "js_code": js_code,
                           "grant_type": "authorization_code"})
        return await self._call("GET", f"/sns/jscode2session?{query}")

    async def phone_number(self, code: str) -> dict[str, Any]:
        """``getuserphonenumber``: the code from the getPhoneNumber button -> phone_info."""
        for _ in range(2):
            token = await self.access_token()
            body = await self._call(
                "POST", f"/wxa/business/getuserphonenumber?access_token={token}", {"code": code})
            if int(body.get("errcode", 0)) in _TOKEN_ERRORS:
                self.invalidate_token(token)
                continue
            return body
        return {"errcode": 40001, "errmsg": "access token rejected twice"}

    async def get_verify_id(self, *, openid: str, out_seq_no: str, cert_name: str,
                            cert_no: str) -> dict[str, Any]:
        """人脸核身 2.0, step 1: a ``verify_id`` for ``wx.requestFacialVerify``, bound to the
        openid, our ``out_seq_no`` and the identity. WeChat's body as is."""
        return await self._with_token("/cityservice/face/identify/getverifyid", {
            "out_seq_no": out_seq_no, "openid": openid,
            "cert_info": {"cert_type": CERT_TYPE, "cert_name": cert_name, "cert_no": cert_no}})

    async def query_verify_info(self, *, verify_id: str, out_seq_no: str, openid: str,
                                cert_name: str, cert_no: str) -> dict[str, Any]:
        """人脸核身 2.0, step 2: the result (``verify_ret`` 10000 is a pass), as WeChat sent it."""
        return await self._with_token("/cityservice/face/identify/queryverifyinfo", {
            "verify_id": verify_id, "out_seq_no": out_seq_no, "openid": openid,
            "cert_hash": cert_hash(CERT_TYPE, cert_name, cert_no)})

    async def _with_token(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        for _ in range(2):  # a token rejected as invalid is refreshed once
            token = await self.access_token()
            body = await self._call("POST", f"{path}?access_token={token}", payload)
            if int(body.get("errcode", 0)) in _TOKEN_ERRORS:
                self.invalidate_token(token)
                continue
            return body
        return {"errcode": 40001, "errmsg": "access token rejected twice"}

    async def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
        request = HTTPRequest(
            self._base_url + path, method=method,
            body=json.dumps(payload, ensure_ascii=False) if payload is not None else None,
            headers={"Content-Type": "application/json"},
            connect_timeout=self._timeout, request_timeout=self._timeout,
        )
        try:
            response = await self._http.fetch(request)
        except (TimeoutError, HTTPClientError, OSError) as error:
            raise WeChatUnavailable(f"{type(error).__name__}: {error}") from None
        try:
            body = json.loads(response.body)
        except ValueError:
            raise WeChatUnavailable("WeChat answered with something that is not JSON") from None
        if not isinstance(body, dict):
            raise WeChatUnavailable("WeChat answered with an unexpected shape")
        return body
