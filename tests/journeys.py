"""What a client does, shared by the journeys: log in (mini-program, app, console), bind
a real name, authorise family, ask the stand-ins what they received, and make the
records a journey starts from (a registry person, a card, a filing body, a photo)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
import os
import re
import secrets
import time
from datetime import date
from pathlib import Path

import pyotp
from PIL import Image
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from auth.model import Role
from auth.service import create_console_account
from medical_insurance.model import RULES, Category
from pension_cert import service as cert
from people.model import check_character
from people.service import parse_row
from social_card.model import Card, CardStatus

# The smallest JPEG a decoder accepts (no face in it): a body of the right type.
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PASSWORD = "correct horse battery"  # the console accounts' password in the journeys
GUANGZHOU = {"province_code": "440000", "city_code": "440100"}
COMMITMENT = {"accepted": True, "version": "2026-01"}

# Each test process draws its own phone numbers, so parallel runs never share one.
_numbers = itertools.count(13600000000 + (os.getpid() % 1000) * 10000)
_ips = itertools.count(1)
_keys = itertools.count(1)


def new_phone() -> str:
    return str(next(_numbers))


def new_ip() -> dict[str, str]:
    """A fresh client address (behind the trusted proxy), so per-address limits of one
    journey never spill into the next."""
    n = next(_ips)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


# -- the stand-ins' control routes --------------------------------------------------------


async def control(base: str, path: str, body: dict | None = None) -> dict:
    client = AsyncHTTPClient()
    request = HTTPRequest(base + path, method="POST" if body is not None else "GET",
                          body=json.dumps(body) if body is not None else None)
    return json.loads((await client.fetch(request)).body)


async def sms_to(standins, phone: str) -> list[dict]:
    return (await control(standins.aliyun_url, f"/_control/messages?phone={phone}"))["messages"]


async def last_code(standins, phone: str, at_least: int = 1) -> str:
    """The newest code texted to ``phone``, once ``at_least`` texts have arrived (some
    codes go out in the background: real-name binding)."""
    deadline = time.monotonic() + 15  # a loaded 2-core machine, or another process
    messages = await sms_to(standins, phone)
    while len(messages) < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        messages = await sms_to(standins, phone)
    assert len(messages) >= at_least, f"no code reached {phone} within 15 s"
    found = re.search(r"验证码为(\d{6})", messages[-1]["text"])
    assert found is not None
    return found.group(1)


async def poll(url: str, until: str, attempts: int = 120) -> str:
    """Wait for another process to serve ``until`` at ``url`` (not for app time)."""
    client = AsyncHTTPClient()
    text = ""
    for _ in range(attempts):
        try:
            response = await client.fetch(url, raise_error=False)
            text = response.body.decode() if response.body else ""
            if response.code == 200 and until in text:
                return text
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError(f"{url} never showed {until!r}; last: {text[:300]}")


# -- logging in ----------------------------------------------------------------------------


async def wechat_code(standins, openid: str, unionid: str | None = None) -> str:
    return (await control(standins.wechat_url, "/_control/login_code",
                          {"openid": openid, "unionid": unionid}))["code"]


async def wechat_login(api, standins, openid: str | None = None) -> dict:
    code = await wechat_code(standins, openid or f"o-{next(_numbers)}")
    reply = await api.post("/v1/auth/wechat/login", json_body={"code": code}, headers=new_ip())
    assert reply.status == 200, reply.body
    return reply.json()


async def sms_login(api, standins, phone: str, headers: dict | None = None) -> dict:
    headers = headers or new_ip()
    asked = await api.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=headers)
    assert asked.status == 202, asked.body
    code = await last_code(standins, phone)
    reply = await api.post("/v1/auth/sms/login", headers=headers, json_body={
        "challenge_id": asked.json()["challenge_id"], "code": code, "device": {"model": "X"}})
    assert reply.status == 200, reply.body
    return reply.json()


async def verified_citizen(api, deps, standins, *, phone: str | None = None,
                           region: str = "150102", app: bool = False,
                           openid: str | None = None) -> tuple[dict, str]:
    """A mini-program user (or, with ``app``, an app user who logged in by SMS) bound by
    real name to a new registry person."""
    phone = phone or new_phone()
    person_id, id_number = await add_person(deps, phone=phone, region=region)
    login = await (sms_login(api, standins, new_phone()) if app
                   else wechat_login(api, standins, openid))
    token = login["access_token"]
    asked = await api.post("/v1/me/real-name/code", headers=bearer(token),
                           json_body={"id_number": id_number, "name": "张建国"})
    assert asked.status == 202, asked.body
    bound = await api.post("/v1/me/real-name", headers=bearer(token), json_body={
        "challenge_id": asked.json()["challenge_id"], "code": await last_code(standins, phone)})
    assert bound.status == 200, bound.body
    return login, person_id


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


async def console_account(deps, username, regions=("150100",)):
    account, secret = await create_console_account(
        username=username, display_name="王坐席", password=PASSWORD,
        role=Role.AGENT, regions=tuple(regions), ctx=deps.auth)
    return account, pyotp.TOTP(secret)


async def console_login(api, clock, username, totp, password=PASSWORD, headers=None):
    return await api.post("/v1/console/login", headers=headers or new_ip(), json_body={
        "username": username, "password": password, "totp": totp.at(clock.now())})


# -- records a journey starts from -----------------------------------------------------------


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


async def make_card(deps, person_id: str, status: CardStatus = CardStatus.NORMAL, *,
                    expires_on: date | None = None, number: str | None = None) -> Card:
    card = Card(card_id="C" + secrets.token_hex(10), person_id=person_id,
                card_number=number or f"K{next(_numbers) % 10**8:08d}", bank="中国工商银行",
                status=status, bank_status=status, created_at=deps.clock.now(),
                issued_on=date(2020, 1, 1), expires_on=expires_on or date(2030, 1, 1),
                temp_loss_on=deps.cards.today() if status is CardStatus.TEMP_LOSS else None)
    await deps.cards.repo.add(card)
    return card


def body_for(category: Category, person_id: str, **extra) -> dict:
    """A filing body a person of ``category`` would send (to Guangzhou from 2026-11-25)."""
    body: dict[str, object] = {"person_id": person_id, "category": category.value,
                               "destination": GUANGZHOU, "start_date": "2026-11-25"}
    if RULES[category].commitment:
        body["commitment"] = COMMITMENT
    body.update({"employer": "广州某公司"} if category is Category.WORK_ELSEWHERE else {})
    if category is Category.REFERRAL:
        body.update(hospital="中山大学附属第一医院", referring_hospital="内蒙古医科大学附属医院",
                    transfer_reference="ZZ-2026-0001")
    if category is Category.EMERGENCY:
        body.update(hospital="广州市第一人民医院")
    body.update(extra)
    return body


async def file(api, token, body, key=None):
    return await api.post("/v1/medical/filings", json_body=body,
                          headers={**token, "Idempotency-Key": key or f"filing-{next(_keys):06d}"})


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photo_of(image: Image.Image) -> bytes:
    """An 'official photo' made from one frame of the clip, enlarged."""
    return jpeg(image.resize((image.width * 4, image.height * 4), Image.Resampling.BICUBIC), 92)


# -- pension certification -------------------------------------------------------------


async def retiree(api, deps, standins, clock, *, photo: bytes | None, consent: bool = True,
                  region: str = "150102"):
    """A verified citizen of the app (whose face check is the service's own), whose
    registry person has a reference photo and has consented."""
    login, person_id = await verified_citizen(api, deps, standins, region=region, app=True)
    token = bearer(login["access_token"])
    if photo is not None:
        await cert.enroll_reference(person_id, photo, source="test", actor="test", ctx=deps.cert)
    if consent:
        reply = await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                               json_body={"decision": "give"})
        assert reply.status == 200, reply.body
    return login, person_id, token


async def challenge(api, token, person_id, key, actions=("turn_right", "blink"), deps=None):
    """Start a face challenge; with ``deps``, one asking for ``actions`` (what the clip's
    frames 0-115 show, in this order, by default)."""
    if deps is not None:
        deps.cert.config = dataclasses.replace(deps.cert.config, fixed_actions=tuple(actions))
    reply = await api.post("/v1/pension/challenges", json_body={"person_id": person_id},
                           headers={**token, "Idempotency-Key": key})
    return reply


async def submit(api, token, started, frames):
    body, content_type = multipart({"nonce": started["nonce"]}, frames)
    return await api.post(f"/v1/pension/challenges/{started['challenge_id']}/frames",
                          body=body, headers={**token, "Content-Type": content_type})


async def face_case(api, deps, standins, clock, clip, *, photo=None):
    """A consenting retiree enrolled with a photo from the clip: (person id, token)."""
    _login, person_id, token = await retiree(api, deps, standins, clock,
                                            photo=photo or photo_of(clip[0]))
    return person_id, token
