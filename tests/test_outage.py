"""The database dies mid-burst: creates in flight answer 503 with Retry-After (never 500),
and every create retried with its Idempotency-Key after the restart ends as exactly one
record. Nothing acknowledged is lost; nothing is made twice."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

from app import build_deps, init_db
from common.clock import FrozenClock
from devdb.launcher import DevDB
from medical_insurance.model import Category
from tests.conftest import T0, make_settings, serve
from tests.journeys import bearer, body_for, verified_citizen

BURST = 46


async def test_killing_the_database_mid_burst_loses_and_duplicates_nothing(
        tmp_path, standins, face_pool, reset_standins, capsys):
    database = DevDB(tmp_path / "outage-db")
    uri = database.start()
    clock = FrozenClock(T0)
    settings = make_settings(uri, "outage", standins, TRUSTED_PROXIES="127.0.0.1")
    deps = build_deps(settings, clock=clock, face_pool=face_pool)
    await init_db(deps)
    server, api = await serve(settings, deps)
    try:
        citizens = [await verified_citizen(api, deps, standins) for _ in range(3)]
        keys = [f"outage-{i:04d}-key" for i in range(BURST)]
        owner = dict(zip(keys, itertools.cycle(citizens), strict=False))

        async def create(key: str) -> Any:
            login, person_id = owner[key]
            body = body_for(Category.TEMPORARY_TRIP, person_id, start_date="2026-12-01")
            return await api.post("/v1/medical/filings", json_body=body, headers={
                **bearer(login["access_token"]), "Idempotency-Key": key})

        # A steady stream of creates; the database is killed (-9, no goodbye) once the
        # first few are acknowledged, with others in flight and more still to come.
        tasks: list[asyncio.Future[Any]] = []
        for i, key in enumerate(keys):
            tasks.append(asyncio.ensure_future(create(key)))
            if i == BURST // 3:
                await asyncio.wait(tasks[:4])
                database.kill()
            await asyncio.sleep(0.005)
        replies = dict(zip(keys, await asyncio.gather(*tasks), strict=True))
        statuses = Counter(r.status for r in replies.values())
        assert set(statuses) <= {201, 503}, statuses  # never a 500
        assert statuses[201] >= 4 and statuses[503] >= 1
        for reply in replies.values():
            if reply.status == 503:
                assert reply.headers["Retry-After"] and reply.error_code == \
                    "SERVICE_UNAVAILABLE"
        acknowledged = {k: r.json()["filing_id"] for k, r in replies.items()
                        if r.status == 201}

        database.start()  # the same port and data folder
        unknown = [k for k in keys if k not in acknowledged]
        final = dict(acknowledged)
        for _ in range(10):
            if not unknown:
                break
            clock.advance(minutes=3)  # a key left pending by a dead request is abandoned
            retried = dict(zip(unknown, await asyncio.gather(*(create(k) for k in unknown)),
                               strict=True))
            for key, reply in retried.items():
                assert reply.status in (201, 409, 503), (key, reply.status, reply.body)
                if reply.status == 201:
                    final[key] = reply.json()["filing_id"]
            unknown = [k for k in unknown if k not in final]
        assert not unknown
        # Each acknowledged create answers with its first filing when asked again.
        again = await asyncio.gather(*(create(k) for k in acknowledged))
        assert [r.json()["filing_id"] for r in again] == list(acknowledged.values())

        stored: Counter[str] = Counter()
        for login, person_id in citizens:
            listed = await api.get(f"/v1/medical/filings?person_id={person_id}",
                                   headers=bearer(login["access_token"]))
            stored.update(f["filing_id"] for f in listed.json()["filings"])
        lost = [k for k, filing in acknowledged.items() if filing not in stored]
        duplicated = sum(stored.values()) - len(set(final.values()))
        assert (lost, duplicated, len(stored)) == ([], 0, BURST)
        with capsys.disabled():
            print(f"\noutage: {BURST} creates, 1 kill; {statuses[201]} acknowledged, "
                  f"{statuses[503]} answered 503; after the restart 0 lost, "
                  f"{duplicated} duplicated")
    finally:
        api.close()
        server.stop()
        deps.gateways.sms.close()
        await deps.client.close()
        database.stop()
