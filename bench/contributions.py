"""A 100,000-row contribution import on the embedded database, in its batches with a
progress bar, against a plain ``insert_many`` of the same rows in the same run (the
least any import must do). Prints seconds per 10,000 rows and the ratio.

    python -m bench.contributions [--rows 100000] [--people 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator

from tqdm import tqdm

from bench.harness import devdb, load_average, registry_row, settings_for
from common.clock import SystemClock
from composition import build_deps, close, init_db
from people.service import import_people
from records.service import BATCH, import_contributions

KINDS = ("pension", "medical", "unemployment", "work_injury")


def rows(count: int, numbers: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Four insurance types a month, month after month, person after person."""
    per_person = -(-count // len(numbers))
    n = 0
    for number in numbers:
        for k in range(per_person):
            if n == count:
                return
            month = 2000 * 12 + k // 4
            yield n + 2, {"source_record_id": f"JF-{n:08d}", "id_number": number,
                          "month": f"{month // 12:04d}-{month % 12 + 1:02d}",
                          "insurance_type": KINDS[k % 4], "base_fen": "500000",
                          "employer_fen": "80000", "personal_fen": "40000",
                          "payer": "employer"}
            n += 1


async def run(count: int, people: int) -> None:
    with devdb() as database:
        deps = build_deps(settings_for(database.uri, "bench_contrib"), clock=SystemClock())
        await init_db(deps)
        registry = [registry_row(n) for n in range(people)]
        await import_people(((n + 2, r) for n, r in enumerate(registry)), people=deps.people,
                            clock=deps.clock)
        numbers = [r["id_number"] for r in registry]

        plain = deps.db["bench_plain_rows"]
        start = time.perf_counter()
        batch: list[dict[str, str]] = []
        for _, row in rows(count, numbers):
            batch.append({"_id": row["source_record_id"], **row})
            if len(batch) == BATCH:
                await plain.insert_many(batch)
                batch = []
        if batch:
            await plain.insert_many(batch)
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        with tqdm(total=count, unit="row", desc="import-contributions") as bar:
            report = await import_contributions(rows(count, numbers), ctx=deps.records,
                                                on_batch=bar.update)
        ours = time.perf_counter() - start
        assert not report.rejected, report.rejected[:3]
        assert report.stored == count
        await close(deps)
    per = 10_000 / count
    print(f"{count:,} rows for {people:,} people in batches of {BATCH}; {load_average()}")
    print(f"plain insert_many (baseline)  {baseline * per:6.2f} s per 10,000 rows")
    print(f"import-contributions          {ours * per:6.2f} s per 10,000 rows   "
          f"ratio {ours / baseline:5.2f}x   ({count / ours:,.0f} rows/s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.people))


if __name__ == "__main__":
    main()
