"""Pension certification over real HTTP, against the embedded database, the stand-ins and
the real face pool, with the real clip in ../shared/data (carphone: blinks near frames 42,
92, 112; mouth open 57-62 and 107-115)."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import date, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app import build_deps
from auth.service import create_service_key
from jobs import job_named, run_once_a_day
from notifications.templates import CERT_DONE, CERT_DUE_SOON, CERT_OVERDUE
from pension_cert import service as cert
from pension_cert.face import Action
from pension_cert.model import Month
from pension_cert.pool import FacePool
from people.model import PrisonPeriod
from tests.conftest import make_settings, run_app, serve
from tests.test_auth import (
    add_person,
    authorise_family,
    bearer,
    console_account,
    console_login,
    multipart,
    new_phone,
    sms_login,
    verified_citizen,
)
from tests.test_notifications import control

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clip() -> list[Image.Image]:
    with av.open(str(SHARED / "video" / "carphone_pristine.mp4")) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def frames(clip) -> list[bytes]:
    """The clip at 15 fps (every other frame of its 30), as the mini-program would send it."""
    return [_jpeg(image) for image in clip[0:116:2]]


def photo_of(image: Image.Image) -> bytes:
    """An 'official photo' made from one frame of the clip, enlarged."""
    return _jpeg(image.resize((image.width * 4, image.height * 4), Image.Resampling.BICUBIC), 92)


@pytest.fixture(autouse=True)
async def fresh_standins(standins, deps):
    await control(standins.aliyun_url, "/_control/reset", {})
    # Each test is its own recording session: uploads seen by earlier tests don't count
    # as replays here (the replay test submits twice within itself).
    await deps.cert.repo.forget_frames()


def seed_for(actions: list[str]) -> int:
    """The challenge's generator may be seeded by tests: find a seed asking for ``actions``."""
    for seed in range(10_000):
        if random.Random(seed).sample(Action.ALL, 2) == actions:
            return seed
    raise AssertionError("no seed")


async def retiree(api, deps, standins, clock, *, photo: bytes | None, consent: bool = True,
                  region: str = "150102"):
    """A verified citizen whose registry person has a reference photo and has consented."""
    login, person_id = await verified_citizen(api, deps, standins, region=region)
    token = bearer(login["access_token"])
    if photo is not None:
        await cert.enroll_reference(person_id, photo, source="test", actor="test", ctx=deps.cert)
    if consent:
        reply = await api.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                               json_body={"decision": "give"})
        assert reply.status == 200, reply.body
    return login, person_id, token


async def challenge(api, token, person_id, key, actions=("blink", "open_mouth"), deps=None):
    if deps is not None:
        deps.cert.rng = random.Random(seed_for(list(actions)))
    reply = await api.post("/v1/pension/challenges", json_body={"person_id": person_id},
                           headers={**token, "Idempotency-Key": key})
    return reply


async def submit(api, token, started, frames):
    body, content_type = multipart({"nonce": started["nonce"]}, frames)
    return await api.post(f"/v1/pension/challenges/{started['challenge_id']}/frames",
                          body=body, headers={**token, "Content-Type": content_type})


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
    assert body["actions"] == ["blink", "open_mouth"]
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


# -- refusals ---------------------------------------------------------------------------------


async def _face_case(api, deps, standins, clock, clip, *, photo=None):
    _login, person_id, token = await retiree(api, deps, standins, clock,
                                            photo=photo or photo_of(clip[0]))
    return person_id, token


async def test_a_still_photo_is_refused(api, deps, standins, clock, clip, frames):
    person_id, token = await _face_case(api, deps, standins, clock, clip)
    started = (await challenge(api, token, person_id, "still-00001", deps=deps)).json()
    still = [_jpeg(clip[0], quality) for quality in range(70, 100)]  # one photo, re-encoded
    outcome = (await submit(api, token, started, still)).json()
    assert outcome["reason"]["code"] == "FACE_STILL_PHOTO"
    assert "不要使用照片" in outcome["reason"]["message"]
    assert outcome["attempts_left"] == 4


async def test_the_wrong_person_is_refused_without_a_score(api, deps, standins, clock, clip,
                                                         frames):
    obama = (SHARED / "faces" / "people" / "obama" / "obama.jpg").read_bytes()
    person_id, token = await _face_case(api, deps, standins, clock, clip, photo=obama)
    started = (await challenge(api, token, person_id, "wrong-00001", deps=deps)).json()
    reply = await submit(api, token, started, frames)
    assert reply.json()["reason"]["code"] == "FACE_FACE_MISMATCH"
    assert "0." not in reply.body.decode()  # no distance leaks


