"""Least privilege and personal data over real HTTP: a family member's permission grants
exactly its own domain; consent and the face check stay the person's own acts; card
numbers and names are masked wherever they are shown, so the raw values are absent."""

from __future__ import annotations

import pytest

from auth.service import create_service_key
from social_card.model import CardStatus
from tests.journeys import (
    authorise_family,
    bearer,
    console_account,
    console_login,
    make_card,
    new_phone,
    sms_login,
    verified_citizen,
)

pytestmark = pytest.mark.usefixtures("reset_standins")
PERMISSIONS = ("pension_cert", "card", "filing")


@pytest.mark.parametrize("granted", PERMISSIONS)
async def test_each_family_permission_grants_exactly_its_own_domain(api, deps, standins,
                                                                     granted):
    parent, parent_person = await verified_citizen(api, deps, standins)
    parent_token = bearer(parent["access_token"])
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    child_token = bearer(child["access_token"])
    await authorise_family(api, parent_token, child_token, child_phone, [granted],
                           f"least-{granted}-link")
    card = await make_card(deps, parent_person)
    filing = await api.post("/v1/medical/filings", headers={
        **parent_token, "Idempotency-Key": f"least-{granted}-filing"}, json_body={
        "person_id": parent_person, "category": "temporary_trip", "start_date": "2026-11-25",
        "destination": {"province_code": "440000", "city_code": "440100"},
        "commitment": {"accepted": True, "version": "2026-01"}})
    assert filing.status == 201, filing.body
    filing_id = filing.json()["filing_id"]
    domain_of = [
        ("GET", f"/v1/pension/people/{parent_person}/status", None, "pension_cert"),
        ("GET", f"/v1/pension/people/{parent_person}/consent", None, "pension_cert"),
        ("POST", "/v1/pension/challenges", {"person_id": parent_person}, "pension_cert"),
        ("GET", f"/v1/medical/filings?person_id={parent_person}", None, "filing"),
        ("GET", f"/v1/medical/filings/{filing_id}", None, "filing"),
        ("GET", f"/v1/medical/filings/{filing_id}/certificate", None, "filing"),
        ("POST", "/v1/medical/filings", {"person_id": parent_person,
                                         "category": "temporary_trip"}, "filing"),
        ("GET", f"/v1/cards?person_id={parent_person}", None, "card"),
        ("GET", f"/v1/cards/{card.card_id}", None, "card"),
    ]
    for method, path, body, domain in domain_of:
        headers = {**child_token, "Idempotency-Key": f"least-{granted}-{len(path)}-x"}
        reply = await api.request(method, path, json_body=body, headers=headers)
        if domain == granted:
            assert reply.status != 404, (granted, method, path, reply.body)
        else:
            assert reply.status == 404, (granted, method, path, reply.status, reply.body)
    # The basic record shows with any permission; the name is masked for family.
    person = await api.get(f"/v1/people/{parent_person}", headers=child_token)
    assert person.status == 200
    assert "张建国" not in person.body.decode()
    assert person.json()["name"] == "张**"


async def test_consent_is_the_persons_own_act(api, deps, standins, clock):
    parent, parent_person = await verified_citizen(api, deps, standins)
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    await authorise_family(api, bearer(parent["access_token"]), bearer(child["access_token"]),
                           child_phone, ["pension_cert"], "consent-family-link")
    path = f"/v1/pension/people/{parent_person}/consent"
    by_family = await api.post(path, headers=bearer(child["access_token"]),
                               json_body={"decision": "give"})
    assert (by_family.status, by_family.error_code) == (403, "CONSENT_IS_PERSONAL")

    _, totp = await console_account(deps, "consent-agent", regions=("150100",))
    agent = bearer((await console_login(api, clock, "consent-agent", totp)).json()[
        "access_token"])
    bare = await api.post(path, headers=agent, json_body={"decision": "give"})
    assert (bare.status, bare.json()["error"]["field"]) == (400, "paper_reference")
    paper = await api.post(path, headers=agent, json_body={
        "decision": "give", "paper_reference": "SCAN-2026-11-0042",
        "reason": "本人视力不好，在窗口签署纸质同意书"})
    assert paper.status == 200, paper.body
    [entry] = await deps.audit.find(action="consent.give", object=parent_person)
    assert entry.detail["channel"] == "paper"
    assert entry.detail["paper_reference"] == "SCAN-2026-11-0042"
    assert entry.detail["reason"].startswith("本人视力")

    refused = await api.post("/v1/pension/challenges", json_body={"person_id": parent_person},
                             headers={**agent, "Idempotency-Key": "agent-face-check-1"})
    assert (refused.status, refused.error_code) == (403, "FACE_CHECK_IS_SELF_SERVICE")


async def test_card_numbers_are_never_shown_whole(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    card = await make_card(deps, person_id, CardStatus.NORMAL, number="6217195910147366")
    raw = card.card_number
    for path in ("/v1/cards", f"/v1/cards/{card.card_id}"):
        reply = await api.get(path, headers=token)
        assert reply.status == 200
        assert raw not in reply.body.decode()
        assert raw[-4:] in reply.body.decode()  # enough to recognise one's own card
    code = (await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                           json_body={})).json()["code"]
    key = await create_service_key("网点", frozenset({"card.verify"}), ctx=deps.auth)
    scanned = await api.post("/v1/cards/ecode/verify", headers={"X-Service-Key": key},
                             json_body={"code": code})
    assert scanned.status == 200, scanned.body
    body = scanned.body.decode()
    assert raw not in body and raw[4:-4] not in body
    assert "张建国" not in body
