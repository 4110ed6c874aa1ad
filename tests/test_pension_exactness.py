"""Money goes right: a registry import never undoes what the system decided, effects come
only after their step is won, feeds cannot pose as each other, new pensioners get their
first deadline, and housekeeping keeps what the consent text promises (each daily job on
its own: test_pension_jobs). Over real HTTP and the real command line where a client or an operator
would use them."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from unittest.mock import patch

import pytest

from auth.service import create_service_key
from common.errors import PreconditionFailed
from common.guard import Guard
from jobs import job_named, run_job
from notifications.templates import CARD_CHANGED, CERT_DONE, CERT_DUE_SOON, template_for
from pension_cert import service as cert
from pension_cert.model import Month
from people.model import check_character
from social_card.model import CardStatus
from tests.conftest import cli_env, run_app
from tests.journeys import (
    add_person,
    bearer,
    console_account,
    console_login,
    control,
    make_card,
    new_phone,
    photo_of,
    verified_citizen,
)

pytestmark = pytest.mark.usefixtures("reset_standins")
HEADER = "id_number,name,phone,region_code,person_type,monthly_pension_fen,death_date," \
         "first_payment_date\n"


def number(region: str, born: date, serial: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


async def agent_headers(api, deps, clock, name: str, regions=("150100",)) -> dict[str, str]:
    _, totp = await console_account(deps, name, regions=regions)
    return bearer((await console_login(api, clock, name, totp)).json()["access_token"])


# -- 1. one owner per field ----------------------------------------------------------------------


async def test_a_routine_reimport_never_undoes_a_suspension_or_a_recorded_death(
        api, deps, devdb, db_name, clock, tmp_path):
    suspended_no = number("150102", date(1950, 1, 1), 101)
    dead_no = number("150103", date(1951, 2, 2), 103)
    registry = tmp_path / "registry.csv"
    registry.write_text(HEADER + f"{suspended_no},张秀英,{new_phone()},150102,retiree,"
                        f"300000,,\n{dead_no},王德胜,{new_phone()},150103,retiree,310000,,\n",
                        encoding="utf-8")
    first = await run_app("import-people", str(registry), env=cli_env(devdb, db_name))
    assert "created 2, updated 0, unchanged 0" in first.stdout, first.stdout + first.stderr
    suspended = (await deps.people.find_by_id_number(suspended_no)).person_id
    dead = (await deps.people.find_by_id_number(dead_no)).person_id

    # The system decides: one lapses and is suspended, the other's death is recorded.
    await cert.certify(suspended, date(2025, 10, 1), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)  # valid through 2026-09-30
    assert "suspended 1" in (await run_app("run-cycle", env=cli_env(devdb, db_name))).stdout
    key = await create_service_key("民政", frozenset({"pension.signals"}), ctx=deps.auth)
    death = await api.post("/v1/pension/signals", headers={"X-Service-Key": key}, json_body={
        "record_id": "MZ-1", "id_number": dead_no, "kind": "death", "date": "2026-11-02"})
    assert death.json() == {"outcome": "blocked"}

    # The monthly import comes again, unchanged: it changes nothing, and says so.
    again = await run_app("import-people", str(registry), env=cli_env(devdb, db_name))
    assert "created 0, updated 0, unchanged 2" in again.stdout
    agent = await agent_headers(api, deps, clock, "owner-agent")
    assert (await api.get(f"/v1/people/{suspended}", headers=agent)).json()[
        "payment_status"] == "suspended"
    assert (await api.get(f"/v1/people/{dead}", headers=agent)).json()[
        "payment_status"] == "stopped"

    # The registry may report a death: it becomes a death signal, with its source...
    registry.write_text(HEADER + f"{suspended_no},张秀英,,150102,retiree,300000,2026-11-10,\n",
                        encoding="utf-8")
    reported = await run_app("import-people", str(registry), env=cli_env(devdb, db_name))
    assert "deaths reported 1" in reported.stdout
    state = await deps.cert.repo.state(suspended)
    assert (state.death_date, state.death_source) == (date(2026, 11, 10), "registry-import")
    # ...and an import that no longer lists it never clears it.
    registry.write_text(HEADER + f"{suspended_no},张秀英,,150102,retiree,300000,,\n",
                        encoding="utf-8")
    await run_app("import-people", str(registry), env=cli_env(devdb, db_name))
    assert (await api.get(f"/v1/people/{suspended}", headers=agent)).json()[
        "payment_status"] == "stopped"


# -- 2. claim the step first, then act ------------------------------------------------------------


async def test_concurrent_certifications_after_a_suspension_pay_back_once(api, deps, clock):
    person_id, _ = await add_person(deps, phone=new_phone(), monthly_pension_fen=280_000,
                                    region="150105")
    await cert.certify(person_id, date(2025, 9, 15), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)  # valid through 2026-09-14
    await cert.run_cycle(ctx=deps.cert)
    await cert.run_payroll(Month(2026, 11), ctx=deps.cert)  # November withheld
    agent = await agent_headers(api, deps, clock, "twice-agent")
    before = [m for m in await deps.outbox.inbox(person_id) if m.kind == CERT_DONE]

    async def visit() -> Any:
        return await api.post(f"/v1/pension/people/{person_id}/agent-certifications",
                              headers=agent, json_body={"kind": "office", "note": "窗口认证本人"})
    replies = await asyncio.gather(*(visit() for _ in range(4)))
    assert {r.status for r in replies} <= {200, 412}
    wins = sum(r.status == 200 for r in replies)
    assert wins >= 1
    done = [m for m in await deps.outbox.inbox(person_id) if m.kind == CERT_DONE]
    assert len(done) == len(before) + wins  # a request that lost its step wrote nothing
    [december] = [r for r in await cert.payroll_rows(Month(2026, 12), ctx=deps.cert)
                  if r[0] == person_id]
    assert december[2:8] == ["paid", "280000", "280000", "2026-11", "280000", "560000"]


async def test_concurrent_replacements_make_one_new_card(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    card = await make_card(deps, person_id, CardStatus.FORMAL_LOSS)
    etag = (await api.get(f"/v1/cards/{card.card_id}", headers=token)).headers["ETag"]

    async def replace() -> Any:
        return await api.post(f"/v1/cards/{card.card_id}/replace", headers={
            **token, "If-Match": etag}, json_body={"service_point_id": "SP150100A"})
    replies = await asyncio.gather(*(replace() for _ in range(5)))
    assert sorted(r.status for r in replies) == [200, 412, 412, 412, 412]
    cards = (await api.get("/v1/cards", headers=token)).json()["cards"]
    assert len(cards) == 2  # the lost card and exactly one replacement


async def test_a_replacement_crashed_after_its_step_is_finished_exactly_once(
        api, deps, standins, clock):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    card = await make_card(deps, person_id, CardStatus.FORMAL_LOSS)
    etag = (await api.get(f"/v1/cards/{card.card_id}", headers=token)).headers["ETag"]
    real_claim = Guard.claim

    async def claim_then_die(guard: Guard, key: str, **kwargs: Any) -> bool:
        won = await real_claim(guard, key, **kwargs)
        if won and key.startswith("cards:"):
            raise asyncio.CancelledError  # the process dies right after winning the step
        return won

    from social_card import service as card_service
    from social_card.model import EventRequest
    with patch.object(Guard, "claim", claim_then_die):
        crashed = asyncio.ensure_future(card_service.apply_event(
            _principal(login, person_id), card, "replace",
            request=EventRequest(service_point_id="SP150100A"), on_behalf=None,
            ctx=deps.cards))
        with pytest.raises(asyncio.CancelledError):
            await crashed
    assert len((await api.get("/v1/cards", headers=token)).json()["cards"]) == 1

    clock.advance(seconds=31)  # past the step's lease: the retry finishes the first one
    retry = await api.post(f"/v1/cards/{card.card_id}/replace", headers={
        **token, "If-Match": etag}, json_body={"service_point_id": "SP150100A"})
    assert retry.status == 412
    cards = (await api.get("/v1/cards", headers=token)).json()["cards"]
    assert len(cards) == 2
    assert {c["status"] for c in cards} == {"cancelled", "sealed"}
    notices = [m for m in await deps.outbox.inbox(person_id) if m.kind == CARD_CHANGED]
    assert len(notices) == 1


def _principal(login: dict, person_id: str) -> Any:
    from auth.model import Principal, PrincipalKind, Role
    return Principal(kind=PrincipalKind.PERSON, subject=login["account"]["account_id"],
                     role=Role.CITIZEN, person_id=person_id, session_id=login["session_id"])


async def test_two_agents_deciding_one_case_at_once_act_once(api, deps, clock):
    person_id, _ = await add_person(deps, phone=new_phone())
    await cert.ingest_signal(source="civil", record_id="D-case", person_id=person_id,
                             kind="death", day=date(2026, 10, 1), ctx=deps.cert)
    await cert.ingest_signal(source="bank", record_id="B-case", person_id=person_id,
                             kind="bank", day=date(2026, 11, 1), ctx=deps.cert)
    [case] = [c for c in await deps.cert.repo.open_cases() if c.person_id == person_id]
    one = await agent_headers(api, deps, clock, "case-agent-1")
    two = await agent_headers(api, deps, clock, "case-agent-2")
    path = f"/v1/pension/review-cases/{case.case_id}/decision"
    replies = await asyncio.gather(
        api.post(path, headers=one, json_body={"decision": "clear"}),
        api.post(path, headers=two, json_body={"decision": "confirm"}))
    assert sorted(r.status for r in replies) == [200, 409]
    decisions = await deps.audit.find(action="pension.review_decision", object=case.case_id)
    assert len(decisions) == 1
    state = await deps.cert.repo.state(person_id)
    if decisions[0].outcome == "clear":
        assert (state.status.value, state.death_date) == ("certified", None)
    else:
        assert (state.status.value, state.death_date) == ("blocked", date(2026, 10, 1))


# -- 3. the feed is the key ---------------------------------------------------------------------


async def test_a_feed_cannot_pose_as_another_and_a_death_wins_over_later_life(api, deps, clock):
    person_id, id_number = await add_person(deps, phone=new_phone())
    bank = await create_service_key("银行", frozenset({"pension.signals"}), ctx=deps.auth)
    civil = await create_service_key("民政", frozenset({"pension.signals"}), ctx=deps.auth)
    posing = await api.post("/v1/pension/signals", headers={"X-Service-Key": bank}, json_body={
        "source": "civil_affairs", "record_id": "MZ-77", "id_number": id_number,
        "kind": "bank", "date": "2026-11-20"})
    assert posing.json() == {"outcome": "certified"}
    real = await api.post("/v1/pension/signals", headers={"X-Service-Key": civil}, json_body={
        "record_id": "MZ-77", "id_number": id_number, "kind": "death", "date": "2026-11-21"})
    assert real.json() == {"outcome": "blocked"}  # not a "duplicate" of the bank's record
    later_life = await api.post("/v1/pension/signals", headers={"X-Service-Key": bank},
                                json_body={"record_id": "B-78", "id_number": id_number,
                                           "kind": "bank", "date": "2026-11-22"})
    assert later_life.json() == {"outcome": "held_for_review"}
    state = await deps.cert.repo.state(person_id)
    assert (state.status.value, state.death_date) == ("blocked", date(2026, 11, 21))


# -- 4. new pensioners get their first deadline -------------------------------------------------------


async def test_new_pensioners_from_the_import_and_the_feed_get_a_first_deadline(
        api, deps, devdb, db_name, clock, tmp_path):
    plain, dated = number("150104", date(1964, 3, 3), 105), number("150104", date(1964, 4, 4),
                                                                   107)
    registry = tmp_path / "new.csv"
    registry.write_text(HEADER + f"{plain},乌云,{new_phone()},150104,retiree,260000,,\n"
                        f"{dated},苏和,{new_phone()},150104,retiree,270000,,2027-01-10\n",
                        encoding="utf-8")
    imported = await run_app("import-people", str(registry), env=cli_env(devdb, db_name))
    assert "new pensioners 2" in imported.stdout
    # The first payment is in the month named, else next month; the deadline ends it.
    for id_number, deadline in ((plain, date(2026, 12, 31)), (dated, date(2027, 1, 31))):
        person = await deps.people.find_by_id_number(id_number)
        assert (await deps.cert.repo.state(person.person_id)).valid_through == deadline

    feed = await create_service_key("参保登记", frozenset({"registry.feed"}), ctx=deps.auth)
    employee = number("150104", date(1965, 5, 5), 109)
    row = {"id_number": employee, "name": "额尔敦", "phone": new_phone(),
           "region_code": "150104", "person_type": "employee"}
    made = await api.post("/v1/registry/people", headers={"X-Service-Key": feed}, json_body=row)
    assert made.json()["outcome"] == "created"
    assert await deps.cert.repo.state(made.json()["person_id"]) is None  # no pension yet
    retired = await api.post("/v1/registry/people", headers={"X-Service-Key": feed}, json_body={
        **row, "person_type": "retiree", "monthly_pension_fen": 255000,
        "first_payment_date": "2026-12-01"})
    assert retired.json() == {"person_id": made.json()["person_id"], "outcome": "updated"}
    state = await deps.cert.repo.state(made.json()["person_id"])
    assert state.valid_through == date(2026, 12, 31)

    # Their reminders follow: 30 days before the first deadline.
    await run_app("run-cycle", "--date", "2026-12-01", env=cli_env(devdb, db_name))
    reminded = [m for m in await deps.outbox.inbox(made.json()["person_id"])
                if m.kind == CERT_DUE_SOON]
    assert [m.params["due_date"] for m in reminded] == ["2026-12-31"]


# -- 5. housekeeping ------------------------------------------------------------------------------


async def test_housekeeping_deletes_what_expired_and_keeps_the_consent_promise(
        api, deps, standins, clock, clip):
    await deps.guard.claim("hk:short", ttl=timedelta(minutes=5))
    await deps.guard.claim("hk:long", ttl=timedelta(days=30))
    await deps.guard.claim("hk:forever")
    lapsed, _ = await add_person(deps, phone=new_phone())
    current, _ = await add_person(deps, phone=new_phone())
    clip_frame = clip[0]
    for person_id in (lapsed, current):
        await cert.enroll_reference(person_id, photo_of(clip_frame), source="test",
                                    actor="test", ctx=deps.cert)
    await cert.certify(lapsed, date(2025, 9, 1), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)  # valid through 2026-08-31: +30 days gone
    await cert.certify(current, date(2026, 11, 1), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)
    await deps.audit.record(actor="old", action="hk.test", object="x", outcome="ok")
    clock.advance(days=2)
    counts = await run_job(job_named("housekeeping"), deps, deps.cert.today(), None)
    assert counts["templates"] >= 1
    assert await deps.cert.repo.template(lapsed) is None
    assert await deps.cert.repo.template(current) is not None
    assert await deps.guard.holder("hk:short") is None
    assert await deps.guard.holder("hk:long") is not None
    assert await deps.guard.holder("hk:forever") is not None
    assert await deps.audit.find(action="hk.test")  # younger than the retention: kept
    clock.advance(days=deps.settings.audit_retention_days)
    await run_job(job_named("housekeeping"), deps, deps.cert.today(), None)
    assert not await deps.audit.find(action="hk.test")


# -- 6. WeChat subscribe messages where the person uses the mini-program --------------------------


async def test_reminders_go_by_wechat_to_mini_program_users_and_fall_back_to_sms(
        api, deps, standins, clock):
    _, subscribed = await verified_citizen(api, deps, standins)
    _, unsubscribed = await verified_citizen(api, deps, standins)
    template_id = template_for(CERT_DUE_SOON).wechat_template_id
    openids = {}
    for person_id in (subscribed, unsubscribed):
        openids[person_id] = await deps.auth.repo.openid_of(person_id)
        assert openids[person_id]
        await cert.certify(person_id, date(2025, 12, 10), cert.Channel.AGENT, actor="t",
                           on_behalf=None, ctx=deps.cert)  # due 2026-12-09: 17 days left
    await control(standins.wechat_url, "/_control/subscriptions",
                  {"openid": openids[subscribed], "template_id": template_id})
    await cert.run_cycle(ctx=deps.cert)
    clock.set(clock.now().replace(hour=3))  # 11:00 in Shanghai: outside quiet hours
    worker = deps.outbox_worker()
    for _ in range(3):
        await worker.run_once()
    sent = (await control(standins.wechat_url, "/_control/messages"))["messages"]
    assert [m["touser"] for m in sent] == [openids[subscribed]]
    sms = (await control(standins.aliyun_url, "/_control/messages"))["messages"]
    person = await deps.people.get(unsubscribed)
    assert [m["phone"] for m in sms if m["phone"] == person.phone]  # 43101: SMS instead


# -- a month's file never changes ----------------------------------------------------------------


async def test_a_payroll_file_is_the_same_before_and_after_crashes(devdb, db_name, deps, clock):
    people = [await add_person(deps, phone=new_phone(), monthly_pension_fen=200_000 + i)
              for i in range(3)]
    for person_id, _ in people:
        await cert.certify(person_id, date(2026, 11, 1), cert.Channel.AGENT, actor="t",
                           on_behalf=None, ctx=deps.cert)
    clock.set(clock.now().replace(year=2030, month=1, day=5))
    month = Month(2030, 1)
    from pension_cert.payroll_repository import PayrollRepository
    real_add = PayrollRepository.add_lines

    async def write_one_then_die(repo: PayrollRepository, lines: Any) -> None:
        await real_add(repo, list(lines)[:1])
        raise asyncio.CancelledError

    with patch.object(PayrollRepository, "add_lines", write_one_then_die), \
            pytest.raises(asyncio.CancelledError):
        await cert.run_payroll(month, ctx=deps.cert)  # the run dies part-way

    env = cli_env(devdb, db_name)
    first = await run_app("payroll-export", "2030-01", env=env)
    assert first.returncode == 0, first.stderr
    for person_id, _ in people:
        assert f"{person_id},2030-01,withheld," in first.stdout  # lapsed 2027-10-31
    # A certification crashes after its step and is retried; the month's file stays.
    real_claim = Guard.claim

    async def claim_then_die(guard: Guard, key: str, **kwargs: Any) -> bool:
        won = await real_claim(guard, key, **kwargs)
        if won and key.startswith("cert_states:"):
            raise asyncio.CancelledError
        return won

    with patch.object(Guard, "claim", claim_then_die), pytest.raises(asyncio.CancelledError):
        await cert.certify(people[0][0], date(2030, 1, 5), cert.Channel.AGENT, actor="t",
                           on_behalf=None, ctx=deps.cert)
    clock.advance(seconds=31)
    with pytest.raises(PreconditionFailed):
        await cert.certify(people[0][0], date(2030, 1, 5), cert.Channel.AGENT, actor="t",
                           on_behalf=None, ctx=deps.cert)
    second = await run_app("payroll-export", "2030-01", env=env)
    assert second.stdout == first.stdout
    february = await cert.payroll_rows(Month(2030, 2), ctx=deps.cert)
    [paid] = [r for r in february if r[0] == people[0][0]]
    assert paid[2:8] == ["paid", "200000", "200000", "2030-01", "200000", "400000"]
