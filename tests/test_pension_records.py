"""Pension payment details, "do I need to certify?", home-visit bookings and the coverage
report, over HTTP. The explanation sentences are checked against the worked examples of
domain rules §1: valid through 2026-03-14, so April 2026 is withheld; certified on
2026-06-20, so July pays July plus April, May and June."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime

import pytest

from auth.service import create_service_key
from pension_cert import service as cert
from pension_cert.model import Month
from tests.conftest import cli_env, run_app
from tests.journeys import (
    add_person,
    authorise_family,
    bearer,
    console_account,
    console_login,
    new_phone,
    verified_citizen,
    wechat_login,
)

MONTHLY = 300_000  # fen: every journey's pensioner gets 3000.00 yuan a month


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # noon in Shanghai


def person_suffix() -> str:
    return secrets.token_hex(4)


async def login_again(api, standins, openid: str) -> dict:
    return bearer((await wechat_login(api, standins, openid))["access_token"])


async def signal(api, key, id_number, record_id, day, place=""):
    answer = await api.post("/v1/pension/signals", headers={"X-Service-Key": key}, json_body={
        "record_id": record_id, "id_number": id_number, "kind": "medical_settlement",
        "date": day.isoformat(), "place": place})
    assert answer.status == 200, answer.body
    return answer.json()["outcome"]


async def test_payment_details_explain_suspension_back_pay_and_a_raise(api, deps, standins,
                                                                      clock, devdb, db_name,
                                                                      tmp_path):
    clock.set(at(date(2025, 3, 15)))
    openid = "o-pay-" + person_suffix()
    _, person_id = await verified_citizen(api, deps, standins, openid=openid)
    number = (await deps.people.get(person_id)).id_number
    key = await create_service_key("医保", frozenset({"pension.signals"}), ctx=deps.auth)
    assert await signal(api, key, number, "S-2025", date(2025, 3, 15)) == "certified"
    for month in ("2026-04", "2026-05", "2026-06"):
        clock.set(at(Month.parse(month).first_day()))
        await cert.run_payroll(Month.parse(month), ctx=deps.cert)
    clock.set(at(date(2026, 6, 20)))
    assert await signal(api, key, number, "S-2026", date(2026, 6, 20),
                        "内蒙古医科大学附属医院") == "certified"
    clock.set(at(date(2026, 7, 1)))
    await cert.run_payroll(Month(2026, 7), ctx=deps.cert)

    token = await login_again(api, standins, openid)  # tokens are short-lived
    details = (await api.get("/v1/pension/payments", headers=token)).json()
    by_month = {m["month"]: m for m in details["months"]}
    assert [m["month"] for m in details["months"]][:4] == ["2026-07", "2026-06", "2026-05",
                                                          "2026-04"]
    april = by_month["2026-04"]
    assert (april["status"], april["total_fen"]) == ("withheld", 0)
    assert april["explanations"][0].startswith("2026年4月暂停发放：资格认证逾期（截止2026-03-14）")
    july = by_month["2026-07"]
    assert july["backpay_months"] == ["2026-04", "2026-05", "2026-06"]
    assert july["total_fen"] == 4 * MONTHLY
    assert "2026年7月补发4月、5月、6月（共9000.00元）" in july["explanations"]

    # An annual raise to 3200.00 from January, imported in August: August pays the new
    # amount and the difference for the four months paid at the old one (Apr-Jul).
    clock.set(at(date(2026, 8, 1)))
    raises = tmp_path / "raises.csv"
    raises.write_text("id_number,monthly_pension_fen,effective_month\n"
                      f"{number},320000,2026-01\n{number},320000,2027-01\n", encoding="utf-8")
    done = await run_app("import-raises", str(raises), env=cli_env(devdb, db_name))
    assert "stored 1" in done.stdout and "line 3 [effective_month]" in done.stdout
    await cert.run_payroll(Month(2026, 8), ctx=deps.cert)
    token = await login_again(api, standins, openid)
    august = (await api.get("/v1/pension/payments", headers=token)).json()["months"][0]
    assert august["month"] == "2026-08" and august["regular_fen"] == 320_000
    assert august["raise_months"] == ["2026-04", "2026-05", "2026-06", "2026-07"]
    assert august["raise_fen"] == 4 * 20_000
    assert "2026年8月补发4月、5月、6月、7月调整待遇差额（共800.00元）" in august["explanations"]

    plan = (await api.get("/v1/pension/plan", headers=token)).json()
    assert plan["must_act"] is False and plan["valid_through"] == "2027-06-19"
    described = plan["last_certified"]["description"]
    for fact in ("2026-06-20", "内蒙古医科大学附属医院", "医保就医结算", "S-2026"):
        assert fact in described
    assert {r["route"] for r in plan["routes"] if r["available"]} == {
        "face", "family", "home_visit", "office"}


async def test_a_due_person_is_told_by_when_and_what_happens_otherwise(api, deps, standins,
                                                                     clock):
    clock.set(at(date(2025, 12, 1)))
    openid = "o-due-" + person_suffix()
    _, person_id = await verified_citizen(api, deps, standins, openid=openid)
    number = (await deps.people.get(person_id)).id_number
    key = await create_service_key("医保", frozenset({"pension.signals"}), ctx=deps.auth)
    await signal(api, key, number, "S-due", date(2025, 12, 1))  # valid through 2026-11-30
    clock.set(at(date(2026, 11, 20)))
    plan = (await api.get("/v1/pension/plan",
                          headers=await login_again(api, standins, openid))).json()
    assert plan["must_act"] is True and plan["act_by"] == "2026-11-30"
    assert "2026-11-30" in plan["summary"]
    assert "2026年12月起暂停发放" in plan["if_not"]


async def test_a_family_member_books_a_home_visit_and_the_agent_closes_it(api, deps, standins,
                                                                        clock):
    clock.set(at(date(2026, 11, 22)))
    parent, parent_id = await verified_citizen(api, deps, standins)
    parent_token = bearer(parent["access_token"])
    child_phone = new_phone()
    child, _ = await verified_citizen(api, deps, standins, phone=child_phone)
    child_token = bearer(child["access_token"])
    booking = {"person_id": parent_id, "preferred_dates": ["2026-11-28", "2026-11-30"],
               "address": "呼和浩特市新城区某街道某小区3号楼2单元501", "phone": "13912345678"}
    refused = await api.post("/v1/pension/home-visits", json_body=booking,
                             headers={**child_token, "Idempotency-Key": "visit-key-000"})
    assert refused.status == 404  # not family yet
    await authorise_family(api, parent_token, child_token, child_phone, ["pension_cert"],
                           "fam-visit-1")
    bad = await api.post("/v1/pension/home-visits", json_body={**booking, "phone": "12345"},
                         headers={**child_token, "Idempotency-Key": "visit-key-001"})
    assert bad.status == 400
    booked = await api.post("/v1/pension/home-visits", json_body=booking,
                            headers={**child_token, "Idempotency-Key": "visit-key-002"})
    assert booked.status == 201, booked.body
    visit = booked.json()
    assert "13912345678" not in booked.body.decode() and visit["status"] == "open"
    twice = await api.post("/v1/pension/home-visits", json_body=booking,
                           headers={**parent_token, "Idempotency-Key": "visit-key-003"})
    assert (twice.status, twice.error_code) == (409, "HOME_VISIT_ALREADY_BOOKED")
    plan = (await api.get("/v1/pension/plan", headers=parent_token)).json()
    assert plan["open_visit"]["booking_id"] == visit["booking_id"]

    _, totp = await console_account(deps, "visit-agent", regions=("150100",))
    agent = bearer((await console_login(api, clock, "visit-agent", totp)).json()["access_token"])
    queue = (await api.get("/v1/pension/home-visits?status=open", headers=agent)).json()
    assert visit["booking_id"] in [v["booking_id"] for v in queue["visits"]]
    _, far_totp = await console_account(deps, "visit-far", regions=("150200",))
    far = bearer((await console_login(api, clock, "visit-far", far_totp)).json()["access_token"])
    far_queue = (await api.get("/v1/pension/home-visits", headers=far)).json()
    assert visit["booking_id"] not in [v["booking_id"] for v in far_queue["visits"]]

    path = f"/v1/pension/home-visits/{visit['booking_id']}/outcome"
    outcome = {"result": "certified", "note": "本人在家，核对身份证"}
    stale = await api.post(path, json_body=outcome, headers={**agent, "If-Match": '"9"'})
    assert stale.status == 412
    closed = await api.post(path, json_body=outcome,
                            headers={**agent, "If-Match": booked.headers["ETag"]})
    assert closed.status == 200 and closed.json()["status"] == "done"
    plan = (await api.get("/v1/pension/plan", headers=parent_token)).json()
    assert plan["open_visit"] is None
    assert plan["last_certified"]["description"] == "2026-11-22工作人员上门认证"


async def test_the_coverage_report_counts_each_route(api, deps, standins, clock, devdb,
                                                     db_name):
    clock.set(at(date(2024, 5, 10)))
    key = await create_service_key("医保", frozenset({"pension.signals"}), ctx=deps.auth)
    people = [await add_person(deps, phone=new_phone(), region="150203", seq=700 + n)
              for n in range(3)]
    for person_id, _ in people:
        await cert.register_new_retiree(person_id, date(2024, 1, 1), ctx=deps.cert)
    await signal(api, key, people[0][1], "cov-1", date(2024, 5, 10))
    await signal(api, key, people[1][1], "cov-2", date(2024, 5, 9))
    _, totp = await console_account(deps, "cov-agent", regions=("150200",))
    agent = bearer((await console_login(api, clock, "cov-agent", totp)).json()["access_token"])
    office = await api.post(f"/v1/pension/people/{people[2][0]}/agent-certifications",
                            headers=agent, json_body={"kind": "office", "note": "窗口核对身份证"})
    assert office.status == 200, office.body
    admin_view = await api.get("/v1/admin/coverage?month=2024-05", headers=agent)
    assert admin_view.status == 403  # administrators only
    clock.set(at(date(2024, 5, 31)))
    report = await run_app("report-coverage", "--month", "2024-05", env=cli_env(devdb, db_name))
    rows = {r["league"]: r for r in csv.DictReader(io.StringIO(report.stdout))}
    baotou = rows["150200"]
    assert baotou["league_name"] == "包头市"
    assert (baotou["pensioners"], baotou["certified"], baotou["passive"], baotou["agent"],
            baotou["face"], baotou["family"]) == ("3", "3", "2", "1", "0", "0")
    assert (baotou["passive_share"], baotou["agent_share"]) == ("0.667", "0.333")
    # The command runs on the real clock (late 2026): a certification of May 2024 with a
    # 12-month cycle ran out in May 2025, so all three are suspended today.
    assert (baotou["due_next_30_days"], baotou["suspended"]) == ("0", "3")


async def test_a_booking_whose_request_died_is_completed_or_lapses(api, deps, standins, clock,
                                                                  monkeypatch):
    """The database goes away after the person's booking slot is claimed and before the
    booking is stored: the same request retried completes it; a new request made after
    the dead one's claim lapsed books normally."""
    from pymongo.errors import AutoReconnect

    from pension_cert import visit_repository
    clock.set(at(date(2026, 11, 22)))
    real_doc = visit_repository._doc
    failures: list[str] = []

    def dies(visit):  # the first attempt of the first two bookings dies
        if visit.booking_id not in failures and len(failures) < 2:
            failures.append(visit.booking_id)
            raise AutoReconnect("connection lost")
        return real_doc(visit)

    monkeypatch.setattr(visit_repository, "_doc", dies)
    booking = {"preferred_dates": ["2026-11-28"], "address": "呼和浩特市新城区某小区3号楼2单元",
               "phone": "13912345678"}
    login, _ = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    first = await api.post("/v1/pension/home-visits", json_body=booking,
                           headers={**token, "Idempotency-Key": "visit-died-0001"})
    assert first.status == 503
    clock.advance(minutes=3)  # the dead request's idempotency key is abandoned
    retried = await api.post("/v1/pension/home-visits", json_body=booking,
                             headers={**token, "Idempotency-Key": "visit-died-0001"})
    assert retried.status == 201, retried.body

    other, _ = await verified_citizen(api, deps, standins)
    other_token = bearer(other["access_token"])
    dead = await api.post("/v1/pension/home-visits", json_body=booking,
                          headers={**other_token, "Idempotency-Key": "visit-died-0002"})
    assert dead.status == 503
    too_soon = await api.post("/v1/pension/home-visits", json_body=booking,
                              headers={**other_token, "Idempotency-Key": "visit-new-0003"})
    assert (too_soon.status, too_soon.error_code) == (409, "HOME_VISIT_ALREADY_BOOKED")
    clock.advance(minutes=6)
    later = await api.post("/v1/pension/home-visits", json_body=booking,
                           headers={**other_token, "Idempotency-Key": "visit-new-0004"})
    assert later.status == 201, later.body


