"""The command-line commands: each takes the container and its parsed arguments and
returns an exit code. ``cli.py`` lists them in one table."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import io
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path

import pyotp
from prometheus_client import start_http_server
from tqdm import tqdm

from auth.model import Role
from auth.service import create_console_account, create_service_key, revoke_service_key
from common.clock import local_date
from common.errors import DomainError
from common.masking import mask_text
from composition import Container, init_db
from demo import seed_demo
from jobs import daily_jobs, job_named, run_job
from medical_insurance import service as filing_service
from pension_cert.model import Month
from pension_cert.service import PHOTO_SUFFIXES, import_photos, ingest_signal, payroll_rows
from people.regions import in_inner_mongolia
from people.service import ImportReport, import_people, missing_columns
from social_card import service as card_service

log = logging.getLogger("app")
Deps = Container
JOB_COMMANDS = {"run-cycle": "cycle", "run-filing-expiry": "filing-expiry",
                "run-card-lifts": "card-lifts", "run-housekeeping": "housekeeping"}


def stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def worker(deps: Deps, args: argparse.Namespace) -> int:
    outbox_worker = deps.outbox_worker()
    if args.once:
        print(f"attempts made: {await outbox_worker.run_once()}")
        return 0
    log.info("outbox worker running", extra={"worker": outbox_worker.worker_id})
    if deps.settings.worker_metrics_port:
        # A worker without the API still shows its outbox figures to Prometheus.
        start_http_server(deps.settings.worker_metrics_port, registry=deps.metrics.registry)
    stop = stop_event()
    await asyncio.gather(outbox_worker.run_forever(stop),
                         daily_jobs(deps, stop, deps.job_metrics))
    return 0


async def dead_letters(deps: Deps, args: argparse.Namespace) -> int:
    dead = await deps.outbox.dead_letters(limit=1000)
    targets = [m.message_id for m in dead] if args.requeue_all else args.requeue
    for message_id in targets:
        done = await deps.outbox.requeue(message_id, deps.clock.now())
        print(f"{message_id}: {'re-queued' if done else 'not a dead letter'}")
    if not targets:
        print(f"{len(dead)} dead letter(s)")
        for m in dead:
            print(f"{m.message_id}  {m.kind:<16} {m.channel.value:<6} {mask_text(m.recipient)}"
                  f"  attempts={m.attempts}  {m.dead_reason}")
    return 0


async def create_agent(deps: Deps, args: argparse.Namespace) -> int:
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
    return 0


async def new_service_key(deps: Deps, args: argparse.Namespace) -> int:
    key = await create_service_key(args.name, frozenset(args.scope), ctx=deps.auth)
    print("service key (shown once; only its hash is kept):")
    print(key)
    return 0


async def revoke_key(deps: Deps, args: argparse.Namespace) -> int:
    revoked = await revoke_service_key(args.key_id, ctx=deps.auth)
    print("revoked" if revoked else "no such active key")
    return 0 if revoked else 1


async def photos(deps: Deps, args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in PHOTO_SUFFIXES)
    with tqdm(total=len(files), desc="photos", unit="photo") as bar:
        report = await import_photos([(p.name, p.read_bytes()) for p in files],
                                     ctx=deps.cert, on_file=lambda: bar.update())
    print(f"enrolled {report.enrolled} of {len(files)}")
    for problem, names in sorted(report.problems.items()):
        print(f"  {problem}: {len(names)}")
        for name in names:
            print(f"    {mask_text(name)}")
    return 0


async def job(deps: Deps, args: argparse.Namespace) -> int:
    day = date.fromisoformat(args.date) if args.date else local_date(deps.clock.now())
    counts = await run_job(job_named(JOB_COMMANDS[args.command]), deps, day, deps.job_metrics)
    print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    return 0


async def payroll_export(deps: Deps, args: argparse.Namespace) -> int:
    rows = await payroll_rows(Month.parse(args.month), ctx=deps.cert)  # runs it once
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    if args.out:
        Path(args.out).write_text(buffer.getvalue(), encoding="utf-8")
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


async def _signal_row(deps: Deps, row: dict[str, str]) -> str:
    """source,record_id,id_number,kind,date: idempotent by (source, record_id)."""
    person = await deps.people.find_by_id_number(row["id_number"].strip().upper())
    if person is None:
        raise ValueError("not in registry")
    return await ingest_signal(source=f"csv:{row['source']}", record_id=row["record_id"],
                               person_id=person.person_id, kind=row["kind"],
                               day=date.fromisoformat(row["date"]), ctx=deps.cert)


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


RowHandler = Callable[[Deps, dict[str, str]], Awaitable[str]]
ROW_IMPORTS: dict[str, RowHandler] = {"import-signals": _signal_row,
                                      "import-settlements": _settlement_row,
                                      "import-card-events": _card_event_row}


async def import_rows(deps: Deps, args: argparse.Namespace) -> int:
    """A CSV feed: each row on its own; a bad row is counted and never stops the others."""
    handle_row = ROW_IMPORTS[args.command]
    outcomes: dict[str, int] = {}
    path = Path(args.file)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in tqdm(list(csv.DictReader(handle)), desc=path.name, unit="row"):
            try:
                outcome = await handle_row(deps, row)
            except (ValueError, KeyError, DomainError) as error:
                outcome = f"rejected ({type(error).__name__})"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    return 0


async def import_people_file(deps: Deps, args: argparse.Namespace) -> int:
    path = Path(args.file)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
        handle.seek(0)
        reader = csv.DictReader(handle)
        missing = missing_columns(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: missing columns {', '.join(missing)}")
        rows = ((reader.line_num, row) for row in reader)
        with tqdm(total=total, desc=path.name, unit="row") as bar:
            report = await import_people(rows, people=deps.people, clock=deps.clock,
                                         hooks=deps.registry_hooks, source="registry-import",
                                         on_row=lambda: bar.update())
    print_report(report)
    return 1 if report.rejected and not report.accepted else 0


async def demo(deps: Deps, args: argparse.Namespace) -> int:
    print_report(await seed_demo(deps, progress=True))
    return 0


async def indexes(deps: Deps, args: argparse.Namespace) -> int:
    print("\n".join(await init_db(deps)))
    return 0


def print_report(report: ImportReport) -> None:
    print(f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
          f"rejected {len(report.rejected)}, deaths reported {report.deaths_reported}, "
          f"new pensioners {report.new_pensioners}")
    for row in report.rejected:
        where = f" [{row.field}]" if row.field else ""
        print(f"  line {row.line}{where}: {row.reason}")


Command = Callable[[Deps, argparse.Namespace], Awaitable[int]]
