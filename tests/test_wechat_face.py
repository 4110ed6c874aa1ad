"""WeChat's own face verification (人脸核身 2.0) as the mini-program's provider, over real
HTTP against the WeChat stand-in: getverifyid to start, the person's verdict told to the
stand-in as wx.requestFacialVerify would produce it, queryverifyinfo to read it."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from people.service import parse_row
from tests.conftest import serve
from tests.journeys import bearer, control, verified_citizen

pytestmark = pytest.mark.usefixtures("reset_standins")
PASSED, MISMATCH, NOT_FINISHED, USER_TIMEOUT = 10000, 10004, 10300, 90017


async def mini_program_retiree(api, deps, standins, *, consent: bool = True):
    login, person_id = await verified_citizen(api, deps, standins)  # a WeChat login
    token = bearer(login["access_token"])
    if consent:
        given = await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                               json_body={"decision": "give"})
        assert given.status == 200, given.body
    return person_id, token


async def test_no_wechat_face_check_without_consent(api, deps, standins):
    person_id, token = await mini_program_retiree(api, deps, standins, consent=False)
    refused = await start(api, token, person_id, "wx-face-no-consent")
    assert (refused.status, refused.error_code) == (409, "FACE_CONSENT_REQUIRED")
    said_no = await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                             json_body={"decision": "refuse"})
    assert said_no.status == 200
    refused = await start(api, token, person_id, "wx-face-refused")
    assert refused.status == 409


async def start(api, token, person_id, key):
    return await api.post("/v1/pension/wechat-face", json_body={"person_id": person_id},
                          headers={**token, "Idempotency-Key": key})


async def on_the_phone(standins, verify_id: str, verify_ret: int) -> None:
    """What wx.requestFacialVerify leaves behind at WeChat: its verdict."""
    await control(standins.wechat_url, "/_control/face_verify",
                  {"verify_id": verify_id, "verify_ret": verify_ret})


async def result(api, token, check_id):
    return await api.post(f"/v1/pension/wechat-face/{check_id}/result", headers=token)


async def test_a_pass_from_wechat_certifies_through_the_cycle_with_its_channel(
        api, deps, standins):
    person_id, token = await mini_program_retiree(api, deps, standins)
    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["face_provider"] == "wechat_face"
    started = await start(api, token, person_id, "wx-face-pass-1")
    assert started.status == 201, started.body
    body = started.json()
    assert body["verify_id"] and body["expires_in"] == 3600  # WeChat's verify_id lives an hour
    retried = await start(api, token, person_id, "wx-face-pass-1")
    assert retried.json() == body  # one verification per Idempotency-Key

    early = await result(api, token, body["check_id"])
    assert (early.status, early.error_code) == (409, "WECHAT_FACE_NOT_FINISHED")
    await on_the_phone(standins, body["verify_id"], PASSED)
    done = await result(api, token, body["check_id"])
    assert done.status == 200, done.body
    assert done.json()["result"] == "pass"
    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["status"] == "certified"
    assert status["history"][-1]["channel"] == "wechat_face"
    again = await result(api, token, body["check_id"])
    assert again.error_code == "NONCE_USED"  # one verdict certifies once


async def test_wechat_says_who_failed_and_the_page_cannot_claim_a_pass(api, deps, standins):
    person_id, token = await mini_program_retiree(api, deps, standins)
    body = (await start(api, token, person_id, "wx-face-fail-1")).json()
    await on_the_phone(standins, body["verify_id"], MISMATCH)
    failed = (await result(api, token, body["check_id"])).json()
    assert (failed["result"], failed["reason"]["code"]) == ("fail", "FACE_FACE_MISMATCH")
    assert failed["attempts_left"] == 4  # starting it counted once

    body = (await start(api, token, person_id, "wx-face-fail-2")).json()
    await on_the_phone(standins, body["verify_id"], USER_TIMEOUT)
    timed_out = (await result(api, token, body["check_id"])).json()
    assert timed_out["reason"]["code"] == "FACE_WECHAT_TIMED_OUT"
    assert "重新开始" in timed_out["reason"]["message"]
    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["status"] != "certified"


async def test_the_provider_follows_the_channel(api, deps, standins):
    person_id, token = await mini_program_retiree(api, deps, standins)
    own = await api.post("/v1/pension/challenges", json_body={"person_id": person_id},
                         headers={**token, "Idempotency-Key": "wx-provider-own"})
    assert (own.status, own.error_code) == (409, "FACE_WRONG_PROVIDER")
    login, app_person = await verified_citizen(api, deps, standins, app=True)
    app_token = bearer(login["access_token"])
    status = (await api.get(f"/v1/pension/people/{app_person}/status",
                            headers=app_token)).json()
    assert status["face_provider"] == "own"
    wechat = await start(api, app_token, app_person, "wx-provider-app")
    assert (wechat.status, wechat.error_code) == (409, "FACE_WRONG_PROVIDER")


async def test_another_persons_check_is_not_found_and_a_bad_identity_hash_is_refused(
        api, deps, standins):
    person_id, token = await mini_program_retiree(api, deps, standins)
    body = (await start(api, token, person_id, "wx-face-mine-1")).json()
    _, other_token = await mini_program_retiree(api, deps, standins)
    assert (await result(api, other_token, body["check_id"])).status == 404
    # The stand-in checks what the server sends: the same openid, out_seq_no and the hash
    # of the identity it started with. Changing the registry name breaks the hash.
    person = await deps.people.get(person_id)
    renamed = parse_row({"id_number": person.id_number, "name": "张建民",
                         "region_code": person.region_code, "person_type": "retiree",
                         "phone": person.phone or "", "monthly_pension_fen": "300000"},
                        date(2026, 11, 22))
    await deps.people.upsert_batch([renamed])
    await on_the_phone(standins, body["verify_id"], PASSED)
    refused = await result(api, token, body["check_id"])
    assert (refused.status, refused.error_code) == (503, "WECHAT_FACE_UNAVAILABLE")


async def test_a_wechat_that_does_not_answer_in_time_is_a_503_to_try_again(
        deps, standins, settings, clock, face_pool, api):
    person_id, token = await mini_program_retiree(api, deps, standins)
    body = (await start(api, token, person_id, "wx-face-slow-1")).json()
    await on_the_phone(standins, body["verify_id"], PASSED)
    impatient = dataclasses.replace(settings, wechat_timeout_seconds=1)
    from app import build_deps
    quick = build_deps(impatient, clock=clock, face_pool=face_pool)
    server, client = await serve(impatient, quick)
    try:
        await control(standins.wechat_url, "/_control/plan",
                      {"api": "queryverifyinfo", "delay_ms": 1500})
        slow = await result(client, token, body["check_id"])
        assert (slow.status, slow.error_code) == (503, "WECHAT_FACE_UNAVAILABLE")
        assert slow.headers["Retry-After"]
        answered = await result(client, token, body["check_id"])  # nothing was decided
        assert answered.json()["result"] == "pass"
    finally:
        server.stop()
        client.close()
        quick.gateways.sms.close()
        await quick.client.close()
