"""The shared HTTP conventions over real HTTP: bad JSON, crashes, Idempotency-Key,
If-Match and rate limits, driven through a probe resource on the real BaseHandler."""

from __future__ import annotations

import asyncio

import pytest

from tests import probe_api
from tests.conftest import serve

CLIENT_A = {"X-Forwarded-For": "203.0.113.10"}
CLIENT_B = {"X-Forwarded-For": "203.0.113.20"}


@pytest.fixture
async def api(settings, deps):
    server, client = await serve(settings, deps, probe_api.routes)
    yield client
    client.close()
    server.stop()
    await server.close_all_connections()


@pytest.fixture(autouse=True)
async def no_notes(deps):
    await deps.db[probe_api.NOTES].delete_many({})


async def count_notes(deps):
    return await deps.db[probe_api.NOTES].count_documents({})


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"{not json", b"", b"[1, 2]", b'"text"', b'{"a": NaN}', b"\xff\xfe{}", b'{"a": 1',
])
async def test_bad_json_gets_400_with_the_envelope(api, raw):
    reply = await api.post("/probe/echo", body=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["code"] == "INVALID_JSON"
    assert "JSON" in error["message"]
    assert error["request_id"] == reply.headers["X-Request-Id"]


async def test_good_json_passes_through(api):
    reply = await api.post("/probe/echo", json_body={"名字": "巴特尔", "n": 1})
    assert reply.status == 200
    assert reply.json() == {"名字": "巴特尔", "n": 1}


async def test_a_crash_answers_500_without_any_internal_detail(api):
    reply = await api.get("/probe/crash")
    assert reply.status == 500
    assert reply.error_code == "INTERNAL_ERROR"
    assert b"secret internal detail" not in reply.body
    assert b"Traceback" not in reply.body
    assert "12333" in reply.json()["error"]["message"]


async def test_validation_error_names_the_field(api):
    reply = await api.post("/probe/notes", json_body={"text": ""},
                           headers={"Idempotency-Key": "key-validation-1"})
    assert reply.status == 400
    assert reply.json()["error"]["field"] == "text"


# -- Idempotency-Key -----------------------------------------------------------------


async def test_a_replayed_create_returns_the_first_result_and_creates_nothing(api, deps):
    headers = {**CLIENT_A, "Idempotency-Key": "create-note-0001"}
    first = await api.post("/probe/notes", json_body={"text": "一"}, headers=headers)
    again = await api.post("/probe/notes", json_body={"text": "一"}, headers=headers)
    assert first.status == again.status == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await count_notes(deps) == 1


async def test_the_same_key_with_a_different_body_gets_422(api, deps):
    headers = {**CLIENT_A, "Idempotency-Key": "create-note-0002"}
    await api.post("/probe/notes", json_body={"text": "一"}, headers=headers)
    reply = await api.post("/probe/notes", json_body={"text": "二"}, headers=headers)
    assert reply.status == 422
    assert reply.error_code == "IDEMPOTENCY_KEY_REUSED"
    assert await count_notes(deps) == 1


async def test_keys_belong_to_their_actor(api, deps):
    key = {"Idempotency-Key": "shared-key-0003"}
    a = await api.post("/probe/notes", json_body={"text": "一"}, headers={**CLIENT_A, **key})
    b = await api.post("/probe/notes", json_body={"text": "一"}, headers={**CLIENT_B, **key})
    assert a.status == b.status == 201
    assert a.json()["note_id"] != b.json()["note_id"]
    assert await count_notes(deps) == 2


async def test_a_create_without_a_key_is_refused(api, deps):
    reply = await api.post("/probe/notes", json_body={"text": "一"}, headers=CLIENT_A)
    assert reply.status == 400
    assert reply.error_code == "IDEMPOTENCY_KEY_REQUIRED"
    assert await count_notes(deps) == 0


async def test_keys_are_kept_24_hours(api, deps, clock):
    headers = {**CLIENT_A, "Idempotency-Key": "create-note-0004"}
    first = await api.post("/probe/notes", json_body={"text": "一"}, headers=headers)
    clock.advance(hours=23, minutes=59)
    assert (await api.post("/probe/notes", json_body={"text": "一"},
                           headers=headers)).json() == first.json()
    clock.advance(minutes=2)
    # The key's record has expired, but the note's id comes from (actor, key): the same
    # key still finds the same note, never a second one.
    later = await api.post("/probe/notes", json_body={"text": "一"}, headers=headers)
    assert later.status == 201
    assert later.json()["note_id"] == first.json()["note_id"]


async def test_a_failed_create_frees_its_key_for_a_corrected_retry(api, deps):
    headers = {**CLIENT_A, "Idempotency-Key": "create-note-0005"}
    bad = await api.post("/probe/notes", json_body={"text": 5}, headers=headers)
    assert bad.status == 400
    good = await api.post("/probe/notes", json_body={"text": "五"}, headers=headers)
    assert good.status == 201


async def test_simultaneous_retries_create_exactly_one(api, deps):
    headers = {**CLIENT_A, "Idempotency-Key": "create-note-0006"}
    replies = await asyncio.gather(*[
        api.post("/probe/notes", json_body={"text": "并发"}, headers=headers) for _ in range(12)
    ])
    assert await count_notes(deps) == 1
    created = {r.json()["note_id"] for r in replies if r.status == 201}
    assert len(created) == 1
    # Whoever did not get the result was told the first request is still running.
    assert {r.status for r in replies} <= {201, 409}
    assert all(r.error_code == "IDEMPOTENCY_IN_PROGRESS" for r in replies if r.status == 409)


# -- If-Match ------------------------------------------------------------------------


async def _new_note(api, key):
    reply = await api.post("/probe/notes", json_body={"text": "原文"},
                           headers={**CLIENT_A, "Idempotency-Key": key})
    return reply.json()["note_id"], reply.headers["ETag"]


async def test_update_with_the_current_etag_succeeds_and_moves_the_etag(api):
    note_id, tag = await _new_note(api, "etag-note-0001")
    reply = await api.request("PUT", f"/probe/notes/{note_id}", json_body={"text": "改"},
                              headers={"If-Match": tag})
    assert reply.status == 200
    assert reply.headers["ETag"] != tag
    current = await api.get(f"/probe/notes/{note_id}")
    assert current.json()["text"] == "改"
    assert current.headers["ETag"] == reply.headers["ETag"]


async def test_a_stale_etag_gets_412_and_changes_nothing(api):
    note_id, tag = await _new_note(api, "etag-note-0002")
    await api.request("PUT", f"/probe/notes/{note_id}", json_body={"text": "第一次"},
                      headers={"If-Match": tag})
    stale = await api.request("PUT", f"/probe/notes/{note_id}", json_body={"text": "第二次"},
                              headers={"If-Match": tag})
    assert stale.status == 412
    assert stale.error_code == "PRECONDITION_FAILED"
    assert "刷新" in stale.json()["error"]["message"]
    assert (await api.get(f"/probe/notes/{note_id}")).json()["text"] == "第一次"


async def test_an_update_without_if_match_gets_428(api):
    note_id, _ = await _new_note(api, "etag-note-0003")
    reply = await api.request("PUT", f"/probe/notes/{note_id}", json_body={"text": "改"})
    assert reply.status == 428
    assert reply.error_code == "PRECONDITION_REQUIRED"


async def test_concurrent_updates_from_one_etag_have_exactly_one_winner(api, deps):
    note_id, tag = await _new_note(api, "etag-note-0004")
    replies = await asyncio.gather(*[
        api.request("PUT", f"/probe/notes/{note_id}", json_body={"text": f"版本{i}"},
                    headers={"If-Match": tag})
        for i in range(15)
    ])
    statuses = sorted(r.status for r in replies)
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 412}
    winner = next(r for r in replies if r.status == 200).json()["text"]
    stored = await deps.db[probe_api.NOTES].find_one({"_id": note_id})
    assert stored["text"] == winner
    assert stored["version"] == 2


# -- rate limits ---------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(api, clock):
    for _ in range(3):
        assert (await api.post("/probe/limited", headers=CLIENT_A)).status == 200
    refused = await api.post("/probe/limited", headers=CLIENT_A)
    assert refused.status == 429
    assert refused.error_code == "RATE_LIMITED"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert "后再试" in refused.json()["error"]["message"]
    # Another client is not affected, and the first gets through once the window turns.
    assert (await api.post("/probe/limited", headers=CLIENT_B)).status == 200
    clock.advance(seconds=retry_after)
    assert (await api.post("/probe/limited", headers=CLIENT_A)).status == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(api):
    reply = await api.post("/probe/limited", headers={"X-Forwarded-For": "198.51.100.7"})
    assert reply.json()["client_ip"] == "198.51.100.7"
