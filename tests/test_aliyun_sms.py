"""The Aliyun SMS client against the stand-in: the SDK's signed request passes the
stand-in's signature check, a wrong secret is a configuration error, tampered, replayed
and unknown-key requests are refused, SendSms parameters are checked, the blocking SDK
never blocks the event loop, and a provider timeout is transient."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aliyunsdkcore.auth.composer.rpc_signature_composer import get_signed_url
from tornado.httpclient import AsyncHTTPClient

from notifications.aliyun_sms import AliyunSmsClient
from notifications.model import Outcome
from tests.journeys import control, new_phone, sms_to

pytestmark = pytest.mark.usefixtures("reset_standins")


async def test_the_sdk_request_passes_the_stand_ins_signature_check(deps, standins):
    phone = new_phone()
    result = await deps.gateways.sms.send(phone, "SMS_480010002",
                                          {"name": "其木格", "due_date": "2026-12-01"})
    assert result.outcome is Outcome.DELIVERED
    assert result.code == "OK"
    assert result.provider_id and result.provider_id.endswith("^0")
    [received] = await sms_to(standins, phone)
    assert received["text"].startswith("【内蒙古人社】其木格您好")
    assert "2026-12-01" in received["text"]


async def test_a_wrong_secret_is_refused_as_a_configuration_error(settings, standins):
    client = AliyunSmsClient(endpoint=standins.aliyun_url, access_key_id="LTAIdevonly",
                             access_key_secret="not-the-secret", sign_name="内蒙古人社")
    try:
        result = await client.send(new_phone(), "SMS_480010001", {"code": "123456"})
    finally:
        client.close()
    assert result.code == "SignatureDoesNotMatch"
    assert result.outcome is Outcome.CONFIG_ERROR
    assert result.alert


DEV_SECRET = "dev-only-aliyun-secret"


def _signed(params: dict, secret: str = DEV_SECRET, key_id: str = "LTAIdevonly") -> str:
    base = {"Action": "SendSms", "Version": "2017-05-25", "RegionId": "cn-hangzhou", **params}
    url, _ = get_signed_url(base, key_id, secret, "JSON", "POST", {})
    return url


async def _raw_post(standins, url: str) -> tuple[int, dict]:
    response = await AsyncHTTPClient().fetch(standins.aliyun_url + url, method="POST", body=b"",
                                             raise_error=False)
    return response.code, json.loads(response.body)


async def test_the_stand_in_rejects_tampered_replayed_and_unknown_key_requests(standins):
    phone = new_phone()
    params = {"PhoneNumbers": phone, "SignName": "内蒙古人社", "TemplateCode": "SMS_480010001",
              "TemplateParam": json.dumps({"code": "654321"})}
    good = _signed(params)
    tampered = good.replace(phone, new_phone())
    status, body = await _raw_post(standins, tampered)
    assert status == 400
    assert body["Code"] == "SignatureDoesNotMatch"
    assert "server string to sign is:" in body["Message"]

    status, body = await _raw_post(standins, good)
    assert (status, body["Code"]) == (200, "OK")
    status, body = await _raw_post(standins, good)  # the same nonce again
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")

    status, body = await _raw_post(standins, _signed(params, key_id="LTAIunknown"))
    assert (status, body["Code"]) == (404, "InvalidAccessKeyId.NotFound")
    assert len(await sms_to(standins, phone)) == 1


async def test_the_stand_in_checks_sendsms_parameters(standins):
    cases = {
        "isv.MOBILE_NUMBER_ILLEGAL": {"PhoneNumbers": "12345"},
        "isv.SMS_TEMPLATE_ILLEGAL": {"TemplateCode": "SMS_000"},
        "isv.SMS_SIGNATURE_ILLEGAL": {"SignName": "别人的签名"},
        "isv.TEMPLATE_MISSING_PARAMETERS": {"TemplateParam": "{}"},
    }
    for code, change in cases.items():
        params = {"PhoneNumbers": new_phone(), "SignName": "内蒙古人社",
                  "TemplateCode": "SMS_480010001", "TemplateParam": '{"code":"1"}', **change}
        status, body = await _raw_post(standins, _signed(params))
        assert (status, body["Code"]) == (200, code)


async def test_the_blocking_sdk_never_blocks_the_event_loop(deps, standins):
    await control(standins.aliyun_url, "/_control/plan", {"delay_ms": 1200})
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        for _ in range(60):
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    send = deps.gateways.sms.send(new_phone(), "SMS_480010001", {"code": "111111"})
    result, _ = await asyncio.gather(send, ticker())
    assert result.outcome is Outcome.DELIVERED
    assert max(gaps) < 0.5  # a send on the loop would have frozen it for 1.2 s


async def test_a_provider_timeout_is_transient(standins):
    client = AliyunSmsClient(endpoint=standins.aliyun_url, access_key_id="LTAIdevonly",
                             access_key_secret="dev-only-aliyun-secret", sign_name="内蒙古人社",
                             read_timeout=1)
    await control(standins.aliyun_url, "/_control/plan", {"delay_ms": 1500})
    try:
        result = await client.send(new_phone(), "SMS_480010001", {"code": "222222"})
    finally:
        client.close()
    assert result.outcome is Outcome.TRANSIENT
