"""The service's own face check (the app and H5): a challenge with a single-use nonce
and random actions, one turn among them; then the frames, checked in the face pool
against the sealed reference, against the person's own earlier submissions (replays by
content), and against every other pensioner's reference before certifying.

A challenge costs an attempt (five a day, issued challenges and refused uploads
together), and a person has one open challenge at a time: asking again and again for
the pair a recording happens to show is as dear as failing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auth.model import Principal
from common.errors import RateLimited
from pension_cert import face, replay
from pension_cert.analysis import Analysis, Identity, analyse
from pension_cert.check_model import (
    Attempt,
    AttemptsExhausted,
    Challenge,
    ChallengeNotFound,
    ChallengeOpen,
    ConsentRequired,
    FramesInvalid,
    NonceExpired,
    NonceRefused,
    NonceUsed,
    NoReference,
    require_provider,
)
from pension_cert.context import CertConfig, CertContext, pensioner
from pension_cert.cycle import certify
from pension_cert.fraud import fraud_suspicion
from pension_cert.model import CertificationBlocked, CertState, CertStatus, Channel
from pension_cert.notice import OTHER_ROUTES
from pension_cert.templates import TemplateUnreadable, unseal


@dataclass(frozen=True)
class IssuedChallenge:
    """What the client gets: the nonce itself is stored nowhere (it is derived again
    from the challenge id when a retried create asks for it)."""

    challenge_id: str
    nonce: str
    actions: tuple[str, ...]
    expires_in: int


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str | None
    state: CertState | None = None
    pending_review: bool = False
    attempts_left: int | None = None


async def start_challenge(principal: Principal, person_id: str, *, on_behalf: str | None,
                          challenge_id: str, ctx: CertContext) -> IssuedChallenge:
    """Issue a challenge named ``challenge_id`` (from the request's Idempotency-Key: a
    retried create finds it and gets the same nonce back, and pays once)."""
    require_provider(principal, "own")
    existing = await ctx.repo.challenge(challenge_id)
    if existing is not None and existing.account_id == principal.subject:
        return _issued(existing, ctx)
    await _ready_for_a_check(person_id, ctx=ctx)
    await attempts_left(person_id, ctx=ctx)
    open_until = await ctx.guard.claim_lapsing(_open_key(person_id), ttl=ctx.config.challenge_ttl,
                                               owner=challenge_id)
    if open_until is not None:
        wait = max(1, int((open_until - ctx.clock.now()).total_seconds()))
        raise ChallengeOpen(wait)
    try:
        await count_attempt(person_id, ctx=ctx, refuse_over_limit=True)
    except AttemptsExhausted:
        await ctx.guard.release(_open_key(person_id), owner=challenge_id)
        raise
    now = ctx.clock.now()
    challenge = Challenge(
        challenge_id=challenge_id, person_id=person_id, account_id=principal.subject,
        session_id=principal.session_id, on_behalf=on_behalf,
        nonce_hash=_digest(nonce_for(challenge_id, ctx)), actions=choose_actions(ctx),
        created_at=now, expires_at=now + ctx.config.challenge_ttl,
        sample_seed=secrets.randbits(62))
    await ctx.repo.save_challenge(challenge)
    return _issued(challenge, ctx)


def choose_actions(ctx: CertContext) -> tuple[str, ...]:
    """One head turn (left or right) and one of blink and open mouth, in random order:
    a turn is what a flat picture cannot fake (see liveness.parallax_holds)."""
    if ctx.config.fixed_actions:
        return ctx.config.fixed_actions
    turn = ctx.rng.choice((face.Action.TURN_LEFT, face.Action.TURN_RIGHT))
    other = ctx.rng.choice((face.Action.BLINK, face.Action.OPEN_MOUTH))
    return (turn, other) if ctx.rng.random() < 0.5 else (other, turn)


def nonce_for(challenge_id: str, ctx: CertContext) -> str:
    mac = hmac.new(ctx.challenge_key, challenge_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def _issued(challenge: Challenge, ctx: CertContext) -> IssuedChallenge:
    left = max(0, int((challenge.expires_at - ctx.clock.now()).total_seconds()))
    return IssuedChallenge(challenge.challenge_id, nonce_for(challenge.challenge_id, ctx),
                           challenge.actions, left)


async def _ready_for_a_check(person_id: str, *, ctx: CertContext) -> None:
    await pensioner(person_id, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is not None and state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("blocked pending review")
    consent = await ctx.repo.consent(person_id)
    if consent is None or not consent.given:
        raise ConsentRequired("face check needs consent", other_routes=OTHER_ROUTES)
    if await ctx.repo.template(person_id) is None:
        raise NoReference("no reference photo", other_routes=OTHER_ROUTES)


def _open_key(person_id: str) -> str:
    return f"face-challenge-open:{person_id}"


async def submit_frames(principal: Principal, challenge_id: str, nonce: str,
                        frames: Sequence[bytes], *, ctx: CertContext) -> CheckResult:
    started = time.perf_counter()
    challenge = await _usable_challenge(principal, challenge_id, nonce, ctx=ctx)
    person_id = challenge.person_id
    try:
        _check_frames(frames, ctx.config)
    except FramesInvalid:
        # A bad upload keeps the nonce (the client may send good frames) but costs once.
        await count_attempt(person_id, ctx=ctx)
        raise
    if not await ctx.guard.claim(f"used:nonce:{challenge_id}", ttl=ctx.config.challenge_ttl):
        raise NonceUsed("challenge already used", field="nonce")
    await ctx.guard.release(_open_key(person_id), owner=challenge_id)
    analysis = await _analyse(challenge, frames, ctx=ctx)
    reason = analysis.reason or await _replayed(challenge, analysis, ctx=ctx)
    channel = Channel.FAMILY if challenge.on_behalf else Channel.FACE
    await log_attempt(person_id, principal, channel, challenge.on_behalf, reason, ctx=ctx,
                      frames=len(frames), actions=challenge.actions,
                      ms=round((time.perf_counter() - started) * 1000))
    if reason:
        return CheckResult(False, reason,
                           attempts_left=await attempts_remaining(person_id, ctx=ctx))
    assert analysis.encoding is not None
    suspect = await fraud_suspicion(person_id, np.asarray(analysis.encoding), ctx=ctx)
    state = await certify(person_id, ctx.today(), channel, actor=principal.subject,
                          on_behalf=challenge.on_behalf, ctx=ctx, suspicion=suspect)
    return CheckResult(True, None, state, pending_review=state.status is
                       CertStatus.PENDING_REVIEW)


async def _usable_challenge(principal: Principal, challenge_id: str, nonce: str, *,
                            ctx: CertContext) -> Challenge:
    challenge = await ctx.repo.challenge(challenge_id)
    if challenge is None or challenge.account_id != principal.subject or (
            challenge.session_id != principal.session_id):
        raise ChallengeNotFound(challenge_id)  # another person's challenge: not yours to see
    if not hmac.compare_digest(challenge.nonce_hash, _digest(nonce)):
        raise NonceRefused("nonce does not match", field="nonce")
    if ctx.clock.now() >= challenge.expires_at:
        raise NonceExpired("challenge expired", field="nonce")
    return challenge


async def _analyse(challenge: Challenge, frames: Sequence[bytes], *,
                   ctx: CertContext) -> Analysis:
    reference = await _reference(challenge.person_id, ctx=ctx)
    if reference is None:
        return Analysis("NO_REFERENCE_PHOTO", frames=len(frames))
    identity = Identity(tuple(float(x) for x in reference), ctx.config.match_threshold,
                        challenge.sample_seed)
    return await ctx.pool.run(analyse, list(frames), list(challenge.actions), ctx.config.face,
                              identity)


async def _replayed(challenge: Challenge, analysis: Analysis, *,
                    ctx: CertContext) -> str | None:
    """Compare with the person's own earlier submissions, then remember this one (pass or
    fail: a failed recording sent again is a replay too)."""
    now = ctx.clock.now()
    earlier = await ctx.repo.earlier_submissions(challenge.person_id, now)
    replayed = (replay.is_replay(analysis.hashes, earlier, ctx.config.replay)
                or replay.is_replay(analysis.mirrored, earlier, ctx.config.replay))
    await ctx.repo.remember_submission(challenge.person_id, challenge.challenge_id,
                                       analysis.hashes, now, now + ctx.config.replay_memory)
    return "REPLAYED" if replayed else None


async def _reference(person_id: str, *, ctx: CertContext) -> np.ndarray | None:
    blob = await ctx.repo.template(person_id)
    if blob is None:
        return None
    try:
        return unseal(blob, key=ctx.template_key, person_id=person_id)
    except TemplateUnreadable:
        return None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _check_frames(frames: Sequence[bytes], config: CertConfig) -> None:
    if not config.min_frames <= len(frames) <= config.max_frames:
        raise FramesInvalid(f"send {config.min_frames}-{config.max_frames} frames",
                            field="frames")
    if any(len(f) > config.max_frame_bytes or not f.startswith(b"\xff\xd8") for f in frames):
        raise FramesInvalid("each frame is a JPEG of at most 100 KB", field="frames")


async def attempts_left(person_id: str, *, ctx: CertContext) -> int:
    """What is left today; refuses when nothing is."""
    left = await attempts_remaining(person_id, ctx=ctx)
    if left <= 0:
        raise AttemptsExhausted(ctx.seconds_to_midnight(), rule="face_attempts")
    return left


async def attempts_remaining(person_id: str, *, ctx: CertContext) -> int:
    return max(0, ctx.config.daily_attempts
               - await ctx.limiter.used("face", person_id, ctx.attempt_rule()))


async def count_attempt(person_id: str, *, ctx: CertContext,
                        refuse_over_limit: bool = False) -> None:
    """One attempt used (a challenge issued, a bad upload). Over the limit, a new
    challenge is refused; a bad upload is simply not counted twice."""
    try:
        await ctx.limiter.hit("face", person_id, [ctx.attempt_rule()])
    except RateLimited:
        if refuse_over_limit:
            raise AttemptsExhausted(ctx.seconds_to_midnight(), rule="face_attempts") from None


async def log_attempt(person_id: str, principal: Principal, channel: Channel,
                      on_behalf: str | None, reason: str | None, *, ctx: CertContext,
                      frames: int = 0, actions: tuple[str, ...] = (), ms: int = 0) -> None:
    await ctx.repo.log_attempt(Attempt(
        person_id=person_id, at=ctx.clock.now(), channel=channel.value, actor=principal.subject,
        on_behalf=on_behalf, result="fail" if reason else "pass", reason=reason, frames=frames,
        actions=actions, ms=ms))
