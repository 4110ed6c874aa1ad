"""What every certification use case needs, built once by the composition root."""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from common.audit import AuditLog
from common.clock import SHANGHAI, Clock, local_date
from common.guard import Guard
from common.ratelimit import RateLimiter, RateRule
from notifications.service import Notifier
from pension_cert.face import FaceCheckConfig
from pension_cert.face_index import RegionIndexes
from pension_cert.model import DEFAULT_CYCLE_RULES, CycleRule, NotAPensioner
from pension_cert.notice import Notice, consent_notice
from pension_cert.payroll_repository import PayrollRepository
from pension_cert.pool import FacePool
from pension_cert.replay import ReplayRule
from pension_cert.repository import CertRepository
from pension_cert.visit_repository import VisitRepository
from people.model import Person, PersonNotFound
from people.repository import PeopleRepository


@dataclass(frozen=True)
class CertConfig:
    face: FaceCheckConfig = field(default_factory=FaceCheckConfig)
    match_threshold: float = 0.5  # one-to-one; calibrate with pension_cert.calibrate
    one_to_many_threshold: float = 0.4  # stricter: used against every other pensioner
    # Issued challenges and refused uploads count together, five a day: trying challenges
    # until a recorded pair comes up costs what failing does.
    daily_attempts: int = 5
    challenge_ttl: timedelta = timedelta(seconds=120)
    min_frames: int = 15
    max_frames: int = 90
    max_frame_bytes: int = 100 * 1024
    # Templates are kept while the certification is valid and this long after (the
    # consent text), and as long after a recorded death.
    template_retention: timedelta = timedelta(days=30)
    replay_memory: timedelta = timedelta(days=365)  # a person's earlier submissions, by content
    replay: ReplayRule = field(default_factory=ReplayRule)
    cycle_rules: tuple[CycleRule, ...] = DEFAULT_CYCLE_RULES
    commitment_allowed: bool = True
    fixed_actions: tuple[str, ...] | None = None  # dev/test only (FACE_FIXED_ACTIONS)


class WeChatFaceGateway(Protocol):
    async def get_verify_id(self, *, openid: str, out_seq_no: str, cert_name: str,
                            cert_no: str) -> dict[str, Any]: ...

    async def query_verify_info(self, *, verify_id: str, out_seq_no: str, openid: str,
                                cert_name: str, cert_no: str) -> dict[str, Any]: ...


class OpenIds(Protocol):
    async def openid_of_account(self, account_id: str) -> str | None: ...


@dataclass
class CertContext:
    repo: CertRepository
    people: PeopleRepository
    notifier: Notifier
    clock: Clock
    guard: Guard
    limiter: RateLimiter
    audit: AuditLog
    pool: FacePool
    template_key: bytes
    payroll: PayrollRepository
    visits: VisitRepository
    config: CertConfig = field(default_factory=CertConfig)
    rng: random.Random = field(default_factory=random.SystemRandom)
    # The mini-program's provider (人脸核身 2.0) and the openid of a login.
    wechat_face: WeChatFaceGateway | None = None
    openids: OpenIds | None = None
    indexes: RegionIndexes = field(default_factory=RegionIndexes)  # this process's 1:N

    def today(self) -> date:
        return local_date(self.clock.now())

    def now(self) -> datetime:
        return self.clock.now()

    def consent_notice(self) -> Notice:
        """The notice for the periods this service keeps data (its settings)."""
        return consent_notice(template_days=self.config.template_retention.days,
                              replay_days=self.config.replay_memory.days)

    def attempt_rule(self) -> RateRule:
        return RateRule("face_attempts", limit=self.config.daily_attempts,
                        window=timedelta(days=1))

    @property
    def challenge_key(self) -> bytes:
        """The key a challenge's nonce is derived with (from the template key, for this
        one use): the nonce is never stored, so it can be given again to a retried create."""
        return hmac.new(self.template_key, b"pension-cert challenge nonce v1",
                        hashlib.sha256).digest()

    def seconds_to_midnight(self) -> int:
        tomorrow = datetime.combine(self.today() + timedelta(days=1), datetime.min.time(),
                                    SHANGHAI)
        return max(1, int((tomorrow - self.clock.now()).total_seconds()))


async def pensioner(person_id: str, *, ctx: CertContext) -> Person:
    """The registry person, who must draw a pension to certify."""
    person = await ctx.people.get(person_id)
    if person is None:
        raise PersonNotFound(person_id)
    if not person.is_pensioner:
        raise NotAPensioner("only pension recipients certify")
    return person
