"""The 12333 agent console's API over real HTTP against the embedded database: caller search
(ID number, phone, name with birth year) within the agent's regions, the one-screen masked
overview, reveals (audited, counted, alerting in /metrics), and the actions, each with
If-Match and an audit id: a 12333 temporary card loss, home and office certification, the
reminder resent. Expected values come from the domain rules (docs/domain-rules.md)."""

from __future__ import annotations

from datetime import date

import pytest

from pension_cert import service as cert
from tests.console_journeys import assert_masked, console_user, person
from tests.journeys import (
    authorise_family,
    bearer,
    make_card,
    new_phone,
    sms_login,
    verified_citizen,
)

pytestmark = pytest.mark.usefixtures("reset_standins")

SEARCH = "/v1/console/callers/search"


async def test_search_finds_callers_of_the_agents_regions_only_masked(api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "search-agent")
    shared = new_phone()  # a couple in Hohhot and a relative in Baotou share one phone
    inside, inside_number = await person(deps, region="150102", phone=shared, name="乌云",
                                         born=date(1952, 6, 1))
    _, spouse_number = await person(deps, region="150105", phone=shared, name="巴特尔",
                                    born=date(1950, 1, 9))
    outside, outside_number = await person(deps, region="150202", phone=shared, name="乌云",
                                           born=date(1952, 6, 1))
    secrets = (inside_number, spouse_number, outside_number, shared)

    by_number = await api.post(SEARCH, headers=auth, json_body={"id_number": inside_number})
    assert by_number.status == 200, by_number.body
    [found] = by_number.json()["callers"]
    assert found["person_id"] == inside
    assert found["id_number"] == inside_number[:4] + "*" * 10 + inside_number[-4:]
    assert found["phone"] == shared[:3] + "****" + shared[-4:]
    assert found["name"] == "乌*"
    assert found["region_name"] == "新城区"
    assert_masked(by_number, *secrets)

    # Baotou is outside 150100: the same answer as nobody at all.
    baotou = await api.post(SEARCH, headers=auth, json_body={"id_number": outside_number})
    assert (baotou.status, baotou.json()) == (200, {"callers": [], "more": False})

    by_phone = await api.post(SEARCH, headers=auth, json_body={"phone": shared})
    # The couple in Hohhot, not the relative in Baotou.
    assert sorted((c["name"], c["region_code"]) for c in by_phone.json()["callers"]) == [
        ("乌*", "150102"), ("巴**", "150105")]
    assert outside not in by_phone.body.decode()
    assert_masked(by_phone, *secrets)

    by_name = await api.post(SEARCH, headers=auth, json_body={"name": "乌云", "birth_year": 1952})
    assert [c["person_id"] for c in by_name.json()["callers"]] == [inside]
    assert_masked(by_name, *secrets)
    nobody = await api.post(SEARCH, headers=auth, json_body={"name": "乌云", "birth_year": 1953})
    assert nobody.json()["callers"] == []

    searches = await deps.audit.find(action="console.search", actor=agent_id)
    assert len(searches) == 5
    assert all(inside_number not in str(e.detail) and shared not in str(e.detail)
               for e in searches)
    assert {e.detail["kind"] for e in searches} == {"id_number", "phone", "name"}


async def test_a_search_shows_at_most_twenty_and_refuses_what_is_no_search(
        api, deps, standins, clock):
    auth, _, _ = await console_user(api, deps, clock, "twenty-agent")
    for _ in range(21):
        await person(deps, region="150103", name="王秀英", born=date(1955, 5, 5))
    many = await api.post(SEARCH, headers=auth, json_body={"name": "王秀英", "birth_year": 1955})
    assert len(many.json()["callers"]) == 20
    assert many.json()["more"] is True

    for body, code in [({}, "CONSOLE_SEARCH_INVALID"),
                       ({"id_number": "150102195003040118"}, "INVALID_ID_NUMBER"),
                       ({"phone": "12345"}, "CONSOLE_SEARCH_INVALID"),
                       ({"name": "王秀英"}, "CONSOLE_SEARCH_INVALID"),
                       ({"phone": "13800000000", "name": "王秀英", "birth_year": 1955},
                        "CONSOLE_SEARCH_INVALID")]:
        refused = await api.post(SEARCH, headers=auth, json_body=body)
        assert (refused.status, refused.error_code) == (400, code), body
        assert set(refused.json()["error"]) >= {"code", "message", "request_id"}

    login, _ = await verified_citizen(api, deps, standins)
    citizen = {"Authorization": f"Bearer {login['access_token']}"}
    for path in ("/v1/console/me", "/v1/console/review-cases", "/v1/console/audit"):
        assert (await api.get(path, headers=citizen)).error_code == "CONSOLE_AGENTS_ONLY"


