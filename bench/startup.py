"""``make run`` at region scale: how long ``app.py serve --demo --with-worker --standins``
takes to answer ready when its data folder already holds N people, and how much CPU the
service and its embedded database use afterwards with nothing to do.

    python -m bench.startup [--people 30000] [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from bench.harness import load_average, registry_row
from common.clock import SystemClock
from common.settings import Settings
from composition import build_deps, close, init_db
from devdb.launcher import DevDB, free_port
from people.service import import_people

ROOT = Path(__file__).resolve().parent.parent


async def seed(data: Path, people: int) -> None:
    with DevDB(data / "devdb") as database:
        settings = Settings.from_env({"APP_ENV": "dev", "MONGODB_URI": database.uri,
                                      "MONGODB_DB": "nm12333"})
        deps = build_deps(settings, clock=SystemClock())
        await init_db(deps)
        rows = ((n + 2, registry_row(n, "150102" if n % 2 else "150203"))
                for n in range(people))
        await import_people(rows, people=deps.people, clock=deps.clock,
                            hooks=deps.registry_hooks)
        await close(deps)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """The process and its children (the devdb, the stand-ins run in-process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in children.read_text().split()] if children.exists() else []
    return [pid] + [p for child in found for p in family(child)]


async def quiet(pid: int, limit: float, window: float = 5.0) -> float:
    """Seconds until a ``window`` in which the server family used under 20% of a core."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        pids = family(pid)
        before = sum(cpu_seconds(p) for p in pids)
        await asyncio.sleep(window)
        if sum(cpu_seconds(p) for p in pids if alive(p)) - before < 0.2 * window:
            return time.perf_counter() - start
    return time.perf_counter() - start


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``make run``'s server (``app.py serve --demo --with-worker --standins``)."""
    return subprocess.Popen(
        [sys.executable, "app.py", "serve", "--demo", "--with-worker", "--standins",
         "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def ready(url: str, within: float) -> float:
    client = AsyncHTTPClient(force_instance=True)
    start = time.perf_counter()
    while time.perf_counter() - start < within:
        try:
            response = await client.fetch(url, raise_error=False, request_timeout=2)
            if response.code == 200 and b"ready" in (response.body or b""):
                client.close()
                return time.perf_counter() - start
        except OSError:
            pass
        await asyncio.sleep(0.2)
    client.close()
    raise SystemExit(f"not ready within {within:.0f} s")


async def run(people: int, idle_seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        started = time.perf_counter()
        await seed(data, people)
        seeded = time.perf_counter() - started
        port = free_port()
        env = {**os.environ, "APP_ENV": "dev", "DATA_DIR": str(data), "PORT": str(port)}
        env.pop("MONGODB_URI", None)
        process = start_server(env, port)
        try:
            took = await ready(f"http://127.0.0.1:{port}/readyz", 600)
            settled = await quiet(process.pid, limit=600)  # the first daily jobs finish
            pids = family(process.pid)
            before = sum(cpu_seconds(p) for p in pids)
            await asyncio.sleep(idle_seconds)
            used = sum(cpu_seconds(p) for p in pids if alive(p)) - before
        finally:
            stopping = time.perf_counter()
            process.terminate()
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
            stopped = time.perf_counter() - stopping
    print(f"{people:,} people seeded in {seeded:.0f} s; {load_average()}")
    print(f"make run ready in {took:.1f} s (goal < 30 s)")
    print(f"the first daily jobs finished {settled:.0f} s after ready; "
          f"SIGTERM to exit: {stopped:.1f} s")
    print(f"idle: {used / idle_seconds * 100:.1f}% of a core over {idle_seconds:.0f} s, "
          f"{len(pids)} processes (goal < 5%)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run(args.people, args.idle_seconds))


if __name__ == "__main__":
    main()
