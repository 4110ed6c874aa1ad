"""Aliyun SMS through the official SDK (aliyun-python-sdk-core): AcsClient + CommonRequest.

The SDK is blocking, so every call runs in a small thread pool, never on the
event loop. The SDK's own retries are off: the outbox decides when to retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from notifications.model import Outcome, SendResult, classify_aliyun

log = logging.getLogger(__name__)

API_VERSION = "2017-05-25"
REGION = "cn-hangzhou"


class AliyunSmsClient:
    def __init__(self, *, endpoint: str, access_key_id: str, access_key_secret: str,
                 sign_name: str, connect_timeout: int = 5, read_timeout: int = 10,
                 threads: int = 4) -> None:
        # "http://127.0.0.1:8102" (the stand-in) or "dysmsapi.aliyuncs.com" (https).
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        self._protocol = parts.scheme
        self._domain = parts.netloc
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._sign_name = sign_name
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="aliyun-sms")

    async def send(self, phone: str, template_code: str, params: Mapping[str, Any]) -> SendResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._send_blocking, phone,
                                          template_code, dict(params))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _send_blocking(self, phone: str, template_code: str, params: dict[str, Any]) -> SendResult:
        client = AcsClient(self._access_key_id, self._access_key_secret, REGION,
                           auto_retry=False, max_retry_time=0,
                           connect_timeout=self._connect_timeout, timeout=self._read_timeout)
        request = CommonRequest()
        request.set_accept_format("json")
        request.set_domain(self._domain)
        request.set_protocol_type(self._protocol)
        request.set_method("POST")
        request.set_version(API_VERSION)
        request.set_action_name("SendSms")
        request.add_query_param("RegionId", REGION)
        request.add_query_param("PhoneNumbers", phone)
        request.add_query_param("SignName", self._sign_name)
        request.add_query_param("TemplateCode", template_code)
        request.add_query_param("TemplateParam",
                                json.dumps(params, ensure_ascii=False, separators=(",", ":")))
        try:
            raw = client.do_action_with_exception(request)
        except ServerException as error:
            # Errors answered with an HTTP error status (signature, unknown key, ...).
            outcome, alert = classify_aliyun(error.get_error_code())
            return SendResult(outcome, error.get_error_code(), error.get_error_msg(), alert=alert)
        except ClientException as error:
            # Network trouble or a timeout: nothing is known about delivery; retry.
            return SendResult(Outcome.TRANSIENT, error.get_error_code(), error.get_error_msg())
        body = json.loads(raw)
        code = str(body.get("Code", ""))
        outcome, alert = classify_aliyun(code)
        return SendResult(outcome, code, str(body.get("Message", "")),
                          provider_id=body.get("BizId"), alert=alert)
