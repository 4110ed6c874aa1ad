"""One typed contract: the document is generated from the models the handlers validate and
answer with, and every answer the server gives conforms to it.

The walk checks what a client developer needs from every operation (a Chinese summary,
a description, examples, enums, media types, error codes, headers, links). The contract
run has schemathesis call every operation anonymously, as a citizen, as an agent and
with a service key, checking each answer's status, content type and schema."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from api.contract import Operation
from api.document import document
from api.routes import all_routes
from auth.service import create_service_key
from tests.journeys import bearer, console_account, console_login, verified_citizen
from tests.test_fuzzing import SEED

CHINESE = re.compile(r"[\u4e00-\u9fff]")
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "15"))
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc: dict[str, Any] = document()
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items()]


def test_every_operation_tells_a_client_developer_what_they_need():
    ids = set()
    for path, method, op in operations():
        where = f"{method.upper()} {path}"
        assert CHINESE.search(op["summary"]) and not re.fullmatch(r"[a-z_]+", op["summary"]), \
            where
        assert op["description"] and CHINESE.search(op["description"]), where
        assert op["operationId"] not in ids, where
        ids.add(op["operationId"])
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            assert "example" in media or media_type != "application/json", where
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if status.startswith("2") and media_type == "application/json":
                    schema = media["schema"]
                    assert schema != {"type": "object"} or path == "/openapi.json", where
                    assert "example" in media or path == "/openapi.json", (where, status)
            if status in ("429", "503"):
                assert "Retry-After" in response.get("headers", {}), (where, status)
        for parameter in op["parameters"]:
            if parameter["in"] == "path" and parameter["name"] == "event":
                assert parameter["schema"].get("enum"), where


def test_the_special_bodies_events_reasons_and_links_are_documented():
    doc: dict[str, Any] = document()
    paths = doc["paths"]
    frames = paths["/v1/pension/challenges/{challenge_id}/frames"]["post"]
    form = frames["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"nonce", "frames"}
    photo = paths["/v1/pension/people/{person_id}/reference-photo"]["post"]
    assert "image/jpeg" in photo["requestBody"]["content"]
    reasons = doc["components"]["schemas"]["FaceReason"]["enum"]
    assert {"FACE_STILL_PHOTO", "FACE_REPLAYED", "FACE_FACE_MISMATCH"} <= set(reasons)
    card_events = {p["name"]: p for p in
                   paths["/v1/cards/{card_id}/{event}"]["post"]["parameters"]}
    assert set(card_events["event"]["schema"]["enum"]) == {
        "temp_loss", "cancel_temp_loss", "formal_loss", "cancel_loss", "replace", "renew",
        "activate", "cancel"}
    filing_events = {p["name"]: p for p in
                     paths["/v1/medical/filings/{filing_id}/{event}"]["post"]["parameters"]}
    assert set(filing_events["event"]["schema"]["enum"]) == {"cancel", "approve", "reject"}
    challenge = paths["/v1/pension/challenges"]["post"]
    assert challenge["responses"]["201"]["links"]["submit_frames"]["operationId"] == \
        "submit_face_frames"
    assert any(p["name"] == "Idempotency-Key" for p in challenge["parameters"])
    assert "ETag" in paths["/v1/family/links"]["post"]["responses"]["201"]["headers"]


def test_every_face_reason_is_documented_with_a_message():
    from api.messages import CATALOGUE
    from api.schemas.pension import FaceReason
    from pension_cert.check_model import FACE_REASONS

    assert {r.value for r in FaceReason} == {f"FACE_{r}" for r in FACE_REASONS}
    assert all(r.value in CATALOGUE["zh-CN"] for r in FaceReason)


def test_every_example_fits_its_model():
    seen: set[type[BaseModel]] = set()
    for route in all_routes():
        for op in getattr(route[1], "openapi", {}).values():
            assert isinstance(op, Operation)
            models = [op.body, op.query, *(r.model for r in op.responses.values())]
            seen.update(m for m in models if m is not None)
    for model in seen:
        extra: Any = model.model_config.get("json_schema_extra") or {}
        for example in extra.get("examples", []):
            model.model_validate(example)  # raises if the documentation lies
            for id_number in _values_named("id_number", example):
                if "*" in id_number:  # masked in an answer
                    continue
                assert _id_number_checks_out(id_number), (model.__name__, id_number)


def _values_named(key: str, value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == key] + [
            found for v in value.values() for found in _values_named(key, v)]
    if isinstance(value, list):
        return [found for v in value for found in _values_named(key, v)]
    return []


def _id_number_checks_out(id_number: str) -> bool:
    """GB 11643-1999: the 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    if len(id_number) != 18:
        return False
    total = sum(int(digit) * weight
                for digit, weight in zip(id_number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == id_number[17]


async def _contract(base_url: str, headers: list[str], report: Path) -> tuple[int, str]:
    assert SCHEMATHESIS, "schemathesis is installed with the dev dependencies"
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "run", f"{base_url}/openapi.json", "--url", base_url,
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_schema_conformance",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--generation-deterministic",
        "--generation-with-security-parameters", "false", "--no-color",
        "--request-timeout", "20", "--exclude-path", "/v1/auth/logout",
        "--exclude-path", "/v1/me/sessions/{session_id}", "--report", "junit",
        "--report-junit-path", str(report), *headers,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.timeout(1200)
@pytest.mark.usefixtures("reset_standins")
async def test_every_answer_conforms_to_the_document(api, deps, standins, clock, tmp_path,
                                                     capsys):
    login, _ = await verified_citizen(api, deps, standins)
    _, totp = await console_account(deps, "contract-agent", regions=("150100",))
    agent = (await console_login(api, clock, "contract-agent", totp)).json()["access_token"]
    key = await create_service_key("contract", frozenset({
        "pension.signals", "card.feed", "card.verify", "filing.verify", "settlement.ingest",
        "people.verify", "registry.feed"}), ctx=deps.auth)
    callers = {"anonymous": [],
               "citizen": ["-H", "Authorization: " + bearer(login["access_token"])[
                   "Authorization"]],
               "agent": ["-H", f"Authorization: Bearer {agent}"],
               "service key": ["-H", f"X-Service-Key: {key}"]}
    for who, headers in callers.items():
        started = time.perf_counter()
        code, output = await _contract(api.base_url, headers, tmp_path / f"{who}.xml")
        summary = [line.strip() for line in output.splitlines()
                   if "generated" in line or "failed" in line.lower()][-2:]
        with capsys.disabled():
            print(f"\ncontract as {who}: seed {SEED}, {EXAMPLES} examples per operation, "
                  f"{time.perf_counter() - started:.0f} s; " + " | ".join(summary))
        assert code == 0, output[-8000:]