async def test_reveal_needs_a_listed_reason_and_is_audited_counted_and_alerted(
        api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "reveal-agent")
    phone = new_phone()
    person_id, number = await person(deps, phone=phone)
    outside, _ = await person(deps, region="150202", phone=new_phone())
    path = f"/v1/console/people/{person_id}/reveal"

    for body in ({"field": "phone", "reason": "curious", "note": "想看看"},
                 {"field": "phone", "reason": "callback", "note": "回拨"}):
        refused = await api.post(path, headers=auth, json_body=body)
        assert (refused.status, refused.error_code) == (400, "REVEAL_INVALID")
        assert_masked(refused, number, phone)
    shown = await api.post(path, headers=auth, json_body={
        "field": "id_number", "reason": "caller_identity", "note": "来电人核对证件号"})
    assert shown.status == 200, shown.body
    assert shown.json()["value"] == number
    assert shown.json()["reveals_today"] == 1
    entry = await deps.audit.get(shown.json()["audit_id"])
    assert (entry.actor, entry.action, entry.object, entry.outcome) == (
        agent_id, "console.reveal", person_id, "id_number")
    assert entry.person_id == person_id
    assert entry.detail["reason"] == "caller_identity"
    assert number not in str(entry.detail)

    hidden = await api.post(f"/v1/console/people/{outside}/reveal", headers=auth, json_body={
        "field": "phone", "reason": "callback", "note": "来电中断回拨"})
    assert (hidden.status, hidden.error_code) == (404, "PERSON_NOT_FOUND")

    threshold = deps.console.metrics.threshold
    for n in range(2, threshold + 2):
        again = await api.post(path, headers=auth, json_body={
            "field": "phone", "reason": "callback", "note": "来电中断回拨"})
        assert again.json()["value"] == phone
        assert again.json()["reveals_today"] == n
        assert again.json()["alert"] is (n > threshold)
    metrics = (await api.get("/metrics")).body.decode()
    assert f'console_reveal_alerts_total{{agent="{agent_id}"}} 1.0' in metrics
    assert f'console_agent_reveals_today{{agent="{agent_id}"}} {threshold + 1}.0' in metrics
    assert f"console_reveal_alert_threshold {threshold}.0" in metrics
    assert len(await deps.audit.find(action="console.reveal", actor=agent_id)) == threshold + 1


async def test_overview_shows_everything_masked_in_one_answer(api, deps, standins, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "overview-agent")
    login, person_id = await verified_citizen(api, deps, standins)  # an app user
    caller = await deps.people.get(person_id)
    await cert.register_new_retiree(person_id, date(2026, 11, 1), ctx=deps.cert)
    await cert.run_cycle(ctx=deps.cert)  # deadline 2026-11-30: the 30-day reminder
    await cert.ingest_signal(source="hospital", record_id="S1", person_id=person_id,
                             kind="medical_settlement", day=date(2026, 11, 20), ctx=deps.cert)
    card = await make_card(deps, person_id, number="6217853100012345678")
    outside, _ = await person(deps, region="150202", phone=new_phone())
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    link = await authorise_family(api, bearer(login["access_token"]),
                                  bearer(child["access_token"]), child_phone, ["card"],
                                  "console-family-1")

    seen = await api.get(f"/v1/console/people/{person_id}", headers=auth)
    assert seen.status == 200, seen.body
    view = seen.json()
    assert view["identity"]["person_id"] == person_id
    assert view["identity"]["name"] == "张**"
    assert view["identity"]["person_type_name"] == "退休人员"
    # Certified on 2026-11-20 by the settlement: 12 months, valid through the day before.
    assert view["certification"]["status"] == "certified"
    assert view["certification"]["valid_through"] == "2027-11-19"
    assert view["certification"]["signals"][0]["day"] == "2026-11-20"
    assert view["certification"]["version"] >= 2
    [shown_card] = view["cards"]
    assert shown_card["card_id"] == card.card_id
    assert shown_card["status_name"] == "正常"
    assert shown_card["card_number"] == "6217" + "*" * 11 + "5678"  # first four, last four
    kinds = [n["kind"] for n in view["notifications"]]
    assert "cert_due_soon" in kinds and "cert_done" in kinds
    assert all(isinstance(n["delivered"], bool) for n in view["notifications"])
    assert view["filings_current"] == []
    assert [(f["link_id"], f["direction"], f["status"], f["permissions"])
            for f in view["family"]] == [(link, "granted", "confirmed", ["card"])]
    assert_masked(seen, caller.id_number, caller.phone, card.card_number, child_phone)

    assert (await api.get(f"/v1/console/people/{outside}", headers=auth)).status == 404
    [entry] = await deps.audit.find(action="console.overview", actor=agent_id)
    assert entry.person_id == person_id


