"""Sessions and tokens: starting a session, rotating refresh tokens (a reused one ends
the whole session), ending sessions, and following account merges."""

from __future__ import annotations

from datetime import timedelta

from auth.context import AuthContext, LoginResult
from auth.model import (
    CONSOLE_ABSOLUTE_LIMIT,
    REFRESH_TOKEN_LIFETIME,
    Account,
    Audience,
    Principal,
    Session,
    SessionNotFound,
)
from auth.repository import new_id
from auth.tokens import ACCESS, REFRESH, TokenRejected


async def start_session(account: Account, audience: Audience, device: dict[str, str], *,
                         ctx: AuthContext, wechat_session_key: str | None = None,
                         created: bool = False) -> LoginResult:
    now = ctx.clock.now()
    lifetime = CONSOLE_ABSOLUTE_LIMIT if audience is Audience.CONSOLE else REFRESH_TOKEN_LIFETIME
    session = Session(session_id=new_id("S"), account_id=account.account_id, audience=audience,
                      created_at=now, last_seen_at=now, expires_at=now + lifetime,
                      device={k: str(v)[:120] for k, v in device.items()},
                      wechat_session_key=wechat_session_key)
    await ctx.repo.create_session(session)
    return tokens_for(account, session, ctx=ctx, created=created)


def tokens_for(account: Account, session: Session, *, ctx: AuthContext,
                created: bool = False) -> LoginResult:
    def issue(token_type: str, **lifetime: timedelta) -> str:
        token, _ = ctx.tokens.issue(subject=account.account_id, session_id=session.session_id,
                                    audience=session.audience.value, role=account.role.value,
                                    token_type=token_type, **lifetime)
        return token

    access = issue(ACCESS)
    refresh = issue(REFRESH, lifetime=session.expires_at - ctx.clock.now())
    return LoginResult(account, session, access, refresh, created)


async def refresh_tokens(refresh_token: str, *, ctx: AuthContext, client_ip: str) -> LoginResult:
    """Rotate: a refresh token works once. A second use means it was stolen or replayed,
    so the whole session (the token family) ends at once."""
    try:
        token = ctx.tokens.verify(refresh_token, token_type=REFRESH,
                                  audiences=tuple(a.value for a in Audience))
    except TokenRejected:
        await ctx.audit.record(actor="anonymous", action="token.refresh", object="-",
                               outcome="rejected", client_ip=client_ip)
        raise
    if not await ctx.guard.claim(f"used:refresh:{token.jti}", ttl=REFRESH_TOKEN_LIFETIME):
        await ctx.repo.end_session(token.session_id, ctx.clock.now(), "refresh_token_reuse")
        await ctx.audit.record(actor=token.subject, action="token.refresh_reuse",
                               object=token.session_id, outcome="family_revoked",
                               client_ip=client_ip)
        raise TokenRejected("refresh token reused")
    session = await ctx.repo.session(token.session_id)
    account = await ctx.repo.account(token.subject)
    if session is None or account is None or not session.usable(ctx.clock.now()):
        raise TokenRejected("session ended")
    await ctx.repo.touch_session(session.session_id, ctx.clock.now())
    await ctx.audit.record(actor=account.account_id, action="token.refresh",
                           object=session.session_id, outcome="ok", client_ip=client_ip)
    return tokens_for(account, session, ctx=ctx)


async def end_session(principal: Principal, session_id: str, *, ctx: AuthContext,
                      reason: str, client_ip: str) -> None:
    session = await ctx.repo.session(session_id)
    if session is None or session.account_id != principal.subject:
        raise SessionNotFound(session_id)
    await ctx.repo.end_session(session_id, ctx.clock.now(), reason)
    await ctx.audit.record(actor=principal.subject, action="session.end", object=session_id,
                           outcome=reason, client_ip=client_ip)


async def sessions_of(principal: Principal, *, ctx: AuthContext) -> list[Session]:
    return await ctx.repo.sessions_of(principal.subject)


async def live_account(account_id: str, *, ctx: AuthContext) -> Account:
    """Follow merges to the account that is in use now."""
    for _ in range(5):
        account = await ctx.repo.account(account_id)
        if account is None:
            raise TokenRejected("account gone")
        if account.merged_into is None:
            return account
        account_id = account.merged_into
    raise TokenRejected("merge chain too long")