async def test_a_raise_import_that_died_half_way_is_completed_and_paid_once(
        api, deps, standins, clock, monkeypatch):
    """The import dies after claiming the raise and before queuing its difference: the
    retry queues it and applies the amount; paid once, a raise imported again adds
    nothing."""
    from pymongo.errors import AutoReconnect

    from pension_cert import payroll_repository
    from pension_cert.payments import import_raises
    clock.set(at(date(2026, 8, 20)))
    person_id, number = await add_person(deps, phone=new_phone(), seq=811)
    key = await create_service_key("医保", frozenset({"pension.signals"}), ctx=deps.auth)
    assert await signal(api, key, number, "raise-crash", date(2026, 8, 20)) == "certified"
    clock.set(at(date(2026, 9, 1)))
    await cert.run_payroll(Month(2026, 9), ctx=deps.cert)

    real_insert = payroll_repository.insert_once
    died: list[str] = []

    async def dies_once(collection, document):
        if collection.name == payroll_repository.PENDING_RAISES and not died:
            died.append(document["_id"])
            raise AutoReconnect("connection lost")
        return await real_insert(collection, document)

    monkeypatch.setattr(payroll_repository, "insert_once", dies_once)
    rows = [(2, {"id_number": number, "monthly_pension_fen": "320000",
                 "effective_month": "2026-09"})]
    with pytest.raises(AutoReconnect):
        await import_raises(rows, ctx=deps.cert)
    retried = await import_raises(rows, ctx=deps.cert)
    assert (retried.stored, retried.unchanged, retried.rejected) == (0, 1, [])
    assert (await deps.people.get(person_id)).monthly_pension_fen == 320_000

    clock.set(at(date(2026, 10, 1)))
    october = {line.person_id: line for line in await cert.run_payroll(Month(2026, 10),
                                                                       ctx=deps.cert)}
    assert (october[person_id].regular_fen, october[person_id].raise_fen) == (320_000, 20_000)
    again = await import_raises(rows, ctx=deps.cert)
    assert again.unchanged == 1
    clock.set(at(date(2026, 11, 1)))
    november = {line.person_id: line for line in await cert.run_payroll(Month(2026, 11),
                                                                        ctx=deps.cert)}
    assert (november[person_id].regular_fen, november[person_id].raise_fen) == (320_000, 0)
