"""Console accounts (agents and admins): argon2 password and a one-time code; five
failures lock the account for fifteen minutes."""

from __future__ import annotations

import asyncio
import hmac
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
    """Password and one-time code; 5 failures lock the account for 15 minutes."""
    await ctx.limiter.hit("login", client_ip, IP_LOGIN_RULES)
    now = ctx.clock.now()
    account = await ctx.repo.account_by_username(username)
    if account is None or account.role is Role.CITIZEN:
        # Same work as a real check: no timing hint that the name is unknown. argon2 is
        # deliberately slow CPU work, so it runs in a thread, off the event loop.
        await asyncio.to_thread(_HASHER.hash, password)
        await ctx.audit.record(actor=f"username:{username}", action="login.console",
                               object="-", outcome="unknown_user", client_ip=client_ip)
        raise LoginFailed("wrong credentials")
    if account.locked_until is not None and now < account.locked_until:
        await ctx.audit.record(actor=account.account_id, action="login.console",
                               object=account.account_id, outcome="locked", client_ip=client_ip)
        wait = int((account.locked_until - now).total_seconds())
        raise AccountLocked("locked", retry_after=wait, minutes=-(-wait // 60))
    password_ok = await asyncio.to_thread(_password_ok, account, password)
    step = _totp_step(account, totp, now) if password_ok else None
    # A one-time code works once: a replay within its 30-second step is a failure too.
    if step is None or not await ctx.guard.claim(f"used:totp:{account.account_id}:{step}",
                                                 ttl=timedelta(minutes=2)):
        await _count_failure(account, ctx=ctx, client_ip=client_ip)
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


async def _count_failure(account: Account, *, ctx: AuthContext, client_ip: str) -> None:
    """Failures are counted in a lock window; the fifth locks the account for 15 minutes."""
    rule = RateRule("console_failures", limit=AGENT_MAX_FAILURES - 1, window=AGENT_LOCK)
    try:
        await ctx.limiter.hit("console_fail", account.account_id, [rule])
        outcome = "failed"
    except RateLimited:  # the limit is reached: this failure is the fifth
        locked_until = ctx.clock.now() + AGENT_LOCK
        await ctx.repo.update_account(account.account_id, locked_until=locked_until)
        outcome = "locked"
    await ctx.audit.record(actor=account.account_id, action="login.console",
                           object=account.account_id, outcome=outcome, client_ip=client_ip)
