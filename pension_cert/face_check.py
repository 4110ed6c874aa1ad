"""The self-service face check: a challenge with a single-use nonce and random actions,
then the frames, checked in the face pool, matched against the sealed reference, and
checked against every other pensioner's reference before certifying."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auth.model import Principal, Role
from common.errors import RateLimited
from pension_cert import face
from pension_cert.check_model import Attempt, Challenge
from pension_cert.context import OTHER_ROUTES, CertConfig, CertContext, pensioner
from pension_cert.cycle import certify
from pension_cert.face import Analysis
from pension_cert.fraud import fraud_suspicion
from pension_cert.model import (
    AttemptsExhausted,
    CertificationBlocked,
    CertState,
    CertStatus,
    ChallengeNotFound,
    Channel,
    ConsentRequired,
    FaceCheckIsSelfService,
    FramesInvalid,
    NonceExpired,
    NonceRefused,
    NonceUsed,
    NoReference,
)
from pension_cert.templates import TemplateUnreadable, unseal


@dataclass(frozen=True)
class IssuedChallenge:
    """What the client gets once: the nonce itself is never stored."""

    challenge_id: str
    nonce: str
    actions: tuple[str, ...]
    expires_in: int


async def start_challenge(principal: Principal, person_id: str, *, on_behalf: str | None,
                          ctx: CertContext) -> IssuedChallenge:
    if principal.role in (Role.AGENT, Role.ADMIN):
        raise FaceCheckIsSelfService("agents certify in person, not by the face check")
    person = await pensioner(person_id, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is not None and state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("blocked pending review")
    consent = await ctx.repo.consent(person_id)
    if consent is None or not consent.given:
        raise ConsentRequired("face check needs consent", other_routes=OTHER_ROUTES)
    if await ctx.repo.template(person_id) is None:
        raise NoReference("no reference photo", other_routes=OTHER_ROUTES)
    await _attempts_left(person.person_id, ctx=ctx)
    now = ctx.clock.now()
    nonce = secrets.token_urlsafe(24)
    actions = tuple(ctx.config.fixed_actions or ctx.rng.sample(face.Action.ALL, 2))
    challenge = Challenge(
        challenge_id="CH" + secrets.token_hex(10), person_id=person_id,
        account_id=principal.subject, session_id=principal.session_id, on_behalf=on_behalf,
        nonce_hash=_digest(nonce), actions=actions, created_at=now,
        expires_at=now + ctx.config.challenge_ttl)
    await ctx.repo.save_challenge(challenge)
    return IssuedChallenge(challenge.challenge_id, nonce, actions,
                           int(ctx.config.challenge_ttl.total_seconds()))

@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str | None
    state: CertState | None = None
    pending_review: bool = False
    attempts_left: int | None = None

async def submit_frames(principal: Principal, challenge_id: str, nonce: str,
                        frames: Sequence[bytes], *, ctx: CertContext) -> CheckResult:
    started = time.perf_counter()
    challenge = await ctx.repo.challenge(challenge_id)
    if challenge is None or challenge.account_id != principal.subject or (
            challenge.session_id != principal.session_id):
        raise ChallengeNotFound(challenge_id)  # another person's challenge: not yours to see
    if not hmac.compare_digest(challenge.nonce_hash, _digest(nonce)):
        raise NonceRefused("nonce does not match", field="nonce")
    if ctx.clock.now() >= challenge.expires_at:
        raise NonceExpired("challenge expired", field="nonce")
    if not await ctx.guard.claim(f"used:nonce:{challenge_id}", ttl=ctx.config.challenge_ttl):
        raise NonceUsed("challenge already used", field="nonce")
    _check_frames(frames, ctx.config)
    person_id = challenge.person_id
    await _attempts_left(person_id, ctx=ctx)
    digests = [hashlib.sha256(f).hexdigest() for f in frames]
    if not await ctx.repo.claim_frames(
            digests, challenge_id, ctx.clock.now(), ctx.clock.now() + ctx.config.replay_memory):
        analysis = Analysis("REPLAYED", frames=len(frames))
    else:
        analysis = await ctx.pool.run(face.analyse, list(frames), list(challenge.actions),
                                      ctx.config.face)
    reason = analysis.reason or await _match(person_id, analysis, ctx=ctx)
    channel = Channel.FAMILY if challenge.on_behalf else Channel.FACE
    await ctx.repo.log_attempt(Attempt(
        person_id=person_id, at=ctx.clock.now(), channel=channel.value,
        actor=principal.subject, on_behalf=challenge.on_behalf,
        result="fail" if reason else "pass", reason=reason, frames=len(frames),
        actions=challenge.actions, ms=round((time.perf_counter() - started) * 1000)))
    if reason:
        left = await _count_failure(person_id, ctx=ctx)
        return CheckResult(False, reason, attempts_left=left)
    assert analysis.encoding is not None
    suspect = await fraud_suspicion(person_id, np.asarray(analysis.encoding), ctx=ctx)
    state = await certify(person_id, ctx.today(), channel, actor=principal.subject,
                          on_behalf=challenge.on_behalf, ctx=ctx, suspicion=suspect)
    return CheckResult(True, None, state, pending_review=state.status is
                       CertStatus.PENDING_REVIEW)

def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()

def _check_frames(frames: Sequence[bytes], config: CertConfig) -> None:
    if not config.min_frames <= len(frames) <= config.max_frames:
        raise FramesInvalid(f"send {config.min_frames}-{config.max_frames} frames",
                            field="frames")
    if any(len(f) > config.max_frame_bytes or not f.startswith(b"\xff\xd8") for f in frames):
        raise FramesInvalid("each frame is a JPEG of at most 100 KB", field="frames")

async def _attempts_left(person_id: str, *, ctx: CertContext) -> int:
    used = await ctx.limiter.used("face", person_id, ctx.failure_rule())
    left = ctx.config.daily_failures - used
    if left <= 0:
        raise AttemptsExhausted(ctx.seconds_to_midnight(), rule="face_failures")
    return left

async def _count_failure(person_id: str, *, ctx: CertContext) -> int:
    try:
        await ctx.limiter.hit("face", person_id, [ctx.failure_rule()])
    except RateLimited:
        return 0
    return ctx.config.daily_failures - await ctx.limiter.used("face", person_id,
                                                              ctx.failure_rule())

async def _match(person_id: str, analysis: Analysis, *, ctx: CertContext) -> str | None:
    blob = await ctx.repo.template(person_id)
    if blob is None or analysis.encoding is None:
        return "NO_REFERENCE_PHOTO"
    try:
        reference = unseal(blob, key=ctx.template_key, person_id=person_id)
    except TemplateUnreadable:
        return "NO_REFERENCE_PHOTO"
    distance = float(np.linalg.norm(reference - np.asarray(analysis.encoding)))
    return None if distance <= ctx.config.match_threshold else "FACE_MISMATCH"
