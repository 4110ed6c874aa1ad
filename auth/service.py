"""Identity use cases: logins, sessions and tokens, real-name binding, console accounts,
service keys. Every authentication attempt is audited."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from auth.model import (
    AGENT_LOCK,
    AGENT_MAX_FAILURES,
    CODE_LIFETIME,
    CODE_MAX_TRIES,
    CONSOLE_ABSOLUTE_LIMIT,
    REFRESH_TOKEN_LIFETIME,
    Account,
    AccountAlreadyBound,
    AccountLocked,
    Audience,
    CodeChallenge,
    CodeExhausted,
    CodeExpired,
    CodeInvalid,
    LoginFailed,
    PersonAlreadyBound,
    PhoneBelongsToAnotherPerson,
    Principal,
    Role,
    ServiceKey,
    Session,
    SessionNotFound,
    WeChatBusy,
    WeChatCodeInvalid,
    WeChatUnavailableError,
    WeChatUserBlocked,
)
from auth.repository import AuthRepository, new_id
from auth.tokens import ACCESS, REFRESH, TokenRejected, TokenService
from common.audit import AuditLog
from common.clock import Clock
from common.errors import DomainError, RateLimited
from common.guard import Guard
from common.masking import mask_id_number
from common.ratelimit import RateLimiter, RateRule
from notifications.model import SmsRateLimited
from notifications.service import SmsSender, send_login_code
from notifications.wechat import WeChatApi, WeChatUnavailable
from people.model import IdNumber, InvalidIdNumber, Person
from people.repository import PeopleRepository

log = logging.getLogger(__name__)
_HASHER = PasswordHasher()
# Per client address, on every route that logs in, sends a code or binds.
IP_LOGIN_RULES = (RateRule("login_ip_10min", limit=30, window=timedelta(minutes=10)),)
IP_CODE_RULES = (RateRule("code_ip_hour", limit=20, window=timedelta(hours=1)),)
REAL_NAME_RULES = (RateRule("real_name_day", limit=5, window=timedelta(days=1)),)


@dataclass(frozen=True)
class AuthContext:
    """What every identity use case needs; built once by the composition root."""

    repo: AuthRepository
    tokens: TokenService
    clock: Clock
    guard: Guard
    limiter: RateLimiter
    audit: AuditLog
    otp_pepper: bytes


@dataclass(frozen=True)
class LoginResult:
    account: Account
    session: Session
    access_token: str
    refresh_token: str
    created: bool = False  # a new account was made by this login

    @property
    def expires_in(self) -> int:
        return 15 * 60


# -- sessions and tokens ---------------------------------------------------------------


async def _start_session(account: Account, audience: Audience, device: dict[str, str], *,
                         ctx: AuthContext, wechat_session_key: str | None = None,
                         created: bool = False) -> LoginResult:
    now = ctx.clock.now()
    lifetime = CONSOLE_ABSOLUTE_LIMIT if audience is Audience.CONSOLE else REFRESH_TOKEN_LIFETIME
    session = Session(session_id=new_id("S"), account_id=account.account_id, audience=audience,
                      created_at=now, last_seen_at=now, expires_at=now + lifetime,
                      device={k: str(v)[:120] for k, v in device.items()},
                      wechat_session_key=wechat_session_key)
    await ctx.repo.create_session(session)
    return _tokens_for(account, session, ctx=ctx, created=created)


def _tokens_for(account: Account, session: Session, *, ctx: AuthContext,
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
    return _tokens_for(account, session, ctx=ctx)


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


# -- mini-program login -------------------------------------------------------------------


def _wechat_error(body: dict[str, Any]) -> Exception:
    errcode = int(body.get("errcode", 0))
    if errcode in (40029, 40163):  # invalid, or already used
        return WeChatCodeInvalid("invalid or used wx.login code", field="code")
    if errcode == 45011:
        return WeChatBusy(60, rule="wechat_45011")
    if errcode == 40226:
        return WeChatUserBlocked("WeChat marks this user as high risk")
    return WeChatUnavailableError(f"WeChat errcode {errcode}")


async def login_with_wechat(code: str, device: dict[str, str], *, ctx: AuthContext,
                            wechat: WeChatApi, client_ip: str) -> LoginResult:
    await ctx.limiter.hit("login", client_ip, IP_LOGIN_RULES)
    try:
        body = await wechat.code_to_session(code)
    except WeChatUnavailable as error:
        raise WeChatUnavailableError(str(error)) from None
    if "openid" not in body:
        await ctx.audit.record(actor="anonymous", action="login.wechat", object="-",
                               outcome=f"errcode {body.get('errcode')}", client_ip=client_ip)
        raise _wechat_error(body)
    keys = [f"unionid:{body['unionid']}"] if body.get("unionid") else []
    keys.append(f"openid:{body['openid']}")
    account, created = await _account_for_identities(
        keys, ctx=ctx, template=Account(account_id="", role=Role.CITIZEN,
                                        created_at=ctx.clock.now(), openid=body["openid"],
                                        unionid=body.get("unionid")))
    await ctx.audit.record(actor=account.account_id, action="login.wechat",
                           object=account.account_id, outcome="ok", client_ip=client_ip,
                           new_account=created)
    return await _start_session(account, Audience.MINIAPP, device, ctx=ctx, created=created,
                                wechat_session_key=str(body.get("session_key", "")))


async def _account_for_identities(keys: list[str], *, ctx: AuthContext,
                                  template: Account) -> tuple[Account, bool]:
    """The account any of these identities belongs to, or a new one that owns them all."""
    for key in keys:
        owner = await ctx.repo.identity_owner(key)
        if owner is not None:
            account = await _live_account(owner, ctx=ctx)
            for other in keys:  # e.g. a unionid seen for the first time
                await ctx.repo.claim_identity(other, account.account_id, ctx.clock.now())
            return account, False
    template.account_id = new_id("A")
    await ctx.repo.create_account(template)
    if not await ctx.repo.claim_identity(keys[0], template.account_id, ctx.clock.now()):
        # A concurrent first login won the identity: use its account, drop ours.
        await ctx.repo.delete_account(template.account_id)
        return await _account_for_identities(keys, ctx=ctx, template=template)
    for other in keys[1:]:
        await ctx.repo.claim_identity(other, template.account_id, ctx.clock.now())
    return template, True


async def _live_account(account_id: str, *, ctx: AuthContext) -> Account:
    """Follow merges to the account that is in use now."""
    for _ in range(5):
        account = await ctx.repo.account(account_id)
        if account is None:
            raise TokenRejected("account gone")
        if account.merged_into is None:
            return account
        account_id = account.merged_into
    raise TokenRejected("merge chain too long")


async def bind_wechat_phone(principal: Principal, code: str, device: dict[str, str], *,
                            ctx: AuthContext, wechat: WeChatApi, client_ip: str
                            ) -> LoginResult:
    """Link the phone WeChat vouches for. If the app already knows that phone, the two
    accounts become one (the older survives; a bound person always survives), and the
    caller continues in the surviving account with fresh tokens."""
    await ctx.limiter.hit("bind", principal.subject, IP_LOGIN_RULES)
    try:
        body = await wechat.phone_number(code)
    except WeChatUnavailable as error:
        raise WeChatUnavailableError(str(error)) from None
    if int(body.get("errcode", 0)) != 0:
        raise _wechat_error(body)
    phone = str(body["phone_info"]["purePhoneNumber"])
    account = await _live_account(principal.subject, ctx=ctx)
    survivor = await _link_phone(account, phone, ctx=ctx)
    await ctx.audit.record(actor=principal.subject, action="bind.phone",
                           object=survivor.account_id, outcome="ok", client_ip=client_ip,
                           phone=phone)
    if survivor.account_id != account.account_id and principal.session_id:
        await ctx.repo.end_session(principal.session_id, ctx.clock.now(), "merged")
    return await _start_session(survivor, Audience(principal.audience or "miniapp"), device,
                                ctx=ctx)


async def _link_phone(account: Account, phone: str, *, ctx: AuthContext) -> Account:
    key = f"phone:{phone}"
    if await ctx.repo.claim_identity(key, account.account_id, ctx.clock.now()):
        await ctx.repo.update_account(account.account_id, phone=phone)
        account.phone = phone
        return account
    owner_id = await ctx.repo.identity_owner(key)
    if owner_id is None or owner_id == account.account_id:
        return account
    other = await _live_account(owner_id, ctx=ctx)
    if other.account_id == account.account_id:
        return account
    if account.person_id and other.person_id and account.person_id != other.person_id:
        raise PhoneBelongsToAnotherPerson("phone is bound to another verified person")
    # The account that already had the phone survives, unless only the caller is verified.
    survivor, merged = (account, other) if account.person_id and not other.person_id else (
        other, account)
    await ctx.repo.move_identities(merged.account_id, survivor.account_id)
    await ctx.repo.update_account(merged.account_id, merged_into=survivor.account_id)
    await ctx.repo.end_sessions_of(merged.account_id, ctx.clock.now(), "merged")
    changes: dict[str, Any] = {"phone": phone}
    for name in ("openid", "unionid", "person_id"):
        if getattr(survivor, name) is None and getattr(merged, name) is not None:
            changes[name] = getattr(merged, name)
    await ctx.repo.update_account(survivor.account_id, **changes)
    return await _live_account(survivor.account_id, ctx=ctx)


# -- SMS codes and app login ----------------------------------------------------------------


def _code_hash(pepper: bytes, challenge_id: str, code: str) -> str:
    return hmac.new(pepper, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def issue_code(purpose: str, phone: str, *, ctx: AuthContext, sms: SmsSender,
                      account_id: str | None = None, person_id: str | None = None) -> str:
    challenge_id = new_id("C")
    code = f"{secrets.randbelow(10**6):06d}"
    now = ctx.clock.now()
    await send_login_code(phone, code, sms=sms, limiter=ctx.limiter)
    await ctx.repo.save_code(CodeChallenge(
        challenge_id=challenge_id, purpose=purpose, phone=phone,
        code_hash=_code_hash(ctx.otp_pepper, challenge_id, code), created_at=now,
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
    expected = _code_hash(ctx.otp_pepper, challenge_id, code.strip())
    if not hmac.compare_digest(expected, challenge.code_hash):
        raise CodeInvalid("wrong code", field="code", tries_left=CODE_MAX_TRIES - attempt)
    if not await ctx.guard.claim(f"used:code:{challenge_id}", ttl=CODE_LIFETIME):
        raise CodeInvalid("code already used", field="code")
    return challenge


async def request_login_code(phone: str, *, ctx: AuthContext, sms: SmsSender,
                             client_ip: str) -> tuple[str, int]:
    """Send a login code. The answer is the same whether or not the phone is known."""
    await ctx.limiter.hit("code", client_ip, IP_CODE_RULES)
    challenge_id = await issue_code("login", phone, ctx=ctx, sms=sms)
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
    account, created = await _account_for_identities(
        [f"phone:{challenge.phone}"], ctx=ctx,
        template=Account(account_id="", role=Role.CITIZEN, created_at=ctx.clock.now(),
                         phone=challenge.phone))
    await ctx.audit.record(actor=account.account_id, action="login.sms",
                           object=account.account_id, outcome="ok", client_ip=client_ip,
                           new_account=created)
    return await _start_session(account, Audience.APP, device, ctx=ctx, created=created)


# -- real-name binding -----------------------------------------------------------------------


REAL_NAME_CODE_SENT = ("如身份证号和姓名与参保登记一致，验证码已发送到参保登记的手机号。"
                       "如果收不到，请带身份证到社保经办网点办理，或拨打 12333。")
_background: set[asyncio.Task[None]] = set()


async def request_real_name_code(principal: Principal, id_number: str, name: str, *,
                                 ctx: AuthContext, people: PeopleRepository, sms: SmsSender,
                                 client_ip: str) -> str:
    """Check ID number and name against the registry, and text a code to the phone the
    registry holds. Returns the challenge id.

    The answer is the same whatever the registry holds (no such person, another name,
    no phone on record, bound to another account): anyone with an ID number and a name
    could otherwise learn whether that person uses the app. A code is sent only where
    it all matches; the difference shows only once the code is proven.
    """
    await ctx.limiter.hit("real_name", principal.subject, REAL_NAME_RULES)
    account = await _live_account(principal.subject, ctx=ctx)
    if account.person_id is not None:
        raise AccountAlreadyBound("this account is already verified")  # about the caller
    person = await _registry_match(id_number, name, people)
    now, challenge_id = ctx.clock.now(), new_id("C")
    reachable = person is not None and bool(person.phone)
    code = f"{secrets.randbelow(10**6):06d}" if reachable else secrets.token_hex(16)
    await ctx.repo.save_code(CodeChallenge(
        challenge_id=challenge_id, purpose="real_name", phone=person.phone or ""
        if person else "", code_hash=_code_hash(ctx.otp_pepper, challenge_id, code),
        created_at=now, expires_at=now + CODE_LIFETIME, account_id=account.account_id,
        person_id=person.person_id if reachable and person else None))
    if reachable and person and person.phone:
        _send_in_background(person.phone, code, ctx=ctx, sms=sms)
    await ctx.audit.record(actor=principal.subject, action="real_name.request",
                           object=mask_id_number(id_number.strip().upper()),
                           outcome="code_sent" if reachable else
                           ("no_phone" if person else "mismatch"), client_ip=client_ip)
    return challenge_id


async def _registry_match(id_number: str, name: str, people: PeopleRepository) -> Person | None:
    try:
        parsed = IdNumber.parse(id_number)
    except InvalidIdNumber:
        return None
    person = await people.find_by_id_number(parsed.value)
    return person if person is not None and person.name == name.strip() else None


REAL_NAME_SMS_WAIT_LIMIT = 90  # seconds a code waits for the number's SMS limit, at most


def _send_in_background(phone: str, code: str, *, ctx: AuthContext, sms: SmsSender) -> None:
    """Send without waiting: neither the time taken nor a refusal (the number's SMS limit)
    may tell the caller that the registry holds this person. A code held back by the
    limit (someone who just logged in by SMS with the same phone) goes out once it
    allows, so it arrives a minute late rather than never."""
    async def send() -> None:
        for _ in range(2):
            try:
                await send_login_code(phone, code, sms=sms, limiter=ctx.limiter)
                return
            except SmsRateLimited as limited:
                if limited.retry_after > REAL_NAME_SMS_WAIT_LIMIT:
                    break
                await asyncio.sleep(limited.retry_after)
            except DomainError as refused:
                log.info("real-name code not sent: %s", refused.code)
                return
        log.info("real-name code not sent: SMS limit of the number")

    task = asyncio.get_running_loop().create_task(send())
    _background.add(task)
    task.add_done_callback(_background.discard)


async def confirm_real_name(principal: Principal, challenge_id: str, code: str, *,
                            ctx: AuthContext, client_ip: str) -> Account:
    outcome = "failed"
    try:
        challenge = await redeem_code(challenge_id, code, "real_name", ctx=ctx)
        if challenge.account_id != principal.subject or challenge.person_id is None:
            raise CodeInvalid("code belongs to another request", field="code")
        account = await _live_account(principal.subject, ctx=ctx)
        if not await ctx.repo.claim_identity(f"person:{challenge.person_id}",
                                             account.account_id, ctx.clock.now()):
            owner = await ctx.repo.identity_owner(f"person:{challenge.person_id}")
            if owner != account.account_id:
                outcome = "person_already_bound"
                raise PersonAlreadyBound("this person is bound to another account")
        await ctx.repo.update_account(account.account_id, person_id=challenge.person_id)
        # The code reached the registry's phone, so that phone now logs in here too.
        await ctx.repo.claim_identity(f"phone:{challenge.phone}", account.account_id,
                                      ctx.clock.now())
        account.person_id = challenge.person_id
        outcome = "bound"
        return account
    finally:
        await ctx.audit.record(actor=principal.subject, action="real_name.confirm",
                               object=challenge_id, outcome=outcome, client_ip=client_ip)


# -- console accounts (agents and admins) ----------------------------------------------------


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
    return await _start_session(account, Audience.CONSOLE, device, ctx=ctx)


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


# -- service keys -------------------------------------------------------------------------


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