@pytest.mark.parametrize(("variant", "code"), [
    ("two_faces", "FACE_MULTIPLE_FACES"), ("dark", "FACE_TOO_DARK"),
    ("tiny", "FACE_FACE_TOO_SMALL"), ("turn_order", "FACE_TURN_LEFT_NOT_DETECTED")])
async def test_frame_problems_are_named(api, deps, standins, clock, clip, frames, variant, code):
    person_id, token = await _face_case(api, deps, standins, clock, clip)
    actions = ("turn_left", "blink") if variant == "turn_order" else ("blink", "open_mouth")
    started = (await challenge(api, token, person_id, f"frames-{variant}", actions,
                               deps=deps)).json()
    if variant == "two_faces":
        two = Image.open(SHARED / "faces" / "misc" / "two_people.jpg").convert("RGB")
        two.thumbnail((480, 480))
        sent = [_jpeg(two, q) for q in range(60, 80)]
    elif variant == "dark":
        sent = [_jpeg(Image.fromarray((np.asarray(Image.open(io.BytesIO(f))) * 0.12)
                                      .astype("uint8"))) for f in frames]
    elif variant == "tiny":
        sent = [_jpeg(Image.open(io.BytesIO(f)).resize((60, 49))) for f in frames]
    else:
        sent = frames
    outcome = (await submit(api, token, started, sent)).json()
    assert outcome["result"] == "fail"
    assert outcome["reason"]["code"] == code


async def test_nonce_rules_expired_foreign_reused_and_replayed(api, deps, standins, clock, clip,
                                                               frames):
    person_id, token = await _face_case(api, deps, standins, clock, clip)
    _other_login, other_person, other_token = await retiree(api, deps, standins, clock,
                                                           photo=photo_of(clip[0]))

    expired = (await challenge(api, token, person_id, "nonce-exp-1", deps=deps)).json()
    clock.advance(seconds=121)
    late = await submit(api, token, expired, frames)
    assert (late.status, late.error_code) == (400, "NONCE_EXPIRED")

    mine = (await challenge(api, token, person_id, "nonce-own-1", deps=deps)).json()
    foreign = await submit(api, other_token, mine, frames)
    assert foreign.status == 404  # someone else's challenge does not exist for you
    wrong = await submit(api, token, {**mine, "nonce": "x" * 32}, frames)
    assert wrong.error_code == "NONCE_INVALID"

    passed = await submit(api, token, mine, frames)
    assert passed.json()["result"] == "pass"
    reused = await submit(api, token, mine, frames)
    assert reused.error_code == "NONCE_USED"

    # The same recorded frames under a fresh challenge: a replay.
    again = (await challenge(api, other_token, other_person, "nonce-rep-1", deps=deps)).json()
    replay = await submit(api, other_token, again, frames)
    assert replay.json()["reason"]["code"] == "FACE_REPLAYED"


async def test_five_failures_a_day_then_the_other_routes(api, deps, standins, clock, clip):
    login, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    two = Image.open(SHARED / "faces" / "misc" / "two_people.jpg").convert("RGB")
    two.thumbnail((400, 400))
    for attempt in range(5):
        started = (await challenge(api, token, person_id, f"limit-{attempt:05d}", deps=deps))
        assert started.status == 201
        sent = [_jpeg(two, 50 + attempt * 8 + q) for q in range(16)]
        outcome = (await submit(api, token, started.json(), sent)).json()
        assert outcome["attempts_left"] == 4 - attempt
    assert "上门" in outcome["other_routes"]
    refused = await challenge(api, token, person_id, "limit-99999", deps=deps)
    assert (refused.status, refused.error_code) == (429, "FACE_ATTEMPTS_EXHAUSTED")
    assert "网点" in refused.json()["error"]["message"]
    clock.advance(days=1)
    renewed = await api.post("/v1/auth/refresh", json_body={"refresh_token":
                                                            login["refresh_token"]})
    token = bearer(renewed.json()["access_token"])
    assert (await challenge(api, token, person_id, "limit-next-day", deps=deps)).status == 201


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


async def test_templates_are_sealed_and_only_the_encoding_is_kept(deps, api, standins, clock,
                                                                  clip):
    _, person_id, _ = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    fields = await deps.cert.repo.template_fields(person_id)
    assert fields == {"_id", "blob", "region_code", "source", "updated_at"}
    blob = await deps.cert.repo.template(person_id)
    assert len(blob) == 12 + 128 * 8 + 16  # nonce + 128 float64 + GCM tag
    # Moved onto another person's record, it no longer opens.
    from pension_cert.templates import TemplateUnreadable, unseal
    with pytest.raises(TemplateUnreadable):
        unseal(blob, key=deps.settings.face_template_key, person_id="P-other")


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
    assert attempt["channel"] == "family"
    assert (attempt["actor"], attempt["on_behalf"]) == (child["account"]["account_id"],
                                                        parent_person)


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


