"""SMS codes: 6 digits kept as an HMAC, single use, 5 tries; and app login by code."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from auth.context import IP_CODE_RULES, IP_LOGIN_RULES, AuthContext, LoginResult
from auth.model import (
    CODE_LIFETIME,
    CODE_MAX_TRIES,
    Account,
    Audience,
    CodeChallenge,
    CodeExhausted,
    CodeExpired,
    CodeInvalid,
    Role,
)
from auth.repository import new_id
from auth.sessions import start_session
from auth.wechat_login import account_for_identities
from notifications.service import send_login_code


def code_hash(pepper: bytes, challenge_id: str, code: str) -> str:
    return hmac.new(pepper, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def issue_code(purpose: str, phone: str, *, ctx: AuthContext,
                      account_id: str | None = None, person_id: str | None = None) -> str:
    challenge_id = new_id("C")
    code = f"{secrets.randbelow(10**6):06d}"
    now = ctx.clock.now()
    await send_login_code(phone, code, sms=ctx.sms, limiter=ctx.limiter)
    await ctx.repo.save_code(CodeChallenge(
        challenge_id=challenge_id, purpose=purpose, phone=phone,
        code_hash=code_hash(ctx.otp_pepper, challenge_id, code), created_at=now,
        expires_at=now + CODE_LIFETIME, account_id=account_id, person_id=person_id))
    return challenge_id


async def redeem_code(challenge_id: str, code: str, purpose: str, *,
                       ctx: AuthContext) -> CodeChallenge:
    """Check a code: it must exist, be unexpired and unused, and be right within 5 tries."""
    challenge = await ctx.repo.code(challenge_id)
    if challenge is None or challenge.purpose != purpose:
        raise CodeInvalid("no such code", field="code")
    if ctx.clock.now() >= challenge.expires_at:
        raise CodeExpired("code expired", field="code")
    if await ctx.guard.holder(f"used:code:{challenge_id}") is not None:
        raise CodeInvalid("code already used", field="code")
    for attempt in range(1, CODE_MAX_TRIES + 1):  # each try takes a slot, exactly
        if await ctx.guard.claim(f"code:{challenge_id}:try{attempt}", ttl=CODE_LIFETIME):
            break
    else:
        raise CodeExhausted("too many wrong codes", field="code")
    expected = code_hash(ctx.otp_pepper, challenge_id, code.strip())
    if not hmac.compare_digest(expected, challenge.code_hash):
        raise CodeInvalid("wrong code", field="code", tries_left=CODE_MAX_TRIES - attempt)
    if not await ctx.guard.claim(f"used:code:{challenge_id}", ttl=CODE_LIFETIME):
        raise CodeInvalid("code already used", field="code")
    return challenge


async def request_login_code(phone: str, *, ctx: AuthContext,
                             client_ip: str) -> tuple[str, int]:
    """Send a login code. The answer is the same whether or not the phone is known."""
    await ctx.limiter.hit("code", client_ip, IP_CODE_RULES)
    challenge_id = await issue_code("login", phone, ctx=ctx)
    await ctx.audit.record(actor="anonymous", action="code.request", object=challenge_id,
                           outcome="sent", client_ip=client_ip, phone=phone)
    return challenge_id, int(CODE_LIFETIME.total_seconds())


async def login_with_code(challenge_id: str, code: str, device: dict[str, str], *,
                          ctx: AuthContext, client_ip: str) -> LoginResult:
    await ctx.limiter.hit("login", client_ip, IP_LOGIN_RULES)
    try:
        challenge = await redeem_code(challenge_id, code, "login", ctx=ctx)
    except CodeInvalid as error:
        await ctx.audit.record(actor="anonymous", action="login.sms", object=challenge_id,
                               outcome=error.code, client_ip=client_ip)
        raise
    account, created = await account_for_identities(
        [f"phone:{challenge.phone}"], ctx=ctx,
        template=Account(account_id="", role=Role.CITIZEN, created_at=ctx.clock.now(),
                         phone=challenge.phone))
    await ctx.audit.record(actor=account.account_id, action="login.sms",
                           object=account.account_id, outcome="ok", client_ip=client_ip,
                           new_account=created)
    return await start_session(account, Audience.APP, device, ctx=ctx, created=created)
