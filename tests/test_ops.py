"""Operations endpoints over real HTTP: liveness, readiness, metrics, 404s, body limits."""

from __future__ import annotations

import asyncio
import socket

import pytest

from app import build_deps
from devdb.launcher import DevDB
from tests.conftest import make_settings, serve


async def test_healthz_answers_and_carries_a_request_id(api):
    reply = await api.get("/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}
    assert len(reply.headers["X-Request-Id"]) >= 8


async def test_a_sane_incoming_request_id_is_kept(api):
    reply = await api.get("/healthz", headers={"X-Request-Id": "abc-123-def-456"})
    assert reply.headers["X-Request-Id"] == "abc-123-def-456"


async def test_unknown_route_gets_a_json_404_envelope(api):
    reply = await api.get("/no/such/thing", headers={"X-Request-Id": "req-404-check"})
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("application/json")
    error = reply.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "没有找到" in error["message"]
    assert error["request_id"] == "req-404-check"


async def test_wrong_method_gets_a_json_405(api):
    reply = await api.request("DELETE", "/healthz")
    assert reply.status == 405
    assert reply.error_code == "METHOD_NOT_ALLOWED"


async def test_metrics_count_requests_by_route_template(api):
    await api.get("/healthz")
    await api.get("/nothing-here-1")
    await api.get("/nothing-here-2")
    text = (await api.get("/metrics")).body.decode()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text
    # Unknown paths share one label instead of one series per path.
    assert 'route="unmatched",status="404"} 2.0' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_docs_page_and_its_offline_bundle(api):
    page = await api.get("/docs")
    assert page.status == 200
    assert b"swagger-ui-bundle.js" in page.body
    bundle = await api.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status == 200
    assert len(bundle.body) > 100_000
    init = await api.get("/docs/static/docs-init.js")
    assert b"/openapi.json" in init.body


async def test_readyz_is_503_while_the_database_is_down_and_200_after_restart(tmp_path):
    own = DevDB(tmp_path / "readiness-db")
    own.start()
    settings = make_settings(own.uri, "readiness")
    deps = build_deps(settings)
    server, api = await serve(settings, deps)
    try:
        assert (await api.get("/readyz")).status == 200

        own.stop()
        down = await api.get("/readyz")
        assert down.status == 503
        assert down.error_code == "NOT_READY"
        assert "database" in down.json()["error"]["reason"]
        assert down.headers["Retry-After"]
        # Liveness does not depend on the database.
        assert (await api.get("/healthz")).status == 200

        own.start()  # same port, same data directory
        statuses = []
        for _ in range(20):  # the driver reconnects within its server-selection window
            statuses.append((await api.get("/readyz")).status)
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.5)
        assert statuses[-1] == 200, statuses
    finally:
        api.close()
        server.stop()
        await deps.client.close()
        own.stop()


def _raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


async def test_oversized_body_is_refused_with_413_before_the_body_is_sent(api):
    port = int(api.base_url.rsplit(":", 1)[1])
    # Only the headers go out: the answer must come without reading any body.
    head = (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    raw = await asyncio.get_running_loop().run_in_executor(None, _raw_request, port, head)
    status_line, _, rest = raw.partition(b"\r\n")
    assert b" 413 " in status_line
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert b'"code":"PAYLOAD_TOO_LARGE"' in body
    assert "内容太大".encode() in body


@pytest.mark.parametrize("size", [4097, 300_000])
async def test_oversized_json_from_a_normal_client_gets_the_envelope(api, size):
    reply = await api.post("/healthz", body=b"x" * size,
                           headers={"Content-Type": "application/json", "Expect": "100-continue"})
    assert reply.status == 413
    assert reply.error_code == "PAYLOAD_TOO_LARGE"


async def test_html_pages_carry_a_policy_and_no_server_banner(api):
    docs = await api.get("/docs")
    policy = docs.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "<script>" not in docs.body.decode()  # every script is a file of this origin
    for path in ("/docs", "/healthz", "/nowhere", "/docs/static/swagger-ui.css",
                 "/assets/print.js"):
        reply = await api.get(path)
        assert "Server" not in reply.headers, path
        assert reply.headers["X-Frame-Options"] == "DENY", path
