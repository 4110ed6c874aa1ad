"""The records of the self-service face check: consent, a challenge and an attempt.

Plain values the repository reads and writes; the rules that use them live in
``consent`` and ``face_check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
