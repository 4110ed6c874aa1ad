"""The Authenticator the HTTP layer calls: access tokens for people, keys for services."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from auth.model import Forbidden, Principal, PrincipalKind
from auth.service import AuthContext, parse_service_key, service_key_matches
from auth.tokens import ACCESS, TokenRejected

ALL_AUDIENCES = ("miniapp", "app", "console")
# Console idle time is tracked by writing last_seen; once a minute is precise enough.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenAuthenticator:
    def __init__(self, ctx: AuthContext) -> None:
        self._ctx = ctx

    async def person(self, authorization: str | None, client_ip: str) -> Principal | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        ctx = self._ctx
        try:
            token = ctx.tokens.verify(authorization[7:].strip(), token_type=ACCESS,
                                      audiences=ALL_AUDIENCES)
        except TokenRejected as why:
            await ctx.audit.record(actor="anonymous", action="token.verify", object="-",
                                   outcome=f"rejected: {why}", client_ip=client_ip)
            return None
        now = ctx.clock.now()
        # Both by _id, at once: one round trip's wait for the two reads.
        session, account = await asyncio.gather(ctx.repo.session(token.session_id),
                                                ctx.repo.account(token.subject))
        if (session is None or account is None or account.merged_into is not None
                or session.account_id != account.account_id or not session.usable(now)):
            await ctx.audit.record(actor=token.subject, action="token.verify",
                                   object=token.session_id, outcome="session_unusable",
                                   client_ip=client_ip)
            return None
        if now - session.last_seen_at >= _TOUCH_EVERY:
            await ctx.repo.touch_session(session.session_id, now)
        return Principal(
            kind=PrincipalKind.PERSON, subject=account.account_id, role=account.role,
            person_id=account.person_id, regions=frozenset(account.regions),
            session_id=session.session_id, audience=session.audience.value, account=account,
        )

    async def service(self, service_key: str | None, scope: str | None,
                      client_ip: str) -> Principal | None:
        ctx = self._ctx
        parsed = parse_service_key(service_key or "")
        key = await ctx.repo.service_key(parsed[0]) if parsed else None
        if parsed is None or key is None or key.revoked_at is not None or not (
                service_key_matches(key, parsed[1])):
            await ctx.audit.record(actor=f"service:{parsed[0] if parsed else '-'}",
                                   action="service_key.use", object=scope or "-",
                                   outcome="revoked" if key and key.revoked_at else "rejected",
                                   client_ip=client_ip)
            return None
        if scope not in key.scopes:
            await ctx.audit.record(actor=f"service:{key.key_id}", action="service_key.use",
                                   object=scope or "-", outcome="scope_denied",
                                   client_ip=client_ip)
            raise Forbidden(f"key lacks scope {scope}")
        await ctx.audit.record(actor=f"service:{key.key_id}", action="service_key.use",
                               object=scope, outcome="ok", client_ip=client_ip, name=key.name)
        return Principal(kind=PrincipalKind.SERVICE, subject=key.key_id, scopes=key.scopes)


