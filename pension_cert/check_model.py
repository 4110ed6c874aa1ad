"""The face checks' records (consent, a challenge, an attempt, a WeChat verification),
the reasons a check gives, and the errors they raise.

Plain values the repository reads and writes; the rules that use them live in
``consent`` and ``face_check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from auth.model import Forbidden, Principal, Role
from common.errors import Conflict, DomainError, NotFound, RateLimited, ValidationFailed


@dataclass(frozen=True)
class ConsentEntry:
    """One decision (given, refused, withdrawn), with what the person was told."""

    status: str
    at: datetime
    notice_version: str
    purpose: str
    retention: str
    actor: str
    channel: str  # self, or paper (an agent recording a signed form)
    paper_reference: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Consent:
    """A person's consent today (their latest decision) and every decision before it."""

    latest: ConsentEntry
    history: tuple[ConsentEntry, ...] = ()

    @property
    def given(self) -> bool:
        return self.latest.status == "given"


@dataclass(frozen=True)
class Challenge:
    """What a session was asked to perform. Only a digest of the nonce is kept."""

    challenge_id: str
    person_id: str
    account_id: str
    session_id: str | None
    on_behalf: str | None
    nonce_hash: str
    actions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    # Which frames are checked for identity (besides every action frame): secret, so a
    # client cannot know where to put the frames of another face.
    sample_seed: int = 0


@dataclass(frozen=True)
class Attempt:
    """One face check's outcome, for the person's history: never a score."""

    person_id: str
    at: datetime
    channel: str
    actor: str
    result: str  # pass or fail
    reason: str | None
    on_behalf: str | None = None
    frames: int = 0
    actions: tuple[str, ...] = field(default_factory=tuple)
    ms: int = 0


@dataclass(frozen=True)
class WeChatFaceCheck:
    """A 人脸核身 2.0 verification started for a person from the mini-program: WeChat's
    ``verify_id``, bound to the account's openid and our single-use ``out_seq_no``."""

    check_id: str
    person_id: str
    account_id: str
    session_id: str | None
    on_behalf: str | None
    openid: str
    out_seq_no: str
    verify_id: str
    created_at: datetime
    expires_at: datetime


# -- which face check ------------------------------------------------------------------


def provider_for(principal: Principal) -> Literal["wechat_face", "own", "in_person"]:
    """Which face check this caller uses: ``wechat_face`` in the mini-program, ``own``
    in the app and H5 pages, ``in_person`` for agents."""
    if principal.role in (Role.AGENT, Role.ADMIN):
        return "in_person"
    return "wechat_face" if principal.audience == "miniapp" else "own"


def require_provider(principal: Principal, provider: str) -> None:
    chosen = provider_for(principal)
    if chosen == "in_person":
        raise FaceCheckIsSelfService("agents certify in person, not by a face check")
    if chosen != provider:
        raise WrongFaceProvider(f"use {chosen} here", provider=chosen)


# -- reasons and errors ------------------------------------------------------------------


# Why a face check did not pass; answered as ``FACE_<reason>`` with a Chinese sentence
# saying what to do next, never with a score.
FACE_REASONS = (
    "BAD_FRAME", "NO_FACE", "MULTIPLE_FACES", "FACE_TOO_SMALL", "TOO_DARK", "TOO_BLURRY",
    "STILL_PHOTO", "BLINK_NOT_DETECTED", "OPEN_MOUTH_NOT_DETECTED", "TURN_LEFT_NOT_DETECTED",
    "TURN_RIGHT_NOT_DETECTED", "TURN_NOT_NATURAL", "WRONG_ORDER", "TRACK_BROKEN",
    "IDENTITY_CHANGED", "FACE_MISMATCH", "REPLAYED", "NO_REFERENCE_PHOTO",
    "WECHAT_CANCELLED", "WECHAT_TIMED_OUT", "WECHAT_FAILED",
)


class ConsentRequired(Conflict):
    code = "FACE_CONSENT_REQUIRED"


class NoReference(Conflict):
    code = "NO_REFERENCE_PHOTO"


class AttemptsExhausted(RateLimited):
    code = "FACE_ATTEMPTS_EXHAUSTED"


class ChallengeOpen(Conflict):
    """The person's last challenge is still open: finish it, or wait until it expires."""

    code = "FACE_CHALLENGE_OPEN"

    def __init__(self, retry_after: int) -> None:
        super().__init__("a challenge is open", retry_after=retry_after)


class WrongFaceProvider(Conflict):
    """The face check is chosen by where the person is: the mini-program uses WeChat's own
    verification, the app and H5 pages the service's check (``provider`` says which)."""

    code = "FACE_WRONG_PROVIDER"


class WeChatFaceNotFinished(Conflict):
    code = "WECHAT_FACE_NOT_FINISHED"


class WeChatFaceUnavailable(DomainError):
    code = "WECHAT_FACE_UNAVAILABLE"

    def __init__(self, detail: str, retry_after: int = 30) -> None:
        super().__init__(detail, retry_after=retry_after)


class ChallengeNotFound(NotFound):
    code = "CHALLENGE_NOT_FOUND"


class NonceRefused(ValidationFailed):
    code = "NONCE_INVALID"


class NonceExpired(NonceRefused):
    code = "NONCE_EXPIRED"


class NonceUsed(NonceRefused):
    code = "NONCE_USED"


class FramesInvalid(ValidationFailed):
    code = "FRAMES_INVALID"


class PhotoRejected(ValidationFailed):
    code = "PHOTO_REJECTED"


class NoticeOutdated(ValidationFailed):
    """Consent given to a notice text that is not the current one."""

    code = "CONSENT_NOTICE_OUTDATED"


class ConsentIsPersonal(Forbidden):
    """Face consent is the person's own act; an agent records a signed paper consent only."""

    code = "CONSENT_IS_PERSONAL"


class FaceCheckIsSelfService(Forbidden):
    """Agents certify in person; they never start a self-service face check."""

    code = "FACE_CHECK_IS_SELF_SERVICE"


class FacePoolBusy(DomainError):
    code = "FACE_SERVICE_BUSY"

    def __init__(self, retry_after: int = 5) -> None:
        super().__init__("face pool queue is full", retry_after=retry_after)