# -- passive certification, death, fraud -------------------------------------------------------


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


async def test_a_face_closer_to_another_pensioner_opens_a_fraud_case(
        api, deps, standins, clock, clip, frames):
    # B is enrolled with a photo the live face matches closely; A's own photo less so.
    _, other, _ = await retiree(api, deps, standins, clock, photo=photo_of(clip[20]),
                                region="150421")
    _, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[60]),
                                        region="150422")
    started = (await challenge(api, token, person_id, "fraud-00001", deps=deps)).json()
    outcome = (await submit(api, token, started, frames)).json()
    assert outcome["result"] == "pass" and outcome["pending_review"] is True
    assert "复核" in outcome["message"]
    state = await deps.cert.repo.state(person_id)
    assert state.status.value == "pending_review"
    [case] = [c for c in await deps.cert.repo.open_cases() if c.person_id == person_id]
    assert case.suspicion == {"kind": "face_matches_other", "other_person_id": other}

    _account, totp = await console_account(deps, "agent-fraud", regions=("150400",))
    agent = bearer((await console_login(api, clock, "agent-fraud", totp)).json()["access_token"])
    listed = (await api.get("/v1/pension/review-cases", headers=agent)).json()["cases"]
    assert case.case_id in {c["case_id"] for c in listed}
    decided = await api.post(f"/v1/pension/review-cases/{case.case_id}/decision",
                             headers=agent, json_body={"decision": "fraud"})
    assert decided.json()["status"] == "blocked"


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


# -- the pool ---------------------------------------------------------------------------------


async def test_a_full_pool_answers_503_with_retry_after(settings, clock, api, deps, standins,
                                                        clip, frames):
    small = FacePool(workers=1, queue=0)
    narrow = build_deps(settings, clock=clock, face_pool=small)
    server, client = await serve(settings, narrow)
    try:
        _, first, first_token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
        _, second, second_token = await retiree(api, deps, standins, clock,
                                                photo=photo_of(clip[0]))
        one = (await challenge(client, first_token, first, "pool-00001", deps=narrow)).json()
        two = (await challenge(client, second_token, second, "pool-00002", deps=narrow)).json()
        other_frames = [_jpeg(Image.open(io.BytesIO(f)), 80) for f in frames]
        busy_check = asyncio.ensure_future(submit(client, first_token, one, frames))
        for _ in range(200):  # wait (bounded) until the first check occupies the pool
            if small.in_flight:
                break
            await asyncio.sleep(0.05)
        assert small.in_flight == 1
        refused = await submit(client, second_token, two, other_frames)
        assert (refused.status, refused.error_code) == (503, "FACE_SERVICE_BUSY")
        assert refused.headers["Retry-After"]
        assert (await client.get("/healthz")).status == 200  # other endpoints keep answering
        assert (await busy_check).json()["result"] == "pass"
    finally:
        client.close()
        server.stop()
        small.close()
        narrow.gateways.sms.close()
        await narrow.client.close()


# -- command-line jobs ------------------------------------------------------------------------


async def test_import_photos_reports_each_problem_and_keeps_templates_unused_until_consent(
        devdb, db_name, deps, tmp_path, clock, clip):
    good_id, good_number = await add_person(deps, phone=new_phone())
    _, two_number = await add_person(deps, phone=new_phone())
    _, small_number = await add_person(deps, phone=new_phone())
    _, blank_number = await add_person(deps, phone=new_phone())
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / f"{good_number}.jpg").write_bytes(photo_of(clip[0]))
    (folder / f"{two_number}.jpg").write_bytes(
        (SHARED / "faces" / "misc" / "two_people.jpg").read_bytes())
    small = Image.open(SHARED / "faces" / "people" / "obama" / "obama.jpg").convert("RGB")
    small.thumbnail((160, 160))
    (folder / f"{small_number}.jpg").write_bytes(_jpeg(small))
    (folder / f"{blank_number}.jpg").write_bytes(_jpeg(Image.new("RGB", (300, 300), "grey")))
    (folder / "150102199901011234.jpg").write_bytes(photo_of(clip[0]))  # not a valid number

    result = await run_app("import-photos", str(folder),
                           env={"APP_ENV": "test", "MONGODB_URI": devdb.uri,
                                "MONGODB_DB": db_name, "FACE_POOL_WORKERS": "1"})
    assert result.returncode == 0, result.stderr
    assert "enrolled 1 of 5" in result.stdout
    for problem in ("MULTIPLE_FACES", "FACE_TOO_SMALL", "NO_FACE", "NOT_IN_REGISTRY"):
        assert problem in result.stdout
    assert good_number not in result.stdout + result.stderr  # file names are masked
    assert await deps.cert.repo.template(good_id) is not None
    index = await cert.region_index(good_number[:4], ctx=deps.cert)
    assert good_id not in index.ids  # no consent yet: kept, but not used


