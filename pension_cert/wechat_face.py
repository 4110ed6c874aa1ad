"""WeChat's own face verification (人脸核身 2.0), the mini-program's provider.

The server asks WeChat for a ``verify_id`` (``getverifyid``) bound to the account's
openid, the person's name and ID number, and our single-use ``out_seq_no``; the
mini-program hands it to ``wx.requestFacialVerify``; then the server asks WeChat for
the verdict (``queryverifyinfo``, with the same openid, ``out_seq_no`` and the hash of
the identity), never trusting what the page says. A pass (``verify_ret`` 10000)
certifies through the same cycle code, channel ``wechat_face``.

The provider follows where the person is: the mini-program uses WeChat's check, the
app and the H5 pages the service's own (``face_check``), agents certify in person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from auth.model import Principal
from notifications.wechat import WeChatUnavailable
from pension_cert.check_model import (
    ChallengeNotFound,
    ConsentRequired,
    NonceExpired,
    NonceUsed,
    WeChatFaceCheck,
    WeChatFaceNotFinished,
    WeChatFaceUnavailable,
    require_provider,
)
from pension_cert.context import CertContext, pensioner
from pension_cert.cycle import certify
from pension_cert.face_check import (
    CheckResult,
    attempts_left,
    attempts_remaining,
    count_attempt,
    log_attempt,
)
from pension_cert.model import CertificationBlocked, CertStatus, Channel
from pension_cert.notice import OTHER_ROUTES

PASSED = 10000
NOT_FINISHED = 10300
EXPIRED = 84022
# verify_ret -> the reason the person is told (anything else: WECHAT_FAILED).
REASONS = {
    10004: "FACE_MISMATCH", 10012: "FACE_MISMATCH", 10003: "FACE_MISMATCH",
    **{code: "WECHAT_CANCELLED" for code in (90002, 90003, 90004, 90005, 90006, 90100)},
    **{code: "WECHAT_TIMED_OUT" for code in (90017, 90107, 10020, 10029, 10052)},
}


@dataclass(frozen=True)
class StartedWeChatFace:
    check_id: str
    verify_id: str
    expires_in: int


async def start_wechat_face(principal: Principal, person_id: str, *, on_behalf: str | None,
                            check_id: str, ctx: CertContext) -> StartedWeChatFace:
    """Ask WeChat for a verify_id for this person (``check_id`` comes from the request's
    Idempotency-Key: a retried create gets the same one, and pays once)."""
    require_provider(principal, "wechat_face")
    existing = await ctx.repo.wechat_check(check_id)
    if existing is not None and existing.account_id == principal.subject:
        return _started(existing, ctx)
    person = await pensioner(person_id, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is not None and state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("blocked pending review")
    # WeChat's check is face processing too: only with the person's consent (refusing
    # it must leave the other routes open, never push them into a face check).
    consent = await ctx.repo.consent(person_id)
    if consent is None or not consent.given:
        raise ConsentRequired("face check needs consent", other_routes=OTHER_ROUTES)
    await attempts_left(person_id, ctx=ctx)
    openid = await ctx.openids.openid_of_account(principal.subject) if ctx.openids else None
    if ctx.wechat_face is None or not openid:
        raise WeChatFaceUnavailable("no WeChat face verification for this login")
    out_seq_no = "S" + secrets.token_hex(15)  # single use: WeChat refuses it twice (84019)
    try:
        body = await ctx.wechat_face.get_verify_id(
            openid=openid, out_seq_no=out_seq_no, cert_name=person.name,
            cert_no=person.id_number)
    except WeChatUnavailable as error:
        raise WeChatFaceUnavailable(str(error)) from None
    if int(body.get("errcode", 0)) != 0 or not body.get("verify_id"):
        raise WeChatFaceUnavailable(f"getverifyid errcode {body.get('errcode')}")
    await count_attempt(person_id, ctx=ctx, refuse_over_limit=True)
    now = ctx.clock.now()
    check = WeChatFaceCheck(
        check_id=check_id, person_id=person_id, account_id=principal.subject,
        session_id=principal.session_id, on_behalf=on_behalf, openid=openid,
        out_seq_no=out_seq_no, verify_id=str(body["verify_id"]), created_at=now,
        expires_at=now + _lifetime(body))
    await ctx.repo.save_wechat_check(check)
    return _started(check, ctx)


async def finish_wechat_face(principal: Principal, check_id: str, *,
                             ctx: CertContext) -> CheckResult:
    """Ask WeChat how the verification went; certify on a pass. Each check counts once."""
    check = await ctx.repo.wechat_check(check_id)
    if check is None or check.account_id != principal.subject:
        raise ChallengeNotFound(check_id)  # another person's check: not yours to see
    if ctx.clock.now() >= check.expires_at:
        raise NonceExpired("the WeChat verification expired", field="check_id")
    person = await pensioner(check.person_id, ctx=ctx)
    assert ctx.wechat_face is not None
    try:
        body = await ctx.wechat_face.query_verify_info(
            verify_id=check.verify_id, out_seq_no=check.out_seq_no, openid=check.openid,
            cert_name=person.name, cert_no=person.id_number)
    except WeChatUnavailable as error:  # timed out: nothing was decided, ask again
        raise WeChatFaceUnavailable(str(error), retry_after=5) from None
    errcode, verdict = int(body.get("errcode", 0)), int(body.get("verify_ret", -1))
    if errcode == EXPIRED:
        raise NonceExpired("the WeChat verification expired", field="check_id")
    if errcode != 0:
        raise WeChatFaceUnavailable(f"queryverifyinfo errcode {errcode}")
    if verdict == NOT_FINISHED:
        raise WeChatFaceNotFinished("the verification is not finished on the phone")
    if not await ctx.guard.claim(f"used:wechat-face:{check_id}", ttl=_lifetime({})):
        raise NonceUsed("this verification was used already", field="check_id")
    reason = None if verdict == PASSED else REASONS.get(verdict, "WECHAT_FAILED")
    await log_attempt(check.person_id, principal, Channel.WECHAT_FACE, check.on_behalf,
                      reason, ctx=ctx)
    if reason:
        return CheckResult(False, reason,
                           attempts_left=await attempts_remaining(check.person_id, ctx=ctx))
    state = await certify(check.person_id, ctx.today(), Channel.WECHAT_FACE,
                          actor=principal.subject, on_behalf=check.on_behalf, ctx=ctx)
    return CheckResult(True, None, state,
                       pending_review=state.status is CertStatus.PENDING_REVIEW)


def _started(check: WeChatFaceCheck, ctx: CertContext) -> StartedWeChatFace:
    left = max(0, int((check.expires_at - ctx.clock.now()).total_seconds()))
    return StartedWeChatFace(check.check_id, check.verify_id, left)


def _lifetime(body: dict[str, Any]) -> timedelta:
    return timedelta(seconds=int(body.get("expires_in", 3600)))
