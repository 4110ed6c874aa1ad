"""Contribution history, proof of insurance and the public check of printed codes, over
HTTP as their clients send them. Expected values come from the rules (domain rules and
《社会保险法》 §16 as docs/records.md states it), written out here by hand."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from auth.service import create_service_key
from medical_insurance.model import Category
from tests.conftest import cli_env, run_app
from tests.journeys import (
    authorise_family,
    bearer,
    body_for,
    console_account,
    console_login,
    file,
    new_ip,
    new_phone,
    verified_citizen,
)

PENSION, MEDICAL = "pension", "medical"


def row(source: str, id_number: str, month: str, kind: str = PENSION, base: str = "500000",
        employer: str = "80000", personal: str = "40000", payer: str = "employer") -> dict:
    return {"source_record_id": source, "id_number": id_number, "month": month,
            "insurance_type": kind, "base_fen": base, "employer_fen": employer,
            "personal_fen": personal, "payer": payer}


async def feed_key(deps) -> dict:
    key = await create_service_key("征缴系统", frozenset({"contributions"}), ctx=deps.auth)
    return {"X-Service-Key": key}


async def insured_with_history(api, deps, standins):
    """A citizen with: pension Jan-Mar 2024 and May 2024 (April missed), medical Jan 2024,
    and a zero pension payment in June 2024 (a record, but nothing paid)."""
    login, person_id = await verified_citizen(api, deps, standins)
    number = (await deps.people.get(person_id)).id_number
    key = await feed_key(deps)
    prefix = person_id[-6:]
    rows = [row(f"{prefix}-1", number, "2024-01"), row(f"{prefix}-2", number, "2024-02"),
            row(f"{prefix}-3", number, "2024-03"), row(f"{prefix}-5", number, "2024-05"),
            row(f"{prefix}-m1", number, "2024-01", MEDICAL, employer="30000", personal="10000"),
            row(f"{prefix}-6", number, "2024-06", employer="0", personal="0")]
    for one in rows:
        fed = await api.post("/v1/records/contributions/feed", json_body=one, headers=key)
        assert fed.json() == {"outcome": "stored"}, fed.body
    return login, person_id, number, key, prefix


async def test_the_history_shows_gaps_years_totals_and_the_15_year_count(api, deps, standins):
    login, _person_id, _number, _key, _prefix = await insured_with_history(api, deps, standins)
    token = bearer(login["access_token"])
    history = (await api.get("/v1/records/contributions", headers=token)).json()
    months = {m["month"]: m for m in history["months"]}
    # month by month from the first record to this month (the clock: November 2026)
    assert history["months"][0]["month"] == "2026-11"
    assert history["months"][-1]["month"] == "2024-01"
    assert len(history["months"]) == 12 + 12 + 11  # 2024, 2025, Jan-Nov 2026
    assert months["2024-04"]["gap"] and months["2024-04"]["paid"] == []
    assert not months["2024-06"]["gap"]  # a record, even if nothing was paid
    assert [p["insurance_type"] for p in months["2024-01"]["paid"]] == [PENSION, MEDICAL]
    # paid months: pension Jan, Feb, Mar, May (June paid nothing); medical Jan
    assert history["paid_months"] == {PENSION: 4, MEDICAL: 1, "unemployment": 0,
                                      "work_injury": 0}
    assert history["counted_towards_minimum"] == 4  # only pension months with money paid
    assert history["minimum_months"] == 180
    [year] = history["years"]
    assert (year["year"], year["employer_fen"], year["personal_fen"]) == (
        2024, 4 * 80000 + 30000, 4 * 40000 + 10000)


async def test_a_correction_is_a_new_version_and_a_changed_resend_is_refused(api, deps,
                                                                             standins):
    login, _person_id, number, key, prefix = await insured_with_history(api, deps, standins)
    token = bearer(login["access_token"])
    fixed = await api.post("/v1/records/contributions/feed", headers=key, json_body=row(
        f"{prefix}-2-fix", number, "2024-02", employer="90000"))
    assert fixed.json() == {"outcome": "corrected"}
    again = await api.post("/v1/records/contributions/feed", headers=key,
                           json_body=row(f"{prefix}-1", number, "2024-01"))
    assert again.json() == {"outcome": "unchanged"}
    changed = await api.post("/v1/records/contributions/feed", headers=key,
                             json_body=row(f"{prefix}-1", number, "2024-01", employer="1"))
    assert (changed.status, changed.error_code) == (400, "SOURCE_RECORD_CONFLICT")
    history = (await api.get("/v1/records/contributions", headers=token)).json()
    february = next(m for m in history["months"] if m["month"] == "2024-02")
    assert february["corrected"] and february["paid"][0]["version"] == 2
    assert february["paid"][0]["employer_fen"] == 90000
    assert history["counted_towards_minimum"] == 4  # a corrected month still counts once
    january = next(m for m in history["months"] if m["month"] == "2024-01")
    assert january["paid"][0]["employer_fen"] == 80000  # the refused resend changed nothing


@pytest.mark.parametrize("dies_at", ["contribution_versions", "contributions"])
async def test_a_row_that_died_half_way_keeps_its_place_when_a_correction_came_meanwhile(
        api, deps, standins, monkeypatch, dies_at):
    """The registry sends July; the database connection drops while it is written (503).
    A correction of July comes in, then July is sent again. Whichever write was lost,
    July ends with two versions, one record each, and is shown as corrected."""
    from pymongo.errors import AutoReconnect

    from records import repository as records_repository
    login, person_id = await verified_citizen(api, deps, standins)
    number = (await deps.people.get(person_id)).id_number
    key = await feed_key(deps)
    prefix = person_id[-6:]
    real_insert = records_repository.insert_new
    died: list[str] = []

    async def dies_once(collection, documents):
        if collection.name == dies_at and not died:
            died.append(collection.name)
            raise AutoReconnect("connection lost")
        return await real_insert(collection, documents)

    monkeypatch.setattr(records_repository, "insert_new", dies_once)
    feed = "/v1/records/contributions/feed"
    july = row(f"{prefix}-7", number, "2024-07")
    lost = await api.post(feed, json_body=july, headers=key)
    assert (lost.status, died) == (503, [dies_at])
    fixed = await api.post(feed, headers=key, json_body=row(f"{prefix}-7-fix", number,
                                                            "2024-07", employer="90000"))
    assert fixed.status == 200, fixed.body
    resent = await api.post(feed, json_body=july, headers=key)
    assert resent.status == 200, resent.body
    history = (await api.get("/v1/records/contributions",
                             headers=bearer(login["access_token"]))).json()
    [month] = [m for m in history["months"] if m["month"] == "2024-07"]
    assert month["corrected"]
    assert [p["version"] for p in month["paid"]] == [2]  # the newest of two
    assert history["paid_months"][PENSION] == 1
    # Versions follow arrival (docs/records.md). July's version was claimed before its
    # row was lost, so July keeps its place and the correction is in force; a delivery
    # lost before its claim left nothing, so the resent July arrived last and is newer.
    in_force = 90000 if dies_at == "contributions" else 80000
    assert month["paid"][0]["employer_fen"] == in_force


async def test_a_source_id_refused_for_another_person_takes_no_version(api, deps, standins):
    """A row reusing someone else's source record id is refused and leaves nothing: the
    person's real first row for that month is version 1, not a correction."""
    _, first_id = await verified_citizen(api, deps, standins)
    second, second_id = await verified_citizen(api, deps, standins)
    first_number = (await deps.people.get(first_id)).id_number
    second_number = (await deps.people.get(second_id)).id_number
    key = await feed_key(deps)
    feed = "/v1/records/contributions/feed"
    source = f"{first_id[-6:]}-shared"
    assert (await api.post(feed, headers=key, json_body=row(source, first_number, "2024-08"))
            ).json() == {"outcome": "stored"}
    refused = await api.post(feed, headers=key, json_body=row(source, second_number, "2024-08"))
    assert (refused.status, refused.error_code) == (400, "SOURCE_RECORD_CONFLICT")
    own = await api.post(feed, headers=key, json_body=row(f"{second_id[-6:]}-8", second_number,
                                                          "2024-08"))
    assert own.json() == {"outcome": "stored"}
    history = (await api.get("/v1/records/contributions",
                             headers=bearer(second["access_token"]))).json()
    [august] = [m for m in history["months"] if m["month"] == "2024-08"]
    assert not august["corrected"] and august["paid"][0]["version"] == 1


