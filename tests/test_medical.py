"""Cross-region medical filing over real HTTP, against the embedded database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.service import create_service_key
from medical_insurance.model import RULES, Category
from notifications.templates import FILING_CHANGED, FILING_CREATED
from tests.journeys import (
    GUANGZHOU,
    add_person,
    authorise_family,
    bearer,
    body_for,
    console_account,
    console_login,
    control,
    file,
    new_phone,
    sms_login,
    verified_citizen,
)

pytestmark = pytest.mark.usefixtures("reset_standins")
HAIKOU = {"province_code": "460000", "city_code": "460100"}
BEIJING = {"province_code": "110000", "city_code": "110100"}






async def citizen(api, deps, standins):
    phone = new_phone()
    login, person_id = await verified_citizen(api, deps, standins, phone=phone)
    return person_id, bearer(login["access_token"]), {**login, "phone": phone}


async def log_in_again(api, standins, login) -> dict:
    """Months later the refresh token is gone too: the person logs in with their phone."""
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 3600})
    return bearer((await sms_login(api, standins, login["phone"]))["access_token"])


# -- each category ------------------------------------------------------------------------


@pytest.mark.parametrize("category", list(Category))
async def test_each_category_takes_effect_at_once(api, deps, standins, category):
    person_id, token, _ = await citizen(api, deps, standins)
    reply = await file(api, token, body_for(category, person_id))
    assert reply.status == 201, reply.body
    filing = reply.json()
    assert filing["status"] == "effective"
    assert filing["destination"]["name"] == "广东省广州市"
    if RULES[category].long_term:
        assert filing["end_date"] is None
    else:
        assert filing["end_date"] == "2027-05-24"  # six months, through the day before
    assert reply.headers["ETag"] == '"v1"'
    messages = await deps.outbox.inbox(person_id)
    assert FILING_CREATED in [m.kind for m in messages]


@pytest.mark.parametrize(("category", "missing"), [
    (Category.WORK_ELSEWHERE, "employer"), (Category.REFERRAL, "hospital"),
    (Category.REFERRAL, "referring_hospital"), (Category.EMERGENCY, "hospital"),
    (Category.LONG_TERM_RESIDENT, "commitment"), (Category.TEMPORARY_TRIP, "commitment"),
    (Category.RESETTLED_RETIREE, "commitment"), (Category.TEMPORARY_TRIP, "destination"),
    (Category.EMERGENCY, "start_date")])
async def test_required_fields_per_category(api, deps, standins, category, missing):
    person_id, token, _ = await citizen(api, deps, standins)
    body = body_for(category, person_id)
    body.pop(missing, None)
    reply = await file(api, token, body)
    assert reply.status == 400
    assert reply.json()["error"]["field"].startswith(missing)
    assert await deps.filings.repo.of_person(person_id) == []


async def test_the_commitment_letter_must_be_accepted_in_its_current_version(api, deps,
                                                                            standins):
    person_id, token, _ = await citizen(api, deps, standins)
    old = await file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id,
                                          commitment={"accepted": True, "version": "2019-01"}))
    assert old.json()["error"]["field"] == "commitment.version"
    declined = await file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id,
                                               commitment={"accepted": False}))
    assert declined.status == 400
    ok = await file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id))
    assert ok.status == 201


async def test_a_referral_without_the_transfer_reference_waits_for_review(api, deps, standins,
                                                                         clock):
    person_id, token, _ = await citizen(api, deps, standins)
    body = body_for(Category.REFERRAL, person_id)
    body.pop("transfer_reference")
    pending = await file(api, token, body)
    assert pending.json()["status"] == "pending_review"
    _, totp = await console_account(deps, "agent-review", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-review", totp)).json()["access_token"])
    filing_id = pending.json()["filing_id"]
    citizen_try = await api.post(f"/v1/medical/filings/{filing_id}/approve",
                                 headers={**token, "If-Match": pending.headers["ETag"]})
    assert citizen_try.status == 403
    approved = await api.post(f"/v1/medical/filings/{filing_id}/approve",
                              headers={**agent, "If-Match": pending.headers["ETag"]})
    assert approved.json()["status"] == "effective"


async def test_late_filing_is_marked_and_after_discharge_refused(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    late = await file(api, token, body_for(Category.EMERGENCY, person_id,
                                           start_date="2026-11-20",
                                           admission_date="2026-11-20"))
    assert late.json()["late"] is True
    after = await file(api, token, body_for(Category.EMERGENCY, person_id,
                                            start_date="2026-11-10", admission_date="2026-11-10",
                                            discharge_date="2026-11-18"))
    assert (after.status, after.error_code) == (400, "FILING_AFTER_DISCHARGE")
    assert "手工报销" in after.json()["error"]["message"]


# -- rules across filings ---------------------------------------------------------------------


async def test_one_long_term_filing_plus_temporary_ones(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    first = await file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id))
    assert first.status == 201
    elsewhere = await file(api, token, body_for(Category.WORK_ELSEWHERE, person_id,
                                                destination=HAIKOU))
    assert (elsewhere.status, elsewhere.error_code) == (409, "LONG_TERM_FILING_EXISTS")
    assert "广东省广州市" in elsewhere.json()["error"]["destination"]
    trip = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id,
                                           destination=BEIJING))
    assert trip.status == 201


async def test_concurrent_long_term_filings_leave_exactly_one(api, deps, standins):
    import asyncio
    person_id, token, _ = await citizen(api, deps, standins)
    replies = await asyncio.gather(*[
        file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id,
                                  destination=place)) for place in (GUANGZHOU, HAIKOU, BEIJING)])
    assert sorted(r.status for r in replies) == [201, 409, 409]
    assert len(await deps.filings.repo.of_person(person_id)) == 1


async def test_a_retried_create_makes_exactly_one_filing(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    body = body_for(Category.TEMPORARY_TRIP, person_id)
    first = await file(api, token, body, key="same-filing-key")
    again = await file(api, token, body, key="same-filing-key")
    assert first.json()["filing_id"] == again.json()["filing_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await deps.filings.repo.of_person(person_id)) == 1


async def test_long_term_filings_cannot_change_in_their_first_six_months(api, deps, standins,
                                                                         clock):
    person_id, token, login = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.LONG_TERM_RESIDENT, person_id))
    path = f"/v1/medical/filings/{filed.json()['filing_id']}"
    locked = await api.request("PATCH", path, json_body={"destination": HAIKOU},
                               headers={**token, "If-Match": filed.headers["ETag"]})
    assert (locked.status, locked.error_code) == (409, "FILING_CHANGE_LOCKED")
    assert locked.json()["error"]["unlock_date"] == "2027-05-25"
    clock.advance(days=184)
    token = await log_in_again(api, standins, login)
    changed = await api.request("PATCH", path, json_body={"destination": HAIKOU},
                                headers={**token, "If-Match": filed.headers["ETag"]})
    assert changed.status == 200, changed.body
    assert changed.json()["destination"]["name"] == "海南省海口市"
    assert [h["event"] for h in changed.json()["history"]] == ["file", "change"]
    assert FILING_CHANGED in [m.kind for m in await deps.outbox.inbox(person_id)]


async def test_stale_etag_412_and_illegal_transition_409(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    path = f"/v1/medical/filings/{filed.json()['filing_id']}"
    changed = await api.request("PATCH", path, json_body={"destination": HAIKOU},
                                headers={**token, "If-Match": filed.headers["ETag"]})
    assert changed.status == 200
    stale = await api.post(f"{path}/cancel", headers={**token, "If-Match": filed.headers["ETag"]})
    assert stale.status == 412
    cancelled = await api.post(f"{path}/cancel",
                               headers={**token, "If-Match": changed.headers["ETag"]})
    assert cancelled.json()["status"] == "cancelled"
    again = await api.post(f"{path}/cancel",
                           headers={**token, "If-Match": cancelled.headers["ETag"]})
    assert (again.status, again.error_code) == (409, "FILING_TRANSITION_REFUSED")
    assert again.json()["error"]["current_state"] == "cancelled"


async def test_expiry_is_decided_on_read_and_made_durable_by_the_daily_job(api, deps, standins,
                                                                         clock):
    from medical_insurance import service as filings
    person_id, token, login = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    filing_id = filed.json()["filing_id"]
    clock.advance(days=200)
    token = await log_in_again(api, standins, login)
    read = await api.get(f"/v1/medical/filings/{filing_id}", headers=token)
    assert read.json()["status"] == "expired"
    assert (await deps.filings.repo.get(filing_id)).status.value == "effective"  # not yet stored
    assert (await filings.daily(ctx=deps.filings))["expired"] >= 1
    assert (await deps.filings.repo.get(filing_id)).status.value == "expired"


# -- hospitals, settlements, certificate --------------------------------------------------------


async def test_hospital_verification_before_during_and_after_validity(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    person = await deps.people.get(person_id)
    key = await create_service_key("广州某医院", frozenset({"filing.verify"}), ctx=deps.auth)

    async def ask(day, place=GUANGZHOU):
        reply = await api.post("/v1/medical/filings/verify", headers={"X-Service-Key": key},
                               json_body={"id_number": person.id_number, **place, "date": day})
        assert reply.status == 200
        return reply.json()

    assert (await ask("2026-11-24"))["covered"] is False  # before the start date
    during = await ask("2027-01-10")
    assert during["covered"] is True and during["category"] == "temporary_trip"
    assert during["valid_until"] == "2027-05-24"
    assert (await ask("2027-05-25"))["covered"] is False  # after
    assert (await ask("2027-01-10", HAIKOU))["covered"] is False  # another city
    audits = await deps.audit.find(action="filing.verify", object=person_id)
    assert len(audits) == 4


async def test_settlements_are_idempotent_and_certify_pensioners(api, deps, standins):
    person_id, _number = await add_person(deps, phone=new_phone())
    person = await deps.people.get(person_id)
    key = await create_service_key("国家平台", frozenset({"settlement.ingest"}), ctx=deps.auth)
    record = {"settlement_no": "JS20261120001", "id_number": person.id_number,
              "date": "2026-11-20", "institution": "广州市第一人民医院", "amount_fen": 125_000}
    first = await api.post("/v1/medical/settlements", json_body=record,
                           headers={"X-Service-Key": key})
    assert first.json() == {"outcome": "stored"}
    again = await api.post("/v1/medical/settlements", json_body=record,
                           headers={"X-Service-Key": key})
    assert again.json() == {"outcome": "duplicate"}
    state = await deps.cert.repo.state(person_id)
    assert state.history[-1]["channel"] == "passive"
    assert state.last_certified_on.isoformat() == "2026-11-20"
    bad = await api.post("/v1/medical/settlements", headers={"X-Service-Key": key},
                         json_body={**record, "settlement_no": "X2", "amount_fen": "12.5"})
    assert bad.status == 400


async def test_the_certificate_page(api, deps, standins):
    person_id, token, _ = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.RESETTLED_RETIREE, person_id))
    page = await api.get(f"/v1/medical/filings/{filed.json()['filing_id']}/certificate",
                         headers=token)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    for expected in ("异地就医备案凭证", "异地安置退休", "广东省广州市", "<svg", "校验码"):
        assert expected in text
    person = await deps.people.get(person_id)
    assert person.id_number not in text  # masked on the printout too
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "onclick" not in text and "<script>" not in text  # no inline script


# -- who may file --------------------------------------------------------------------------


async def test_a_family_member_files_with_authorisation_only(api, deps, standins):
    parent_id, parent_token, _ = await citizen(api, deps, standins)
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    child_token = bearer(child["access_token"])
    refused = await file(api, child_token, body_for(Category.TEMPORARY_TRIP, parent_id))
    assert refused.status == 404

    await authorise_family(api, parent_token, child_token, child_phone, ["filing"], "med-family-01")
    filed = await file(api, child_token, body_for(Category.TEMPORARY_TRIP, parent_id))
    assert filed.status == 201
    assert filed.json()["history"][0]["on_behalf"] == parent_id
    [entry] = await deps.audit.find(action="filing.create", object=filed.json()["filing_id"])
    assert (entry.actor, entry.on_behalf_of) == (child["account"]["account_id"], parent_id)


async def test_agents_search_their_region(api, deps, standins, clock):
    person_id, token, _ = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    _, totp = await console_account(deps, "agent-search", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-search", totp)).json()["access_token"])
    found = await api.get(f"/v1/medical/filings?person_id={person_id}&status=effective",
                          headers=agent)
    assert [f["filing_id"] for f in found.json()["filings"]] == [filed.json()["filing_id"]]
    _, far_totp = await console_account(deps, "agent-far", regions=("152900",))
    far = bearer((await console_login(api, clock, "agent-far", far_totp)).json()["access_token"])
    assert (await api.get(f"/v1/medical/filings?person_id={person_id}", headers=far)
            ).json()["filings"] == []
    clock.advance(timedelta(minutes=1))


async def test_an_agents_search_pages_by_cursor_newest_first(api, deps, standins, clock):
    made = []
    for _ in range(5):
        person_id, token, _ = await citizen(api, deps, standins)
        filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
        made.append(filed.json()["filing_id"])
        clock.advance(timedelta(seconds=1))
    _, totp = await console_account(deps, "agent-pages", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-pages", totp)).json()["access_token"])
    seen, after, pages = [], "", 0
    while True:
        page = (await api.get(f"/v1/medical/filings?limit=2&after={after}",
                              headers=agent)).json()
        pages += 1
        seen += [f["filing_id"] for f in page["filings"]]
        if not page.get("next_cursor"):
            break
        after = page["next_cursor"]
    # Newest first, none twice, none missed (other tests' filings share the region).
    assert [f for f in seen if f in made] == list(reversed(made))
    assert len(seen) == len(set(seen)) and pages >= 3
    bad = await api.get("/v1/medical/filings?after=bm90LWEtY3Vyc29y", headers=agent)
    assert (bad.status, bad.error_code) == (400, "VALIDATION_FAILED")


async def test_settlements_from_a_csv_file(devdb, db_name, deps, tmp_path):
    from tests.conftest import run_app
    person_id, number = await add_person(deps, phone=new_phone())
    source = tmp_path / "settlements.csv"
    source.write_text("settlement_no,id_number,date,institution,amount_fen\n"
                      f"S-1,{number},2026-11-19,某医院,8800\n"
                      f"S-2,{number},2026-11-19,某医院,12.5\n", encoding="utf-8")
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    first = await run_app("import-settlements", str(source), env=env)
    assert "stored 1" in first.stdout and "rejected (ValueError) 1" in first.stdout
    again = await run_app("import-settlements", str(source), env=env)
    assert "duplicate 1" in again.stdout
    assert (await deps.cert.repo.state(person_id)).last_certified_on.isoformat() == "2026-11-19"


async def test_a_notice_goes_out_a_week_before_a_temporary_filing_ends(api, deps, standins,
                                                                      clock):
    from medical_insurance import service as filings
    from notifications.templates import FILING_EXPIRING
    person_id, token, _ = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    end = filed.json()["end_date"]
    from datetime import date as _date
    week_before = _date.fromisoformat(end) - timedelta(days=7)
    assert (await filings.daily(ctx=deps.filings, today=week_before))["noticed"] >= 1
    assert FILING_EXPIRING in [m.kind for m in await deps.outbox.inbox(person_id)]


async def test_a_create_that_died_before_listing_is_listed_by_its_retry(api, deps, standins,
                                                                       monkeypatch):
    """The database goes away after the filing is stored and before it is listed: the
    client gets 503, retries with the same key, and the filing is in the lists."""
    from pymongo.errors import AutoReconnect
    person_id, token, _ = await citizen(api, deps, standins)
    real_list = deps.filings.repo._list
    calls = []

    async def dies_once(filing, region_code):
        calls.append(filing.filing_id)
        if len(calls) == 1:
            raise AutoReconnect("connection lost")
        await real_list(filing, region_code)

    monkeypatch.setattr(deps.filings.repo, "_list", dies_once)
    body = body_for(Category.TEMPORARY_TRIP, person_id)
    first = await file(api, token, body, key="died-before-listing-1")
    assert first.status == 503
    again = await file(api, token, body, key="died-before-listing-1")
    assert again.status == 201, again.body
    listed = await api.get(f"/v1/medical/filings?person_id={person_id}", headers=token)
    assert again.json()["filing_id"] in [f["filing_id"] for f in listed.json()["filings"]]


async def test_a_client_without_patch_changes_a_filing_by_post(api, deps, standins):
    """WeChat's wx.request cannot send PATCH: POST …/change does the same, If-Match too."""
    person_id, token, _ = await citizen(api, deps, standins)
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    path = f"/v1/medical/filings/{filed.json()['filing_id']}/change"
    unconditional = await api.post(path, json_body={"destination": HAIKOU}, headers=token)
    assert unconditional.status == 428
    changed = await api.post(path, json_body={"destination": HAIKOU},
                             headers={**token, "If-Match": filed.headers["ETag"]})
    assert changed.status == 200, changed.body
    assert changed.json()["destination"]["name"] == "海南省海口市"
    stale = await api.post(path, json_body={"destination": HAIKOU},
                           headers={**token, "If-Match": filed.headers["ETag"]})
    assert stale.status == 412


async def test_a_filing_listed_twice_by_racing_requests_shows_once(api, deps, standins, clock):
    """A create and its retry may both finish listing the same filing: lists show it once."""
    person_id, token, _ = await citizen(api, deps, standins)
    filed = (await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))).json()
    filing = await deps.filings.repo.get(filed["filing_id"])
    person = await deps.people.get(person_id)
    await deps.filings.repo._list(filing, person.region_code)  # the racing second listing
    mine = await api.get(f"/v1/medical/filings?person_id={person_id}", headers=token)
    assert [f["filing_id"] for f in mine.json()["filings"]] == [filed["filing_id"]]
    _, totp = await console_account(deps, "agent-twice", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-twice", totp)).json()["access_token"])
    seen, after = [], ""
    while True:
        page = (await api.get(f"/v1/medical/filings?limit=3&after={after}",
                              headers=agent)).json()
        seen += [f["filing_id"] for f in page["filings"]]
        if not page.get("next_cursor"):
            break
        after = page["next_cursor"]
    assert seen.count(filed["filing_id"]) == 1, filed["filing_id"]
