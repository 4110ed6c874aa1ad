"""The face check over real HTTP with the real clip and the real face pool: a still photo,
the wrong person, named frame problems, nonce rules and replays, the daily attempt
limit, sealed templates, a face closer to another pensioner, a full pool, and who may
upload a reference photo."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from app import build_deps
from pension_cert.pool import FacePool
from tests.conftest import serve
from tests.journeys import (
    SHARED,
    bearer,
    challenge,
    console_account,
    console_login,
    face_case,
    jpeg,
    photo_of,
    retiree,
    submit,
    verified_citizen,
)

pytestmark = pytest.mark.usefixtures("fresh_face_session")


async def test_a_still_photo_is_refused(api, deps, standins, clock, clip, frames):
    person_id, token = await face_case(api, deps, standins, clock, clip)
    started = (await challenge(api, token, person_id, "still-00001", deps=deps)).json()
    still = [jpeg(clip[0], quality) for quality in range(70, 100)]  # one photo, re-encoded
    outcome = (await submit(api, token, started, still)).json()
    assert outcome["reason"]["code"] == "FACE_STILL_PHOTO"
    assert "不要使用照片" in outcome["reason"]["message"]
    assert outcome["attempts_left"] == 4


async def test_the_wrong_person_is_refused_without_a_score(api, deps, standins, clock, clip,
                                                         frames):
    obama = (SHARED / "faces" / "people" / "obama" / "obama.jpg").read_bytes()
    person_id, token = await face_case(api, deps, standins, clock, clip, photo=obama)
    started = (await challenge(api, token, person_id, "wrong-00001", deps=deps)).json()
    reply = await submit(api, token, started, frames)
    assert reply.json()["reason"]["code"] == "FACE_FACE_MISMATCH"
    assert "0." not in reply.body.decode()  # no distance leaks


@pytest.mark.parametrize(("variant", "code"), [
    ("two_faces", "FACE_MULTIPLE_FACES"), ("dark", "FACE_TOO_DARK"),
    ("tiny", "FACE_FACE_TOO_SMALL"), ("turn_order", "FACE_WRONG_ORDER")])
async def test_frame_problems_are_named(api, deps, standins, clock, clip, frames, variant, code):
    person_id, token = await face_case(api, deps, standins, clock, clip)
    # Frames 0-58 turn right and then blink: asked the other way round, the order is wrong.
    actions = ("blink", "turn_right") if variant == "turn_order" else ("turn_right", "blink")
    started = (await challenge(api, token, person_id, f"frames-{variant}", actions,
                               deps=deps)).json()
    if variant == "two_faces":
        two = Image.open(SHARED / "faces" / "misc" / "two_people.jpg").convert("RGB")
        two.thumbnail((480, 480))
        sent = [jpeg(two, q) for q in range(60, 80)]
    elif variant == "dark":
        sent = [jpeg(Image.fromarray((np.asarray(Image.open(io.BytesIO(f))) * 0.12)
                                      .astype("uint8"))) for f in frames]
    elif variant == "tiny":
        sent = [jpeg(Image.open(io.BytesIO(f)).resize((60, 49))) for f in frames]
    else:
        sent = frames[:30]
    outcome = (await submit(api, token, started, sent)).json()
    assert outcome["result"] == "fail"
    assert outcome["reason"]["code"] == code


async def test_nonce_rules_expired_foreign_reused_and_replayed(api, deps, standins, clock, clip,
                                                               frames):
    person_id, token = await face_case(api, deps, standins, clock, clip)
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

    # The same recorded frames under a fresh challenge: a replay of this person's own.
    again = (await challenge(api, token, person_id, "nonce-rep-1", deps=deps)).json()
    replay = await submit(api, token, again, frames)
    assert replay.json()["reason"]["code"] == "FACE_REPLAYED"
    # Another person who never sent them is no replay (the memory is each person's own).
    theirs = (await challenge(api, other_token, other_person, "nonce-rep-2", deps=deps)).json()
    assert (await submit(api, other_token, theirs, frames)).json()["result"] == "pass"


async def test_five_failures_a_day_then_the_other_routes(api, deps, standins, clock, clip):
    login, person_id, token = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    two = Image.open(SHARED / "faces" / "misc" / "two_people.jpg").convert("RGB")
    two.thumbnail((400, 400))
    for attempt in range(5):
        started = (await challenge(api, token, person_id, f"limit-{attempt:05d}", deps=deps))
        assert started.status == 201
        sent = [jpeg(two, 50 + attempt * 8 + q) for q in range(16)]
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


async def test_templates_are_sealed_and_only_the_encoding_is_kept(deps, api, standins, clock,
                                                                  clip):
    _, person_id, _ = await retiree(api, deps, standins, clock, photo=photo_of(clip[0]))
    fields = await deps.cert.repo.template_fields(person_id)
    assert fields == {"_id", "blob", "region_code", "source", "updated_at", "consented"}
    blob = await deps.cert.repo.template(person_id)
    assert len(blob) == 12 + 128 * 8 + 16  # nonce + 128 float64 + GCM tag
    # Moved onto another person's record, it no longer opens.
    from pension_cert.templates import TemplateUnreadable, unseal
    with pytest.raises(TemplateUnreadable):
        unseal(blob, key=deps.settings.face_template_key, person_id="P-other")


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
        other_frames = [jpeg(Image.open(io.BytesIO(f)), 80) for f in frames]
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
