"""The electronic social-security card code (电子社保卡码): a signed code shown as a QR,
valid 60 s and scanned once by a service point; while the physical card is under
temporary loss, shown only with the holder's SMS authorisation (domain rules §4)."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from typing import Any

import segno

from auth import service as auth_service
from auth.model import Principal
from auth.tokens import TokenRejected
from common.clock import as_utc
from common.errors import ValidationFailed
from common.masking import mask_card_number, mask_name
from social_card.model import (
    STATUS_NAMES,
    Card,
    CardStatus,
    ECodeConfirmationNeeded,
    ECodeInvalid,
    ECodeRefused,
    ECodeUsed,
)
from social_card.service import CardContext, holder_of

ECODE_LIFETIME = timedelta(seconds=60)
# While the card is under temporary loss the e-card needs the holder's authorisation
# (domain rules §4). One SMS confirmation authorises the codes of one visit to a counter:
# each code still lives 60 s, and refreshes within these minutes need no new SMS (codes
# are limited to one a minute, five an hour per number).
ECODE_AUTHORISATION = timedelta(minutes=10)
NO_SESSION = "-"  # an e-card code belongs to no login session, but the claim is required
ECODE_AUDIENCE = "service_point"
ECODE = "ecard"  # the token type of electronic card codes


async def request_ecode_confirmation(principal: Principal, card: Card, *,
                                     ctx: CardContext) -> str:
    """While the card is under temporary loss, the holder confirms by SMS first."""
    person = await holder_of(card, ctx=ctx)
    if not person.phone:
        raise ECodeRefused("no phone on record to confirm with")
    return await auth_service.issue_code("ecard", person.phone, ctx=ctx.auth,
                                         account_id=principal.subject,
                                         person_id=person.person_id)


async def issue_ecode(principal: Principal, card: Card, *, challenge_id: str | None,
                      sms_code: str | None, ctx: CardContext) -> dict[str, Any]:
    status = card.status_on(ctx.today(), ctx.config)
    if status is CardStatus.CANCELLED:
        raise ECodeRefused("no code for a cancelled card", current_state=status.value)
    authorised_until = None
    outcome = "issued"
    if status is CardStatus.TEMP_LOSS:
        if sms_code:
            authorised_until = await _authorise_by_sms(principal, card, challenge_id, sms_code,
                                                       ctx=ctx)
            outcome = "issued_after_sms"
        else:
            authorised_until = await _authorised(principal, card, challenge_id, ctx=ctx)
            outcome = "issued_under_sms_authorisation"
    token, _ = ctx.tokens.issue(subject=card.card_id, session_id=NO_SESSION,
                                audience=ECODE_AUDIENCE, role="holder", token_type=ECODE,
                                lifetime=ECODE_LIFETIME)
    svg = io.BytesIO()
    segno.make(token, error="l").save(svg, kind="svg", scale=3, xmldecl=False)
    await ctx.audit.record(actor=principal.subject, action="ecard.issue", object=card.card_id,
                           outcome=outcome, **({"confirmation": challenge_id}
                                               if authorised_until is not None else {}))
    return {"code": token, "expires_in": int(ECODE_LIFETIME.total_seconds()),
            "qr_svg": svg.getvalue().decode(),
            # Seconds, not a time of day: many phones' clocks are wrong.
            "authorised_for": None if authorised_until is None else math.ceil(
                (authorised_until - ctx.clock.now()).total_seconds())}


async def _authorise_by_sms(principal: Principal, card: Card, challenge_id: str | None,
                            sms_code: str, *, ctx: CardContext) -> datetime:
    """Redeem the holder's SMS code (single use: the claim), then record the authorisation
    it gives, keyed by the code's challenge so a code authorises once."""
    if not challenge_id:
        raise ECodeConfirmationNeeded("confirm with an SMS code while the card is lost")
    challenge = await auth_service.redeem_code(challenge_id, sms_code, "ecard", ctx=ctx.auth)
    if challenge.account_id != principal.subject or challenge.person_id != card.person_id:
        raise ValidationFailed("that code was sent for another request", field="code")
    # Bound to this loss of this card: lifting the loss (or any later change) ends it. The
    # code was redeemed once only, so this claim is never contested.
    await ctx.guard.claim(_authorisation_key(challenge_id), ttl=ECODE_AUTHORISATION,
                          owner=principal.subject, card_id=card.card_id,
                          card_version=card.version)
    return ctx.clock.now() + ECODE_AUTHORISATION


async def _authorised(principal: Principal, card: Card, challenge_id: str | None, *,
                      ctx: CardContext) -> datetime:
    """Until when an earlier SMS confirmation of this holder authorises this card's codes
    (checked on read: the claim is not removed when it lapses)."""
    holder = await ctx.guard.holder(_authorisation_key(challenge_id)) if challenge_id else None
    if (holder is None or holder.get("owner") != principal.subject
            or holder.get("card_id") != card.card_id
            or holder.get("card_version") != card.version
            or as_utc(holder["expires_at"]) <= ctx.clock.now()):
        raise ECodeConfirmationNeeded("confirm with an SMS code while the card is lost")
    return as_utc(holder["expires_at"])


def _authorisation_key(challenge_id: str) -> str:
    return f"ecard-auth:{challenge_id}"


async def verify_ecode(code: str, *, institution: str, ctx: CardContext) -> dict[str, Any]:
    """A service point scanned a code: it works once, within its 60 seconds."""
    try:
        token = ctx.tokens.verify(code, token_type=ECODE, audiences=(ECODE_AUDIENCE,))
    except TokenRejected:
        await ctx.audit.record(actor=f"service:{institution}", action="ecard.verify",
                               object="-", outcome="invalid_or_expired")
        raise ECodeInvalid("invalid or expired code") from None
    if not await ctx.guard.claim(f"used:ecard:{token.jti}", ttl=ECODE_LIFETIME * 2):
        await ctx.audit.record(actor=f"service:{institution}", action="ecard.verify",
                               object=token.subject, outcome="replayed")
        raise ECodeUsed("code already used")
    card = await ctx.repo.get(token.subject)
    if card is None:
        raise ECodeInvalid("no such card")
    person = await holder_of(card, ctx=ctx)
    status = card.status_on(ctx.today(), ctx.config)
    await ctx.audit.record(actor=f"service:{institution}", action="ecard.verify",
                           object=card.card_id, outcome=status.value)
    return {"name": mask_name(person.name), "card_number": mask_card_number(card.card_number),
            "status": status.value, "status_name": STATUS_NAMES[status],
            "valid": status is CardStatus.NORMAL and (card.expires_on is None
                                                      or card.expires_on >= ctx.today()),
            "expires_on": card.expires_on.isoformat() if card.expires_on else None}
