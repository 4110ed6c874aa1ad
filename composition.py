"""Composition: build everything once from the settings.

``build_deps`` makes the ``Container``: the database, the shared building blocks and one
context per domain. The HTTP layer gets only a ``WebContext`` and, per route module, the
one domain context its handlers need (``contexts``); the command line, the daily jobs
and the tests use the container.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from api.web import HttpMetrics, WebContext
from auth import family_repository as family_module
from auth import repository as auth_repository
from auth.access import Authorizer
from auth.authenticator import TokenAuthenticator
from auth.context import AuthContext
from auth.family_repository import FamilyRepository
from auth.repository import AuthRepository
from auth.tokens import TokenService
from common import audit as audit_module
from common import guard as guard_module
from common import idempotency as idempotency_module
from common import ratelimit as ratelimit_module
from common.audit import AuditLog
from common.clock import Clock, SystemClock
from common.guard import Guard
from common.idempotency import IdempotencyStore
from common.mongo import Database, Document, IndexSpec, database, ensure_indexes, make_client
from common.ratelimit import RateLimiter
from common.settings import Settings, SettingsError
from common.signed_codes import CodeSigner
from common.versioning import Stepper
from console.context import ConsoleContext, ConsoleMetrics
from console.repository import ConsoleRepository
from jobs import JobMetrics
from medical_insurance import repository as filing_repository
from medical_insurance.model import FilingConfig
from medical_insurance.repository import FilingRepository
from medical_insurance.service import FilingContext
from notifications import repository as outbox_repository
from notifications.aliyun_sms import AliyunSmsClient
from notifications.model import QuietHours, RetryPolicy
from notifications.repository import OutboxRepository
from notifications.service import InboxContext, NotificationPolicy, Notifier
from notifications.wechat import WeChatApi
from notifications.worker import Gateways, OutboxMetrics, OutboxWorker
from pension_cert import payroll_repository
from pension_cert import repository as cert_repository
from pension_cert.context import CertConfig, CertContext
from pension_cert.face import FaceCheckConfig
from pension_cert.model import DEFAULT_CYCLE_RULES, CycleRule, parse_cycle_rules
from pension_cert.payroll_repository import PayrollRepository
from pension_cert.pool import FacePool
from pension_cert.registry_hooks import CertRegistryHooks
from pension_cert.repository import CertRepository
from pension_cert.visit_repository import VisitRepository
from people import repository as people_repository
from people.repository import PeopleRepository
from people.service import RegistryContext, RegistryHooks
from records import repository as records_repository
from records.repository import ContributionRepository, ProofRepository
from records.service import RecordsContext
from records.verification import VerifyContext
from social_card import repository as card_repository
from social_card.model import CardConfig
from social_card.repository import CardRepository
from social_card.service import CardContext


def all_indexes() -> list[IndexSpec]:
    return [
        *guard_module.INDEXES, *ratelimit_module.INDEXES, *idempotency_module.INDEXES,
        *people_repository.INDEXES, *outbox_repository.INDEXES, *auth_repository.INDEXES,
        *family_module.INDEXES, *audit_module.INDEXES, *cert_repository.INDEXES,
        *payroll_repository.INDEXES,
        *filing_repository.INDEXES, *card_repository.INDEXES, *records_repository.INDEXES,
    ]


@dataclass
class Container:
    settings: Settings
    clock: Clock
    client: AsyncMongoClient[Document]
    db: Database
    guard: Guard
    limiter: RateLimiter
    idempotency: IdempotencyStore
    people: PeopleRepository
    outbox: OutboxRepository
    gateways: Gateways
    notification_policy: NotificationPolicy
    notifier: Notifier
    registry_hooks: RegistryHooks
    auth: AuthContext
    cert: CertContext
    filings: FilingContext
    cards: CardContext
    console: ConsoleContext
    registry: RegistryContext
    inbox: InboxContext
    records: RecordsContext
    verify: VerifyContext
    audit: AuditLog
    metrics: HttpMetrics
    outbox_metrics: OutboxMetrics
    job_metrics: JobMetrics
    web: WebContext

    @property
    def contexts(self) -> dict[str, Any]:
        """The context each route module names (``{"context": "cert"}``)."""
        return {"auth": self.auth, "cert": self.cert, "filings": self.filings,
                "cards": self.cards, "registry": self.registry, "inbox": self.inbox,
                "console": self.console,
                "records": self.records, "verify": self.verify}

    def outbox_worker(self, worker_id: str | None = None) -> OutboxWorker:
        return OutboxWorker(outbox=self.outbox, gateways=self.gateways, clock=self.clock,
                            policy=self.notification_policy, metrics=self.outbox_metrics,
                            worker_id=worker_id)


def build_deps(settings: Settings, *, mongodb_uri: str | None = None,
               clock: Clock | None = None, face_pool: FacePool | None = None) -> Container:
    uri = mongodb_uri or settings.mongodb_uri
    if uri is None:
        raise SettingsError("no database: set MONGODB_URI or start the embedded devdb")
    clock = clock or SystemClock()
    client = make_client(uri, embedded=settings.uses_embedded_db)
    db = database(client, settings.mongodb_db)
    guard = Guard(db[guard_module.COLLECTION], clock)
    stepper = Stepper(guard, clock)
    limiter = RateLimiter(guard, db[guard_module.COLLECTION], db[ratelimit_module.COUNTERS], clock)
    audit = AuditLog(db[audit_module.COLLECTION], clock)
    registry = CollectorRegistry()
    people = PeopleRepository(db)
    outbox = OutboxRepository(db)
    auth_repo = AuthRepository(db)
    family = FamilyRepository(db, stepper)
    policy = NotificationPolicy(quiet_hours=QuietHours(*settings.quiet_hours),
                                retry=RetryPolicy(max_attempts=settings.outbox_max_attempts))
    notifier = Notifier(outbox=outbox, clock=clock, policy=policy, contacts=auth_repo)
    gateways = Gateways(
        sms=AliyunSmsClient(endpoint=settings.aliyun_sms_endpoint,
                            access_key_id=settings.aliyun_access_key_id,
                            access_key_secret=settings.aliyun_access_key_secret,
                            sign_name=settings.aliyun_sms_sign_name),
        wechat=WeChatApi(base_url=settings.wechat_base_url, appid=settings.wechat_appid,
                         secret=settings.wechat_secret, clock=clock,
                         timeout=settings.wechat_timeout_seconds))
    auth = AuthContext(
        repo=auth_repo, family=family,
        tokens=TokenService(settings.jwt_signing_keys, settings.jwt_issuer, clock),
        clock=clock, guard=guard, limiter=limiter, audit=audit, otp_pepper=settings.otp_pepper,
        people=people, wechat=gateways.wechat, sms=gateways.sms)
    cert = CertContext(
        repo=CertRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, limiter=limiter, audit=audit,
        pool=face_pool or FacePool(settings.face_pool_workers or None, settings.face_pool_queue),
        template_key=settings.face_template_key, payroll=PayrollRepository(db),
        visits=VisitRepository(db, stepper),
        config=cert_config(settings), wechat_face=gateways.wechat, openids=auth_repo)
    filings = FilingContext(
        repo=FilingRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, audit=audit, certificate_key=settings.certificate_key,
        cert=cert, config=FilingConfig(temporary_months=settings.filing_temporary_months,
                                       change_lock_months=settings.filing_change_lock_months))
    cards = CardContext(
        repo=CardRepository(db, stepper), people=people, notifier=notifier,
        clock=clock, guard=guard, audit=audit, tokens=auth.tokens, auth=auth,
        cert=cert, config=CardConfig(temp_loss_working_days=settings.card_temp_loss_days))
    records = RecordsContext(
        contributions=ContributionRepository(db), proofs=ProofRepository(db), people=people,
        clock=clock, audit=audit, signer=CodeSigner(
            settings.document_signing_keys, settings.jwt_issuer, "insurance-proof", clock))
    hooks = CertRegistryHooks(cert)
    idempotency = IdempotencyStore(db[idempotency_module.COLLECTION], clock)
    metrics = HttpMetrics(registry)
    console = ConsoleContext(
        people=people, auth=auth, cert=cert, filings=filings, cards=cards,
        inbox=InboxContext(outbox=outbox, clock=clock), notifier=notifier, audit=audit,
        clock=clock, repo=ConsoleRepository(db), metrics=ConsoleMetrics(registry))
    return Container(
        settings=settings, clock=clock, client=client, db=db, guard=guard, limiter=limiter,
        idempotency=idempotency, people=people, outbox=outbox, gateways=gateways,
        notification_policy=policy, notifier=notifier, registry_hooks=hooks, auth=auth,
        cert=cert, filings=filings, cards=cards, console=console,
        registry=RegistryContext(people=people, clock=clock, hooks=hooks),
        inbox=InboxContext(outbox=outbox, clock=clock), records=records,
        verify=VerifyContext(records=records, filings=filings, limiter=limiter, audit=audit),
        audit=audit, metrics=metrics,
        outbox_metrics=OutboxMetrics(registry), job_metrics=JobMetrics(registry),
        web=WebContext(settings=settings, clock=clock,
                       authenticator=TokenAuthenticator(auth),
                       authorizer=Authorizer(people, family), idempotency=idempotency,
                       metrics=metrics, ping=lambda: db.command("ping")))


def cert_config(settings: Settings) -> CertConfig:
    return CertConfig(match_threshold=settings.face_match_threshold,
                      one_to_many_threshold=settings.face_one_to_many_threshold,
                      daily_attempts=settings.face_daily_attempts,
                      face=FaceCheckConfig(
                          blink_ratio=settings.face_blink_ratio,
                          mouth_open_mar=settings.face_mouth_open,
                          turn_yaw=settings.face_turn_yaw,
                          identity_tolerance=settings.face_identity_tolerance),
                      replay_memory=timedelta(days=settings.face_replay_days),
                      template_retention=timedelta(days=settings.face_dead_retention_days),
                      fixed_actions=settings.face_fixed_actions,
                      cycle_rules=_cycle_rules(settings))


def _cycle_rules(settings: Settings) -> tuple[CycleRule, ...]:
    if settings.cert_cycle_rules is None:
        return DEFAULT_CYCLE_RULES
    try:
        return parse_cycle_rules(settings.cert_cycle_rules)
    except ValueError as error:
        raise SettingsError(f"CERT_CYCLE_RULES: {error}") from None


async def init_db(deps: Container) -> list[str]:
    created = await ensure_indexes(deps.db, all_indexes(),
                                   embedded=deps.settings.uses_embedded_db)
    await deps.filings.repo.list_unlisted()  # filings stored before their lists existed
    return created


async def close(deps: Container) -> None:
    deps.gateways.sms.close()
    deps.cert.pool.close()
    await deps.client.close()