async def test_bad_rows_are_refused_and_store_nothing(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    number = (await deps.people.get(person_id)).id_number
    key = await feed_key(deps)
    for bad, field in ((row("b1", number, "2024-01", employer="-1"), "employer_fen"),
                       (row("b2", number, "2024-01", personal="12.5"), "personal_fen"),
                       (row("b3", number, "2027-01"), "month"),
                       (row("b4", number, "2024-01", kind="housing"), "insurance_type")):
        refused = await api.post("/v1/records/contributions/feed", json_body=bad, headers=key)
        assert (refused.status, refused.error_code) == (400, "INVALID_CONTRIBUTION"), field
    history = (await api.get("/v1/records/contributions",
                             headers=bearer(login["access_token"]))).json()
    assert history["months"] == [] and history["counted_towards_minimum"] == 0
    no_key = await api.post("/v1/records/contributions/feed", json_body=row("b5", number,
                                                                          "2024-01"))
    assert no_key.status == 401


async def test_the_csv_import_reports_bad_lines_and_keeps_the_good(api, deps, standins,
                                                                  devdb, db_name, tmp_path):
    login, person_id = await verified_citizen(api, deps, standins)
    number = (await deps.people.get(person_id)).id_number
    source = tmp_path / "contributions.csv"
    header = ("source_record_id,id_number,month,insurance_type,base_fen,employer_fen,"
              "personal_fen,payer\n")
    source.write_text(header
                      + f"csv-{person_id}-1,{number},2025-01,pension,500000,80000,40000,employer\n"
                      + f"csv-{person_id}-2,{number},2025-02,pension,500000,-5,40000,employer\n"
                      + f"csv-{person_id}-3,{number},2030-01,pension,500000,80000,40000,employer\n"
                      + f"csv-{person_id}-4,150102190001011234,2025-01,pension,1,1,1,employer\n"
                      + f"csv-{person_id}-5,{number},2025-03,medical,300000,0,6000,flexible\n"
                      # January corrected in the same file: the later line is the newer
                      + f"csv-{person_id}-6,{number},2025-01,pension,500000,90000,40000,employer\n",
                      encoding="utf-8")
    done = await run_app("import-contributions", str(source), env=cli_env(devdb, db_name))
    assert "stored 3" in done.stdout and "rejected 3" in done.stdout, done.stdout
    assert "line 3 [employer_fen]" in done.stdout
    assert "line 4 [month]" in done.stdout
    assert "line 5 [id_number]" in done.stdout
    history = (await api.get("/v1/records/contributions",
                             headers=bearer(login["access_token"]))).json()
    assert history["paid_months"][PENSION] == 1 and history["paid_months"][MEDICAL] == 1
    [january] = [m for m in history["months"] if m["month"] == "2025-01"]
    assert january["corrected"]
    assert [(p["version"], p["employer_fen"]) for p in january["paid"]] == [(2, 90000)]


async def test_family_needs_the_records_permission_and_agents_their_region(api, deps, standins,
                                                                          clock):
    parent, parent_id, _number, _key, _prefix = await insured_with_history(api, deps, standins)
    parent_token = bearer(parent["access_token"])
    child_phone = new_phone()
    child, _ = await verified_citizen(api, deps, standins, phone=child_phone)
    child_token = bearer(child["access_token"])
    path = f"/v1/records/contributions?person_id={parent_id}"
    assert (await api.get(path, headers=child_token)).status == 404
    await authorise_family(api, parent_token, child_token, child_phone, ["card"], "fam-card")
    assert (await api.get(path, headers=child_token)).status == 404  # another permission
    other_phone = new_phone()
    other, _ = await verified_citizen(api, deps, standins, phone=other_phone)
    await authorise_family(api, parent_token, bearer(other["access_token"]), other_phone,
                           ["records"], "fam-records")
    allowed = await api.get(path, headers=bearer(other["access_token"]))
    assert allowed.status == 200 and allowed.json()["counted_towards_minimum"] == 4
    _, totp = await console_account(deps, "records-agent", regions=("150100",))
    agent = bearer((await console_login(api, clock, "records-agent", totp)).json()["access_token"])
    assert (await api.get(path, headers=agent)).status == 200
    _, far_totp = await console_account(deps, "records-far", regions=("150200",))
    far = bearer((await console_login(api, clock, "records-far", far_totp)).json()["access_token"])
    assert (await api.get(path, headers=far)).status == 404
    audited = await deps.db["audit"].find_one({"action": "contributions.read",
                                               "object": parent_id})
    assert audited is not None


async def test_a_proof_prints_verifies_expires_and_can_be_revoked(api, deps, standins, clock):
    login, _person_id, number, _key, _prefix = await insured_with_history(api, deps, standins)
    token = bearer(login["access_token"])
    issued = await api.post("/v1/records/proofs", headers={**token, "Idempotency-Key": "proof-key-0001"})
    assert issued.status == 201, issued.body
    proof = issued.json()
    assert number not in issued.body.decode()  # the ID number only masked
    assert proof["id_number"].startswith(number[:4]) and proof["id_number"].endswith(number[-4:])
    assert proof["months"] == {PENSION: 4, MEDICAL: 1}
    assert [(p["first"], p["last"], p["months"]) for p in proof["periods"]
            if p["insurance_type"] == PENSION] == [("2024-01", "2024-03", 3),
                                                   ("2024-05", "2024-05", 1)]
    replay = await api.post("/v1/records/proofs", headers={**token, "Idempotency-Key": "proof-key-0001"})
    assert replay.json()["proof_id"] == proof["proof_id"]

    page = await api.get(proof["print_url"], headers=token)
    text = page.body.decode()
    assert "社会保险参保缴费证明" in text and number not in text and "<svg" in text
    pdf = await api.get(proof["pdf_url"], headers=token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    words = PdfReader(io.BytesIO(pdf.body)).pages[0].extract_text()
    for fact in ("社会保险参保缴费证明", proof["id_number"], "基本养老保险", "4个月",
                 "2024-01至2024-03（3个月）", proof["proof_id"]):
        assert fact in words, fact
    assert number not in words

    checker = new_ip()
    valid = await api.post("/v1/verify", json_body={"code": proof["code"]}, headers=checker)
    assert valid.json()["status"] == "valid" and valid.json()["kind"] == "insurance_proof"
    assert {"label": "基本养老保险", "value": "累计缴费4个月"} in valid.json()["facts"]
    assert number not in valid.body.decode()
    head, body, signature = proof["code"].split(".")
    tampered_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for forged in (f"{head}.{tampered_body}.{signature}", f"{head}.{body}.{signature[::-1]}"):
        refused = await api.post("/v1/verify", json_body={"code": forged}, headers=checker)
        assert (refused.status, refused.error_code) == (400, "CODE_NOT_GENUINE")
    clock.advance(timedelta(days=91))
    expired = await api.post("/v1/verify", json_body={"code": proof["code"]}, headers=checker)
    assert expired.json()["status"] == "expired"
    clock.advance(timedelta(days=-91))
    revoked = await api.post(f"/v1/records/proofs/{proof['proof_id']}/revoke", headers=token)
    assert revoked.json()["status"] == "revoked"
    after = await api.post("/v1/verify", json_body={"code": proof["code"]}, headers=checker)
    assert after.json()["status"] == "revoked"
    audit = [e async for e in deps.db["audit"].find({"action": "code.verify"})]
    assert {e["outcome"] for e in audit} >= {"valid", "expired", "revoked", "not_genuine"}


async def test_the_filing_certificate_code_is_checked_too(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    filed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id))
    filing = filed.json()
    page = await api.get(f"/v1/medical/filings/{filing['filing_id']}/certificate", headers=token)
    found = re.search(r"<th>校验码</th><td>([^<]+)</td>", page.body.decode())
    assert found is not None
    code = found.group(1)
    checker = new_ip()
    valid = await api.post("/v1/verify", json_body={"code": code}, headers=checker)
    assert (valid.json()["kind"], valid.json()["status"]) == ("filing_certificate", "valid")
    forged = code[:-3] + ("xyz" if not code.endswith("xyz") else "abc")
    refused = await api.post("/v1/verify", json_body={"code": forged}, headers=checker)
    assert (refused.status, refused.error_code) == (400, "CODE_NOT_GENUINE")
    cancelled = await api.post(f"/v1/medical/filings/{filing['filing_id']}/cancel",
                               headers={**token, "If-Match": filed.headers["ETag"]},
                               json_body={"reason": "行程取消"})
    assert cancelled.status == 200, cancelled.body
    after = await api.post("/v1/verify", json_body={"code": code}, headers=checker)
    assert after.json()["status"] == "revoked"
