"""The embedded database finds a document by ``_id`` through an index, not a table scan.

FerretDB v1.24 (SQLite backend) looks a document up by ``_id`` with
``WHERE _ferretdb_sjson->'$._id' = ?``, but indexes each collection table on
``_ferretdb_sjson->"_id"``: SQLite uses an index only for the identical expression, so
every lookup read the whole table. devdb adds the index the lookup needs
(``devdb/main.go``, docs/devdb.md "Performance notes"). These tests read the SQLite file
read-only, as FerretDB's own query would run, and time lookups as the collection grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from devdb.launcher import DevDB

# The statement FerretDB v1.24 runs for find / find_one({"_id": <string>}):
# internal/backends/sqlite/collection.go (Query) with metadata.IDColumn; the argument is
# the _id in FerretDB's sjson encoding (a JSON string for a string _id), then the limit.
FIND_BY_ID = 'SELECT _ferretdb_sjson FROM "{table}" WHERE _ferretdb_sjson->\'$._id\' = ? LIMIT ?'

LOOKUPS = 200


@pytest.fixture
async def client(devdb: DevDB) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(devdb.uri)
    yield mongo
    await mongo.close()


@contextlib.contextmanager
def read_only(devdb: DevDB, db_name: str) -> Iterator[sqlite3.Connection]:
    """The database's SQLite file, opened read-only (and closed at once after use)."""
    path = Path(devdb.data_dir) / f"{db_name}.sqlite"
    with contextlib.closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as conn:
        yield conn


def table_of(conn: sqlite3.Connection, collection: str) -> str:
    row = conn.execute("SELECT table_name FROM _ferretdb_collections WHERE name = ?",
                       (collection,)).fetchone()
    assert row is not None, f"no table for {collection}"
    return str(row[0])


def plan(devdb: DevDB, db_name: str, collection: str, doc_id: str) -> list[str]:
    with read_only(devdb, db_name) as conn:
        sql = "EXPLAIN QUERY PLAN " + FIND_BY_ID.format(table=table_of(conn, collection))
        return [str(row[3]) for row in conn.execute(sql, (json.dumps(doc_id), 1))]


def uses_index(steps: list[str]) -> bool:
    return (any(step.startswith("SEARCH") and "USING INDEX" in step for step in steps)
            and not any(step.startswith("SCAN") for step in steps))


async def wait_for_index(devdb: DevDB, db_name: str, collection: str, doc_id: str) -> list[str]:
    """devdb indexes a new collection within ~0.1 s of its creation; allow 10 s."""
    deadline = time.monotonic() + 10
    while True:
        steps = plan(devdb, db_name, collection, doc_id)
        if uses_index(steps) or time.monotonic() > deadline:
            return steps
        await asyncio.sleep(0.05)


async def fill(collection: Any, start: int, stop: int, batch: int = 1000) -> None:
    for first in range(start, stop, batch):
        await collection.insert_many([
            {"_id": f"doc-{n:06d}", "n": n, "name": f"person {n}", "pad": "x" * 200}
            for n in range(first, min(first + batch, stop))
        ])


async def best_time_of_lookups(collection: Any, count: int) -> float:
    """Seconds for LOOKUPS find_one-by-_id calls spread over the collection, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for k in range(LOOKUPS):
            n = (k * 7919) % count
            found = await collection.find_one({"_id": f"doc-{n:06d}"})
            assert found is not None and found["n"] == n
        best = min(best, time.perf_counter() - started)
    return best


async def test_a_find_by_id_searches_an_index(devdb, db_name, client):
    collection = client[db_name]["indexed_lookup"]
    await fill(collection, 0, 2000)

    steps = await wait_for_index(devdb, db_name, "indexed_lookup", "doc-001234")
    print("EXPLAIN QUERY PLAN:", steps)
    assert uses_index(steps), steps

    # The statement and its argument are the ones FerretDB's lookup runs: they find the
    # document the driver finds.
    with read_only(devdb, db_name) as conn:
        sql = FIND_BY_ID.format(table=table_of(conn, "indexed_lookup"))
        rows = conn.execute(sql, (json.dumps("doc-001234"), 1)).fetchall()
    assert len(rows) == 1
    assert json.loads(rows[0][0])["_id"] == "doc-001234"
    assert (await collection.find_one({"_id": "doc-001234"}) or {})["n"] == 1234

    # The extra index is devdb's: clients still see FerretDB's index list, and _id stays
    # unique through FerretDB's own unique index.
    names = [index["name"] async for index in await collection.list_indexes()]
    assert names == ["_id_"]


async def test_find_by_id_time_does_not_grow_with_the_collection(devdb, db_name, client):
    collection = client[db_name]["growing_lookup"]
    await fill(collection, 0, 300)
    assert uses_index(await wait_for_index(devdb, db_name, "growing_lookup", "doc-000001"))
    small = await best_time_of_lookups(collection, 300)

    await fill(collection, 300, 30_000)
    assert uses_index(plan(devdb, db_name, "growing_lookup", "doc-029999"))
    large = await best_time_of_lookups(collection, 30_000)

    print(f"\nfind_one by _id, {LOOKUPS} calls: 300 documents {small * 1000:.0f} ms "
          f"({small * 1000 / LOOKUPS:.2f} ms each), 30,000 documents {large * 1000:.0f} ms "
          f"({large * 1000 / LOOKUPS:.2f} ms each), ratio {large / small:.2f}")
    assert large <= 2 * small
