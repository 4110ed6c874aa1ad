"""Composition root and command line.

    python app.py serve [--demo]      serve the API (dev: on the embedded database)
    python app.py init-db             create missing indexes
    python app.py import-people FILE  upsert people from a CSV file
    python app.py seed-demo           load the deterministic demo people
    python app.py worker [--once]     deliver outbox messages (SMS, WeChat)
    python app.py dead-letters        list dead letters; --requeue ID... / --requeue-all
    python app.py import-photos DIR   reference photos named by ID number (templates only)
    python app.py run-cycle           the daily certification job: reminders, suspensions
    python app.py payroll-export M    the month's suspend/resume/back-pay instructions (CSV)
    python app.py import-signals F    proof-of-life signals (settlements, card use, deaths)
    python app.py create-agent        a 12333 agent or admin console account (password + TOTP)
    python app.py create-service-key  a key for an institution or data feed (shown once)
    python app.py revoke-service-key  revoke a service key

``make_app(settings, deps)`` is how both the server and the tests build the
Tornado application.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import io
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
from prometheus_client import CollectorRegistry, start_http_server
from tornado.httpserver import HTTPServer
from tornado.web import Application
from tqdm import tqdm

from api.base import NotFoundHandler
from api.deps import Deps, HttpMetrics
from api.openapi import build_document
from api.routes import Route, all_routes, bind, check_routes
from api.server import api_server
from auth import repository as auth_repository
from auth.authenticator import TokenAuthenticator
from auth.model import Role
from auth.repository import AuthRepository
from auth.service import (
    AuthContext,
    create_console_account,
    create_service_key,
    revoke_service_key,
)
from auth.tokens import TokenService
from common import audit as audit_module
from common import guard as guard_module
from common import idempotency as idempotency_module
from common import ratelimit as ratelimit_module
from common.audit import AuditLog
from common.clock import Clock, SystemClock, local_date
from common.errors import DomainError
from common.guard import Guard
from common.idempotency import IdempotencyStore
from common.logs import configure_logging
from common.masking import mask_text
from common.mongo import IndexSpec, database, ensure_indexes, make_client
from common.ratelimit import RateLimiter
from common.settings import Settings, SettingsError
from common.versioning import Stepper
from devdb.launcher import DevDB, DevDBError, FolderInUse, running_uri
from jobs import JobMetrics, daily_jobs, job_named, run_job
from medical_insurance import repository as filing_repository
from medical_insurance import service as filing_service
from medical_insurance.model import FilingConfig
from medical_insurance.repository import FilingRepository
from medical_insurance.service import FilingContext
from notifications import repository as outbox_repository
from notifications.aliyun_sms import AliyunSmsClient
from notifications.model import QuietHours, RetryPolicy
from notifications.repository import OutboxRepository
from notifications.service import NotificationPolicy, Notifier
from notifications.templates import CERT_DUE_SOON
from notifications.wechat import WeChatApi
from notifications.worker import Gateways, OutboxMetrics
from pension_cert import repository as cert_repository
from pension_cert.model import (
    DEFAULT_CYCLE_RULES,
    CertState,
    CycleRule,
    Month,
    cycle_months,
    parse_cycle_rules,
    valid_through,
)
from pension_cert.pool import FacePool
from pension_cert.registry_hooks import CertRegistryHooks
from pension_cert.repository import CertRepository
from pension_cert.service import (
    PHOTO_SUFFIXES,
    CertConfig,
    CertContext,
    import_photos,
    ingest_signal,
    payroll_rows,
)
from people import repository as people_repository
from people.demo import DEMO_SEED, demo_rows
from people.model import Person
from people.regions import in_inner_mongolia
from people.repository import PeopleRepository
from people.service import ImportReport, import_people, missing_columns
from social_card import repository as card_repository
from social_card import service as card_service
from social_card.model import CardConfig
from social_card.repository import CardRepository
from social_card.service import CardContext

VERSION = "0.1.0"
JOB_COMMANDS = {"run-cycle": "cycle", "run-filing-expiry": "filing-expiry",
                "run-card-lifts": "card-lifts", "run-housekeeping": "housekeeping"}
DEMO_REMINDERS = 5
log = logging.getLogger("app")


def all_indexes() -> list[IndexSpec]:
    return [
        *guard_module.INDEXES,
        *ratelimit_module.INDEXES,
        *idempotency_module.INDEXES,
        *people_repository.INDEXES,
        *outbox_repository.INDEXES,
        *auth_repository.INDEXES,
        *audit_module.INDEXES,
        *cert_repository.INDEXES,
        *filing_repository.INDEXES,
        *card_repository.INDEXES,
    ]


def build_deps(settings: Settings, *, mongodb_uri: str | None = None,
               clock: Clock | None = None, face_pool: FacePool | None = None) -> Deps:
    uri = mongodb_uri or settings.mongodb_uri
    if uri is None:
        raise SettingsError("no database: set MONGODB_URI or start the embedded devdb")
    clock = clock or SystemClock()
    client = make_client(uri, embedded=settings.uses_embedded_db)
    db = database(client, settings.mongodb_db)
    guard = Guard(db[guard_module.COLLECTION], clock)
    stepper = Stepper(guard, clock)
    limiter = RateLimiter(guard, db[guard_module.COLLECTION], db[ratelimit_module.COUNTERS], clock)
    audit = AuditLog(db[audit_module.COLLECTION], clock)
    auth_repo = AuthRepository(db)
    auth = AuthContext(
        repo=auth_repo,
        tokens=TokenService(settings.jwt_signing_keys, settings.jwt_issuer, clock),
        clock=clock, guard=guard, limiter=limiter, audit=audit, otp_pepper=settings.otp_pepper,
    )
    registry = CollectorRegistry()
    people = PeopleRepository(db)
    outbox = OutboxRepository(db)
    policy = NotificationPolicy(quiet_hours=QuietHours(*settings.quiet_hours),
                                retry=RetryPolicy(max_attempts=settings.outbox_max_attempts))
    notifier = Notifier(outbox=outbox, clock=clock, policy=policy, contacts=auth_repo)
    cert = CertContext(
        repo=CertRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, limiter=limiter, audit=audit,
        pool=face_pool or FacePool(settings.face_pool_workers or None, settings.face_pool_queue),
        template_key=settings.face_template_key,
        config=CertConfig(match_threshold=settings.face_match_threshold,
                          one_to_many_threshold=settings.face_one_to_many_threshold,
                          daily_failures=settings.face_daily_failures,
                          template_retention=timedelta(days=settings.face_dead_retention_days),
                          fixed_actions=settings.face_fixed_actions,
                          cycle_rules=_cycle_rules(settings)),
    )
    filing_ctx = FilingContext(
        repo=FilingRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, audit=audit, certificate_key=settings.certificate_key,
        cert=cert, config=FilingConfig(temporary_months=settings.filing_temporary_months,
                                       change_lock_months=settings.filing_change_lock_months),
    )
    sms = AliyunSmsClient(endpoint=settings.aliyun_sms_endpoint,
                          access_key_id=settings.aliyun_access_key_id,
                          access_key_secret=settings.aliyun_access_key_secret,
                          sign_name=settings.aliyun_sms_sign_name)
    card_ctx = CardContext(
        repo=CardRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, audit=audit, tokens=auth.tokens, auth=auth, sms=sms,
        cert=cert, config=CardConfig(temp_loss_working_days=settings.card_temp_loss_days),
    )
    return Deps(
        settings=settings,
        clock=clock,
        client=client,
        db=db,
        guard=guard,
        limiter=limiter,
        idempotency=IdempotencyStore(db[idempotency_module.COLLECTION], clock),
        people=people,
        outbox=outbox,
        gateways=Gateways(
            sms=sms,
            wechat=WeChatApi(base_url=settings.wechat_base_url, appid=settings.wechat_appid,
                             secret=settings.wechat_secret, clock=clock),
        ),
        notification_policy=policy,
        notifier=notifier,
        registry_hooks=CertRegistryHooks(cert),
        authenticator=TokenAuthenticator(auth),
        auth=auth,
        cert=cert,
        filings=filing_ctx,
        cards=card_ctx,
        audit=audit,
        metrics=HttpMetrics(registry),
        outbox_metrics=OutboxMetrics(registry),
        job_metrics=JobMetrics(registry),
    )


def _cycle_rules(settings: Settings) -> tuple[CycleRule, ...]:
    if settings.cert_cycle_rules is None:
        return DEFAULT_CYCLE_RULES
    try:
        return parse_cycle_rules(settings.cert_cycle_rules)
    except ValueError as error:
        raise SettingsError(f"CERT_CYCLE_RULES: {error}") from None


def make_app(settings: Settings, deps: Deps, extra_routes: Sequence[Route] = ()) -> Application:
    """The Tornado application. ``extra_routes`` lets tests mount probes beside the real API."""
    routes = [*all_routes(), *extra_routes]
    check_routes(routes)
    return Application(
        bind(routes, deps),
        default_handler_class=NotFoundHandler,
        default_handler_args={"deps": deps, "route": "unmatched"},
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


async def init_db(deps: Deps) -> list[str]:
    return await ensure_indexes(deps.db, all_indexes(),
                                embedded=deps.settings.uses_embedded_db)


# -- commands ---------------------------------------------------------------------


@contextlib.contextmanager
def database_uri(settings: Settings) -> Iterator[tuple[str, DevDB | None]]:
    """The configured database; in dev, the devdb already serving ``DATA_DIR`` (so a
    command never starts a second server on the running server's data), else one
    started here, which is also returned so the server can look after it."""
    if settings.mongodb_uri is not None:
        yield settings.mongodb_uri, None
        return
    folder = Path(settings.data_dir) / "devdb"
    running = running_uri(folder)
    if running is not None:
        log.info("using the running embedded devdb", extra={"uri": running})
        yield running, None
        return
    devdb = DevDB(folder)
    log.info("starting embedded devdb", extra={"data_dir": str(devdb.data_dir)})
    try:
        uri = devdb.start()
    except FolderInUse:  # another command started it a moment ago: use that one
        uri = _wait_for_running(folder)
        yield uri, None
        return
    try:
        yield uri, devdb
    finally:
        devdb.stop()


def _wait_for_running(folder: Path, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        uri = running_uri(folder)
        if uri is not None:
            return uri
        time.sleep(0.1)
    raise SystemExit(f"the embedded database in {folder} is locked but not serving")


async def supervise_devdb(devdb: DevDB, stop: asyncio.Event) -> None:
    """In dev, restart an embedded database that died, with backoff, on the same port
    and data: the API's client reconnects by itself."""
    delay = 1.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set() or devdb.running:
            continue
        log.error("embedded database stopped; restarting", extra={"after_seconds": delay})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        try:
            await asyncio.to_thread(devdb.start)
            log.warning("embedded database restarted", extra={"uri": devdb.uri})
            delay = 1.0
        except DevDBError:
            log.exception("embedded database did not restart; trying again")
            delay = min(delay * 2, 30.0)


def start_standins(settings: Settings) -> list[str]:
    """Serve the WeChat and Aliyun stand-ins in this process, where the settings point."""
    from standins import aliyun_sms, wechat

    wechat_url = urlsplit(settings.wechat_base_url)
    aliyun_url = urlsplit(settings.aliyun_sms_endpoint)
    wechat.make_app({settings.wechat_appid: settings.wechat_secret}).listen(
        wechat_url.port or 80, address=wechat_url.hostname or "127.0.0.1")
    aliyun_sms.make_app({settings.aliyun_access_key_id: settings.aliyun_access_key_secret},
                        frozenset({settings.aliyun_sms_sign_name})).listen(
        aliyun_url.port or 80, address=aliyun_url.hostname or "127.0.0.1")
    return [settings.wechat_base_url, f"{settings.aliyun_sms_endpoint}/_dev"]


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve(settings: Settings, uri: str, devdb: DevDB | None,
                 args: argparse.Namespace) -> None:
    if args.standins:
        if not settings.is_dev:
            raise SystemExit("--standins is for APP_ENV=dev/test only")
        for url in start_standins(settings):
            print(f"stand-in on {url}", file=sys.stderr)
    deps = build_deps(settings, mongodb_uri=uri)
    await init_db(deps)
    if args.demo:
        report = await _seed_demo(deps, progress=False)
        log.info("demo data loaded", extra={"people": report.accepted})
    server = http_server(make_app(settings, deps), settings)
    port = args.port or settings.port
    server.listen(port)
    log.info("serving", extra={"port": port, "env": settings.app_env})
    print(f"API on http://127.0.0.1:{port}  (docs: /docs, ready: /readyz)",
          file=sys.stderr)
    stop = _stop_event()
    tasks = [asyncio.create_task(deps.outbox_worker().run_forever(stop)),
             asyncio.create_task(daily_jobs(deps, stop, deps.job_metrics))
             ] if args.with_worker else []
    if devdb is not None:
        tasks.append(asyncio.create_task(supervise_devdb(devdb, stop)))
    await stop.wait()
    await asyncio.gather(*tasks)
    server.stop()
    await server.close_all_connections()
    await _close(deps)


async def _close(deps: Deps) -> None:
    deps.gateways.sms.close()
    deps.cert.pool.close()
    await deps.client.close()


async def _work(deps: Deps, *, once: bool) -> None:
    worker = deps.outbox_worker()
    if once:
        print(f"attempts made: {await worker.run_once()}")
        return
    log.info("outbox worker running", extra={"worker": worker.worker_id})
    if deps.settings.worker_metrics_port:
        # A worker without the API still shows its outbox figures to Prometheus.
        start_http_server(deps.settings.worker_metrics_port, registry=deps.metrics.registry)
    stop = _stop_event()
    await asyncio.gather(worker.run_forever(stop), daily_jobs(deps, stop, deps.job_metrics))


async def _dead_letters(deps: Deps, requeue: list[str], requeue_all: bool) -> None:
    dead = await deps.outbox.dead_letters(limit=1000)
    targets = [m.message_id for m in dead] if requeue_all else requeue
    for message_id in targets:
        done = await deps.outbox.requeue(message_id, deps.clock.now())
        print(f"{message_id}: {'re-queued' if done else 'not a dead letter'}")
    if targets:
        return
    print(f"{len(dead)} dead letter(s)")
    for m in dead:
        print(f"{m.message_id}  {m.kind:<16} {m.channel.value:<6} {mask_text(m.recipient)}  "
              f"attempts={m.attempts}  {m.dead_reason}")


async def _with_deps(settings: Settings, uri: str) -> Deps:
    deps = build_deps(settings, mongodb_uri=uri)
    await init_db(deps)
    return deps


async def _seed_demo(deps: Deps, *, progress: bool) -> ImportReport:
    rows = demo_rows()
    with tqdm(total=len(rows), desc="demo people", disable=not progress, unit="row") as bar:
        report = await import_people(enumerate(rows, start=2), people=deps.people,
                                     clock=deps.clock, hooks=DemoHistories(deps),
                                     source="demo", on_row=lambda: bar.update())
    await _demo_reminders(deps, rows)
    return report


class DemoHistories:
    """Certification histories for the demo pensioners instead of first deadlines: most
    certified some months ago, a few due soon or overdue, so the daily job has
    reminders and suspensions to make. Deaths go the real way, as death signals."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._real = deps.registry_hooks

    async def new_pensioner(self, person: Person, first_payment: date | None) -> None:
        deps = self._deps
        rng = random.Random(f"{DEMO_SEED}:{person.id_number}")  # noqa: S311 - demo data
        today = local_date(deps.clock.now())
        months = cycle_months(person, today, deps.cert.config.cycle_rules)
        certified = today - timedelta(days=rng.randrange(10, months * 31 + 40))
        await deps.cert.repo.create_state(CertState(
            person_id=person.person_id, last_certified_on=certified,
            valid_through=valid_through(certified, months),
            history=[{"day": certified.isoformat(), "channel": "agent", "result": "certified",
                      "note": "demo history"}]))

    async def death_reported(self, person: Person, day: date, source: str) -> None:
        await self._real.death_reported(person, day, source)


async def _demo_reminders(deps: Deps, rows: list[dict[str, str]]) -> None:
    """A few certification reminders, so the demo shows SMS arriving at the stand-in.

    Quiet hours apply as in production: at night they wait until 08:00.
    """
    due = local_date(deps.clock.now()) + timedelta(days=30)
    retirees = [r for r in rows if r["person_type"] == "retiree" and r["phone"]
                and not r["death_date"]][:DEMO_REMINDERS]
    for row in retirees:
        person = await deps.people.find_by_id_number(row["id_number"])
        if person is None:
            continue
        await deps.notifier.notify(CERT_DUE_SOON, f"demo:{CERT_DUE_SOON}:{person.person_id}",
                                   {"name": person.name, "due_date": due.isoformat()},
                                   person_id=person.person_id, phone=person.phone)


async def _import_people_file(deps: Deps, path: Path) -> ImportReport:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
        handle.seek(0)
        reader = csv.DictReader(handle)
        missing = missing_columns(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: missing columns {', '.join(missing)}")
        rows = ((reader.line_num, row) for row in reader)
        with tqdm(total=total, desc=path.name, unit="row") as bar:
            return await import_people(rows, people=deps.people, clock=deps.clock,
                                       hooks=deps.registry_hooks, source="registry-import",
                                       on_row=lambda: bar.update())


async def _create_agent(deps: Deps, args: argparse.Namespace) -> None:
    password = os.environ.get("AGENT_PASSWORD") or getpass.getpass("password (12+ chars): ")
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
    for region in regions:
        if not in_inner_mongolia(region):
            raise SystemExit(f"{region} is not a division of Inner Mongolia")
    try:
        account, secret = await create_console_account(
            username=args.username, display_name=args.name, password=password,
            role=Role.ADMIN if args.admin else Role.AGENT, regions=regions, ctx=deps.auth)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    print(f"created {account.role.value} {args.username} ({account.account_id}) "
          f"for regions {','.join(regions) or '-'}")
    print("TOTP secret (add it to the authenticator app now; it is not shown again):")
    print(secret)
    print(pyotp.TOTP(secret).provisioning_uri(name=args.username, issuer_name="12333 坐席"))


async def _import_photos(deps: Deps, folder: Path) -> None:
    # A one-shot command: nothing else runs on this loop, so plain file reads are fine.
    files = sorted(p for p in folder.iterdir()  # noqa: ASYNC240
                   if p.suffix.lower() in PHOTO_SUFFIXES)
    with tqdm(total=len(files), desc="photos", unit="photo") as bar:
        report = await import_photos([(p.name, p.read_bytes()) for p in files],
                                     ctx=deps.cert, on_file=lambda: bar.update())
    print(f"enrolled {report.enrolled} of {len(files)}")
    for problem, names in sorted(report.problems.items()):
        print(f"  {problem}: {len(names)}")
        for name in names:
            print(f"    {mask_text(name)}")


async def _payroll_export(deps: Deps, month_text: str, out: str | None) -> None:
    rows = await payroll_rows(Month.parse(month_text), ctx=deps.cert)  # runs it once
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    if out:
        Path(out).write_text(buffer.getvalue(), encoding="utf-8")  # noqa: ASYNC240
    else:
        sys.stdout.write(buffer.getvalue())


async def _import_signals(deps: Deps, path: Path) -> None:
    """CSV: source,record_id,id_number,kind,date. Idempotent by (source, record_id)."""
    outcomes: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in tqdm(list(csv.DictReader(handle)), desc=path.name, unit="row"):
            try:
                person = await deps.people.find_by_id_number(row["id_number"].strip().upper())
                if person is None:
                    raise ValueError("not in registry")
                outcome = await ingest_signal(
                    source=f"csv:{row['source']}", record_id=row["record_id"],
                    person_id=person.person_id, kind=row["kind"],
                    day=date.fromisoformat(row["date"]), ctx=deps.cert)
            except (ValueError, KeyError, DomainError) as error:
                outcome = f"rejected ({type(error).__name__})"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))


async def _settlement_row(deps: Deps, row: dict[str, str]) -> str:
    """settlement_no,id_number,date,institution,amount_fen"""
    return await filing_service.record_settlement(
        settlement_no=row["settlement_no"], id_number=row["id_number"].strip().upper(),
        day=date.fromisoformat(row["date"]), institution=row["institution"],
        amount_fen=int(row["amount_fen"]), source="csv", ctx=deps.filings)


async def _card_event_row(deps: Deps, row: dict[str, str]) -> str:
    """type (issuance|usage),source,record_id,id_number,card_number,step_or_kind,at_or_date"""
    if row["type"] == "issuance":
        return await card_service.ingest_issuance(
            source=row["source"], record_id=row["record_id"],
            id_number=row["id_number"].strip().upper(), card_number=row["card_number"],
            step=row["step_or_kind"], at=datetime.fromisoformat(row["at_or_date"]),
            bank=row.get("bank") or "中国工商银行", ctx=deps.cards)
    return await card_service.ingest_usage(
        source=row["source"], record_id=row["record_id"], card_number=row["card_number"],
        kind=row["step_or_kind"], day=date.fromisoformat(row["at_or_date"][:10]), ctx=deps.cards)


async def _import_rows(deps: Deps, path: Path, handle_row: Any) -> None:
    """A CSV feed: each row on its own; a bad row is counted and never stops the others."""
    outcomes: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in tqdm(list(csv.DictReader(handle)), desc=path.name, unit="row"):
            try:
                outcome = await handle_row(deps, row)
            except (ValueError, KeyError, DomainError) as error:
                outcome = f"rejected ({type(error).__name__})"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))


def _print_report(report: ImportReport) -> None:
    print(f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
          f"rejected {len(report.rejected)}, deaths reported {report.deaths_reported}, "
          f"new pensioners {report.new_pensioners}")
    for row in report.rejected:
        where = f" [{row.field}]" if row.field else ""
        print(f"  line {row.line}{where}: {row.reason}")


@dataclass
class _Command:
    name: str
    args: argparse.Namespace


async def _run_command(settings: Settings, uri: str, devdb: DevDB | None,
                       command: _Command) -> int:
    if command.name == "serve":
        await _serve(settings, uri, devdb, command.args)
        return 0
    deps = await _with_deps(settings, uri)
    try:
        return await _dispatch(deps, command)
    except DomainError as refused:
        print(f"refused: {refused.detail or refused.code}", file=sys.stderr)
        return 1
    finally:
        await _close(deps)


async def _dispatch(deps: Deps, command: _Command) -> int:
    if True:
        if command.name == "worker":
            await _work(deps, once=command.args.once)
        elif command.name == "dead-letters":
            await _dead_letters(deps, command.args.requeue, command.args.requeue_all)
        elif command.name == "create-agent":
            await _create_agent(deps, command.args)
        elif command.name == "create-service-key":
            key = await create_service_key(command.args.name, frozenset(command.args.scope),
                                           ctx=deps.auth)
            print("service key (shown once; only its hash is kept):")
            print(key)
        elif command.name == "revoke-service-key":
            revoked = await revoke_service_key(command.args.key_id, ctx=deps.auth)
            print("revoked" if revoked else "no such active key")
            return 0 if revoked else 1
        elif command.name == "import-photos":
            await _import_photos(deps, Path(command.args.dir))
        elif command.name in JOB_COMMANDS:
            job = job_named(JOB_COMMANDS[command.name])
            day = (date.fromisoformat(command.args.date) if command.args.date
                   else local_date(deps.clock.now()))
            counts = await run_job(job, deps, day, deps.job_metrics)
            print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
        elif command.name == "payroll-export":
            await _payroll_export(deps, command.args.month, command.args.out)
        elif command.name == "import-signals":
            await _import_signals(deps, Path(command.args.file))
        elif command.name == "import-settlements":
            await _import_rows(deps, Path(command.args.file), _settlement_row)
        elif command.name == "import-card-events":
            await _import_rows(deps, Path(command.args.file), _card_event_row)
        elif command.name == "init-db":
            print("\n".join(await init_db(deps)))
        elif command.name == "seed-demo":
            _print_report(await _seed_demo(deps, progress=True))
        elif command.name == "import-people":
            report = await _import_people_file(deps, Path(command.args.file))
            _print_report(report)
            return 1 if report.rejected and not report.accepted else 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--demo", action="store_true", help="load the demo people first")
    serve.add_argument("--port", type=int, help="the port to serve on (default PORT, 8000)")
    serve.add_argument("--with-worker", action="store_true",
                       help="run the outbox worker in this process too")
    serve.add_argument("--standins", action="store_true",
                       help="serve the WeChat and Aliyun stand-ins here (dev only)")
    worker = sub.add_parser("worker", help="deliver outbox messages until stopped")
    worker.add_argument("--once", action="store_true", help="one pass over due messages")
    photos = sub.add_parser("import-photos", help="reference photos named by ID number")
    photos.add_argument("dir")
    for command_name, job_name in JOB_COMMANDS.items():
        job_parser = sub.add_parser(command_name, help=f"the daily {job_name} job now "
                                                       "(idempotent per day)")
        job_parser.add_argument("--date", help="the day to run for (YYYY-MM-DD); default today")
    payroll = sub.add_parser("payroll-export", help="a month's payment instructions as CSV")
    payroll.add_argument("month", help="YYYY-MM")
    payroll.add_argument("--out", help="file to write; default standard output")
    signals = sub.add_parser("import-signals", help="proof-of-life signals from a CSV file")
    signals.add_argument("file")
    settlements = sub.add_parser("import-settlements",
                                 help="direct-settlement records from a CSV file")
    settlements.add_argument("file")
    card_events = sub.add_parser("import-card-events",
                                 help="card issuance progress and card use from a CSV file")
    card_events.add_argument("file")
    agent = sub.add_parser("create-agent", help="create a console account (agent or admin)")
    agent.add_argument("--username", required=True)
    agent.add_argument("--name", required=True, help="the agent's display name")
    agent.add_argument("--regions", default="", help="region codes, e.g. 150100,150200")
    agent.add_argument("--admin", action="store_true")
    key = sub.add_parser("create-service-key", help="create a key for an institution or feed")
    key.add_argument("--name", required=True)
    key.add_argument("--scope", action="append", required=True,
                     help="what the key may call, e.g. people.verify (repeatable)")
    revoke = sub.add_parser("revoke-service-key", help="revoke a service key")
    revoke.add_argument("key_id")
    dead = sub.add_parser("dead-letters", help="list dead letters, or re-queue them")
    dead.add_argument("--requeue", nargs="*", default=[], metavar="MESSAGE_ID")
    dead.add_argument("--requeue-all", action="store_true")
    sub.add_parser("init-db", help="create missing indexes (idempotent)")
    sub.add_parser("seed-demo", help="load the deterministic demo people")
    importer = sub.add_parser("import-people", help="upsert people from a CSV file")
    importer.add_argument("file")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    command = _Command(args.command, args)
    with database_uri(settings) as (uri, devdb):
        return asyncio.run(_run_command(settings, uri, devdb, command))


if __name__ == "__main__":
    sys.exit(main())
