"""Accounts, login identities, sessions, codes and service keys in MongoDB.

Uniqueness that must hold under concurrency is an ``_id``: a login identity is
``openid:<appid>:<openid>``, ``unionid:<id>`` or ``phone:<number>``; a person's
citizen binding is ``person:<person_id>`` in the same collection. The insert that
wins owns it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from auth.model import (
    Account,
    Audience,
    CodeChallenge,
    Role,
    ServiceKey,
    Session,
)
from common.clock import as_utc
from common.mongo import Collection, Database, Document, IndexSpec, delete_expired, insert_once

ACCOUNTS = "accounts"
IDENTITIES = "login_identities"
SESSIONS = "sessions"
CODES = "code_challenges"
SERVICE_KEYS = "service_keys"
INDEXES = [
    IndexSpec(ACCOUNTS, [("username", 1)], name="username"),
    IndexSpec(ACCOUNTS, [("person_id", 1)], name="person_id"),
    IndexSpec(IDENTITIES, [("account_id", 1)], name="account_id"),
    IndexSpec(SESSIONS, [("account_id", 1), ("created_at", -1)], name="account_sessions"),
    IndexSpec(CODES, [("expires_at", 1)], name="expires_at", ttl=True),
]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def _load(cls: Any, doc: Document, id_field: str) -> Any:
    values = {f.name: doc.get(f.name) for f in fields(cls) if f.name != id_field}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = as_utc(value)
    return cls(**{id_field: doc["_id"]}, **values)


def _dump(obj: Any, id_field: str) -> Document:
    doc = asdict(obj)
    doc["_id"] = doc.pop(id_field)
    return doc


class AuthRepository:
    def __init__(self, db: Database) -> None:
        self._accounts: Collection = db[ACCOUNTS]
        self._identities: Collection = db[IDENTITIES]
        self._sessions: Collection = db[SESSIONS]
        self._codes: Collection = db[CODES]
        self._service_keys: Collection = db[SERVICE_KEYS]

    # -- accounts and identities ----------------------------------------------------

    async def create_account(self, account: Account) -> None:
        doc = _dump(account, "account_id")
        doc["role"] = account.role.value
        doc["regions"] = list(account.regions)
        await self._accounts.insert_one(doc)

    async def account(self, account_id: str) -> Account | None:
        doc = await self._accounts.find_one({"_id": account_id})
        return _account(doc) if doc else None

    async def account_by_username(self, username: str) -> Account | None:
        doc = await self._accounts.find_one({"username": username})
        return _account(doc) if doc else None

    async def update_account(self, account_id: str, **changes: Any) -> None:
        await self._accounts.update_one({"_id": account_id}, {"$set": changes})

    async def delete_account(self, account_id: str) -> None:
        await self._accounts.delete_one({"_id": account_id})

    async def claim_identity(self, key: str, account_id: str, now: datetime) -> bool:
        """Link a login identity (or a person binding) to an account; False if taken."""
        return await insert_once(self._identities, {"_id": key, "account_id": account_id,
                                                    "linked_at": now})

    async def identity_owner(self, key: str) -> str | None:
        doc = await self._identities.find_one({"_id": key})
        return str(doc["account_id"]) if doc else None

    async def move_identities(self, from_account: str, to_account: str) -> None:
        await self._identities.update_many({"account_id": from_account},
                                           {"$set": {"account_id": to_account}})

    # -- sessions ----------------------------------------------------------------------

    async def create_session(self, session: Session) -> None:
        doc = _dump(session, "session_id")
        doc["audience"] = session.audience.value
        await self._sessions.insert_one(doc)

    async def session(self, session_id: str) -> Session | None:
        doc = await self._sessions.find_one({"_id": session_id})
        if doc is None:
            return None
        session: Session = _load(Session, doc, "session_id")
        session.audience = Audience(doc["audience"])
        session.device = dict(doc.get("device") or {})
        return session

    async def sessions_of(self, account_id: str) -> list[Session]:
        cursor = self._sessions.find({"account_id": account_id}).sort("created_at", -1)
        result = []
        async for doc in cursor:
            session: Session = _load(Session, doc, "session_id")
            session.audience = Audience(doc["audience"])
            result.append(session)
        return result

    async def touch_session(self, session_id: str, now: datetime) -> None:
        await self._sessions.update_one({"_id": session_id}, {"$set": {"last_seen_at": now}})

    async def end_session(self, session_id: str, now: datetime, reason: str) -> None:
        await self._sessions.update_one({"_id": session_id, "ended_at": None},
                                        {"$set": {"ended_at": now, "end_reason": reason}})

    async def end_sessions_of(self, account_id: str, now: datetime, reason: str) -> None:
        await self._sessions.update_many({"account_id": account_id, "ended_at": None},
                                         {"$set": {"ended_at": now, "end_reason": reason}})

    # -- SMS code challenges ------------------------------------------------------------

    async def save_code(self, challenge: CodeChallenge) -> None:
        await self._codes.insert_one(_dump(challenge, "challenge_id"))

    async def code(self, challenge_id: str) -> CodeChallenge | None:
        doc = await self._codes.find_one({"_id": challenge_id})
        return _load(CodeChallenge, doc, "challenge_id") if doc else None

    async def sweep_expired(self, now: datetime) -> int:
        return await delete_expired(self._codes, now)

    async def openid_of_account(self, account_id: str) -> str | None:
        """The WeChat openid a (mini-program) account logged in with."""
        doc = await self._accounts.find_one({"_id": account_id}, {"openid": 1})
        return str(doc["openid"]) if doc and doc.get("openid") else None

    async def openid_of(self, person_id: str) -> str | None:
        """The WeChat openid of the account bound to this person, for subscribe messages."""
        doc = await self._accounts.find_one({"person_id": person_id, "merged_into": None,
                                             "openid": {"$ne": None}}, {"openid": 1})
        return str(doc["openid"]) if doc else None

    # -- service keys ----------------------------------------------------------------------

    async def save_service_key(self, key: ServiceKey) -> None:
        doc = _dump(key, "key_id")
        doc["scopes"] = sorted(key.scopes)
        await self._service_keys.insert_one(doc)

    async def service_key(self, key_id: str) -> ServiceKey | None:
        doc = await self._service_keys.find_one({"_id": key_id})
        if doc is None:
            return None
        key: ServiceKey = _load(ServiceKey, doc, "key_id")
        return ServiceKey(key_id=key.key_id, name=key.name, scopes=frozenset(doc["scopes"]),
                          secret_hash=key.secret_hash, created_at=key.created_at,
                          revoked_at=key.revoked_at)

    async def revoke_service_key(self, key_id: str, now: datetime) -> bool:
        result = await self._service_keys.update_one({"_id": key_id, "revoked_at": None},
                                                     {"$set": {"revoked_at": now}})
        return result.modified_count == 1


def _account(doc: Document) -> Account:
    account: Account = _load(Account, doc, "account_id")
    account.role = Role(doc["role"])
    account.regions = tuple(doc.get("regions") or ())
    return account
