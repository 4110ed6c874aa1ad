"""Identity and access over real HTTP, against the embedded database and the WeChat and
Aliyun stand-ins: logins, tokens, sessions, binding, family, agents, service keys, BOLA."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import re
from datetime import date, timedelta

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.openapi import path_template
from api.routes import all_routes
from auth.model import Role
from auth.service import create_console_account
from auth.tokens import ACCESS, REFRESH, TokenService
from common.settings import SigningKey, _new_p256_pem
from notifications.service import enqueue
from notifications.templates import CERT_DUE_SOON
from people.model import check_character
from people.service import parse_row
from tests.conftest import T0, run_app
from tests.test_notifications import control

_numbers = itertools.count(13600000000 + (os.getpid() % 1000) * 10000)
_ips = itertools.count(1)


def new_phone() -> str:
    return str(next(_numbers))


def new_ip() -> dict[str, str]:
    n = next(_ips)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def multipart(fields: dict[str, str], files: list[bytes]) -> tuple[bytes, str]:
    boundary = "----nm12333boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in fields.items()]
    for i, data in enumerate(files):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="frame{i:03d}"; '
                     f'filename="f{i:03d}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                     + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def add_person(deps, *, phone: str | None, name: str = "张建国", region: str = "150102",
                     seq: int | None = None, monthly_pension_fen: int | None = 300_000
                     ) -> tuple[str, str]:
    seq = seq if seq is not None else next(_numbers) % 997
    first17 = f"{region}{date(1950, 3, 4):%Y%m%d}{seq:03d}"
    id_number = first17 + check_character(first17)
    details = parse_row({"id_number": id_number, "name": name, "region_code": region,
                         "person_type": "retiree", "phone": phone or "",
                         "monthly_pension_fen": str(monthly_pension_fen or "")},
                        date(2026, 11, 22))
    await deps.people.upsert_batch([details])
    person = await deps.people.find_by_id_number(id_number)
    return person.person_id, id_number


async def wechat_code(standins, openid: str, unionid: str | None = None) -> str:
    return (await control(standins.wechat_url, "/_control/login_code",
                          {"openid": openid, "unionid": unionid}))["code"]


async def wechat_login(api, standins, openid: str | None = None) -> dict:
    code = await wechat_code(standins, openid or f"o-{next(_numbers)}")
    reply = await api.post("/v1/auth/wechat/login", json_body={"code": code}, headers=new_ip())
    assert reply.status == 200, reply.body
    return reply.json()


async def last_code(standins, phone: str, at_least: int = 1) -> str:
    """The newest code texted to ``phone``, once ``at_least`` texts have arrived (some
    codes go out in the background: real-name binding)."""
    for _ in range(100):
        messages = (await control(standins.aliyun_url,
                                  f"/_control/messages?phone={phone}"))["messages"]
        if len(messages) >= at_least:
            break
        await asyncio.sleep(0.02)
    found = re.search(r"验证码为(\d{6})", messages[-1]["text"])
    assert found is not None
    return found.group(1)


async def sms_login(api, standins, phone: str, headers: dict | None = None) -> dict:
    headers = headers or new_ip()
    asked = await api.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=headers)
    assert asked.status == 202, asked.body
    code = await last_code(standins, phone)
    reply = await api.post("/v1/auth/sms/login", headers=headers, json_body={
        "challenge_id": asked.json()["challenge_id"], "code": code, "device": {"model": "X"}})
    assert reply.status == 200, reply.body
    return reply.json()


async def authorise_family(api, parent_token: dict, child_token: dict, child_phone: str,
                           permissions: list[str], key: str) -> str:
    """A invites B by phone, B accepts, A confirms. Returns the link id."""
    invited = await api.post("/v1/family/links", headers={**parent_token, "Idempotency-Key": key},
                             json_body={"phone": child_phone, "permissions": permissions})
    assert invited.status == 201, invited.body
    link = invited.json()["link_id"]
    accepted = await api.post(f"/v1/family/links/{link}/accept",
                              headers={**child_token, "If-Match": invited.headers["ETag"]})
    confirmed = await api.post(f"/v1/family/links/{link}/confirm",
                               headers={**parent_token, "If-Match": accepted.headers["ETag"]})
    assert confirmed.json()["status"] == "confirmed"
    return link


async def verified_citizen(api, deps, standins, *, phone: str | None = None,
                           region: str = "150102") -> tuple[dict, str]:
    """A mini-program user bound by real name to a new registry person."""
    phone = phone or new_phone()
    person_id, id_number = await add_person(deps, phone=phone, region=region)
    login = await wechat_login(api, standins)
    token = login["access_token"]
    asked = await api.post("/v1/me/real-name/code", headers=bearer(token),
                           json_body={"id_number": id_number, "name": "张建国"})
    assert asked.status == 202, asked.body
    bound = await api.post("/v1/me/real-name", headers=bearer(token), json_body={
        "challenge_id": asked.json()["challenge_id"], "code": await last_code(standins, phone)})
    assert bound.status == 200, bound.body
    return login, person_id


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


# -- real-name binding --------------------------------------------------------------------


async def test_real_name_binding_match_mismatch_and_second_account(api, standins, deps, clock):
    login, person_id = await verified_citizen(api, deps, standins)
    clock.advance(minutes=1)  # the registry phone may have one code a minute
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    me = (await api.get("/v1/me", headers=bearer(login["access_token"]))).json()
    assert me["verified"] is True and me["person_id"] == person_id
    person = await deps.people.get(person_id)

    # Another account asks with the wrong name, then the right one: the same answer both
    # times (nobody learns from it whether this person uses the app)...
    other = await wechat_login(api, standins)
    token = bearer(other["access_token"])
    mismatch = await api.post("/v1/me/real-name/code", headers=token,
                              json_body={"id_number": person.id_number, "name": "李四"})
    second = await api.post("/v1/me/real-name/code", headers=token,
                            json_body={"id_number": person.id_number, "name": "张建国"})
    assert mismatch.status == second.status == 202
    assert mismatch.json().keys() == second.json().keys() == {"challenge_id", "message"}
    assert mismatch.json()["message"] == second.json()["message"]
    assert person.phone not in mismatch.body.decode() + second.body.decode()
    # ...and only the person holding the registry's phone learns more, from the code.
    wrong = await api.post("/v1/me/real-name", headers=token, json_body={
        "challenge_id": mismatch.json()["challenge_id"], "code": "000000"})
    assert wrong.error_code == "CODE_INVALID"
    bound = await api.post("/v1/me/real-name", headers=token, json_body={
        "challenge_id": second.json()["challenge_id"],
        "code": await last_code(standins, person.phone, at_least=2)})
    assert (bound.status, bound.error_code) == (409, "PERSON_ALREADY_BOUND")
    assert "12333" in bound.json()["error"]["message"]

    outcomes = [e.outcome for e in await deps.audit.find(action="real_name.request",
                                                         actor=other["account"]["account_id"])]
    assert sorted(outcomes) == ["code_sent", "mismatch"]
    assert all(person.id_number not in str(e.object)
               for e in await deps.audit.find(action="real_name.request"))


async def test_without_a_phone_on_record_the_answer_is_the_same_and_no_code_works(
        api, standins, deps):
    _, id_number = await add_person(deps, phone=None)
    login = await wechat_login(api, standins)
    reply = await api.post("/v1/me/real-name/code", headers=bearer(login["access_token"]),
                           json_body={"id_number": id_number, "name": "张建国"})
    assert reply.status == 202
    assert "网点" in reply.json()["message"]  # where to go if no code arrives
    tried = await api.post("/v1/me/real-name", headers=bearer(login["access_token"]),
                           json_body={"challenge_id": reply.json()["challenge_id"],
                                      "code": "123456"})
    assert tried.error_code == "CODE_INVALID"


async def test_real_name_binding_makes_the_app_login_reach_the_same_account(
        api, standins, deps, clock):
    phone = new_phone()
    login, _ = await verified_citizen(api, deps, standins, phone=phone)
    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    app = await sms_login(api, standins, phone)
    assert app["account"]["account_id"] == login["account"]["account_id"]


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


# -- family authorisation -----------------------------------------------------------------


async def test_family_authorisation_from_invite_to_end(api, standins, deps):
    parent, parent_person = await verified_citizen(api, deps, standins)
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    p_auth, c_auth = bearer(parent["access_token"]), bearer(child["access_token"])

    assert (await api.get(f"/v1/people/{parent_person}", headers=c_auth)).status == 404
    invited = await api.post("/v1/family/links", headers={**p_auth, "Idempotency-Key": "fam-0001"},
                             json_body={"phone": child_phone, "permissions": ["pension_cert"]})
    assert invited.status == 201, invited.body
    link_id = invited.json()["link_id"]
    wrong_side = await api.post(f"/v1/family/links/{link_id}/accept",
                                headers={**p_auth, "If-Match": invited.headers["ETag"]})
    assert (wrong_side.status, wrong_side.error_code) == (409, "FAMILY_TRANSITION_REFUSED")
    assert wrong_side.json()["error"]["current_state"] == "invited"

    accepted = await api.post(f"/v1/family/links/{link_id}/accept",
                              headers={**c_auth, "If-Match": invited.headers["ETag"]})
    assert accepted.json()["status"] == "accepted"
    assert (await api.get(f"/v1/people/{parent_person}", headers=c_auth)).status == 404
    stale = await api.post(f"/v1/family/links/{link_id}/confirm",
                           headers={**p_auth, "If-Match": invited.headers["ETag"]})
    assert stale.status == 412
    confirmed = await api.post(f"/v1/family/links/{link_id}/confirm",
                               headers={**p_auth, "If-Match": accepted.headers["ETag"]})
    assert confirmed.json()["status"] == "confirmed"

    seen = await api.get(f"/v1/people/{parent_person}", headers=c_auth)
    assert seen.status == 200
    assert seen.json()["id_number"].count("*") == 10
    [entry] = await deps.audit.find(action="person.read", object=parent_person)
    assert (entry.actor, entry.on_behalf_of) == (child["account"]["account_id"], parent_person)

    ended = await api.post(f"/v1/family/links/{link_id}/end",
                           headers={**c_auth, "If-Match": confirmed.headers["ETag"]})
    assert ended.json()["status"] == "ended"
    assert (await api.get(f"/v1/people/{parent_person}", headers=c_auth)).status == 404
    actions = {e.action for e in await deps.audit.find(object=link_id)}
    assert actions == {"family.invite", "family.accept", "family.confirm", "family.end"}


# -- agents and admins --------------------------------------------------------------------


async def console_account(deps, username, regions=("150100",)):
    account, secret = await create_console_account(
        username=username, display_name="王坐席", password="correct horse battery",
        role=Role.AGENT, regions=tuple(regions), ctx=deps.auth)
    return account, pyotp.TOTP(secret)


PASSWORD = "correct horse battery"


async def console_login(api, clock, username, totp, password=PASSWORD, headers=None):
    return await api.post("/v1/console/login", headers=headers or new_ip(), json_body={
        "username": username, "password": password, "totp": totp.at(clock.now())})


async def test_agent_login_needs_password_and_totp_and_locks_after_five_failures(
        api, deps, clock):
    account, totp = await console_account(deps, "agent-lock")
    ok = await console_login(api, clock, "agent-lock", totp)
    assert ok.status == 200 and ok.json()["account"]["role"] == "agent"
    replayed = await console_login(api, clock, "agent-lock", totp)  # the same code again
    assert replayed.error_code == "LOGIN_FAILED"
    wrong_totp = await api.post("/v1/console/login", headers=new_ip(), json_body={
        "username": "agent-lock", "password": "correct horse battery", "totp": "000000"})
    assert wrong_totp.error_code == "LOGIN_FAILED"
    for _ in range(3):
        bad = await console_login(api, clock, "agent-lock", totp, password="wrong password!")
        assert bad.status in (401, 423)
    locked = await console_login(api, clock, "agent-lock", totp)
    assert (locked.status, locked.error_code) == (423, "ACCOUNT_LOCKED")
    assert "15 分钟" in locked.json()["error"]["message"]
    clock.advance(minutes=15)
    assert (await console_login(api, clock, "agent-lock", totp)).status == 200
    outcomes = [e.outcome for e in await deps.audit.find(action="login.console",
                                                         actor=account.account_id)]
    assert {"ok", "failed", "locked"} <= set(outcomes)


async def test_console_sessions_idle_out_after_30_minutes_and_end_after_12_hours(
        api, deps, clock):
    _, totp = await console_account(deps, "agent-idle")
    token = (await console_login(api, clock, "agent-idle", totp)).json()["access_token"]
    clock.advance(minutes=31)
    assert (await api.get("/v1/me", headers=bearer(token))).status == 401

    login = (await console_login(api, clock, "agent-idle", totp)).json()
    refresh = login["refresh_token"]
    for _ in range(36):  # active all day: a request every 20 minutes
        clock.advance(minutes=20)
        reply = await api.post("/v1/auth/refresh", json_body={"refresh_token": refresh})
        if reply.status != 200:
            break
        refresh = reply.json()["refresh_token"]
        assert (await api.get("/v1/me", headers=bearer(reply.json()["access_token"]))).status == 200
    assert reply.status == 401
    assert clock.now() - T0 >= timedelta(hours=12)


async def test_agents_see_people_of_their_region_only_and_every_look_up_is_audited(
        api, deps, clock):
    account, totp = await console_account(deps, "agent-region", regions=("150100",))
    token = (await console_login(api, clock, "agent-region", totp)).json()["access_token"]
    inside, _ = await add_person(deps, phone=new_phone(), region="150102")
    outside, _ = await add_person(deps, phone=new_phone(), region="150202")
    seen = await api.get(f"/v1/people/{inside}", headers=bearer(token))
    assert seen.status == 200
    assert seen.json()["name"] == "张**"
    assert "*" in seen.json()["phone"]
    assert (await api.get(f"/v1/people/{outside}", headers=bearer(token))).status == 404
    [entry] = await deps.audit.find(action="person.read", actor=account.account_id)
    assert entry.object == inside


async def test_create_agent_from_the_command_line_prints_the_totp_secret_once(
        devdb, db_name, standins, deps, api, clock):
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name,
           "AGENT_PASSWORD": "a long enough password"}
    made = await run_app("create-agent", "--username", "cli-agent", "--name", "李坐席",
                         "--regions", "150100,152500", env=env)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[2].strip()
    reply = await api.post("/v1/console/login", headers=new_ip(), json_body={
        "username": "cli-agent", "password": "a long enough password",
        "totp": pyotp.TOTP(secret).at(clock.now())})
    assert reply.status == 200
    account = await deps.auth.repo.account_by_username("cli-agent")
    assert account.password_hash.startswith("$argon2")
    refused = await run_app("create-agent", "--username", "x", "--name", "x",
                            "--regions", "110101", env=env)
    assert refused.returncode != 0
    assert "not a division of Inner Mongolia" in refused.stderr


# -- service keys ---------------------------------------------------------------------------


async def test_service_keys_scopes_revocation_and_audit(devdb, db_name, api, deps):
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    _, id_number = await add_person(deps, phone=None)
    good = (await run_app("create-service-key", "--name", "市第一医院", "--scope",
                          "people.verify", env=env)).stdout.splitlines()[-1]
    other = (await run_app("create-service-key", "--name", "网点", "--scope", "card.verify",
                           env=env)).stdout.splitlines()[-1]
    body = {"id_number": id_number, "name": "张建国"}
    ok = await api.post("/v1/service/people/verify", json_body=body,
                        headers={"X-Service-Key": good})
    assert ok.status == 200 and ok.json()["insured"] is True
    scope = await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": other})
    assert (scope.status, scope.error_code) == (403, "FORBIDDEN")
    assert (await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": good[:-2] + "xx"})).status == 401

    key_id = good.split("_")[1]
    stored = await deps.auth.repo.service_key(key_id)
    assert good.split("_", 2)[2] not in stored.secret_hash  # only a hash is kept
    revoked = await run_app("revoke-service-key", key_id, env=env)
    assert "revoked" in revoked.stdout
    assert (await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": good})).status == 401
    outcomes = [e.outcome for e in await deps.audit.find(action="service_key.use",
                                                         actor=f"service:{key_id}")]
    assert sorted(outcomes) == ["ok", "rejected", "revoked"]  # the forged secret too


# -- inbox and BOLA -----------------------------------------------------------------------


async def test_the_inbox_is_readable_only_by_its_owner(api, standins, deps):
    owner, person_id = await verified_citizen(api, deps, standins)
    stranger, _ = await verified_citizen(api, deps, standins)
    message = await enqueue(kind=CERT_DUE_SOON, dedupe_key=f"inbox:{person_id}",
                            params={"name": "张建国", "due_date": "2026-12-31"},
                            outbox=deps.outbox, clock=deps.clock,
                            policy=deps.notification_policy, person_id=person_id,
                            phone=new_phone())
    inbox = (await api.get("/v1/me/inbox", headers=bearer(owner["access_token"]))).json()
    assert [m["message_id"] for m in inbox["messages"]] == [message.message_id]
    assert inbox["messages"][0]["read"] is False
    assert (await api.get("/v1/me/inbox", headers=bearer(stranger["access_token"]))).json() == {
        "messages": []}
    theirs = await api.post(f"/v1/me/inbox/{message.message_id}/read",
                            headers=bearer(stranger["access_token"]))
    assert theirs.status == 404
    mine = await api.post(f"/v1/me/inbox/{message.message_id}/read",
                          headers=bearer(owner["access_token"]))
    assert mine.status == 204
    inbox = (await api.get("/v1/me/inbox", headers=bearer(owner["access_token"]))).json()
    assert inbox["messages"][0]["read"] is True


async def test_bola_matrix_another_citizens_ids_answer_404_on_every_route(
        api, standins, deps):
    a, _ = await verified_citizen(api, deps, standins)
    b, b_person = await verified_citizen(api, deps, standins)
    c = await sms_login(api, standins, new_phone())
    b_auth = bearer(b["access_token"])
    b_message = await enqueue(kind=CERT_DUE_SOON, dedupe_key=f"bola:{b_person}",
                              params={"name": "张建国", "due_date": "2026-12-31"},
                              outbox=deps.outbox, clock=deps.clock,
                              policy=deps.notification_policy, person_id=b_person,
                              phone=new_phone())
    c_phone = (await deps.auth.repo.account(c["account"]["account_id"])).phone
    invited = await api.post("/v1/family/links", headers={**b_auth, "Idempotency-Key": "bola-link-01"},
                             json_body={"phone": c_phone, "permissions": ["card"]})
    assert invited.status == 201, invited.body
    link_id = invited.json()["link_id"]  # between B and C: nothing to do with A

    a_auth = bearer(a["access_token"])
    b_challenge = "CH" + "b" * 20  # a challenge B started (stored as start_challenge would)
    await deps.cert.repo.save_challenge({
        "_id": b_challenge, "person_id": b_person, "account_id": b["account"]["account_id"],
        "session_id": b["session_id"], "on_behalf": None, "nonce_hash": "x",
        "actions": ["blink", "open_mouth"], "created_at": deps.clock.now(),
        "expires_at": deps.clock.now() + timedelta(minutes=2)})
    frames = multipart({"nonce": "anything"}, [JPEG])
    b_filing = await api.post("/v1/medical/filings", json_body={
        "person_id": b_person, "category": "temporary_trip", "start_date": "2026-11-25",
        "destination": {"province_code": "440000", "city_code": "440100"},
        "commitment": {"accepted": True, "version": "2026-01"}},
        headers={**b_auth, "Idempotency-Key": "bola-filing-01"})
    filing_id = b_filing.json()["filing_id"]
    from tests.test_card import make_card
    b_card = (await make_card(deps, b_person)).card_id
    matrix = {
        "/v1/people/{person_id}": ("GET", f"/v1/people/{b_person}", None),
        "/v1/me/sessions/{session_id}": ("DELETE", f"/v1/me/sessions/{b['session_id']}", None),
        "/v1/me/inbox/{message_id}/read": ("POST", f"/v1/me/inbox/{b_message.message_id}/read",
                                           None),
        "/v1/family/links/{link_id}/{event}": ("POST", f"/v1/family/links/{link_id}/end", None),
        "/v1/pension/people/{person_id}/consent": ("GET", f"/v1/pension/people/{b_person}/consent",
                                                   None),
        "/v1/pension/people/{person_id}/status": ("GET", f"/v1/pension/people/{b_person}/status",
                                                  None),
        "/v1/pension/people/{person_id}/reference-photo": (
            "POST", f"/v1/pension/people/{b_person}/reference-photo", None),
        "/v1/pension/people/{person_id}/agent-certifications": (
            "POST", f"/v1/pension/people/{b_person}/agent-certifications", None),
        "/v1/pension/challenges/{challenge_id}/frames": (
            "POST", f"/v1/pension/challenges/{b_challenge}/frames", frames),
        "/v1/pension/review-cases/{case_id}/decision": (
            "POST", "/v1/pension/review-cases/RCanything/decision", None),
        "/v1/medical/filings/{filing_id}": ("GET", f"/v1/medical/filings/{filing_id}", None),
        "/v1/medical/filings/{filing_id}/{event}": (
            "POST", f"/v1/medical/filings/{filing_id}/cancel", None),
        "/v1/medical/filings/{filing_id}/certificate": (
            "GET", f"/v1/medical/filings/{filing_id}/certificate", None),
        "/v1/cards/{card_id}": ("GET", f"/v1/cards/{b_card}", None),
        "/v1/cards/{card_id}/ecode": ("POST", f"/v1/cards/{b_card}/ecode", None),
        "/v1/cards/{card_id}/ecode/sms": ("POST", f"/v1/cards/{b_card}/ecode/sms", None),
        "/v1/cards/{card_id}/{event}": ("POST", f"/v1/cards/{b_card}/temp_loss", None),
    }
    # Routes for agents only answer 403 to any citizen, whatever the id: nothing about
    # the record leaks. Every other route answers 404 for someone else's record.
    agent_only = {"/v1/pension/review-cases/{case_id}/decision"}
    routes_with_ids = {path_template(r[0])[0] for r in all_routes()
                       if "(?P<" in r[0] and getattr(r[1], "kind", None) == "person"}
    assert routes_with_ids == set(matrix), "a new route takes an id: add it to the matrix"
    for template, (method, path, form) in matrix.items():
        headers = {**a_auth, "If-Match": '"v1"'}
        body = None if method in ("GET", "DELETE") else b"{}"
        if form is not None:
            body, content_type = form
            headers["Content-Type"] = content_type
        reply = await api.request(method, path, headers=headers, body=body)
        expected = 403 if template in agent_only else 404
        assert reply.status == expected, (template, reply.status, reply.body)
    # ...and nothing happened to B's things.
    assert (await api.get("/v1/me", headers=b_auth)).status == 200
    assert (await deps.outbox.get(b_message.message_id)).read_at is None
