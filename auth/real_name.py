"""Real-name binding: prove the phone the registry holds, then the account is the person's."""

from __future__ import annotations

import asyncio
import secrets

from auth.codes import code_hash, redeem_code
from auth.context import REAL_NAME_RULES, AuthContext, log
from auth.model import (
    CODE_LIFETIME,
    Account,
    AccountAlreadyBound,
    CodeChallenge,
    CodeInvalid,
    PersonAlreadyBound,
    Principal,
)
from auth.repository import new_id
from auth.sessions import live_account
from common.errors import DomainError
from common.masking import mask_id_number
from notifications.model import SmsRateLimited
from notifications.service import send_login_code
from people.model import IdNumber, InvalidIdNumber, Person
from people.repository import PeopleRepository

REAL_NAME_CODE_SENT = ("如身份证号和姓名与参保登记一致，验证码已发送到参保登记的手机号。"
                       "如果收不到，请带身份证到社保经办网点办理，或拨打 12333。")
_background: set[asyncio.Task[None]] = set()


async def request_real_name_code(principal: Principal, id_number: str, name: str, *,
                                 ctx: AuthContext,
                                 client_ip: str) -> str:
    """Check ID number and name against the registry, and text a code to the phone the
    registry holds. Returns the challenge id.

    The answer is the same whatever the registry holds (no such person, another name,
    no phone on record, bound to another account): anyone with an ID number and a name
    could otherwise learn whether that person uses the app. A code is sent only where
    it all matches; the difference shows only once the code is proven.
    """
    await ctx.limiter.hit("real_name", principal.subject, REAL_NAME_RULES)
    account = await live_account(principal.subject, ctx=ctx)
    if account.person_id is not None:
        raise AccountAlreadyBound("this account is already verified")  # about the caller
    person = await _registry_match(id_number, name, ctx.people)
    now, challenge_id = ctx.clock.now(), new_id("C")
    reachable = person is not None and bool(person.phone)
    code = f"{secrets.randbelow(10**6):06d}" if reachable else secrets.token_hex(16)
    await ctx.repo.save_code(CodeChallenge(
        challenge_id=challenge_id, purpose="real_name", phone=person.phone or ""
        if person else "", code_hash=code_hash(ctx.otp_pepper, challenge_id, code),
        created_at=now, expires_at=now + CODE_LIFETIME, account_id=account.account_id,
        person_id=person.person_id if reachable and person else None))
    if reachable and person and person.phone:
        _send_in_background(person.phone, code, ctx=ctx)
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


def _send_in_background(phone: str, code: str, *, ctx: AuthContext) -> None:
    """Send without waiting: neither the time taken nor a refusal (the number's SMS limit)
    may tell the caller that the registry holds this person. A code held back by the
    limit (someone who just logged in by SMS with the same phone) goes out once it
    allows, so it arrives a minute late rather than never."""
    async def send() -> None:
        for _ in range(2):
            try:
                await send_login_code(phone, code, sms=ctx.sms, limiter=ctx.limiter)
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
        account = await live_account(principal.subject, ctx=ctx)
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
