"""Serving: the Tornado application (``make_app``), its HTTP server, and the ``serve``
command (optionally with the stand-ins, the demo, the worker and the devdb's keeper)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application

from api.base import NotFoundHandler, Route
from api.document import VERSION
from api.openapi import build_document
from api.routes import all_routes, bind, check_routes
from api.server import api_server
from commands import stop_event
from common.settings import Settings
from composition import Container, build_deps, close, init_db
from demo import seed_demo
from devdb.launcher import DevDB
from devrun import start_standins, supervise_devdb
from jobs import daily_jobs

log = logging.getLogger("app")


def make_app(settings: Settings, deps: Container, extra_routes: Sequence[Route] = (),
             extra_contexts: Mapping[str, Any] | None = None) -> Application:
    """The Tornado application. ``extra_routes`` (with ``extra_contexts``) lets tests mount
    probes beside the real API."""
    routes = [*all_routes(), *extra_routes]
    check_routes(routes)
    return Application(
        bind(routes, deps.web, {**deps.contexts, **(extra_contexts or {})}),
        default_handler_class=NotFoundHandler,
        default_handler_args={"web": deps.web, "route": "unmatched"},
        openapi_document=build_document(routes, version=VERSION),
        # Access lines are written by BaseHandler.on_finish, in JSON with the request id.
        log_function=lambda handler: None,
        serve_traceback=False,
        compress_response=True,
    )


def http_server(app: Application, settings: Settings) -> HTTPServer:
    # The per-route limits in BaseHandler are the real ones; this is the ceiling.
    return api_server(app, max_body_size=max(settings.max_upload_body_bytes,
                                             settings.max_json_body_bytes))


async def serve(settings: Settings, uri: str, devdb: DevDB | None,
                args: argparse.Namespace) -> None:
    if args.standins:
        if not settings.is_dev:
            raise SystemExit("--standins is for APP_ENV=dev/test only")
        for url in start_standins(settings):
            print(f"stand-in on {url}", file=sys.stderr)
    deps = build_deps(settings, mongodb_uri=uri)
    await init_db(deps)
    if args.demo:
        report = await seed_demo(deps, progress=False)
        log.info("demo data loaded", extra={"people": report.accepted})
    server = http_server(make_app(settings, deps), settings)
    port = args.port or settings.port
    server.listen(port)
    log.info("serving", extra={"port": port, "env": settings.app_env})
    print(f"API on http://127.0.0.1:{port}  (docs: /docs, ready: /readyz)", file=sys.stderr)
    stop = stop_event()
    tasks = [asyncio.create_task(deps.outbox_worker().run_forever(stop)),
             asyncio.create_task(daily_jobs(deps, stop, deps.job_metrics))
             ] if args.with_worker else []
    if devdb is not None:
        tasks.append(asyncio.create_task(supervise_devdb(devdb, stop)))
    await stop.wait()
    await asyncio.gather(*tasks)
    server.stop()
    await server.close_all_connections()
    await close(deps)
