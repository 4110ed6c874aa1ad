"""The texts a person reads before acting come from the server that checks them: the
filing guide (categories, fields, the 承诺书) and the face-check notice (告知书). Expected
values are the rules as docs/domain-rules §1 and §3 state them, written out here; the
versions a client signs are the ones these routes served."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from medical_insurance.model import Category
from tests.journeys import bearer, body_for, file, retiree, verified_citizen

# 医保发〔2022〕22号 Art. 7 and 8 (domain rules §3): long-term categories, temporary ones,
# the commitment standing in for proof of residence, referrals' transfer proof.
EXPECTED_CATEGORIES = [
    # category, name, long term, commitment, required fields, optional fields
    ("resettled_retiree", "异地安置退休", True, True, set(), set()),
    ("long_term_resident", "异地长期居住", True, True, set(), set()),
    ("work_elsewhere", "常驻异地工作", True, True, {"employer"}, set()),
    ("referral", "异地转诊", False, False, {"hospital", "referring_hospital"},
     {"transfer_reference"}),
    ("emergency", "急诊抢救", False, False, {"hospital"}, set()),
    ("temporary_trip", "其他临时外出", False, True, set(), set()),
]


async def test_the_filing_guide_lists_the_categories_their_fields_and_the_letter(api):
    answer = await api.get("/v1/medical/filing-guide")  # no login: read before signing in
    assert answer.status == 200, answer.body
    guide = answer.json()
    got = [(c["category"], c["name"], c["long_term"], c["commitment"],
            {f["field"] for f in c["fields"] if f["required"]},
            {f["field"] for f in c["fields"] if not f["required"]}) for c in guide["categories"]]
    assert got == EXPECTED_CATEGORIES
    resettled = guide["categories"][0]
    assert resettled["pensioners_only"] and "退休" in resettled["who"]
    assert all(c["who"] and all(f["label"] for f in c["fields"]) for c in guide["categories"])
    letter = guide["commitment"]
    assert letter["title"] == "个人承诺书" and len(letter["paragraphs"]) >= 2
    assert any("真实" in p for p in letter["paragraphs"])  # what the person promises
    assert guide["temporary_months"] >= 6  # temporary filings last at least 6 months


async def test_a_filing_signs_the_letter_version_the_guide_served(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    version = (await api.get("/v1/medical/filing-guide")).json()["commitment"]["version"]
    stale = body_for(Category.TEMPORARY_TRIP, person_id,
                     commitment={"accepted": True, "version": "2020-01"})
    refused = await file(api, token, stale)
    assert (refused.status, refused.error_code) == (400, "FILING_INVALID")
    assert refused.json()["error"]["field"] == "commitment.version"
    assert (await api.get("/v1/medical/filings", headers=token)).json()["filings"] == []
    signed = await file(api, token, body_for(Category.TEMPORARY_TRIP, person_id, commitment={
        "accepted": True, "version": version}))
    assert signed.status == 201, signed.body


async def test_consent_counts_for_the_notice_that_was_shown(api, deps, standins, clock):
    notice = (await api.get("/v1/pension/consent-notice")).json()
    text = "".join(notice["paragraphs"])
    # PIPL Art. 17 and domain rules §1: purpose, what is kept and how long, withdrawal,
    # and the routes that need no face.
    assert "养老金" in text and "保存" in text and "撤回" in text
    assert all(route in text for route in ("网点", "上门", "家人"))
    _, person_id, token = await retiree(api, deps, standins, clock, photo=None, consent=False)
    path = f"/v1/pension/people/{person_id}/consent"
    stale = await api.post(path, headers=token,
                           json_body={"decision": "give", "notice_version": "2020-01"})
    assert (stale.status, stale.error_code) == (400, "CONSENT_NOTICE_OUTDATED")
    assert "重新阅读" in stale.json()["error"]["message"]
    assert (await api.get(path, headers=token)).json()["status"] == "none"  # nothing stored
    given = await api.post(path, headers=token, json_body={
        "decision": "give", "notice_version": notice["version"]})
    assert given.status == 200, given.body
    assert given.json()["notice_version"] == notice["version"]
    # Refusing or withdrawing needs no reading: any version, or none, is taken.
    withdrawn = await api.post(path, headers=token, json_body={
        "decision": "withdraw", "notice_version": "2020-01"})
    assert withdrawn.json()["status"] == "withdrawn"


async def test_the_notice_states_the_periods_the_settings_keep(api, deps, standins, clock):
    """FACE_DEAD_RETENTION_DAYS=60: the notice says 60 days and is another version, so a
    consent to the 30-day text is not taken as consent to this one."""
    usual = (await api.get("/v1/pension/consent-notice")).json()
    assert "30 天" in "".join(usual["paragraphs"])  # the default setting
    deps.cert.config = dataclasses.replace(deps.cert.config,
                                           template_retention=timedelta(days=60))
    longer = (await api.get("/v1/pension/consent-notice")).json()
    assert longer["version"] != usual["version"]
    assert "60 天" in "".join(longer["paragraphs"]) and "60 天" in longer["retention"]
    _, person_id, token = await retiree(api, deps, standins, clock, photo=None, consent=False)
    path = f"/v1/pension/people/{person_id}/consent"
    old = await api.post(path, headers=token,
                         json_body={"decision": "give", "notice_version": usual["version"]})
    assert (old.status, old.error_code) == (400, "CONSENT_NOTICE_OUTDATED")
    assert (await api.post(path, headers=token, json_body={
        "decision": "give", "notice_version": longer["version"]})).status == 200
    [entry] = (await api.get(path, headers=token)).json()["history"]
    assert "60 天" in entry["retention"]
