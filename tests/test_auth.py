"""Logging in over real HTTP, against the embedded database and the WeChat and Aliyun
stand-ins: the mini-program and app logins, SMS codes and their limits, tokens and
sessions. Real names and family: test_real_name_and_family; agents and service keys:
test_console_access."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth.tokens import ACCESS, REFRESH, TokenService
from common.settings import SigningKey, _new_p256_pem
from tests.journeys import (
    add_person,
    bearer,
    control,
    last_code,
    new_ip,
    new_phone,
    sms_login,
    wechat_code,
    wechat_login,
)

pytestmark = pytest.mark.usefixtures("reset_standins")


# -- mini-program login -------------------------------------------------------------------


async def test_wechat_login_creates_an_account_and_never_returns_the_session_key(
        api, standins, deps):
    code = await wechat_code(standins, "o-happy-1", unionid="u-happy-1")
    reply = await api.post("/v1/auth/wechat/login", json_body={"code": code}, headers=new_ip())
    assert reply.status == 200
    body = reply.json()
    assert body["new_account"] is True
    assert body["account"]["role"] == "citizen" and body["account"]["verified"] is False
    assert "session_key" not in reply.body.decode()
    me = await api.get("/v1/me", headers=bearer(body["access_token"]))
    assert me.json()["account_id"] == body["account"]["account_id"]
    again = await wechat_login(api, standins, "o-happy-1")  # a later login: same account
    assert again["account"]["account_id"] == body["account"]["account_id"]
    assert again["new_account"] is False
    audit = await deps.audit.find(action="login.wechat", actor=body["account"]["account_id"])
    assert {e.outcome for e in audit} == {"ok"}


async def test_a_reused_or_expired_wechat_code_is_refused_clearly(api, standins):
    code = await wechat_code(standins, "o-reuse-1")
    assert (await api.post("/v1/auth/wechat/login", json_body={"code": code},
                           headers=new_ip())).status == 200
    reused = await api.post("/v1/auth/wechat/login", json_body={"code": code}, headers=new_ip())
    assert reused.status == 400
    assert reused.error_code == "WECHAT_CODE_INVALID"
    assert "重新进入" in reused.json()["error"]["message"]

    stale = await wechat_code(standins, "o-stale-1")
    await control(standins.wechat_url, "/_control/advance", {"seconds": 301})
    expired = await api.post("/v1/auth/wechat/login", json_body={"code": stale}, headers=new_ip())
    assert expired.error_code == "WECHAT_CODE_INVALID"


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (45011, 429, "WECHAT_BUSY"), (40226, 403, "WECHAT_USER_BLOCKED"),
    (-1, 503, "WECHAT_UNAVAILABLE")])
async def test_wechat_errors_map_to_clear_answers(api, standins, errcode, status, code):
    await control(standins.wechat_url, "/_control/plan",
                  {"api": "jscode2session", "errcode": errcode})
    login_code = await wechat_code(standins, "o-err-1")
    reply = await api.post("/v1/auth/wechat/login", json_body={"code": login_code},
                           headers=new_ip())
    assert (reply.status, reply.error_code) == (status, code)
    if status == 429:
        assert reply.headers["Retry-After"]


async def test_phone_binding_links_the_mini_program_and_app_logins(api, standins, deps):
    phone = new_phone()
    app_first = await sms_login(api, standins, phone)  # the app knew this phone first
    mini = await wechat_login(api, standins)
    phone_code = (await control(standins.wechat_url, "/_control/phone_code",
                                {"phone": phone}))["code"]
    bound = await api.post("/v1/auth/wechat/phone", json_body={"code": phone_code},
                           headers={**bearer(mini["access_token"]), **new_ip()})
    assert bound.status == 200, bound.body
    assert bound.json()["account"]["account_id"] == app_first["account"]["account_id"]
    assert bound.json()["account"]["wechat_linked"] is True
    assert bound.json()["account"]["phone"] == phone[:3] + "****" + phone[-4:]
    # The mini-program's old session ended with the merge; its new tokens work.
    assert (await api.get("/v1/me", headers=bearer(mini["access_token"]))).status == 401
    assert (await api.get("/v1/me", headers=bearer(bound.json()["access_token"]))).status == 200
    app_again = await sms_login(api, standins, new_phone())  # someone else: another account
    assert app_again["account"]["account_id"] != app_first["account"]["account_id"]


# -- app login by SMS code ------------------------------------------------------------------


async def test_sms_login_happy_path_makes_one_account_per_phone(api, standins, clock):
    phone = new_phone()
    first = await sms_login(api, standins, phone)
    assert first["new_account"] is True
    clock.advance(minutes=2)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 120})
    second = await sms_login(api, standins, phone)
    assert second["account"]["account_id"] == first["account"]["account_id"]


async def ask_code(api, phone, headers=None):
    reply = await api.post("/v1/auth/sms/code", json_body={"phone": phone},
                           headers=headers or new_ip())
    assert reply.status == 202, reply.body
    return reply.json()["challenge_id"]


async def try_code(api, challenge_id, code, headers=None):
    return await api.post("/v1/auth/sms/login", json_body={"challenge_id": challenge_id,
                                                           "code": code},
                          headers=headers or new_ip())


async def test_five_wrong_codes_kill_the_code(api, standins):
    phone = new_phone()
    challenge = await ask_code(api, phone)
    right = await last_code(standins, phone)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for tries_left in (4, 3, 2, 1, 0):
        reply = await try_code(api, challenge, wrong)
        assert reply.error_code == "CODE_INVALID"
        assert reply.json()["error"]["tries_left"] == tries_left
    dead = await try_code(api, challenge, right)
    assert dead.error_code == "CODE_EXHAUSTED"
    assert "重新获取" in dead.json()["error"]["message"]


async def test_an_expired_or_used_code_is_refused(api, standins, clock, deps):
    phone = new_phone()
    challenge = await ask_code(api, phone)
    code = await last_code(standins, phone)
    assert (await try_code(api, challenge, code)).status == 200
    assert (await try_code(api, challenge, code)).error_code == "CODE_INVALID"

    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    late = await ask_code(api, phone)
    late_code = await last_code(standins, phone)
    clock.advance(minutes=5)
    assert (await try_code(api, late, late_code)).error_code == "CODE_EXPIRED"
    failures = await deps.audit.find(action="login.sms", object=late)
    assert failures[0].outcome == "CODE_EXPIRED"


async def test_code_requests_are_limited_per_phone_and_per_address(api, standins):
    phone = new_phone()
    await ask_code(api, phone)
    again = await api.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=new_ip())
    assert again.status == 429
    assert again.error_code == "SMS_RATE_LIMITED"
    assert int(again.headers["Retry-After"]) <= 60

    one_address = new_ip()
    statuses = [(await api.post("/v1/auth/sms/code", json_body={"phone": new_phone()},
                                headers=one_address)).status for _ in range(21)]
    assert statuses[:20] == [202] * 20
    assert statuses[20] == 429


async def test_requesting_a_code_answers_the_same_for_known_and_unknown_phones(
        api, standins, deps, clock):
    with_account = new_phone()
    await sms_login(api, standins, with_account)
    in_registry = new_phone()
    await add_person(deps, phone=in_registry)
    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    replies = [await api.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=new_ip())
               for phone in (with_account, in_registry, new_phone())]
    shapes = {(r.status, tuple(sorted(r.json()))) for r in replies}
    assert shapes == {(202, ("challenge_id", "expires_in"))}
    assert {r.json()["expires_in"] for r in replies} == {300}


# -- tokens and sessions ------------------------------------------------------------------


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(api, standins, deps):
    login = await sms_login(api, standins, new_phone())
    rotated = await api.post("/v1/auth/refresh", json_body={"refresh_token": login["refresh_token"]})
    assert rotated.status == 200
    fresh = rotated.json()
    assert fresh["refresh_token"] != login["refresh_token"]
    assert (await api.get("/v1/me", headers=bearer(fresh["access_token"]))).status == 200

    replay = await api.post("/v1/auth/refresh", json_body={"refresh_token": login["refresh_token"]})
    assert replay.status == 401
    # The whole family is gone: the rotated tokens stop working too.
    assert (await api.get("/v1/me", headers=bearer(fresh["access_token"]))).status == 401
    assert (await api.post("/v1/auth/refresh",
                           json_body={"refresh_token": fresh["refresh_token"]})).status == 401
    assert await deps.audit.find(action="token.refresh_reuse")


async def test_logout_and_ending_another_session_take_effect_at_once(api, standins, clock):
    phone = new_phone()
    phone_login = await sms_login(api, standins, phone)
    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    tablet = await sms_login(api, standins, phone)

    sessions = (await api.get("/v1/me/sessions", headers=bearer(phone_login["access_token"])))
    listed = {s["session_id"]: s for s in sessions.json()["sessions"]}
    assert set(listed) == {phone_login["session_id"], tablet["session_id"]}
    assert listed[phone_login["session_id"]]["current"] is True
    assert listed[tablet["session_id"]]["device"]["model"] == "X"

    ended = await api.request("DELETE", f"/v1/me/sessions/{tablet['session_id']}",
                              headers=bearer(phone_login["access_token"]))
    assert ended.status == 204
    assert (await api.get("/v1/me", headers=bearer(tablet["access_token"]))).status == 401

    out = await api.post("/v1/auth/logout", headers=bearer(phone_login["access_token"]))
    assert out.status == 204
    assert (await api.get("/v1/me", headers=bearer(phone_login["access_token"]))).status == 401
    assert (await api.post("/v1/auth/refresh", json_body={
        "refresh_token": phone_login["refresh_token"]})).status == 401


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    """The classic key-confusion forgery: HMAC keyed with the server's public key."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def test_every_forged_or_misused_token_gets_401(api, standins, deps, clock, settings):
    login = await sms_login(api, standins, new_phone())
    good = jwt.decode(login["access_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(login["access_token"])
    public_pem = deps.auth.tokens._public[header["kid"]].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{_b64(good)}.",
        "HS256 with the public key": _hs256({"alg": "HS256", "typ": "JWT",
                                              "kid": header["kid"]}, good, public_pem),
        "another key, same kid": jwt.encode(good, stranger, algorithm="ES256",
                                            headers={"kid": header["kid"]}),
        "ES384": jwt.encode(good, ec.generate_private_key(ec.SECP384R1()), algorithm="ES384",
                            headers={"kid": header["kid"]}),
        "wrong audience": deps.auth.tokens.issue(
            subject=good["sub"], session_id=good["sid"], audience="partner", role="citizen",
            token_type=ACCESS)[0],
        "refresh used as access": login["refresh_token"],
        "missing jti": jwt.encode({k: v for k, v in good.items() if k != "jti"},
                                  stranger, algorithm="ES256", headers={"kid": header["kid"]}),
        "tampered role": login["access_token"].split(".")[0] + "." + _b64(
            {**good, "role": "admin"}) + "." + login["access_token"].split(".")[2],
    }
    for name, token in forged.items():
        reply = await api.get("/v1/me", headers=bearer(token))
        assert reply.status == 401, name
        assert reply.error_code == "UNAUTHENTICATED"
    assert (await api.get("/v1/me", headers=bearer(login["access_token"]))).status == 200
    clock.advance(minutes=15)
    assert (await api.get("/v1/me", headers=bearer(login["access_token"]))).status == 401
    assert (await api.get("/v1/me")).status == 401


def test_a_rotated_key_still_verifies_tokens_it_signed(clock):
    old = SigningKey("2026-05", _new_p256_pem())
    new = SigningKey("2026-11", _new_p256_pem())
    before = TokenService((old,), "iss", clock)
    after = TokenService((new, old), "iss", clock)
    token, _ = before.issue(subject="A1", session_id="S1", audience="app", role="citizen",
                            token_type=REFRESH)
    assert after.verify(token, token_type=REFRESH, audiences=("app",)).subject == "A1"
    issued, _ = after.issue(subject="A1", session_id="S1", audience="app", role="citizen",
                            token_type=ACCESS)
    assert jwt.get_unverified_header(issued)["kid"] == "2026-11"


async def test_request_fields_that_set_a_role_region_or_status_are_refused(api, standins):
    for field_name, value in (("role", "admin"), ("region_code", "150100"), ("status", "x")):
        reply = await api.post("/v1/auth/sms/code", headers=new_ip(),
                               json_body={"phone": new_phone(), field_name: value})
        assert (reply.status, reply.error_code) == (400, "FIELD_NOT_ALLOWED")
        assert reply.json()["error"]["field"] == field_name
