"""Pension certification's commands and daily jobs against the embedded database: photo
import, the cycle, signals from a file, template purge after death, a new retiree's
first deadline, once-a-day runs, configured cycle rules, and each daily job on its own
(its own command; one failing never keeps the others from running)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from PIL import Image

from app import build_deps
from jobs import JOBS, daily_jobs, job_named, run_once_a_day
from pension_cert import service as cert
from pension_cert.pool import FacePool
from tests.conftest import cli_env, make_settings, run_app
from tests.journeys import (
    SHARED,
    add_person,
    jpeg,
    new_phone,
    photo_of,
    retiree,
)

pytestmark = pytest.mark.usefixtures("fresh_face_session")


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
    (folder / f"{small_number}.jpg").write_bytes(jpeg(small))
    (folder / f"{blank_number}.jpg").write_bytes(jpeg(Image.new("RGB", (300, 300), "grey")))
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
    index = await deps.cert.indexes.current(good_number[:4], ctx=deps.cert)
    assert index.search(good_id, np.zeros(128))[0] is None  # no consent: kept, not used


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


async def test_each_daily_job_has_its_own_command(devdb, db_name, deps):
    outputs = {}
    for command in ("run-cycle", "run-filing-expiry", "run-card-lifts", "run-housekeeping"):
        result = await run_app(command, "--date", "2026-11-22", env=cli_env(devdb, db_name))
        assert result.returncode == 0, result.stderr
        outputs[command] = result.stdout
    assert "reminded" in outputs["run-cycle"]
    assert "expired" in outputs["run-filing-expiry"]
    assert "lifted" in outputs["run-card-lifts"]
    assert "claims" in outputs["run-housekeeping"]


async def test_a_failing_job_never_keeps_the_others_from_running(deps, clock):
    from social_card import service as card_service

    async def broken(**_: Any) -> int:
        raise RuntimeError("card bureau unreachable")

    stop = asyncio.Event()
    with patch.object(card_service, "daily", broken):
        worker = asyncio.ensure_future(daily_jobs(deps, stop, deps.job_metrics,
                                                  check_seconds=0.05))
        await asyncio.sleep(0.5)
        stop.set()
        await worker
    today = deps.cert.today().isoformat()
    held = {job.name: await deps.guard.holder(f"job:{job.name}:{today}") for job in JOBS}
    assert held["card-lifts"] is None  # given back, so another worker retries it
    assert all(held[name] for name in ("cycle", "filing-expiry", "housekeeping"))
    metrics = deps.metrics.registry
    assert metrics.get_sample_value("job_failures_total", {"job": "card-lifts"}) >= 1
    for name in ("cycle", "filing-expiry", "housekeeping"):
        assert metrics.get_sample_value("job_last_success_timestamp_seconds",
                                        {"job": name}) == clock.now().timestamp()
    # Mended, it runs on the next pass; the others do not run twice the same day.
    stop = asyncio.Event()
    worker = asyncio.ensure_future(daily_jobs(deps, stop, deps.job_metrics, check_seconds=0.05))
    await asyncio.sleep(0.3)
    stop.set()
    await worker
    assert await deps.guard.holder(f"job:card-lifts:{today}") is not None
