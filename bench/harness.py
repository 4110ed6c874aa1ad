"""What the benchmarks share: an embedded database, the real service on a free port, a
load generator, and synthetic registry rows with valid ID numbers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, timedelta
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from common.clock import SystemClock
from common.settings import Settings
from composition import Container, build_deps, close, init_db
from devdb.launcher import DevDB, free_port
from people.model import check_character
from server import http_server, make_app


@contextlib.contextmanager
def devdb() -> Iterator[DevDB]:
    with tempfile.TemporaryDirectory() as data, DevDB(data) as database:
        yield database


def settings_for(uri: str, db_name: str) -> Settings:
    return Settings.from_env({"APP_ENV": "test", "MONGODB_URI": uri, "MONGODB_DB": db_name,
                              "FACE_POOL_WORKERS": os.environ.get("FACE_POOL_WORKERS", "")})


@contextlib.asynccontextmanager
async def service(uri: str, db_name: str) -> AsyncIterator[tuple[Container, str]]:
    """The real application, serving on a free port, and its container."""
    settings = settings_for(uri, db_name)
    deps = build_deps(settings, clock=SystemClock())
    await init_db(deps)
    server = http_server(make_app(settings, deps), settings)
    port = free_port()
    server.listen(port, address="127.0.0.1")
    try:
        yield deps, f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await close(deps)


def registry_row(n: int, region: str = "150102") -> dict[str, str]:
    """Person ``n`` of a synthetic registry: a valid, unique ID number."""
    born = date(1940, 1, 1) + timedelta(days=n % 20000)
    first17 = f"{region}{born:%Y%m%d}{n // 20000 % 1000:03d}"
    return {"id_number": first17 + check_character(first17), "name": "张建国",
            "region_code": region, "person_type": "retiree" if n % 3 else "employee",
            "phone": f"138{n:08d}", "monthly_pension_fen": "300000"}


async def throughput(url: str, headers: dict[str, str], seconds: float, connections: int
                     ) -> tuple[float, float]:
    """(requests per second, p99 seconds) of GETs from ``connections`` clients at once."""
    client = AsyncHTTPClient(force_instance=True, max_clients=connections)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await client.fetch(HTTPRequest(url, headers=headers), raise_error=False)
            assert response.code == 200, response.code
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*[one_client() for _ in range(connections)])
    elapsed = time.perf_counter() - started
    client.close()
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=100)[98]


async def timed(operation: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """The median seconds of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        await operation()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"
