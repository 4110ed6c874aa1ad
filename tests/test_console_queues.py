"""The console's queues and the audit trail over real HTTP: review cases and filings by
region and status with cursor pagination (past 500 filings across two leagues), decisions
and filing reviews with If-Match and an audit id, audit reading and CSV export for admins,
agents' own trail, and retention of at least 180 days."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest

from auth.model import Principal, PrincipalKind, Role
from jobs import housekeeping
from tests.conftest import serve
from tests.console_journeys import (
    assert_masked,
    console_user,
    life_after_death_case,
    person,
    temporary_filing,
)
from tests.journeys import new_phone

pytestmark = pytest.mark.usefixtures("reset_standins")

ADMIN = Principal(kind=PrincipalKind.PERSON, subject="A-seed-admin", role=Role.ADMIN)


async def test_review_cases_queue_by_region_and_status_and_decide_with_if_match(
        api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "case-agent")
    admin, _, _ = await console_user(api, deps, clock, "case-admin", regions=(), admin=True)
    hohhot = [await person(deps, region=r, phone=new_phone()) for r in
              ("150102", "150103", "150104")]
    baotou = [await person(deps, region="150202", phone=new_phone()) for _ in range(2)]
    cases = {}
    for n, (person_id, _) in enumerate([*hohhot, *baotou]):
        cases[person_id] = await life_after_death_case(deps, person_id, f"q{n}")
        clock.advance(minutes=1)  # opened one after another

    first = await api.get("/v1/console/review-cases?limit=2", headers=auth)
    assert first.status == 200, first.body
    page = first.json()
    assert [c["person_id"] for c in page["cases"]] == [hohhot[0][0], hohhot[1][0]]
    assert page["cases"][0]["case"]["kind_name"] == "死亡后仍有生存信息"
    assert page["cases"][0]["name"] == "张**"
    second = (await api.get(f"/v1/console/review-cases?limit=2&after={page['next_cursor']}",
                            headers=auth)).json()
    assert [c["person_id"] for c in second["cases"]] == [hohhot[2][0]]
    assert second["next_cursor"] is None
    assert_masked(first, *[number for _, number in hohhot])
    # Baotou is not theirs, not even when asked for by region.
    assert (await api.get("/v1/console/review-cases?region=150202",
                          headers=auth)).json()["cases"] == []
    county = (await api.get("/v1/console/review-cases?region=150103", headers=auth)).json()
    assert [c["person_id"] for c in county["cases"]] == [hohhot[1][0]]
    everyone = (await api.get("/v1/console/review-cases", headers=admin)).json()
    assert len(everyone["cases"]) == 5

    case_id = cases[hohhot[0][0]]
    path = f"/v1/console/review-cases/{case_id}/decision"
    assert (await api.post(path, headers=auth, json_body={"decision": "clear"})).status == 428
    wrong = await api.post(path, headers={**auth, "If-Match": '"v1"'},
                           json_body={"decision": "fraud"})  # not a choice for this kind
    assert wrong.status == 400
    done = await api.post(path, headers={**auth, "If-Match": '"v1"'},
                          json_body={"decision": "clear"})
    assert done.status == 200, done.body
    assert done.json()["version"] == 2
    entry = await deps.audit.get(done.json()["audit_id"])
    assert (entry.actor, entry.action, entry.object, entry.person_id) == (
        agent_id, "console.review_decision", case_id, hohhot[0][0])
    # Cleared: the death record was wrong; certified as of the proof of life.
    state = await deps.cert.repo.state(hohhot[0][0])
    assert state.death_date is None
    assert state.last_certified_on == deps.cert.today() - timedelta(days=2)
    again = await api.post(path, headers={**auth, "If-Match": '"v1"'},
                           json_body={"decision": "confirm"})
    assert again.status == 412
    cleared = (await api.get("/v1/console/review-cases?status=clear", headers=auth)).json()
    assert [c["case"]["case_id"] for c in cleared["cases"]] == [case_id]
    outside = await api.post(f"/v1/console/review-cases/{cases[baotou[0][0]]}/decision",
                             headers={**auth, "If-Match": '"v1"'},
                             json_body={"decision": "clear"})
    assert (outside.status, outside.error_code) == (404, "REVIEW_CASE_NOT_FOUND")


async def _file_many(deps, people: list[str], count: int, prefix: str, clock) -> list[str]:
    """``count`` filings one after another, each a millisecond after the last (the filing
    lists keep append order, which is time order unless two filings share an instant)."""
    ids = []
    for n in range(count):
        filing = await temporary_filing(deps, ADMIN, people[n % len(people)],
                                        f"F{prefix}{n:05d}")
        ids.append(filing.filing_id)
        clock.advance(milliseconds=1)
    return ids


async def _all_pages(api, auth, query: str, limit: int) -> list[dict]:
    seen, after = [], None
    for _ in range(100):
        path = f"/v1/console/filings?limit={limit}{query}" + (f"&after={after}" if after else "")
        reply = await api.get(path, headers=auth)
        assert reply.status == 200, reply.body
        seen += reply.json()["filings"]
        after = reply.json()["next_cursor"]
        if after is None:
            return seen
    raise AssertionError("the pages never ended")


@pytest.mark.timeout(600)
async def test_the_filing_queue_pages_past_500_filings_across_two_leagues(api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "filing-agent")
    admin, _, _ = await console_user(api, deps, clock, "filing-admin", regions=(), admin=True)
    hohhot = [(await person(deps, region="150102", phone=new_phone()))[0] for _ in range(6)]
    baotou = [(await person(deps, region="150203", phone=new_phone()))[0] for _ in range(6)]
    made_h = await _file_many(deps, hohhot, 280, "H", clock)
    made_b = await _file_many(deps, baotou, 240, "B", clock)
    pending = []
    for n in range(3):
        pending.append((await temporary_filing(deps, ADMIN, hohhot[0], f"FP{n:04d}",
                                               referral_without_proof=True)).filing_id)
        clock.advance(milliseconds=1)

    every = await _all_pages(api, admin, "", 200)
    ids = [f["filing"]["filing_id"] for f in every]
    assert len(ids) == len(set(ids)) == 280 + 240 + 3  # each exactly once
    assert set(ids) == {*made_h, *made_b, *pending}
    created = [f["filing"]["history"][0]["at"] for f in every]
    assert created == sorted(created, reverse=True)  # newest first, across both leagues

    mine = await _all_pages(api, auth, "", 50)
    assert {f["filing"]["filing_id"] for f in mine} == {*made_h, *pending}
    assert {f["region_code"] for f in mine} == {"150102"}
    waiting = await _all_pages(api, auth, "&status=pending_review", 50)
    assert [f["filing"]["filing_id"] for f in waiting] == pending[::-1]
    baotou_only = await _all_pages(api, admin, "&region=150200", 100)
    assert {f["filing"]["filing_id"] for f in baotou_only} == set(made_b)
    assert (await _all_pages(api, auth, "&region=150200", 100)) == []

    approve = f"/v1/console/filings/{pending[0]}/approve"
    assert (await api.post(approve, headers=auth)).status == 428
    approved = await api.post(approve, headers={**auth, "If-Match": '"v1"'})
    assert approved.status == 200, approved.body
    entry = await deps.audit.get(approved.json()["audit_id"])
    assert (entry.action, entry.object, entry.person_id) == (
        "console.filing_approve", pending[0], hohhot[0])
    assert (await deps.filings.repo.get(pending[0])).status.value == "effective"
    reject = f"/v1/console/filings/{pending[1]}/reject"
    unexplained = await api.post(reject, headers={**auth, "If-Match": '"v1"'})
    assert unexplained.status == 400
    rejected = await api.post(reject, headers={**auth, "If-Match": '"v1"'},
                              json_body={"reason": "缺少转诊证明"})
    assert rejected.status == 200, rejected.body
    assert (await deps.filings.repo.get(pending[1])).status.value == "rejected"
    outside = await api.post(f"/v1/console/filings/{made_b[0]}/approve",
                             headers={**auth, "If-Match": '"v1"'})
    assert (outside.status, outside.error_code) == (404, "FILING_NOT_FOUND")
    assert await deps.audit.find(action="console.filing_queue", actor=agent_id)


async def test_admins_read_and_export_the_audit_trail_and_agents_only_their_own(
        api, deps, clock):
    auth_a, agent_a, _ = await console_user(api, deps, clock, "trail-a")
    phone = new_phone()
    person_id, number = await person(deps, phone=phone)
    reveal = {"field": "phone", "reason": "callback", "note": "来电中断回拨"}
    for _ in range(3):
        shown = await api.post(f"/v1/console/people/{person_id}/reveal", headers=auth_a,
                               json_body=reveal)
        assert shown.status == 200
        clock.advance(minutes=5)
    clock.advance(days=2)  # A's session is long over; B and the admin log in now
    auth_b, agent_b, _ = await console_user(api, deps, clock, "trail-b")
    admin, _, _ = await console_user(api, deps, clock, "trail-admin", regions=(), admin=True)
    await api.get(f"/v1/console/people/{person_id}", headers=auth_b)
    today = deps.cert.today().isoformat()

    by_agent = (await api.get("/v1/console/audit?actor=trail-a&action=console.reveal&limit=2",
                              headers=admin)).json()
    assert [e["actor"] for e in by_agent["entries"]] == [agent_a, agent_a]
    rest = (await api.get("/v1/console/audit?actor=trail-a&action=console.reveal&limit=2"
                          f"&after={by_agent['next_cursor']}", headers=admin)).json()
    assert len(rest["entries"]) == 1 and rest["next_cursor"] is None
    times = [e["at"] for e in by_agent["entries"] + rest["entries"]]
    assert times == sorted(times, reverse=True)
    by_person = (await api.get(f"/v1/console/audit?person={person_id}", headers=admin)).json()
    assert {e["action"] for e in by_person["entries"]} == {"console.reveal", "console.overview"}
    on_day = (await api.get(f"/v1/console/audit?person={person_id}&since={today}"
                            f"&until={today}", headers=admin)).json()
    assert [e["action"] for e in on_day["entries"]] == ["console.overview"]

    own = await api.get(f"/v1/console/audit?actor={agent_a}", headers=auth_b)
    assert own.status == 200
    assert {e["actor"] for e in own.json()["entries"]} == {agent_b}  # never A's
    assert_masked(own, number, phone)

    export = await api.get(f"/v1/console/audit/export?person={person_id}", headers=admin)
    assert export.status == 200
    assert export.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时间(UTC)", "操作人", "操作"]
    assert sorted(r[2] for r in rows[1:]) == ["console.overview"] + ["console.reveal"] * 3
    assert_masked(export, number, phone)
    assert await deps.audit.find(action="console.audit_export")


async def test_audit_entries_are_kept_at_least_180_days(deps, clock, settings):
    now = clock.now()
    clock.set(now - timedelta(days=181))
    old = await deps.audit.record(actor="A1", action="console.reveal", object="P1",
                                  outcome="phone")
    clock.set(now - timedelta(days=179))
    young = await deps.audit.record(actor="A1", action="console.reveal", object="P1",
                                    outcome="phone")
    clock.set(now)
    # Asked to delete everything older than a day, it still keeps 180 days.
    assert await deps.audit.delete_older_than(now - timedelta(days=1)) == 1
    assert await deps.audit.get(old) is None
    assert await deps.audit.get(young) is not None
    # The housekeeping job at the shortest allowed retention keeps it too.
    short = replace(deps, settings=replace(settings, audit_retention_days=180))
    await housekeeping(short, deps.cert.today())
    assert await deps.audit.get(young) is not None
    clock.advance(days=2)
    await housekeeping(short, deps.cert.today())
    assert await deps.audit.get(young) is None


async def test_the_test_clock_hook_is_refused_outside_dev_and_test(api, deps, clock, settings):
    before = clock.now()
    moved = await api.post("/_test/clock", json_body={"advance_seconds": 60})
    assert moved.status == 200 and clock.now() == before + timedelta(seconds=60)
    production = replace(deps, web=replace(deps.web, settings=replace(settings,
                                                                        app_env="prod")))
    server, prod_api = await serve(settings, production)
    try:
        refused = await prod_api.post("/_test/clock", json_body={"advance_seconds": 60})
        assert (refused.status, refused.error_code) == (404, "NOT_FOUND")
        assert clock.now() == before + timedelta(seconds=60)
    finally:
        prod_api.close()
        server.stop()


async def test_the_console_page_has_a_strict_policy_and_no_inline_script(api):
    page = await api.get("/console/")
    assert page.status == 200
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    html = page.body.decode()
    assert "<script>" not in html and " on" not in html.replace(" one", "")
    assert 'lang="zh-CN"' in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for name in ("console.js", "api.js", "dom.js", "overview.js", "lists.js"):
        script = await api.get(f"/console/{name}")
        assert script.status == 200, name
        assert "javascript" in script.headers["Content-Type"]
        text = script.body.decode()
        assert "localStorage" not in text and "sessionStorage" not in text  # memory only
        assert "innerHTML" not in text and "eval(" not in text
    assert b"12333" in (await api.get("/console")).body  # redirected to /console/
