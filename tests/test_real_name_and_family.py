"""Acting as oneself and for family over real HTTP: real-name binding (the same answer
whether or not the registry matches), family authorisation from invite to end, the inbox,
and the BOLA matrix (another citizen's ids answer 404 on every route)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.openapi import path_template
from api.routes import all_routes
from notifications.service import enqueue
from notifications.templates import CERT_DUE_SOON
from pension_cert.check_model import Challenge
from tests.journeys import (
    JPEG,
    add_person,
    bearer,
    control,
    last_code,
    multipart,
    new_phone,
    sms_login,
    verified_citizen,
    wechat_login,
)

pytestmark = pytest.mark.usefixtures("reset_standins")


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


# The agent console's routes that take an id (tests/test_console_*.py test them as agents).
CONSOLE_ROUTES = (
    ("GET", "/v1/console/people/{person_id}"),
    ("POST", "/v1/console/people/{person_id}/reveal"),
    ("POST", "/v1/console/people/{person_id}/certifications"),
    ("POST", "/v1/console/people/{person_id}/reminders/resend"),
    ("POST", "/v1/console/people/{person_id}/home-visits"),
    ("POST", "/v1/console/cards/{card_id}/temp-loss"),
    ("POST", "/v1/console/review-cases/{case_id}/decision"),
    ("POST", "/v1/console/filings/{filing_id}/{event}"),
)


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
    await deps.cert.repo.save_challenge(Challenge(
        challenge_id=b_challenge, person_id=b_person, account_id=b["account"]["account_id"],
        session_id=b["session_id"], on_behalf=None, nonce_hash="x",
        actions=("blink", "open_mouth"), created_at=deps.clock.now(),
        expires_at=deps.clock.now() + timedelta(minutes=2)))
    frames = multipart({"nonce": "anything"}, [JPEG])
    consented = await api.post(f"/v1/pension/people/{b_person}/consent", headers=b_auth,
                               json_body={"decision": "give"})
    assert consented.status == 200, consented.body
    b_wechat = await api.post("/v1/pension/wechat-face", json_body={"person_id": b_person},
                              headers={**b_auth, "Idempotency-Key": "bola-wechat-face-01"})
    assert b_wechat.status == 201, b_wechat.body
    b_check = b_wechat.json()["check_id"]
    b_filing = await api.post("/v1/medical/filings", json_body={
        "person_id": b_person, "category": "temporary_trip", "start_date": "2026-11-25",
        "destination": {"province_code": "440000", "city_code": "440100"},
        "commitment": {"accepted": True, "version": "2026-01"}},
        headers={**b_auth, "Idempotency-Key": "bola-filing-01"})
    filing_id = b_filing.json()["filing_id"]
    from tests.test_card import make_card
    b_card = (await make_card(deps, b_person)).card_id
    b_proof = (await api.post("/v1/records/proofs", headers={
        **b_auth, "Idempotency-Key": "bola-proof-01"})).json()["proof_id"]
    b_visit = await api.post("/v1/pension/home-visits", json_body={
        "preferred_dates": ["2026-11-28"], "address": "呼和浩特市新城区某小区3号楼2单元",
        "phone": "13912345678"}, headers={**b_auth, "Idempotency-Key": "bola-visit-01"})
    assert b_visit.status == 201, b_visit.body
    booking = b_visit.json()["booking_id"]
    matrix = {
        "/v1/records/proofs/{proof_id}": ("GET", f"/v1/records/proofs/{b_proof}", None),
        "/v1/records/proofs/{proof_id}/print": ("GET", f"/v1/records/proofs/{b_proof}/print",
                                                None),
        "/v1/records/proofs/{proof_id}/pdf": ("GET", f"/v1/records/proofs/{b_proof}/pdf", None),
        "/v1/records/proofs/{proof_id}/revoke": (
            "POST", f"/v1/records/proofs/{b_proof}/revoke", None),
        "/v1/pension/home-visits/{booking_id}": ("GET", f"/v1/pension/home-visits/{booking}",
                                                 None),
        "/v1/pension/home-visits/{booking_id}/outcome": (
            "POST", f"/v1/pension/home-visits/{booking}/outcome", None),
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
        "/v1/pension/wechat-face/{check_id}/result": (
            "POST", f"/v1/pension/wechat-face/{b_check}/result", None),
        "/v1/pension/review-cases/{case_id}/decision": (
            "POST", "/v1/pension/review-cases/RCanything/decision", None),
        "/v1/medical/filings/{filing_id}": ("GET", f"/v1/medical/filings/{filing_id}", None),
        "/v1/medical/filings/{filing_id}/{event}": (
            "POST", f"/v1/medical/filings/{filing_id}/cancel", None),
        "/v1/medical/filings/{filing_id}/change": (
            "POST", f"/v1/medical/filings/{filing_id}/change", None),
        "/v1/medical/filings/{filing_id}/certificate": (
            "GET", f"/v1/medical/filings/{filing_id}/certificate", None),
        "/v1/cards/{card_id}": ("GET", f"/v1/cards/{b_card}", None),
        "/v1/cards/{card_id}/ecode": ("POST", f"/v1/cards/{b_card}/ecode", None),
        "/v1/cards/{card_id}/ecode/sms": ("POST", f"/v1/cards/{b_card}/ecode/sms", None),
        "/v1/cards/{card_id}/{event}": ("POST", f"/v1/cards/{b_card}/temp_loss", None),
        **{template: (method, template.replace("{person_id}", b_person).replace(
            "{card_id}", b_card).replace("{case_id}", "RCanything").replace(
            "{filing_id}", filing_id).replace("{event}", "approve"), None)
           for method, template in CONSOLE_ROUTES},
    }
    # Routes for agents only answer 403 to any citizen, whatever the id: nothing about
    # the record leaks. Every other route answers 404 for someone else's record.
    agent_only = {"/v1/pension/review-cases/{case_id}/decision",
                  "/v1/pension/home-visits/{booking_id}/outcome",
                  *(template for _, template in CONSOLE_ROUTES)}
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
