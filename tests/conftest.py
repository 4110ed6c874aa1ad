"""Test fixtures: one real embedded database per session, a fresh database per module,
and the real application served over real HTTP on a free port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import settings as hypothesis_settings
from PIL import Image
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from api.routes import Route
from app import build_deps, http_server, init_db, make_app
from common.clock import FrozenClock
from common.settings import Settings
from composition import Container as Deps
from devdb.launcher import DevDB, free_port
from pension_cert.pool import FacePool
from tests.journeys import SHARED, jpeg

# Property tests check behaviour, not speed: no per-example deadline on a busy CI machine.
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")

# 2026-11-22 10:00 in Asia/Shanghai: tests start here and move the clock themselves.
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def devdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevDB]:
    server = DevDB(tmp_path_factory.mktemp("devdb"))
    server.start()
    yield server
    server.stop()


@dataclass
class StandIns:
    wechat_url: str
    aliyun_url: str
    servers: list[Any]


@pytest.fixture(scope="session")
async def standins() -> AsyncIterator[StandIns]:
    """The WeChat and Aliyun stand-ins on free ports, for the whole session."""
    from standins import aliyun_sms, wechat

    wechat_port, aliyun_port = free_port(), free_port()
    servers = [
        wechat.make_app().listen(wechat_port, address="127.0.0.1"),
        aliyun_sms.make_app().listen(aliyun_port, address="127.0.0.1"),
    ]
    yield StandIns(f"http://127.0.0.1:{wechat_port}", f"http://127.0.0.1:{aliyun_port}", servers)
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def db_name(request: pytest.FixtureRequest) -> str:
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    return f"t_{module}_{uuid.uuid4().hex[:8]}"


def make_settings(uri: str, db_name: str, standins: StandIns | None = None,
                  **overrides: str) -> Settings:
    env = {"APP_ENV": "test", "MONGODB_URI": uri, "MONGODB_DB": db_name}
    if standins is not None:
        env.update(WECHAT_BASE_URL=standins.wechat_url, ALIYUN_SMS_ENDPOINT=standins.aliyun_url)
    return Settings.from_env({**env, **overrides})


def cli_env(devdb: DevDB, db_name: str) -> dict[str, str]:
    """The environment a command-line run of ``app.py`` gets to reach a test's database."""
    return {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def settings(devdb: DevDB, db_name: str, standins: StandIns) -> Settings:
    # The test client connects from 127.0.0.1, which plays the trusted proxy: tests give
    # each simulated client its own address with X-Forwarded-For.
    return make_settings(devdb.uri, db_name, standins, MAX_JSON_BODY_BYTES="4096",
                         TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture
async def reset_standins(standins: StandIns) -> None:
    """Forget what the stand-ins received and were told to do by earlier tests."""
    client = AsyncHTTPClient()
    for base in (standins.aliyun_url, standins.wechat_url):
        await client.fetch(base + "/_control/reset", method="POST", body=b"{}")


@pytest.fixture(scope="session")
def face_pool() -> Iterator[FacePool]:
    """One face process pool for the session: workers load the models once."""
    pool = FacePool(workers=1, queue=4)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def clip() -> list[Image.Image]:
    """The real clip in ../shared/data (carphone: blinks near frames 42, 92, 112; mouth
    open 57-62 and 107-115), decoded once."""
    with av.open(str(SHARED / "video" / "carphone_pristine.mp4")) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


@pytest.fixture(scope="session")
def frames(clip: list[Image.Image]) -> list[bytes]:
    """The clip at 15 fps (every other frame of its 30), as the mini-program would send it."""
    return [jpeg(image) for image in clip[0:116:2]]


@pytest.fixture
async def fresh_face_session(reset_standins: None) -> None:
    """A face test starts with stand-ins that remember nothing (replays are remembered
    per person, and every test makes its own people)."""


@pytest.fixture
async def deps(settings: Settings, clock: FrozenClock, face_pool: FacePool) -> AsyncIterator[Deps]:
    built = build_deps(settings, clock=clock, face_pool=face_pool)
    await init_db(built)
    yield built
    built.gateways.sms.close()
    await built.client.close()


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json()["error"]["code"])


class Api:
    """A small real-HTTP client for the app under test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._client = AsyncHTTPClient(force_instance=True)

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      body: bytes | str | None = None,
                      headers: Mapping[str, str] | None = None) -> Reply:
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False)
            all_headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response: HTTPResponse = await self._client.fetch(
            HTTPRequest(self.base_url + path, method=method, body=body, headers=all_headers,
                        request_timeout=30),
            raise_error=False,
        )
        return Reply(response.code, response.headers, response.body or b"")

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Reply:
        return await self.request("POST", path, **kw)

    def close(self) -> None:
        self._client.close()


async def serve(settings: Settings, deps: Deps, extra_routes: Sequence[Route] = ()
                ) -> tuple[Any, Api]:
    server = http_server(make_app(settings, deps, extra_routes, {"probe": deps}), settings)
    port = free_port()
    server.listen(port, address="127.0.0.1")
    return server, Api(f"http://127.0.0.1:{port}")


ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def run_app(*args: str, env: Mapping[str, str]) -> Completed:
    """Run ``python app.py ARGS`` as a real process without blocking the test's event loop
    (the stand-ins serve from that loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", *args, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    return Completed(process.returncode or 0, stdout.decode(), stderr.decode())


@pytest.fixture
async def api(settings: Settings, deps: Deps) -> AsyncIterator[Api]:
    server, client = await serve(settings, deps)
    yield client
    client.close()
    server.stop()
    await server.close_all_connections()