async def test_run_cycle_from_the_command_line_is_idempotent(devdb, db_name, deps, clock):
    person_id, _ = await add_person(deps, phone=new_phone(), region="150103")
    await cert.certify(person_id, date(2025, 12, 1), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    first = await run_app("run-cycle", "--date", "2026-11-01", env=env)
    assert first.returncode == 0, first.stderr
    assert "reminded" in first.stdout
    second = await run_app("run-cycle", "--date", "2026-11-01", env=env)
    assert "reminded 0, suspended 0" in second.stdout
    state = await deps.cert.repo.state(person_id)
    assert state.reminders_sent == ("2026-11-30:30",)


async def test_signals_from_a_csv_file_are_idempotent(devdb, db_name, deps, tmp_path, clock):
    person_id, number = await add_person(deps, phone=new_phone())
    source = tmp_path / "signals.csv"
    source.write_text("source,record_id,id_number,kind,date\n"
                      f"bank,B-1,{number},bank,2026-11-10\n"
                      f"bank,B-2,150102199901011234,bank,2026-11-10\n", encoding="utf-8")
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    first = await run_app("import-signals", str(source), env=env)
    assert "certified 1" in first.stdout and "rejected" in first.stdout
    again = await run_app("import-signals", str(source), env=env)
    assert "duplicate 1" in again.stdout
    assert (await deps.cert.repo.state(person_id)).history[-1]["channel"] == "passive"


async def test_templates_of_the_dead_are_purged_after_the_retention(api, deps, standins, clock,
                                                                   clip):
    _, person_id, _ = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    await cert.certify(person_id, date(2026, 11, 22), cert.Channel.AGENT, actor="t",
                       on_behalf=None, ctx=deps.cert)
    await cert.ingest_signal(source="civil", record_id="D-purge", person_id=person_id,
                             kind="death", day=date(2026, 11, 12), ctx=deps.cert)  # 10 days ago
    assert await cert.purge_expired_templates(ctx=deps.cert) == 0  # within 30 days
    clock.advance(days=21)
    assert await cert.purge_expired_templates(ctx=deps.cert) == 1
    assert await deps.cert.repo.template(person_id) is None


async def test_a_new_retirees_first_deadline_and_the_daily_job_runs_once_per_day(deps, clock):
    person_id, _ = await add_person(deps, phone=new_phone())
    state = await cert.register_new_retiree(person_id, date(2026, 11, 5), ctx=deps.cert)
    assert state.valid_through == date(2026, 11, 30)
    first = await run_once_a_day(job_named("cycle"), deps, "w1", None)
    second = await run_once_a_day(job_named("cycle"), deps, "w2", None)
    assert first is not None and second is None  # one worker per day does it
    assert (await deps.cert.repo.state(person_id)).reminders_sent == ("2026-11-30:30",)


def test_cycle_rules_come_from_configuration(devdb, db_name):
    rules = '[{"months": 12}, {"months": 3, "region_prefix": "1505"}]'
    settings = make_settings(devdb.uri, db_name, CERT_CYCLE_RULES=rules)
    built = build_deps(settings, face_pool=FacePool(workers=1))
    assert [r.months for r in built.cert.config.cycle_rules] == [12, 3]
    built.cert.pool.close()
    built.gateways.sms.close()
    from common.settings import SettingsError
    with pytest.raises(SettingsError, match="CERT_CYCLE_RULES"):
        build_deps(make_settings(devdb.uri, db_name, CERT_CYCLE_RULES='[{"months": 0}]'),
                   face_pool=FacePool(workers=1))


async def test_agents_upload_reference_photos_citizens_cannot(api, deps, standins, clock, clip):
    login, person_id = await verified_citizen(api, deps, standins)
    _, totp = await console_account(deps, "agent-photo", regions=("150100",))
    agent = bearer((await console_login(api, clock, "agent-photo", totp)).json()["access_token"])
    path = f"/v1/pension/people/{person_id}/reference-photo"
    mine = await api.post(path, body=photo_of(clip[0]), headers=bearer(login["access_token"]))
    assert mine.status == 403
    two = (SHARED / "faces" / "misc" / "two_people.jpg").read_bytes()
    rejected = await api.post(path, body=two, headers=agent)
    assert (rejected.status, rejected.error_code) == (400, "PHOTO_REJECTED")
    assert rejected.json()["error"]["problem"] == "MULTIPLE_FACES"
    assert (await api.post(path, body=photo_of(clip[0]), headers=agent)).status == 204
    assert await deps.cert.repo.template(person_id) is not None
    [entry] = await deps.audit.find(action="template.enroll", object=person_id)
    assert entry.outcome == "ok"


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
