"""Who is calling, what they hold, and the rules of logging in. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from common.errors import Conflict, DomainError, NotFound, RateLimited, ValidationFailed

ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
CONSOLE_IDLE_TIMEOUT = timedelta(minutes=30)
CONSOLE_ABSOLUTE_LIMIT = timedelta(hours=12)
CODE_LIFETIME = timedelta(minutes=5)
CODE_MAX_TRIES = 5
AGENT_MAX_FAILURES = 5
AGENT_LOCK = timedelta(minutes=15)


class PrincipalKind(StrEnum):
    PERSON = "person"  # a citizen, a family member, an agent: someone with a token
    SERVICE = "service"  # an institution or data feed with a service key


class Role(StrEnum):
    CITIZEN = "citizen"
    AGENT = "agent"
    ADMIN = "admin"


class Audience(StrEnum):
    MINIAPP = "miniapp"
    APP = "app"
    CONSOLE = "console"


class Permission(StrEnum):
    """What a family member may do for the person who authorised them."""

    PENSION_CERT = "pension_cert"
    CARD = "card"
    FILING = "filing"
    RECORDS = "records"  # contributions, proof of insurance, pension payments


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str  # account id or service-key id
    role: Role | None = None
    person_id: str | None = None  # the registry person a citizen account is bound to
    regions: frozenset[str] = field(default_factory=frozenset)  # an agent's region codes
    scopes: frozenset[str] = field(default_factory=frozenset)  # a service key's scopes
    session_id: str | None = None
    audience: str | None = None
    # The account as the authenticator loaded it for this request: a handler that shows
    # it need not load it again.
    account: Account | None = field(default=None, compare=False, repr=False)

    @property
    def actor_id(self) -> str:
        """The key under which this caller's idempotency records and audits are kept."""
        return f"{self.kind.value}:{self.subject}"


@dataclass
class Account:
    account_id: str
    role: Role
    created_at: datetime
    person_id: str | None = None
    phone: str | None = None
    openid: str | None = None
    unionid: str | None = None
    # console accounts (agents and admins)
    username: str | None = None
    display_name: str | None = None
    password_hash: str | None = None
    totp_secret: str | None = None
    regions: tuple[str, ...] = ()
    locked_until: datetime | None = None
    merged_into: str | None = None


@dataclass
class Session:
    session_id: str
    account_id: str
    audience: Audience
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    device: dict[str, str] = field(default_factory=dict)
    ended_at: datetime | None = None
    end_reason: str | None = None
    wechat_session_key: str | None = None  # server-side only, never returned

    def usable(self, now: datetime) -> bool:
        if self.ended_at is not None or now >= self.expires_at:
            return False
        if self.audience is Audience.CONSOLE:
            return now < self.last_seen_at + CONSOLE_IDLE_TIMEOUT
        return True


@dataclass
class CodeChallenge:
    """A 6-digit SMS code, stored only as a keyed hash, bound to its purpose and phone."""

    challenge_id: str
    purpose: str  # "login" or "real_name"
    phone: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    account_id: str | None = None  # real-name codes belong to the account asking
    person_id: str | None = None  # ...and to the person being bound


@dataclass(frozen=True)
class ServiceKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


class FamilyStatus(StrEnum):
    INVITED = "invited"  # A asked B
    ACCEPTED = "accepted"  # B agreed
    CONFIRMED = "confirmed"  # A confirmed: B may now act for A
    ENDED = "ended"  # either side ended it


# (status, event, who) -> next status. who: the grantor (A) or the grantee (B).
FAMILY_TRANSITIONS: dict[tuple[FamilyStatus, str, str], FamilyStatus] = {
    (FamilyStatus.INVITED, "accept", "grantee"): FamilyStatus.ACCEPTED,
    (FamilyStatus.ACCEPTED, "confirm", "grantor"): FamilyStatus.CONFIRMED,
    **{(status, "end", side): FamilyStatus.ENDED
       for status in (FamilyStatus.INVITED, FamilyStatus.ACCEPTED, FamilyStatus.CONFIRMED)
       for side in ("grantor", "grantee")},
}


@dataclass
class FamilyLink:
    link_id: str
    grantor_person_id: str  # A: the person whose affairs B may handle
    grantor_account_id: str
    grantee_account_id: str  # B
    permissions: tuple[str, ...]
    status: FamilyStatus
    created_at: datetime
    version: int = 1
    grantee_person_id: str | None = None
    updated_at: datetime | None = None
    ended_by: str | None = None

    def side_of(self, account_id: str) -> str | None:
        if account_id == self.grantor_account_id:
            return "grantor"
        if account_id == self.grantee_account_id:
            return "grantee"
        return None

    def allows(self, permission: str) -> bool:
        return self.status is FamilyStatus.CONFIRMED and permission in self.permissions


# -- errors ------------------------------------------------------------------------


class Forbidden(DomainError):
    code = "FORBIDDEN"


class WeChatCodeInvalid(ValidationFailed):
    code = "WECHAT_CODE_INVALID"


class WeChatBusy(RateLimited):
    code = "WECHAT_BUSY"


class WeChatUserBlocked(Forbidden):
    code = "WECHAT_USER_BLOCKED"


class WeChatUnavailableError(DomainError):
    code = "WECHAT_UNAVAILABLE"


class CodeInvalid(ValidationFailed):
    """Wrong code, or a code that expired, was used, or had too many wrong tries."""

    code = "CODE_INVALID"


class CodeExpired(CodeInvalid):
    code = "CODE_EXPIRED"


class CodeExhausted(CodeInvalid):
    code = "CODE_EXHAUSTED"


class RealNameMismatch(ValidationFailed):
    code = "REAL_NAME_MISMATCH"


class NoPhoneOnRecord(Conflict):
    code = "NO_PHONE_ON_RECORD"


class PersonAlreadyBound(Conflict):
    code = "PERSON_ALREADY_BOUND"


class AccountAlreadyBound(Conflict):
    code = "ACCOUNT_ALREADY_BOUND"


class PhoneBelongsToAnotherPerson(Conflict):
    code = "PHONE_BELONGS_TO_ANOTHER_PERSON"


class LoginFailed(DomainError):
    """Console login: wrong username, password or one-time code (never which)."""

    code = "LOGIN_FAILED"


class AccountLocked(DomainError):
    code = "ACCOUNT_LOCKED"


class FamilyLinkNotFound(NotFound):
    code = "FAMILY_LINK_NOT_FOUND"


class FamilyTransitionRefused(Conflict):
    code = "FAMILY_TRANSITION_REFUSED"


class FamilyMemberNotFound(NotFound):
    code = "FAMILY_MEMBER_NOT_FOUND"


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"


class NotVerified(Forbidden):
    """The account is not yet bound to a person in the registry (real-name binding)."""

    code = "NOT_VERIFIED"


class RecordNotFound(NotFound):
    """Not there, or not the caller's to see: both answer the same 404."""

    code = "NOT_FOUND"
