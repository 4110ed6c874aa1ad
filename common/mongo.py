"""MongoDB client construction and idempotent index creation.

The same driver (PyMongo's ``AsyncMongoClient``) talks to a MongoDB replica set
in production and to the embedded FerretDB in development and tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

log = logging.getLogger(__name__)

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]

# What the driver raises when the database cannot be reached or does not answer in time:
# the HTTP layer answers these 503 with Retry-After.
DATABASE_UNAVAILABLE = (ConnectionFailure, AutoReconnect, NetworkTimeout,
                        ServerSelectionTimeoutError, WaitQueueTimeoutError)
DATABASE_ERROR = PyMongoError

# Readiness must answer within a few seconds when the database is gone, so
# server selection gives up after about 2 s instead of PyMongo's default 30 s.
SERVER_SELECTION_TIMEOUT_MS = 2000


def make_client(uri: str, *, embedded: bool) -> AsyncMongoClient[Document]:
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "tz_aware": True,
        "tzinfo": UTC,
        "appname": "nm12333",
    }
    if not embedded:
        # On a replica set a write counts once a majority holds it, and a
        # write interrupted by a failover is retried once by the driver.
        options.update(w="majority", retryWrites=True, retryReads=True)
    return AsyncMongoClient(uri, **options)


def database(client: AsyncMongoClient[Document], name: str) -> Database:
    return client.get_database(name, codec_options=CodecOptions(tz_aware=True, tzinfo=UTC))


async def insert_new(collection: Collection, documents: Sequence[Document]) -> set[int]:
    """Insert each of ``documents`` whose ``_id`` is new, in one round trip: the positions
    of those that already existed (``insert_once`` for many at a time)."""
    if not documents:
        return set()
    try:
        await collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as error:
        failures = error.details.get("writeErrors", [])
        if any(f.get("code") != 11000 for f in failures):
            raise
        return {f["index"] for f in failures}
    return set()


async def insert_once(collection: Collection, document: Document) -> bool:
    """Insert ``document`` unless its ``_id`` exists. True: this caller's insert won.

    The one atomic check both MongoDB and FerretDB v1 offer: the second insert of an
    ``_id`` fails with E11000 however the two race. Every claim, dedupe key and
    idempotent feed record goes through here.
    """
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True


async def delete_expired(collection: Collection, now: datetime, *, key: str = "expires_at",
                         batch: int = 1000) -> int:
    """Delete documents whose ``field`` has passed, a batch at a time (each delete stays
    small, and a run cut short simply leaves the rest for the next)."""
    deleted = 0
    while True:
        ids = [doc["_id"] async for doc in
               collection.find({key: {"$lt": now}}, {"_id": 1}).limit(batch)]
        if not ids:
            return deleted
        deleted += (await collection.delete_many({"_id": {"$in": ids}})).deleted_count
        if len(ids) < batch:
            return deleted


@dataclass(frozen=True)
class IndexSpec:
    """One index a repository needs. Names are explicit so re-creation is a no-op."""

    collection: str
    keys: Sequence[tuple[str, int]]
    name: str
    unique: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    # On MongoDB the server deletes a document once its ``expires_at`` has passed (a TTL
    # index). FerretDB v1 has no TTL indexes: there the housekeeping job deletes them.
    ttl: bool = False


_NOT_IMPLEMENTED = 238


async def ensure_indexes(db: Database, specs: Iterable[IndexSpec], *,
                         embedded: bool = False) -> list[str]:
    """Create every index that is missing. Safe to run at every start-up.

    TTL indexes are asked for wherever the server has them (MongoDB); a server without
    them (FerretDB v1 answers NotImplemented) gets a plain index on the same field.
    """
    created = []
    ttl_supported = not embedded
    for spec in specs:
        keys, options = list(spec.keys), dict(spec.options)
        collection = db[spec.collection]
        if spec.ttl and ttl_supported:
            try:
                await collection.create_index(keys, name=spec.name, unique=spec.unique,
                                              expireAfterSeconds=0, **options)
                created.append(f"{spec.collection}.{spec.name}")
                continue
            except OperationFailure as error:
                if error.code != _NOT_IMPLEMENTED:
                    raise
                ttl_supported = False
        await collection.create_index(keys, name=spec.name, unique=spec.unique, **options)
        created.append(f"{spec.collection}.{spec.name}")
    log.info("indexes ensured", extra={"indexes": len(created)})
    return created
