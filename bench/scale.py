"""How the service grows from 300 to 30,000 people on the embedded database: the import
rate, an agent's first page of filings, and a citizen's certification status, each
measured at both sizes in this run.

    python -m bench.scale [--small 300] [--large 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from datetime import date, timedelta

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from auth.model import Account, Audience, Role
from auth.service import create_console_account
from auth.sessions import start_session
from bench.harness import devdb, load_average, registry_row, service, timed
from composition import Container
from medical_insurance.model import Category, Destination, Filing, Status
from people.service import import_people

FILED_SHARE = 10  # one person in ten has a filing


async def populate(deps: Container, count: int) -> float:
    """Import ``count`` registry rows; returns rows per second."""
    rows = ((n + 2, registry_row(n)) for n in range(count))
    start = time.perf_counter()
    report = await import_people(rows, people=deps.people, clock=deps.clock,
                                 hooks=deps.registry_hooks)
    assert report.created == count, report
    return count / (time.perf_counter() - start)


async def file_for_some(deps: Container, count: int) -> str:
    """A filing for every tenth person; returns one person id to ask about."""
    now = deps.clock.now()
    asked = ""
    for n in range(0, count, FILED_SHARE):
        person = await deps.people.find_by_id_number(registry_row(n)["id_number"])
        assert person is not None
        asked = person.person_id
        filing = Filing(
            filing_id="F" + secrets.token_hex(10), person_id=person.person_id,
            category=Category.TEMPORARY_TRIP, destination=Destination.of("440000", "440100"),
            start_date=date(2026, 11, 25), end_date=date(2027, 5, 24), status=Status.EFFECTIVE,
            channel="app", actor="bench", created_at=now - timedelta(seconds=n))
        await deps.filings.repo.add(filing, person.region_code)
    return asked


async def tokens(deps: Container, person_id: str) -> tuple[str, str]:
    citizen = Account(account_id="A" + secrets.token_hex(9), role=Role.CITIZEN,
                      created_at=deps.clock.now(), person_id=person_id)
    await deps.auth.repo.create_account(citizen)
    login = await start_session(citizen, Audience.APP, {}, ctx=deps.auth)
    agent, _ = await create_console_account(
        username="agent" + secrets.token_hex(3), display_name="坐席",
        password=secrets.token_urlsafe(12), role=Role.AGENT, regions=("150100",), ctx=deps.auth)
    console = await start_session(agent, Audience.CONSOLE, {}, ctx=deps.auth)
    return login.access_token, console.access_token


async def measure(size: int) -> dict[str, float]:
    with devdb() as database:
        async with service(database.uri, "bench_scale") as (deps, base):
            rate = await populate(deps, size)
            person_id = await file_for_some(deps, size)
            citizen, agent = await tokens(deps, person_id)
            client = AsyncHTTPClient(force_instance=True)

            async def get(path: str, token: str) -> None:
                response = await client.fetch(HTTPRequest(
                    base + path, headers={"Authorization": f"Bearer {token}"}),
                    raise_error=False)
                assert response.code == 200, (path, response.code, response.body[:200])

            search = await timed(lambda: get("/v1/medical/filings?limit=50", agent), 5)
            status = await timed(
                lambda: get(f"/v1/pension/people/{person_id}/status", citizen), 20)
            client.close()
    return {"import rows/s": rate, "filing search ms": search * 1000,
            "status ms": status * 1000}


async def run(small: int, large: int) -> None:
    few, many = await measure(small), await measure(large)
    print(f"{small:,} vs {large:,} people; {load_average()}")
    for name in few:
        growth = many[name] / few[name]
        print(f"{name:<18} {few[name]:9.1f} -> {many[name]:9.1f}   x{growth:5.2f}")
    print(f"import of {large:,} rows: {large / many['import rows/s']:.1f} s (goal < 30 s); "
          f"search and status growth goal <= 2x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=30_000)
    args = parser.parse_args()
    asyncio.run(run(args.small, args.large))


if __name__ == "__main__":
    main()
