"""Fuzzing: schemathesis sends what /openapi.json allows, and much it does not, to every
operation, anonymously and as a logged-in citizen. No input may get a 5xx.

A fixed example budget and a printed seed make a failure repeatable:
``FUZZ_SEED=<seed> pytest tests/test_fuzzing.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.journeys import bearer, verified_citizen

SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(2**31))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.usefixtures("reset_standins")


async def fuzz(base_url: str, headers: list[str], report: Path) -> tuple[int, str]:
    assert SCHEMATHESIS, "schemathesis is installed with the dev dependencies"
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "run", f"{base_url}/openapi.json", "--url", base_url,
        "--checks", "not_a_server_error", "--max-examples", str(EXAMPLES),
        "--seed", str(SEED), "--workers", "1", "--phases", "examples,coverage,fuzzing",
        "--generation-deterministic", "--generation-with-security-parameters", "false",
        "--no-color", "--request-timeout", "20",
        "--report", "junit", "--report-junit-path", str(report), *headers,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.timeout(900)
async def test_no_input_anonymous_or_as_a_citizen_gets_a_server_error(
        api, deps, standins, tmp_path, capsys):
    login, _ = await verified_citizen(api, deps, standins)
    # Logging out (or ending the session) would turn the rest of the run anonymous.
    keep_session = ["--exclude-path", "/v1/auth/logout",
                    "--exclude-path", "/v1/me/sessions/{session_id}"]
    runs = {"anonymous": [], "citizen": ["-H", "Authorization: " + bearer(
        login["access_token"])["Authorization"], *keep_session]}
    for who, headers in runs.items():
        started = time.perf_counter()
        code, output = await fuzz(api.base_url, headers, tmp_path / f"{who}.xml")
        summary = [line for line in output.splitlines() if "passed" in line or "failed"
                   in line or "test cases" in line.lower()][-3:]
        with capsys.disabled():
            print(f"\nfuzzing as {who}: seed {SEED}, {EXAMPLES} examples per operation, "
                  f"{time.perf_counter() - started:.0f} s; " + " | ".join(summary))
        assert code == 0, output[-6000:]
