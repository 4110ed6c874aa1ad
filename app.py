"""Composition root and command line of the 12333 service.

    python app.py serve [--demo]      serve the API (dev: on the embedded database)
    python app.py init-db             create missing indexes
    python app.py import-people FILE  upsert people from a CSV file
    python app.py seed-demo           load the deterministic demo people
    python app.py worker [--once]     deliver outbox messages, run the daily jobs
    python app.py dead-letters        list dead letters; --requeue ID... / --requeue-all
    python app.py import-photos DIR   reference photos named by ID number (templates only)
    python app.py run-cycle           the daily certification job: reminders, suspensions
    python app.py run-filing-expiry   the daily filing job
    python app.py run-card-lifts      the daily card job
    python app.py run-housekeeping    the daily housekeeping job
    python app.py payroll-export M    run a month's payroll once and print it (CSV)
    python app.py import-signals F    proof-of-life signals (settlements, card use, deaths)
    python app.py import-settlements F / import-card-events F
    python app.py create-agent        a 12333 agent or admin console account (password + TOTP)
    python app.py create-service-key  a key for an institution or data feed (shown once)
    python app.py revoke-service-key  revoke a service key

The parts: ``composition.py`` builds everything from the settings, ``server.py`` makes
the Tornado application, ``cli.py`` is the command table, ``commands.py`` the commands,
``jobs.py`` the daily jobs and ``demo.py`` the demo data.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cli import main as cli_main
from composition import Container, all_indexes, build_deps, init_db
from server import VERSION, http_server, make_app

__all__ = ["VERSION", "Container", "all_indexes", "build_deps", "http_server", "init_db", "main",
           "make_app"]


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(argv, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
