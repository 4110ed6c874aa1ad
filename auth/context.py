"""What every identity use case needs, and what a login gives back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from auth.family_repository import FamilyRepository
from auth.model import (
    Account,
    Session,
)
from auth.repository import AuthRepository
from auth.tokens import TokenService
from common.audit import AuditLog
from common.clock import Clock
from common.guard import Guard
from common.ratelimit import RateLimiter, RateRule
from notifications.service import SmsSender
from notifications.wechat import WeChatApi
from people.repository import PeopleRepository

log = logging.getLogger(__name__)
# Per client address, on every route that logs in, sends a code or binds.
IP_LOGIN_RULES = (RateRule("login_ip_10min", limit=30, window=timedelta(minutes=10)),)
IP_CODE_RULES = (RateRule("code_ip_hour", limit=20, window=timedelta(hours=1)),)
REAL_NAME_RULES = (RateRule("real_name_day", limit=5, window=timedelta(days=1)),)


@dataclass(frozen=True)
class AuthContext:
    """What every identity use case needs; built once by the composition root."""

    repo: AuthRepository
    family: FamilyRepository
    tokens: TokenService
    clock: Clock
    guard: Guard
    limiter: RateLimiter
    audit: AuditLog
    otp_pepper: bytes
    people: PeopleRepository
    wechat: WeChatApi
    sms: SmsSender


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
