"""The command line, as one table: each command's name, help, arguments and function.

    python app.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import commands as c
import commands_records as records_commands
from common.errors import DomainError
from common.logs import configure_logging
from common.settings import Settings, SettingsError
from composition import build_deps, close, init_db
from devdb.launcher import DevDB
from devrun import database_uri

log = logging.getLogger("app")
Arg = tuple[tuple[str, ...], dict[str, Any]]


@dataclass(frozen=True)
class Cmd:
    name: str
    help: str
    run: c.Command
    args: tuple[Arg, ...] = field(default_factory=tuple)


def _arg(*flags: str, **options: Any) -> Arg:
    return flags, options


_DATE = _arg("--date", help="the day to run for (YYYY-MM-DD); default today")
COMMANDS: tuple[Cmd, ...] = (
    Cmd("init-db", "create missing indexes (idempotent)", c.indexes),
    Cmd("seed-demo", "load the deterministic demo people", c.demo),
    Cmd("import-people", "upsert people from a CSV file (registry fields only)",
        c.import_people_file, (_arg("file"),)),
    Cmd("worker", "deliver outbox messages and run the daily jobs until stopped", c.worker,
        (_arg("--once", action="store_true", help="one pass over due messages"),)),
    Cmd("dead-letters", "list dead letters, or re-queue them", c.dead_letters,
        (_arg("--requeue", nargs="*", default=[], metavar="MESSAGE_ID"),
         _arg("--requeue-all", action="store_true"))),
    Cmd("import-photos", "reference photos named by ID number (templates only)", c.photos,
        (_arg("dir"),)),
    *(Cmd(name, f"the daily {job} job now (idempotent per day)", c.job, (_DATE,))
      for name, job in c.JOB_COMMANDS.items()),
    Cmd("payroll-export", "run a month's payroll once and print it as CSV", c.payroll_export,
        (_arg("month", help="YYYY-MM"),
         _arg("--out", help="file to write; default standard output"))),
    Cmd("import-signals", "proof-of-life signals from a CSV file", c.import_rows,
        (_arg("file"),)),
    Cmd("import-settlements", "direct-settlement records from a CSV file", c.import_rows,
        (_arg("file"),)),
    Cmd("import-card-events", "card issuance progress and card use from a CSV file",
        c.import_rows, (_arg("file"),)),
    Cmd("import-contributions", "contribution records from a CSV file (batched)",
        records_commands.import_contributions_file, (_arg("file"),)),
    Cmd("import-raises", "annual pension raises (new monthly amount, effective month)",
        records_commands.import_raises_file, (_arg("file"),)),
    Cmd("report-coverage", "certification coverage per league as CSV",
        records_commands.report_coverage,
        (_arg("--month", help="YYYY-MM; default this month"),)),
    Cmd("create-agent", "create a console account (agent or admin)", c.create_agent,
        (_arg("--username", required=True), _arg("--name", required=True),
         _arg("--regions", default="", help="region codes, e.g. 150100,150200"),
         _arg("--admin", action="store_true"))),
    Cmd("create-service-key", "create a key for an institution or feed (shown once)",
        c.new_service_key, (_arg("--name", required=True),
                            _arg("--scope", action="append", required=True,
                                 help="what the key may call (repeatable)"))),
    Cmd("revoke-service-key", "revoke a service key", c.revoke_key, (_arg("key_id"),)),
)
SERVE_ARGS: tuple[Arg, ...] = (
    _arg("--demo", action="store_true", help="load the demo people first"),
    _arg("--port", type=int, help="the port to serve on (default PORT, 8000)"),
    _arg("--with-worker", action="store_true", help="run the outbox worker in this process too"),
    _arg("--standins", action="store_true",
         help="serve the WeChat and Aliyun stand-ins here (dev only)"),
)


def parser(description: str) -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python app.py", description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = main.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve the HTTP API")
    for flags, options in SERVE_ARGS:
        serve.add_argument(*flags, **options)
    for command in COMMANDS:
        one = sub.add_parser(command.name, help=command.help)
        for flags, options in command.args:
            one.add_argument(*flags, **options)
    return main


async def run_command(settings: Settings, uri: str, args: argparse.Namespace) -> int:
    command = next(cmd for cmd in COMMANDS if cmd.name == args.command)
    deps = build_deps(settings, mongodb_uri=uri)
    await init_db(deps)
    try:
        return await command.run(deps, args)
    except DomainError as refused:
        print(f"refused: {refused.detail or refused.code}", file=sys.stderr)
        return 1
    finally:
        await close(deps)


def main(argv: Sequence[str] | None, description: str) -> int:
    from server import serve

    args = parser(description).parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command is None:
        args = parser(description).parse_args(["serve", *(argv or [])])
    with database_uri(settings) as (uri, devdb):
        if args.command == "serve":
            return asyncio.run(_serve(serve, settings, uri, devdb, args))
        return asyncio.run(run_command(settings, uri, args))


async def _serve(serve: Any, settings: Settings, uri: str, devdb: DevDB | None,
                 args: argparse.Namespace) -> int:
    await serve(settings, uri, devdb, args)
    return 0
