"""Social-security card services over real HTTP, against the embedded database and the
stand-ins: the lifecycle table cell by cell, loss, replacement, renewal, the phone
channel, feeds, and the electronic card code."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest

from auth.model import Role
from auth.service import create_console_account, create_service_key
from social_card.model import (
    CardStatus,
    CardTransitionRefused,
    Event,
    lifts_on,
    next_status,
)
from tests.journeys import (
    add_person,
    authorise_family,
    bearer,
    console_account,
    console_login,
    control,
    make_card,
    new_phone,
    sms_login,
    sms_to,
    verified_citizen,
)

BODY = {"verified_by": ["姓名", "身份证号后四位"], "address": "呼和浩特市新城区某街道1号"}
pytestmark = pytest.mark.usefixtures("reset_standins")
_numbers = itertools.count(1)




async def event(api, token, card_id, name, body=None, etag=None):
    if etag is None:
        etag = (await api.get(f"/v1/cards/{card_id}", headers=token)).headers["ETag"]
    return await api.post(f"/v1/cards/{card_id}/{name}", json_body=body or {},
                          headers={**token, "If-Match": etag})


async def admin_token(api, deps, clock, name):
    _, secret = await create_console_account(username=name, display_name="管理员",
                                             password="correct horse battery", role=Role.ADMIN,
                                             regions=(), ctx=deps.auth)
    import pyotp
    reply = await api.post("/v1/console/login", json_body={
        "username": name, "password": "correct horse battery",
        "totp": pyotp.TOTP(secret).at(clock.now())})
    return bearer(reply.json()["access_token"])


# -- the table, cell by cell -------------------------------------------------------------------


# Domain rules §4, written out cell by cell (not taken from the code): a card is made
# sealed (封存) and activated (正常); a temporary loss (临时挂失) is lifted by 解除; a
# formal loss (正式挂失) comes from normal or temporary loss and is needed before a
# replacement (补卡), which ends the lost card; 解挂 works only until then; a renewal
# (换卡) ends a normal card; an agent can cancel (注销) any card not yet cancelled.
S, N, T, F, X = (CardStatus.SEALED, CardStatus.NORMAL, CardStatus.TEMP_LOSS,
                 CardStatus.FORMAL_LOSS, CardStatus.CANCELLED)
EXPECTED: dict[tuple[CardStatus, Event], CardStatus] = {
    (S, Event.ACTIVATE): N,
    (N, Event.TEMP_LOSS): T,
    (T, Event.CANCEL_TEMP_LOSS): N,
    (N, Event.FORMAL_LOSS): F,
    (T, Event.FORMAL_LOSS): F,
    (F, Event.CANCEL_LOSS): N,
    (F, Event.REPLACE): X,
    (N, Event.RENEW): X,
    (S, Event.CANCEL): X,
    (N, Event.CANCEL): X,
    (T, Event.CANCEL): X,
    (F, Event.CANCEL): X,
}


@pytest.mark.parametrize("status", list(CardStatus))
@pytest.mark.parametrize("card_event", list(Event))
def test_every_cell_of_the_lifecycle_table(status, card_event):
    expected = EXPECTED.get((status, card_event))
    if expected is None:
        with pytest.raises(CardTransitionRefused) as refused:
            next_status(status, card_event)
        assert refused.value.params["current_state"] == status.value
    else:
        assert next_status(status, card_event) is expected


async def test_every_transition_over_http_legal_ones_move_illegal_ones_get_409(
        api, deps, standins, clock):
    person_id, _ = await add_person(deps, phone=new_phone())
    token = await admin_token(api, deps, clock, "card-admin")
    soon = deps.cards.today() + timedelta(days=30)  # inside the renewal window
    for status in CardStatus:
        for card_event in Event:
            card = await make_card(deps, person_id, status, expires_on=soon)
            reply = await event(api, token, card.card_id, card_event.value, BODY)
            expected = EXPECTED.get((status, card_event))
            if expected is None:
                assert reply.status == 409, (status, card_event, reply.body)
                assert reply.json()["error"]["current_state"] == status.value
            else:
                assert reply.status == 200, (status, card_event, reply.body)
                assert reply.json()["status"] == expected.value


# -- citizen services ----------------------------------------------------------------------------


async def holder(api, deps, standins):
    phone = new_phone()
    login, person_id = await verified_citizen(api, deps, standins, phone=phone)
    return person_id, bearer(login["access_token"]), login, phone


async def test_a_temporary_loss_lifts_itself_after_15_working_days(api, deps, standins, clock):
    person_id, token, _login, _phone = await holder(api, deps, standins)
    card = await make_card(deps, person_id)
    lost = await event(api, token, card.card_id, "temp_loss")
    assert lost.json()["status"] == "temp_loss"
    lifts = lifts_on(deps.cards.today(), 15)
    assert lost.json()["temp_loss_lifts_on"] == lifts.isoformat()
    assert lifts == date(2026, 12, 12)  # the 15th working day after Sunday 11-22 is Fri 12-11
    clock.set(clock.now() + (lifts - deps.cards.today()) - timedelta(days=1))
    agent = await admin_token(api, deps, clock, "lift-admin")
    before = await api.get(f"/v1/cards/{card.card_id}", headers=agent)
    assert before.status == 200, before.body
    assert before.json()["status"] == "temp_loss"
    clock.advance(days=1)
    agent = await admin_token(api, deps, clock, "lift-admin-2")  # the console idled out
    after = await api.get(f"/v1/cards/{card.card_id}", headers=agent)
    assert after.json()["status"] == "normal"  # decided on read
    from social_card import service as cards
    assert await cards.daily(ctx=deps.cards) >= 1  # (other tests in this module leave some)
    assert (await deps.cards.repo.get(card.card_id)).status is CardStatus.NORMAL
    texts = [m.inbox_text for m in await deps.outbox.inbox(person_id)]
    assert any("自动解除" in t for t in texts)


async def test_cancel_loss_is_refused_once_a_replacement_is_applied_for(api, deps, standins):
    person_id, token, _, _ = await holder(api, deps, standins)
    card = await make_card(deps, person_id)
    formal = await event(api, token, card.card_id, "formal_loss")
    assert formal.json()["status"] == "formal_loss"
    missing = await event(api, token, card.card_id, "replace", {}, formal.headers["ETag"])
    assert missing.json()["error"]["field"] == "service_point_id"
    replaced = await event(api, token, card.card_id, "replace",
                           {"service_point_id": "SP150100A"}, formal.headers["ETag"])
    assert replaced.status == 200
    assert replaced.json()["status"] == "cancelled"
    new_id = replaced.json()["replaced_by"]
    refused = await event(api, token, card.card_id, "cancel_loss", {}, replaced.headers["ETag"])
    assert (refused.status, refused.error_code) == (409, "CARD_TRANSITION_REFUSED")
    assert "注销" in refused.json()["error"]["message"]

    new_card = (await api.get(f"/v1/cards/{new_id}", headers=token)).json()
    assert new_card["status"] == "sealed"
    assert new_card["delivery"]["service_point"] == "呼和浩特市社保卡服务中心"
    assert [s["step"] for s in new_card["progress"]] == ["data_entered"]


async def test_a_replacements_progress_arrives_from_the_feed(api, deps, standins, clock):
    person_id, token, _, _ = await holder(api, deps, standins)
    person = await deps.people.get(person_id)
    key = await create_service_key("制卡厂", frozenset({"card.feed"}), ctx=deps.auth)
    number = f"K{next(_numbers):08d}"
    steps = ["data_entered", "paid", "making", "city_bank_received", "outlet_received"]
    for i, step in enumerate(steps):
        reply = await api.post("/v1/cards/feed/issuance", headers={"X-Service-Key": key},
                               json_body={"record_id": f"R-{number}-{i}",
                                          "id_number": person.id_number, "card_number": number,
                                          "step": step, "at": f"2026-11-{10 + i}T09:00:00+08:00"})
        assert reply.status == 200, reply.body
    again = await api.post("/v1/cards/feed/issuance", headers={"X-Service-Key": key},
                           json_body={"record_id": f"R-{number}-4", "id_number": person.id_number,
                                      "card_number": number, "step": "outlet_received",
                                      "at": "2026-11-14T09:00:00+08:00"})
    assert again.json() == {"outcome": "duplicate"}
    [card] = (await api.get("/v1/cards", headers=token)).json()["cards"]
    assert [s["name"] for s in card["progress"]] == ["数据录入", "已缴费", "制卡中", "市银行签收",
                                                    "网点签收"]
    assert card["card_number"].endswith(number[-4:]) and "*" in card["card_number"]
    clock.advance(days=372)  # unclaimed for over a year
    token = await admin_token(api, deps, clock, "progress-admin")  # the old token expired
    [card] = (await api.get(f"/v1/cards?person_id={person_id}", headers=token)).json()["cards"]
    assert card["progress"][-1]["step"] == "resealed"


async def test_renewal_opens_60_days_before_expiry(api, deps, standins):
    person_id, token, _, _ = await holder(api, deps, standins)
    far = await make_card(deps, person_id, expires_on=deps.cards.today() + timedelta(days=90))
    early = await event(api, token, far.card_id, "renew", {"address": "呼和浩特市新城区某街道1号"})
    assert (early.status, early.error_code) == (409, "RENEWAL_NOT_DUE")
    near = await make_card(deps, person_id, expires_on=deps.cards.today() + timedelta(days=59))
    renewed = await event(api, token, near.card_id, "renew",
                          {"address": "呼和浩特市新城区某街道1号"})
    assert renewed.status == 200 and renewed.json()["replaced_by"]


async def test_the_12333_phone_channel_records_the_identity_questions(api, deps, standins,
                                                                     clock):
    person_id, _ = await add_person(deps, phone=new_phone(), region="150102")
    card = await make_card(deps, person_id)
    account, totp = await console_account(deps, "agent-12333", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-12333", totp)).json()["access_token"])
    unverified = await event(api, agent, card.card_id, "temp_loss", {})
    assert unverified.json()["error"]["field"] == "verified_by"
    lost = await event(api, agent, card.card_id, "temp_loss",
                       {"verified_by": ["姓名", "身份证号后四位", "户籍地址"]})
    assert lost.json()["status"] == "temp_loss"
    assert lost.json()["history"][-1]["channel"] == "12333"
    [entry] = await deps.audit.find(action="card.temp_loss", object=card.card_id)
    assert entry.actor == account.account_id
    assert entry.detail["verified_by"] == "姓名,身份证号后四位,户籍地址"
    far_card = await make_card(deps, (await add_person(deps, phone=new_phone(),
                                                       region="152502"))[0])
    assert (await event(api, agent, far_card.card_id, "temp_loss",
                        {"verified_by": ["a", "b"]}, etag='"v1"')).status == 404


async def test_the_bank_function_is_reported_lost_separately(api, deps, standins):
    person_id, token, _, _ = await holder(api, deps, standins)
    card = await make_card(deps, person_id)
    bank_only = await event(api, token, card.card_id, "temp_loss", {"functions": ["bank"]})
    assert bank_only.json()["bank_status"] == "temp_loss"
    assert bank_only.json()["status"] == "normal"


# -- the electronic card code ------------------------------------------------------------------


async def test_ecard_code_issued_verified_replay_expired_and_cancelled(api, deps, standins,
                                                                      clock):
    person_id, token, _, _ = await holder(api, deps, standins)
    card = await make_card(deps, person_id)
    key = await create_service_key("网点", frozenset({"card.verify"}), ctx=deps.auth)
    issued = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token, body=b"")
    assert issued.status == 200, issued.body
    code = issued.json()["code"]
    assert issued.json()["expires_in"] == 60 and issued.json()["qr_svg"].startswith("<svg")
    assert issued.json()["authorised_for"] is None  # not lost: no authorisation needed
    checked = await api.post("/v1/cards/ecode/verify", json_body={"code": code},
                             headers={"X-Service-Key": key})
    assert checked.status == 200
    assert checked.json()["status"] == "normal" and checked.json()["valid"] is True
    assert checked.json()["name"] == "张**"
    replay = await api.post("/v1/cards/ecode/verify", json_body={"code": code},
                            headers={"X-Service-Key": key})
    assert (replay.status, replay.error_code) == (409, "ECODE_USED")

    late = (await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token, body=b"")).json()
    clock.advance(seconds=61)
    expired = await api.post("/v1/cards/ecode/verify", json_body={"code": late["code"]},
                             headers={"X-Service-Key": key})
    assert (expired.status, expired.error_code) == (400, "ECODE_INVALID")

    gone = await make_card(deps, person_id, CardStatus.CANCELLED)
    refused = await api.post(f"/v1/cards/{gone.card_id}/ecode", headers=token, body=b"")
    assert (refused.status, refused.error_code) == (409, "ECODE_REFUSED")
    outcomes = {e.outcome for e in await deps.audit.find(action="ecard.verify")}
    assert {"normal", "replayed", "invalid_or_expired"} <= outcomes


async def test_under_temporary_loss_a_code_needs_the_holders_sms_confirmation(
        api, deps, standins, clock):
    person_id, token, _, phone = await holder(api, deps, standins)
    card = await make_card(deps, person_id, CardStatus.TEMP_LOSS)
    plain = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token, body=b"")
    assert (plain.status, plain.error_code) == (409, "ECODE_SMS_CONFIRMATION_REQUIRED")
    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    asked = await api.post(f"/v1/cards/{card.card_id}/ecode/sms", headers=token, body=b"")
    assert asked.status == 202, asked.body
    messages = (await control(standins.aliyun_url, f"/_control/messages?phone={phone}"))
    found = re.search(r"验证码为(\d{6})", messages["messages"][-1]["text"])
    assert found is not None
    code = found.group(1)
    confirmed = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                               json_body={"challenge_id": asked.json()["challenge_id"],
                                          "code": code})
    assert confirmed.status == 200
    assert (await deps.audit.find(action="ecard.issue", object=card.card_id))[0].outcome == \
        "issued_after_sms"

    # One confirmation serves one visit to the counter: for ten minutes the code refreshes
    # with the confirmation's id alone, and no new SMS goes out.
    assert confirmed.json()["authorised_for"] == 600
    texts = len(await sms_to(standins, phone))
    reused = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                            json_body={"challenge_id": asked.json()["challenge_id"],
                                       "code": code})
    assert (reused.status, reused.error_code) == (400, "CODE_INVALID")  # used once already
    clock.advance(minutes=9, seconds=59)
    refreshed = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                               json_body={"challenge_id": asked.json()["challenge_id"]})
    assert refreshed.status == 200, refreshed.body
    assert refreshed.json()["code"] != confirmed.json()["code"]
    assert refreshed.json()["authorised_for"] == 1  # what is left of the ten minutes
    assert len(await sms_to(standins, phone)) == texts
    assert (await deps.audit.find(action="ecard.issue", object=card.card_id))[0].outcome == \
        "issued_under_sms_authorisation"
    checked = await api.post("/v1/cards/ecode/verify", json_body={
        "code": refreshed.json()["code"]}, headers={"X-Service-Key": await create_service_key(
            "网点", frozenset({"card.verify"}), ctx=deps.auth)})
    assert (checked.json()["status"], checked.json()["valid"]) == ("temp_loss", False)
    # An id that confirmed nothing, and the same id once its ten minutes are over.
    made_up = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                             json_body={"challenge_id": "C-made-up"})
    assert (made_up.status, made_up.error_code) == (409, "ECODE_SMS_CONFIRMATION_REQUIRED")
    clock.advance(seconds=1)
    lapsed = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                            json_body={"challenge_id": asked.json()["challenge_id"]})
    assert (lapsed.status, lapsed.error_code) == (409, "ECODE_SMS_CONFIRMATION_REQUIRED")

    # A confirmation is for this loss: found, lost again, and it no longer serves.
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 600})
    again = (await api.post(f"/v1/cards/{card.card_id}/ecode/sms", headers=token,
                            body=b"")).json()["challenge_id"]
    newest = re.search(r"验证码为(\d{6})", (await sms_to(standins, phone))[-1]["text"])
    assert newest is not None
    assert (await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token, json_body={
        "challenge_id": again, "code": newest.group(1)})).status == 200
    assert (await event(api, token, card.card_id, "cancel_temp_loss",
                        {"functions": ["ss", "bank"]})).status == 200
    assert (await event(api, token, card.card_id, "temp_loss")).status == 200
    earlier = await api.post(f"/v1/cards/{card.card_id}/ecode", headers=token,
                             json_body={"challenge_id": again})
    assert (earlier.status, earlier.error_code) == (409, "ECODE_SMS_CONFIRMATION_REQUIRED")


# -- feeds, family ------------------------------------------------------------------------------


async def test_card_use_at_a_hospital_certifies_a_pensioner(api, deps, standins):
    person_id, _ = await add_person(deps, phone=new_phone())
    card = await make_card(deps, person_id)
    key = await create_service_key("药店", frozenset({"card.feed"}), ctx=deps.auth)
    use = {"record_id": "U-1", "card_number": card.card_number, "kind": "pharmacy",
           "date": "2026-11-21"}
    assert (await api.post("/v1/cards/feed/usage", json_body=use,
                           headers={"X-Service-Key": key})).json() == {"outcome": "recorded"}
    assert (await api.post("/v1/cards/feed/usage", json_body=use,
                           headers={"X-Service-Key": key})).json() == {"outcome": "duplicate"}
    state = await deps.cert.repo.state(person_id)
    assert state.history[-1]["channel"] == "passive"
    assert state.last_certified_on == date(2026, 11, 21)


async def test_family_with_and_without_authorisation(api, deps, standins):
    person_id, parent_token, _, _ = await holder(api, deps, standins)
    card = await make_card(deps, person_id)
    child_phone = new_phone()
    child = await sms_login(api, standins, child_phone)
    child_token = bearer(child["access_token"])
    assert (await api.get(f"/v1/cards/{card.card_id}", headers=child_token)).status == 404
    await authorise_family(api, parent_token, child_token, child_phone, ["card"], "card-family-01")
    lost = await event(api, child_token, card.card_id, "temp_loss")
    assert lost.status == 200
    assert lost.json()["history"][-1]["on_behalf"] == person_id


async def test_service_points_per_league(api):
    points = (await api.get("/v1/cards/service-points?region=1502")).json()["service_points"]
    assert [p["name"] for p in points] == ["包头市社保卡服务中心"]


async def test_card_events_from_a_csv_file(devdb, db_name, deps, tmp_path):
    from tests.conftest import run_app
    person_id, number = await add_person(deps, phone=new_phone())
    source = tmp_path / "cards.csv"
    source.write_text(
        "type,source,record_id,id_number,card_number,step_or_kind,at_or_date\n"
        f"issuance,maker,M1,{number},K77770001,data_entered,2026-11-01T09:00:00+08:00\n"
        f"issuance,maker,M2,{number},K77770001,paid,2026-11-02T09:00:00+08:00\n"
        f"usage,hospital,H1,,K77770001,hospital,2026-11-20\n"
        f"issuance,maker,M3,{number},K77770001,teleported,2026-11-03T09:00:00+08:00\n",
        encoding="utf-8")
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    first = await run_app("import-card-events", str(source), env=env)
    assert "created 1" in first.stdout and "recorded 2" in first.stdout
    assert "rejected (CardInvalid) 1" in first.stdout
    again = await run_app("import-card-events", str(source), env=env)
    assert "duplicate 3" in again.stdout
    [card] = await deps.cards.repo.of_person(person_id)
    assert [s["step"] for s in card.steps] == ["data_entered", "paid"]
    assert (await deps.cert.repo.state(person_id)).history[-1]["channel"] == "passive"