async def test_a_12333_phone_loss_asks_if_match_and_two_questions_and_names_its_audit(
        api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "loss-agent")
    phone = new_phone()
    person_id, number = await person(deps, phone=phone)
    card = await make_card(deps, person_id)
    path = f"/v1/console/cards/{card.card_id}/temp-loss"
    two = {"verified_by": ["id_number", "address"]}

    assert (await api.post(path, headers=auth, json_body=two)).status == 428
    stale = await api.post(path, headers={**auth, "If-Match": '"v9"'}, json_body=two)
    assert stale.status == 412
    one = await api.post(path, headers={**auth, "If-Match": f'"v{card.version}"'},
                         json_body={"verified_by": ["id_number", "id_number"]})
    assert (one.status, one.error_code) == (400, "IDENTITY_QUESTIONS_MISSING")
    done = await api.post(path, headers={**auth, "If-Match": f'"v{card.version}"'},
                          json_body=two)
    assert done.status == 200, done.body
    assert done.headers["ETag"] == f'"v{card.version + 1}"'
    assert_masked(done, number, phone, card.card_number)
    entry = await deps.audit.get(done.json()["audit_id"])
    assert (entry.actor, entry.action, entry.object, entry.person_id, entry.outcome) == (
        agent_id, "console.card_temp_loss", card.card_id, person_id, "temp_loss")
    stored = await deps.cards.repo.get(card.card_id)
    assert stored.status.value == "temp_loss" and stored.bank_status.value == "temp_loss"
    assert stored.history[-1]["verified_by"] == ["身份证号码", "户籍或居住地址"]
    assert stored.history[-1]["channel"] == "12333"
    # Again on the new version: a temporary loss cannot be put on twice (audited refusal).
    twice = await api.post(path, headers={**auth, "If-Match": done.headers["ETag"]},
                           json_body=two)
    assert (twice.status, twice.error_code) == (409, "CARD_TRANSITION_REFUSED")
    refusals = [e for e in await deps.audit.find(action="console.card_temp_loss")
                if e.outcome.startswith("refused")]
    assert refusals[0].outcome == "refused: CARD_TRANSITION_REFUSED"

    outside, _ = await person(deps, region="150202", phone=new_phone())
    other = await make_card(deps, outside)
    hidden = await api.post(f"/v1/console/cards/{other.card_id}/temp-loss",
                            headers={**auth, "If-Match": '"v1"'}, json_body=two)
    assert (hidden.status, hidden.error_code) == (404, "CARD_NOT_FOUND")


async def test_home_visit_and_office_certification_with_if_match(api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "certify-agent")
    person_id, number = await person(deps, phone=new_phone())
    path = f"/v1/console/people/{person_id}/certifications"
    body = {"kind": "home_visit", "note": "上门核实本人健在，卧床"}
    assert (await api.post(path, headers=auth, json_body=body)).status == 428
    # No certification record yet: its version is 0.
    home = await api.post(path, headers={**auth, "If-Match": '"v0"'}, json_body=body)
    assert home.status == 200, home.body
    state = await deps.cert.repo.state(person_id)
    # Certified 2026-11-22 with Hohhot's 12-month cycle: valid through 2027-11-21.
    assert (state.status.value, str(state.valid_through)) == ("certified", "2027-11-21")
    assert home.json()["version"] == state.version
    entry = await deps.audit.get(home.json()["audit_id"])
    assert (entry.actor, entry.action, entry.person_id, entry.detail["kind"]) == (
        agent_id, "console.certify", person_id, "home_visit")
    stale = await api.post(path, headers={**auth, "If-Match": '"v0"'},
                           json_body={"kind": "office", "note": "本人到窗口办理"})
    assert stale.status == 412
    office = await api.post(path, headers={**auth, "If-Match": home.headers["ETag"]},
                            json_body={"kind": "office", "note": "本人到窗口办理"})
    assert office.status == 200, office.body
    assert_masked(office, number)
    assert (await api.post(path, headers={**auth, "If-Match": office.headers["ETag"]},
                           json_body={"kind": "commitment", "note": "家属签字"})).status == 400


