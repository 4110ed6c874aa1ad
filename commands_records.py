"""CLI commands for records: contribution and raise imports (CSV, batched, with a progress
bar; bad rows reported by line), and the coverage report as CSV."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from composition import Container
from pension_cert.coverage import coverage, coverage_rows
from pension_cert.model import Month
from pension_cert.payments import import_raises
from records.model import FIELDS
from records.service import import_contributions

RAISE_FIELDS = ("id_number", "monthly_pension_fen", "effective_month")


def _rows(path: Path, needed: tuple[str, ...]) -> tuple[int, Iterator[tuple[int, dict[str, str]]]]:
    """(row count, rows with their line numbers); refuses a file missing a column."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    handle = path.open(encoding="utf-8-sig", newline="")
    reader = csv.DictReader(handle)
    missing = [f for f in needed if f not in (reader.fieldnames or [])]
    if missing:
        raise SystemExit(f"{path}: missing columns {', '.join(missing)}")
    return total, ((reader.line_num, row) for row in reader)


def _print_rejected(rejected: list[tuple[int, str, str | None]]) -> None:
    for line, reason, field in rejected:
        print(f"  line {line}{f' [{field}]' if field else ''}: {reason}")


async def import_contributions_file(deps: Container, args: argparse.Namespace) -> int:
    path = Path(args.file)
    total, rows = _rows(path, FIELDS)
    with tqdm(total=total, desc=path.name, unit="row") as bar:
        report = await import_contributions(rows, ctx=deps.records, on_batch=bar.update)
    print(f"stored {report.stored} (corrections {report.corrected}), unchanged "
          f"{report.unchanged}, rejected {len(report.rejected)}")
    _print_rejected(report.rejected)
    return 1 if report.rejected and not report.stored else 0


async def import_raises_file(deps: Container, args: argparse.Namespace) -> int:
    path = Path(args.file)
    _, rows = _rows(path, RAISE_FIELDS)
    report = await import_raises(tqdm(rows, desc=path.name, unit="row"), ctx=deps.cert)
    print(f"stored {report.stored}, unchanged {report.unchanged}, "
          f"rejected {len(report.rejected)}")
    _print_rejected(report.rejected)
    return 1 if report.rejected and not report.stored else 0


async def report_coverage(deps: Container, args: argparse.Namespace) -> int:
    month = Month.parse(args.month) if args.month else Month.of(deps.cert.today())
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerows(coverage_rows(month, await coverage(month, ctx=deps.cert)))
    return 0
