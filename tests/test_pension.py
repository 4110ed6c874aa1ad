"""Pension certification over real HTTP, against the embedded database, the stand-ins and
the real face pool, with the real clip in ../shared/data (carphone: blinks near frames 42,
92, 112; mouth open 57-62 and 107-115)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from auth.service import create_service_key
from notifications.templates import CERT_DONE, CERT_DUE_SOON, CERT_OVERDUE
from pension_cert import service as cert
from pension_cert.model import Month
from people.model import PrisonPeriod
from tests.conftest import run_app
from tests.journeys import (
    add_person,
    authorise_family,
    bearer,
    challenge,
    console_account,
    console_login,
    new_phone,
    photo_of,
    retiree,
    sms_login,
    submit,
)

pytestmark = pytest.mark.usefixtures("fresh_face_session")


# -- the journey ------------------------------------------------------------------------------


async def test_consent_challenge_frames_pass_status_history_and_reminders(
        api, deps, standins, clock, clip, frames):
    _login, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    consent = (await api.get(f"/v1/pension/people/{person_id}/consent", headers=token)).json()
    assert consent["status"] == "given" and consent["has_reference"] is True
    assert consent["history"][0]["notice_version"] == cert.NOTICE_VERSION

    started = await challenge(api, token, person_id, "journey-0001", deps=deps)
    assert started.status == 201, started.body
    body = started.json()
    assert body["actions"] == ["turn_right", "blink"]
    assert body["expires_in"] == 120 and len(body["nonce"]) >= 32

    result = await submit(api, token, body, frames)
    assert result.status == 200, result.body
    outcome = result.json()
    assert outcome["result"] == "pass", outcome
    assert "distance" not in result.body.decode() and "score" not in result.body.decode()
    assert outcome["status"]["valid_through"] == "2027-11-21"  # 12 months from 2026-11-22

    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["status"] == "certified"
    assert status["history"][-1]["channel"] == "face"
    assert status["attempts"][0]["result"] == "pass"
    done = await deps.outbox.inbox(person_id)
    assert [m.kind for m in done] == [CERT_DONE]

    # A year on, the daily job reminds 30 days ahead, once.
    clock.set(clock.now() + timedelta(days=335))
    assert (await cert.run_cycle(ctx=deps.cert))["reminded"] >= 1
    assert (await cert.run_cycle(ctx=deps.cert))["reminded"] == 0  # the same day again
    kinds = [m.kind for m in await deps.outbox.inbox(person_id)]
    assert kinds.count(CERT_DUE_SOON) == 1


# -- consent ----------------------------------------------------------------------------------


async def test_without_consent_no_face_check_and_withdrawal_deletes_the_template(
        api, deps, standins, clock, clip):
    _, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]),
                                        consent=False)
    refused = await challenge(api, token, person_id, "consent-0001", deps=deps)
    assert (refused.status, refused.error_code) == (409, "FACE_CONSENT_REQUIRED")
    assert "上门" in refused.json()["error"]["message"]
    # Refusing changes nothing else: the person still reads their status and record.
    await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                   json_body={"decision": "refuse"})
    assert (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).status == 200
    assert (await api.get(f"/v1/people/{person_id}", headers=token)).status == 200

    await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                   json_body={"decision": "give"})
    withdrawn = await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                               json_body={"decision": "withdraw"})
    assert withdrawn.json()["status"] == "withdrawn"
    assert "网点" in withdrawn.json()["other_routes"]
    assert await deps.cert.repo.template(person_id) is None
    history = (await api.get(f"/v1/pension/people/{person_id}/consent", headers=token)).json()
    assert [h["status"] for h in history["history"]] == ["refused", "given", "withdrawn"]


# -- suspension, back pay, payroll -----------------------------------------------------------


async def test_suspension_and_resumption_with_back_pay_excluding_prison(
        deps, devdb, db_name, clock):
    person_id, _ = await add_person(deps, phone=new_phone(), region="150105")
    person = await deps.people.get(person_id)
    details = {**{k: getattr(person, k) for k in person.__dataclass_fields__ if k != "person_id"},
               "prison_periods": (PrisonPeriod(date(2026, 5, 3), date(2026, 5, 20)),),
               "monthly_pension_fen": 320_000}
    from people.model import PersonDetails
    await deps.people.upsert_batch([PersonDetails(**details)])
    await cert.certify(person_id, date(2025, 3, 15), cert.Channel.AGENT, actor="test",
                       on_behalf=None, ctx=deps.cert)
    state = await deps.cert.repo.state(person_id)
    assert state.valid_through == date(2026, 3, 14)

    clock.set(clock.now().replace(year=2026, month=3, day=15))
    await cert.run_cycle(ctx=deps.cert, today=date(2026, 3, 15))
    state = await deps.cert.repo.state(person_id)
    assert state.status.value == "overdue_suspended"
    assert state.suspended_from == Month(2026, 4)
    assert (await cert.person_payment(person_id, ctx=deps.cert))[1].value == "suspended"
    assert CERT_OVERDUE in [m.kind for m in await deps.outbox.inbox(person_id)]
    assert (await cert.run_cycle(ctx=deps.cert, today=date(2026, 3, 15)))["suspended"] == 0

    for month in (4, 5, 6):  # each month's payroll is run as the month begins: withheld
        clock.set(clock.now().replace(year=2026, month=month, day=1))
        [line] = [r for r in await cert.payroll_rows(Month(2026, month), ctx=deps.cert)
                  if r[0] == person_id]
        assert line[2:5] == ["withheld", "320000", "0"]

    clock.set(clock.now().replace(year=2026, month=6, day=20))
    await cert.certify(person_id, date(2026, 6, 20), cert.Channel.AGENT, actor="test",
                       on_behalf=None, ctx=deps.cert)
    rows = await cert.payroll_rows(Month(2026, 7), ctx=deps.cert)
    mine = [r for r in rows if r[0] == person_id]
    # July pays July, and April and June back; May was touched by prison: not back-paid.
    assert mine == [[person_id, "2026-07", "paid", "320000", "320000", "2026-04;2026-06",
                     "640000", "960000", "resumed"]]
    assert rows[-1][0] == "TOTAL"

    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    first = await run_app("payroll-export", "2026-07", env=env)
    second = await run_app("payroll-export", "2026-07", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert f"{person_id},2026-07,paid,320000,320000,2026-04;2026-06,640000,960000" in first.stdout
    april = await run_app("payroll-export", "2026-04", env=env)
    assert f"{person_id},2026-04,withheld,320000,0,,0,0,overdue" in april.stdout
    assert april.stdout.strip().splitlines()[-1].startswith("TOTAL,paid=")


# -- other routes --------------------------------------------------------------------------


async def test_a_family_member_certifies_the_retiree_with_the_retirees_face(
        api, deps, standins, clock, clip, frames):
    _, parent_person, parent_token = await retiree(api, deps, standins, clock,
                                                   photo=photo_of(clip[0]))
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    child_token = bearer(child["access_token"])
    assert (await challenge(api, child_token, parent_person, "fam-cert-00")).status == 404

    await authorise_family(api, parent_token, child_token, child_phone, ["pension_cert"], "fam-cert-01")

    started = (await challenge(api, child_token, parent_person, "fam-cert-02", deps=deps)).json()
    outcome = (await submit(api, child_token, started, frames)).json()
    assert outcome["result"] == "pass"
    [attempt] = await deps.cert.repo.attempts_of(parent_person)
    assert attempt.channel == "family"
    assert (attempt.actor, attempt.on_behalf) == (child["account"]["account_id"], parent_person)


async def test_agent_home_visit_and_commitment_letter(api, deps, standins, clock):
    person_id, _ = await add_person(deps, phone=new_phone(), region="150102")
    _account, totp = await console_account(deps, "agent-visit", regions=("150100",))
    token = bearer((await console_login(api, clock, "agent-visit", totp)).json()["access_token"])
    visit = await api.post(f"/v1/pension/people/{person_id}/agent-certifications",
                           headers=token, json_body={"kind": "home_visit",
                                                     "note": "上门核实本人健在，卧床"})
    assert visit.status == 200, visit.body
    assert visit.json()["history"][-1]["channel"] == "agent"
    missing_signer = await api.post(f"/v1/pension/people/{person_id}/agent-certifications",
                                    headers=token, json_body={"kind": "commitment",
                                                              "note": "家属签署承诺书"})
    assert missing_signer.error_code == "VALIDATION_FAILED"
    letter = await api.post(f"/v1/pension/people/{person_id}/agent-certifications",
                            headers=token, json_body={"kind": "commitment",
                                                      "note": "家属签署承诺书",
                                                      "signer": "张小明"})
    assert letter.json()["history"][-1]["channel"] == "commitment"
    outside, _ = await add_person(deps, phone=new_phone(), region="152502")
    assert (await api.post(f"/v1/pension/people/{outside}/agent-certifications",
                           headers=token, json_body={"kind": "office",
                                                     "note": "窗口办理"})).status == 404


# -- passive certification, death, review ---------------------------------------------------


async def test_a_passive_signal_certifies_and_a_death_signal_blocks(api, deps, standins, clock,
                                                                    clip):
    _login, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    key = await create_service_key("医保结算数据", frozenset({"pension.signals"}), ctx=deps.auth)
    person = await deps.people.get(person_id)
    signal = {"source": "nhsa", "record_id": "JS-0001", "id_number": person.id_number,
              "kind": "medical_settlement", "date": "2026-11-20"}
    first = await api.post("/v1/pension/signals", json_body=signal, headers={"X-Service-Key": key})
    assert first.json() == {"outcome": "certified"}
    again = await api.post("/v1/pension/signals", json_body=signal, headers={"X-Service-Key": key})
    assert again.json() == {"outcome": "duplicate"}
    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["history"][-1]["channel"] == "passive"
    assert status["valid_through"] == "2027-11-19"
    assert CERT_DONE in [m.kind for m in await deps.outbox.inbox(person_id)]

    death = {**signal, "record_id": "MZ-0001", "source": "civil_affairs", "kind": "death",
             "date": "2026-11-21"}
    assert (await api.post("/v1/pension/signals", json_body=death,
                           headers={"X-Service-Key": key})).json() == {"outcome": "blocked"}
    blocked = await challenge(api, token, person_id, "after-death-1", deps=deps)
    assert (blocked.status, blocked.error_code) == (409, "CERTIFICATION_BLOCKED")
    person_view = (await api.get(f"/v1/people/{person_id}", headers=token)).json()
    assert person_view["payment_status"] == "stopped"
    rows = await cert.payroll_rows(Month(2026, 12), ctx=deps.cert)
    assert [r[2] for r in rows if r[0] == person_id] == ["stopped"]


async def test_proof_of_life_after_a_recorded_death_waits_for_an_agents_review(
        api, deps, clock):
    person_id, _ = await add_person(deps, phone=new_phone())
    assert await cert.ingest_signal(source="civil", record_id="D1", person_id=person_id,
                                    kind="death", day=date(2026, 10, 1),
                                    ctx=deps.cert) == "blocked"
    with pytest.raises(cert.CertificationBlocked):
        await cert.certify(person_id, date(2026, 11, 22), cert.Channel.AGENT, actor="x",
                           on_behalf=None, ctx=deps.cert)
    outcome = await cert.ingest_signal(source="bank", record_id="B1", person_id=person_id,
                                       kind="bank", day=date(2026, 11, 20), ctx=deps.cert)
    assert outcome == "held_for_review"
    state = await deps.cert.repo.state(person_id)
    assert (state.status.value, state.death_date) == ("blocked", date(2026, 10, 1))
    [case] = [c for c in await deps.cert.repo.open_cases() if c.person_id == person_id]
    assert case.suspicion["kind"] == "life_after_death"

    _account, totp = await console_account(deps, "agent-death", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-death", totp)).json()["access_token"])
    decided = await api.post(f"/v1/pension/review-cases/{case.case_id}/decision",
                             headers=agent, json_body={"decision": "clear"})
    assert decided.status == 200, decided.body
    assert (decided.json()["status"], decided.json()["valid_through"]) == ("certified",
                                                                          "2027-11-19")
    again = await api.post(f"/v1/pension/review-cases/{case.case_id}/decision",
                           headers=agent, json_body={"decision": "confirm"})
    assert (again.status, again.error_code) == (409, "REVIEW_CASE_DECIDED")


# -- a suspension withdrawn in time ------------------------------------------------------


async def test_certifying_before_the_suspended_month_begins_withdraws_the_suspension(
        deps, clock):
    # (Years apart from the other payroll tests: a month is run once per database.)
    person_id, _ = await add_person(deps, phone=new_phone(), region="150104",
                                    monthly_pension_fen=300_000)
    await cert.certify(person_id, date(2027, 3, 15), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)
    clock.set(clock.now().replace(year=2028, month=3, day=16))
    await cert.run_cycle(ctx=deps.cert, today=date(2028, 3, 16))  # overdue: April suspended
    assert (await cert.person_payment(person_id, ctx=deps.cert))[1].value == "suspended"
    clock.set(clock.now().replace(year=2028, month=3, day=20))
    await cert.certify(person_id, date(2028, 3, 20), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)  # still March: nothing withheld yet
    clock.set(clock.now().replace(year=2028, month=4, day=1))
    april = await cert.payroll_rows(Month(2028, 4), ctx=deps.cert)
    assert [r[2:8] for r in april if r[0] == person_id] == [
        ["paid", "300000", "300000", "", "0", "300000"]]
    assert (await cert.person_payment(person_id, ctx=deps.cert))[1].value == "paying"
    assert (await deps.cert.repo.state(person_id)).valid_through == date(2029, 3, 19)