async def test_the_last_reminder_is_resent_once_a_day(api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "resend-agent")
    person_id, _ = await person(deps, phone=new_phone())
    silent, _ = await person(deps, phone=new_phone())
    await cert.register_new_retiree(person_id, date(2026, 11, 1), ctx=deps.cert)
    await cert.run_cycle(ctx=deps.cert)  # deadline 2026-11-30: the 30-day reminder goes out
    state = await deps.cert.repo.state(person_id)
    path = f"/v1/console/people/{person_id}/reminders/resend"
    resent = await api.post(path, headers={**auth, "If-Match": f'"v{state.version}"'})
    assert resent.status == 200, resent.body
    message = await deps.outbox.get(resent.json()["detail"]["message_id"])
    assert message.kind == "cert_due_soon"
    assert message.params["due_date"] == "2026-11-30"
    again = await api.post(path, headers={**auth, "If-Match": f'"v{state.version}"'})
    assert again.json()["detail"]["message_id"] == message.message_id  # not sent twice
    entry = await deps.audit.get(resent.json()["audit_id"])
    assert (entry.actor, entry.action, entry.person_id) == (
        agent_id, "console.resend_reminder", person_id)
    none = await api.post(f"/v1/console/people/{silent}/reminders/resend",
                          headers={**auth, "If-Match": '"v0"'})
    assert (none.status, none.error_code) == (409, "NO_REMINDER_TO_RESEND")


async def test_me_and_the_clock_tell_the_console_when_its_session_ends(api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "me-agent",
                                           regions=("150100", "150200"))
    me = (await api.get("/v1/console/me", headers=auth)).json()
    assert me["account_id"] == agent_id
    assert [r["name"] for r in me["regions"]] == ["呼和浩特市", "包头市"]
    assert me["idle_timeout_seconds"] == 1800
    assert me["session_ends_at"] == "2026-11-22T14:00:00Z"
    assert {"caller_identity", "callback"} <= {r["code"] for r in me["reveal_reasons"]}
    assert (await api.get("/v1/console/clock")).json()["now"] == "2026-11-22T02:00:00Z"


async def test_a_home_visit_is_booked_for_a_caller_without_revealing_their_phone(
        api, deps, clock):
    auth, agent_id, _ = await console_user(api, deps, clock, "visit-agent")
    phone = new_phone()
    person_id, number = await person(deps, phone=phone)
    path = f"/v1/console/people/{person_id}/home-visits"
    body = {"preferred_dates": ["2026-11-25"], "address": "新城区海东路 12 号 3 单元 501"}
    assert (await api.post(path, headers=auth, json_body=body)).status == 428
    booked = await api.post(path, headers={**auth, "If-Match": '"v0"'}, json_body=body)
    assert booked.status == 200, booked.body
    assert_masked(booked, number, phone)
    booking = booked.json()["detail"]["booking_id"]
    entry = await deps.audit.get(booked.json()["audit_id"])
    assert (entry.actor, entry.action, entry.person_id, entry.outcome) == (
        agent_id, "console.book_home_visit", person_id, "open")
    visit = await deps.cert.visits.get(booking)
    assert (visit.person_id, visit.phone, visit.preferred_dates) == (
        person_id, phone, (date(2026, 11, 25),))  # the registry's phone, never shown
    retried = await api.post(path, headers={**auth, "If-Match": '"v0"'}, json_body=body)
    assert retried.json()["detail"]["booking_id"] == booking  # the same booking
    other, _ = await person(deps, phone=new_phone())
    too_late = await api.post(f"/v1/console/people/{other}/home-visits",
                              headers={**auth, "If-Match": '"v0"'},
                              json_body={**body, "preferred_dates": ["2027-03-01"]})
    assert (too_late.status, too_late.error_code) == (400, "INVALID_HOME_VISIT")
