"""What the guard costs, and what it buys, on the embedded database.

Prints, in one run on one devdb:
- the cost of a guard claim against a plain insert (the baseline);
- a contended claim (50 callers, one key) against the plain conditional update
  that FerretDB cannot make atomic: time per key, and how many callers "won".

    python -m bench.guard_vs_update [--keys 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from statistics import median

from pymongo import AsyncMongoClient

from common.clock import SystemClock
from common.guard import Guard
from devdb.launcher import DevDB


async def _timed(runs: list[float], operation: Callable[[int], Awaitable[object]],
                 n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await operation(i)
    per_op = (time.perf_counter() - start) / n
    runs.append(per_op)
    return per_op


async def run(keys: int, uri: str) -> None:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    db = client["bench_guard"]
    await db.drop_collection("plain")
    await db.drop_collection("guards")
    await db.drop_collection("codes")
    guard = Guard(db["guards"], SystemClock())

    baseline: list[float] = []
    claims: list[float] = []
    for round_no in range(3):  # interleave so drift affects both sides alike
        async def insert(i: int, r: int = round_no) -> object:
            return await db["plain"].insert_one({"_id": f"{r}:{i}"})

        async def claim(i: int, r: int = round_no) -> object:
            return await guard.claim(f"k{r}:{i}")

        await _timed(baseline, insert, keys)
        await _timed(claims, claim, keys)

    # The same contention both ways: 50 callers race for each key.
    contended_winners = []
    update_winners = []
    start = time.perf_counter()
    for i in range(keys // 4):
        results = await asyncio.gather(*[guard.claim(f"hot:{i}") for _ in range(50)])
        contended_winners.append(results.count(True))
    contended = (time.perf_counter() - start) / (keys // 4)
    start = time.perf_counter()
    for i in range(keys // 4):
        await db["codes"].insert_one({"_id": i, "used": False})
        found = await asyncio.gather(*[
            db["codes"].find_one_and_update({"_id": i, "used": False}, {"$set": {"used": True}})
            for _ in range(50)])
        update_winners.append(sum(f is not None for f in found))
    conditional = (time.perf_counter() - start) / (keys // 4)
    await client.close()

    base, claim_cost = median(baseline), median(claims)
    print(f"plain insert (baseline)      {base * 1000:7.2f} ms/op")
    print(f"guard claim                  {claim_cost * 1000:7.2f} ms/op   "
          f"ratio {claim_cost / base:5.2f}x")
    print(f"50 callers, one key: guard   {contended * 1000:7.2f} ms/key  "
          f"winners per key: always {set(contended_winners)}")
    print(f"50 callers, one key: update  {conditional * 1000:7.2f} ms/key  "
          f"winners per key: max {max(update_winners)}, "
          f"keys with >1 winner {sum(w > 1 for w in update_winners)}/{len(update_winners)}")
    print(f"contended guard vs conditional update: {contended / conditional:5.2f}x the time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, DevDB(data) as devdb:
        asyncio.run(run(args.keys, devdb.uri))


if __name__ == "__main__":
    main()
