"""Service keys for institutions and feeds: shown once, kept as a hash, scoped, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from auth.context import AuthContext
from auth.model import (
    ServiceKey,
)


def _secret_hash(secret: str) -> str:
    # Keys are 32 random bytes, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_service_key(name: str, scopes: frozenset[str], *, ctx: AuthContext) -> str:
    """Returns the full key, ``sk_<id>_<secret>``; only its hash is kept."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await ctx.repo.save_service_key(ServiceKey(key_id=key_id, name=name, scopes=scopes,
                                               secret_hash=_secret_hash(secret),
                                               created_at=ctx.clock.now()))
    await ctx.audit.record(actor="cli", action="service_key.create", object=key_id,
                           outcome="ok", name=name, scopes=",".join(sorted(scopes)))
    return f"sk_{key_id}_{secret}"


async def revoke_service_key(key_id: str, *, ctx: AuthContext) -> bool:
    revoked = await ctx.repo.revoke_service_key(key_id, ctx.clock.now())
    await ctx.audit.record(actor="cli", action="service_key.revoke", object=key_id,
                           outcome="ok" if revoked else "not_found")
    return revoked


def parse_service_key(raw: str) -> tuple[str, str] | None:
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "sk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def service_key_matches(key: ServiceKey, secret: str) -> bool:
    return hmac.compare_digest(key.secret_hash, _secret_hash(secret))
