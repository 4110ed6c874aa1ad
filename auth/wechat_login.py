"""Mini-program login (jscode2session) and phone binding (getuserphonenumber), which
joins the mini-program and app accounts of one phone."""

from __future__ import annotations

from typing import Any

from auth.context import IP_LOGIN_RULES, AuthContext, LoginResult
from auth.model import (
    Account,
    Audience,
    PhoneBelongsToAnotherPerson,
    Principal,
    Role,
    WeChatBusy,
    WeChatCodeInvalid,
    WeChatUnavailableError,
    WeChatUserBlocked,
)
from auth.repository import new_id
from auth.sessions import live_account, start_session
from notifications.wechat import WeChatUnavailable


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
                            client_ip: str) -> LoginResult:
    await ctx.limiter.hit("login", client_ip, IP_LOGIN_RULES)
    try:
        body = await ctx.wechat.code_to_session(code)
    except WeChatUnavailable as error:
        raise WeChatUnavailableError(str(error)) from None
    if "openid" not in body:
        await ctx.audit.record(actor="anonymous", action="login.wechat", object="-",
                               outcome=f"errcode {body.get('errcode')}", client_ip=client_ip)
        raise _wechat_error(body)
    keys = [f"unionid:{body['unionid']}"] if body.get("unionid") else []
    keys.append(f"openid:{body['openid']}")
    account, created = await account_for_identities(
        keys, ctx=ctx, template=Account(account_id="", role=Role.CITIZEN,
                                        created_at=ctx.clock.now(), openid=body["openid"],
                                        unionid=body.get("unionid")))
    await ctx.audit.record(actor=account.account_id, action="login.wechat",
                           object=account.account_id, outcome="ok", client_ip=client_ip,
                           new_account=created)
    return await start_session(account, Audience.MINIAPP, device, ctx=ctx, created=created,
                                wechat_session_key=str(body.get("session_key", "")))


async def account_for_identities(keys: list[str], *, ctx: AuthContext,
                                  template: Account) -> tuple[Account, bool]:
    """The account any of these identities belongs to, or a new one that owns them all."""
    for key in keys:
        owner = await ctx.repo.identity_owner(key)
        if owner is not None:
            account = await live_account(owner, ctx=ctx)
            for other in keys:  # e.g. a unionid seen for the first time
                await ctx.repo.claim_identity(other, account.account_id, ctx.clock.now())
            return account, False
    template.account_id = new_id("A")
    await ctx.repo.create_account(template)
    if not await ctx.repo.claim_identity(keys[0], template.account_id, ctx.clock.now()):
        # A concurrent first login won the identity: use its account, drop ours.
        await ctx.repo.delete_account(template.account_id)
        return await account_for_identities(keys, ctx=ctx, template=template)
    for other in keys[1:]:
        await ctx.repo.claim_identity(other, template.account_id, ctx.clock.now())
    return template, True



async def bind_wechat_phone(principal: Principal, code: str, device: dict[str, str], *,
                            ctx: AuthContext, client_ip: str
                            ) -> LoginResult:
    """Link the phone WeChat vouches for. If the app already knows that phone, the two
    accounts become one (the older survives; a bound person always survives), and the
    caller continues in the surviving account with fresh tokens."""
    await ctx.limiter.hit("bind", principal.subject, IP_LOGIN_RULES)
    try:
        body = await ctx.wechat.phone_number(code)
    except WeChatUnavailable as error:
        raise WeChatUnavailableError(str(error)) from None
    if int(body.get("errcode", 0)) != 0:
        raise _wechat_error(body)
    phone = str(body["phone_info"]["purePhoneNumber"])
    account = await live_account(principal.subject, ctx=ctx)
    survivor = await _link_phone(account, phone, ctx=ctx)
    await ctx.audit.record(actor=principal.subject, action="bind.phone",
                           object=survivor.account_id, outcome="ok", client_ip=client_ip,
                           phone=phone)
    if survivor.account_id != account.account_id and principal.session_id:
        await ctx.repo.end_session(principal.session_id, ctx.clock.now(), "merged")
    return await start_session(survivor, Audience(principal.audience or "miniapp"), device,
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
    other = await live_account(owner_id, ctx=ctx)
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
    return await live_account(survivor.account_id, ctx=ctx)
