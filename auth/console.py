"""Console accounts (agents and admins): argon2 password and a one-time code; five
failures lock the account for fifteen minutes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from auth.context import IP_LOGIN_RULES, AuthContext, LoginResult
from auth.model import (
    AGENT_LOCK,
    AGENT_MAX_FAILURES,
    Account,
    AccountLocked,
    Audience,
    LoginFailed,
    Role,
)
from auth.repository import new_id
from auth.sessions import start_session
from common.clock import as_utc
from common.errors import RateLimited
from common.ratelimit import RateRule

_HASHER = PasswordHasher()


async def create_console_account(*, username: str, display_name: str, password: str,
                                 role: Role, regions: tuple[str, ...], ctx: AuthContext
                                 ) -> tuple[Account, str]:
    """Returns the account and its TOTP secret (shown once, for the authenticator app)."""
    if role is Role.CITIZEN:
        raise ValueError("console accounts are agents or admins")
    if len(password) < 12:
        raise ValueError("a console password needs at least 12 characters")
    if await ctx.repo.account_by_username(username) is not None:
        raise ValueError(f"username {username} exists already")
    account = Account(account_id=new_id("A"), role=role, created_at=ctx.clock.now(),
                      username=username, display_name=display_name,
                      password_hash=_HASHER.hash(password), totp_secret=pyotp.random_base32(),
                      regions=regions)
    if not await ctx.repo.claim_identity(f"username:{username}", account.account_id,
                                         ctx.clock.now()):
        raise ValueError(f"username {username} exists already")
    await ctx.repo.create_account(account)
    await ctx.audit.record(actor="cli", action="agent.create", object=account.account_id,
                           outcome="ok", role=role.value, regions=",".join(regions))
    assert account.totp_secret is not None
    return account, account.totp_secret


async def console_login(username: str, password: str, totp: str, device: dict[str, str], *,
                        ctx: AuthContext, client_ip: str) -> LoginResult:
    """Password and one-time code; 5 failures lock the username for 15 minutes.

    Failures are counted and locks kept per username, whether or not an account has it:
    an unknown username locks after five tries exactly as a real one does, so neither
    the answer (401, then 423 with the same wait) nor its timing tells them apart."""
    await ctx.limiter.hit("login", client_ip, IP_LOGIN_RULES)
    now = ctx.clock.now()
    account = await ctx.repo.account_by_username(username)
    if account is not None and account.role is Role.CITIZEN:
        account = None
    locked_until = await _locked_until(username, ctx=ctx)
    if account is not None and account.locked_until is not None:  # a lock from before
        locked_until = max(locked_until or account.locked_until, account.locked_until)
    if locked_until is not None and now < locked_until:
        actor = account.account_id if account else f"username:{username}"
        await ctx.audit.record(actor=actor, action="login.console", object=actor,
                               outcome="locked", client_ip=client_ip)
        wait = max(1, int((locked_until - now).total_seconds()))
        raise AccountLocked("locked", retry_after=wait, minutes=-(-wait // 60))
    if account is None:
        # Same work as a real check: no timing hint that the name is unknown. argon2 is
        # deliberately slow CPU work, so it runs in a thread, off the event loop.
        await asyncio.to_thread(_HASHER.hash, password)
        await ctx.audit.record(actor=f"username:{username}", action="login.console",
                               object="-", outcome="unknown_user", client_ip=client_ip)
        await _count_failure(username, None, ctx=ctx, client_ip=client_ip)
        raise LoginFailed("wrong credentials")
    password_ok = await asyncio.to_thread(_password_ok, account, password)
    step = _totp_step(account, totp, now) if password_ok else None
    # A one-time code works once: a replay within its 30-second step is a failure too.
    if step is None or not await ctx.guard.claim(f"used:totp:{account.account_id}:{step}",
                                                 ttl=timedelta(minutes=2)):
        await _count_failure(username, account.account_id, ctx=ctx, client_ip=client_ip)
        raise LoginFailed("wrong credentials")
    await ctx.audit.record(actor=account.account_id, action="login.console",
                           object=account.account_id, outcome="ok", client_ip=client_ip,
                           role=account.role.value)
    return await start_session(account, Audience.CONSOLE, device, ctx=ctx)


def _password_ok(account: Account, password: str) -> bool:
    try:
        return _HASHER.verify(account.password_hash or "", password)
    except (VerificationError, ValueError):
        return False


def _totp_step(account: Account, code: str, now: datetime) -> int | None:
    """The 30-second step whose code this is (this one or a neighbour, for clock drift)."""
    if not account.totp_secret:
        return None
    totp = pyotp.TOTP(account.totp_secret)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=30 * drift)
        if hmac.compare_digest(totp.at(at), code.strip()):
            return int(totp.timecode(at))
    return None


def _lock_key(username: str) -> str:
    # The username as typed, hashed: no account needs to exist for it to lock.
    return "console-lock:" + hashlib.sha256(username.encode()).hexdigest()[:32]


async def _locked_until(username: str, *, ctx: AuthContext) -> datetime | None:
    holder = await ctx.guard.holder(_lock_key(username))
    expires = holder.get("expires_at") if holder else None
    return as_utc(expires) if expires is not None else None


async def _count_failure(username: str, account_id: str | None, *, ctx: AuthContext,
                         client_ip: str) -> None:
    """Failures are counted per username in a lock window; the fifth locks it for 15
    minutes (a lock whose time ran out is taken over by the next one)."""
    rule = RateRule("console_failures", limit=AGENT_MAX_FAILURES - 1, window=AGENT_LOCK)
    try:
        await ctx.limiter.hit("console_fail", username, [rule])
        outcome = "failed"
    except RateLimited:  # the limit is reached: this failure is the fifth
        await ctx.guard.claim_lapsing(_lock_key(username), ttl=AGENT_LOCK,
                                      owner=uuid.uuid4().hex)
        outcome = "locked"
    if account_id is not None:
        await ctx.audit.record(actor=account_id, action="login.console", object=account_id,
                               outcome=outcome, client_ip=client_ip)
