"""Hostile input: every input a client can send gets a 4xx in the envelope, never a 5xx, and
nothing is stored. Each known case is sent to every route it applies to, anonymously, as
a citizen and with a service key."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from api.openapi import path_template
from api.routes import all_routes
from auth.service import create_service_key
from tests.journeys import bearer, body_for, file, multipart, verified_citizen

pytestmark = pytest.mark.usefixtures("reset_standins")

SAMPLE_IDS = {"person_id": "P0123456789abcdef0123", "challenge_id": "CH0123456789abcdef01",
              "case_id": "RC0123456789abcdef", "filing_id": "F0123456789abcdef0123",
              "card_id": "C0123456789abcdef0123", "link_id": "F0123456789abcdef0123",
              "message_id": "m0123456789abcdef0123456", "session_id": "S0123456789abcdef0123",
              "event": "cancel", "path": "swagger-ui.css", "check_id": "WF0123456789abcdef0123",
              "booking_id": "V0123456789ABCDEF0123", "proof_id": "P0123456789ABCDEF0123"}
DEEP = b"[" * 3000 + b"]" * 3000
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000
HOSTILE_BODIES: dict[str, bytes] = {
    "nested 3000 deep": DEEP,
    "object nested 3000 deep": DEEP_OBJECT,
    "lone surrogate": b'{"code": "\\ud800", "phone": "\\udfff", "username": "\\ud83d"}',
    "invalid UTF-8": b'{"code": "\xff\xfe"}',
    "infinity": b'{"amount_fen": 1e400}',
    "NaN": b'{"amount_fen": NaN}',
    "huge integer": b'{"amount_fen": ' + b"9" * 30 + b"}",
    "array": b"[1, 2, 3]",
    "string": b'"hello"',
    "null bytes": b'{"code": "\\u0000\\u0000", "name": "\\u0000"}',
    "truncated": b'{"code": "abc',
    "wrong types": b'{"code": 1, "phone": [], "person_id": {}, "date": false, '
                   b'"decision": null, "permissions": "x"}',
}


def concrete_paths() -> list[tuple[str, list[str]]]:
    """Every route with its path parameters filled, and the methods it answers."""
    found = []
    for route in all_routes():
        handler = route[1]
        template, names = path_template(route[0])
        path = template
        for name in names:
            path = path.replace("{" + name + "}", SAMPLE_IDS[name])
        methods = [m.upper() for m in ("get", "post", "patch", "delete")
                   if getattr(handler, "openapi", {}).get(m) or
                   (m == "get" and not getattr(handler, "in_openapi", True))]
        found.append((path, methods))
    return found


async def domain_counts(deps: Any) -> dict[str, int]:
    """How many records each domain collection holds (the audit trail and the rate-limit
    and guard bookkeeping legitimately record attempts; nothing else may change)."""
    names = ("people", "accounts", "login_identities", "family_links", "filings", "cards",
             "card_events", "cert_states", "cert_challenges", "cert_signals", "face_consents",
             "face_templates", "payroll_lines", "review_cases", "outbox", "outbox_archive", "settlements",
             "idempotency_keys")
    return {name: await deps.db[name].count_documents({}) for name in names}


def assert_envelope(reply: Any, context: str) -> None:
    assert reply.status < 500, (context, reply.status, reply.body[:300])
    if reply.status >= 400 and reply.body:
        body = json.loads(reply.body)
        assert set(body["error"]) >= {"code", "message", "request_id"}, context


@pytest.fixture
async def callers(api, deps, standins) -> dict[str, dict[str, str]]:
    login, _ = await verified_citizen(api, deps, standins)
    key = await create_service_key("fuzz", frozenset({"pension.signals", "card.feed",
                                                      "card.verify", "filing.verify",
                                                      "settlement.ingest", "people.verify",
                                                      "registry.feed"}), ctx=deps.auth)
    return {"anonymous": {}, "citizen": bearer(login["access_token"]),
            "service": {"X-Service-Key": key}}


async def test_every_hostile_body_on_every_route_gets_a_4xx_and_stores_nothing(
        api, deps, callers, capsys):
    before = await domain_counts(deps)
    tried = 0
    for path, methods in concrete_paths():
        for method in methods:
            if method not in ("POST", "PATCH"):
                continue
            for who, headers in callers.items():
                for label, body in HOSTILE_BODIES.items():
                    reply = await api.request(method, path, body=body, headers={
                        **headers, "Content-Type": "application/json",
                        "Idempotency-Key": "hostile-key-0001", "If-Match": '"v1"'})
                    assert_envelope(reply, f"{method} {path} as {who}: {label}")
                    tried += 1
    assert tried > 500
    assert await domain_counts(deps) == before
    with capsys.disabled():
        print(f"\nhostile input: {tried} requests, 0 answered 5xx, nothing stored")


async def test_hostile_queries_and_headers_on_every_route(api, callers):
    for path, methods in concrete_paths():
        for who, headers in callers.items():
            for method in methods:
                for query in ("?person_id=%00", "?person_id=" + "9" * 5000,
                              "?from=9999-99-99&to=0000-00-00", "?region=%ff%fe",
                              "?status=%ud800", "?cursor=%00%01"):
                    reply = await api.request(method, path + query, body=_body(method),
                                              headers={**headers,
                                                       "Content-Type": "application/json"})
                    assert_envelope(reply, f"{method} {path}{query} as {who}")
                weird = {**headers, "X-Forwarded-For": "not-an-ip, 999.1.1.1",
                         "Idempotency-Key": ("钥匙" * 10).encode().decode("latin-1"), "If-Match": "\x00" * 40,
                         "Accept-Language": ";" * 500, "X-Request-Id": "../../etc/passwd"}
                reply = await api.request(method, path, body=_body(method), headers=weird)
                assert_envelope(reply, f"{method} {path} weird headers as {who}")


def _body(method: str) -> bytes | None:
    return b"{}" if method in ("POST", "PATCH") else None


async def test_multipart_without_a_boundary_or_with_a_broken_part_is_a_400(api, deps,
                                                                          callers):
    path = "/v1/pension/challenges/CH0123456789abcdef01/frames"
    citizen = callers["citizen"]
    cases = {
        "no boundary": (b"--x\r\n\r\n", "multipart/form-data"),
        "broken part": (b"--b\r\nno headers here\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        "missing end": (b"--b\r\nContent-Disposition: form-data; name=\"nonce\"\r\n\r\nx",
                        "multipart/form-data; boundary=b"),
    }
    for label, (body, content_type) in cases.items():
        reply = await api.post(path, body=body, headers={**citizen,
                                                          "Content-Type": content_type})
        assert reply.status == 400, (label, reply.body)
        assert_envelope(reply, label)


async def test_a_frame_part_named_with_5000_digits_is_no_crash(api, deps, standins, clip_jpeg):
    login, _ = await verified_citizen(api, deps, standins)
    body, content_type = multipart({"nonce": "x" * 32}, [clip_jpeg] * 16)
    body = body.replace(b'name="frame000"', b'name="frame' + b"7" * 5000 + b'"')
    reply = await api.post("/v1/pension/challenges/CH0123456789abcdef01/frames", body=body,
                           headers={**bearer(login["access_token"]),
                                    "Content-Type": content_type})
    assert reply.status == 404  # no such challenge: the name was parsed, not fatal
    assert_envelope(reply, "5000-digit part name")


@pytest.fixture(scope="module")
def clip_jpeg() -> bytes:
    return bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


async def test_a_nul_byte_in_a_static_path_is_a_404_envelope(api):
    reply = await api.get("/docs/static/x%00.js")
    assert reply.status == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"
    assert "Server" not in reply.headers


async def test_a_filing_change_to_the_year_9999_is_refused(api, deps, standins):
    login, person_id = await verified_citizen(api, deps, standins)
    token = bearer(login["access_token"])
    made = await file(api, token, body_for(__import__("medical_insurance.model", fromlist=[
        "Category"]).Category.TEMPORARY_TRIP, person_id))
    assert made.status == 201, made.body
    changed = await api.request("PATCH", f"/v1/medical/filings/{made.json()['filing_id']}",
                                json_body={"start_date": "9999-12-31"},
                                headers={**token, "If-Match": made.headers["ETag"]})
    assert (changed.status, changed.error_code) == (400, "FILING_INVALID")


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_a_one_megabyte_authorization_header_is_answered_431(api):
    port = int(api.base_url.rsplit(":", 1)[1])
    request = (b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 1_000_000
               + b"\r\n\r\n")
    answer = await asyncio.to_thread(_raw_request, port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), head[:200]
    assert json.loads(body)["error"]["code"] == "HEADERS_TOO_LARGE"
    assert (await api.get("/healthz")).status == 200  # and the server carries on
