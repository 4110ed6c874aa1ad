"""Certification use cases: consent, reference templates, the face check, the rolling
cycle (reminders, suspension, back pay), other routes, passive signals, fraud review."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from auth.model import Principal
from common.audit import AuditLog
from common.clock import SHANGHAI, Clock, as_utc, local_date
from common.errors import Conflict, NotFound, RateLimited, ValidationFailed
from common.guard import Guard
from common.ratelimit import RateLimiter, RateRule
from common.versioning import step_version
from notifications.repository import OutboxRepository
from notifications.service import NotificationPolicy, enqueue
from notifications.templates import CERT_DONE, CERT_DUE_SOON, CERT_OVERDUE
from pension_cert import face
from pension_cert.face import Analysis, FaceCheckConfig
from pension_cert.model import (
    DEFAULT_CYCLE_RULES,
    CertificationBlocked,
    CertState,
    CertStatus,
    Channel,
    CycleRule,
    Month,
    back_pay,
    cycle_months,
    first_suspended_month,
    new_retiree_deadline,
    valid_through,
)
from pension_cert.pool import FacePool
from pension_cert.repository import CertRepository, state_doc_changes
from pension_cert.templates import TemplateUnreadable, seal, unseal
from people.model import IdNumber, PaymentStatus, Person, PersonType
from people.repository import PeopleRepository

NOTICE_VERSION = "2026-01"
CONSENT_PURPOSE = "养老金领取资格认证的人脸比对"
OTHER_ROUTES = "其他认证方式：到社保经办网点现场认证、预约工作人员上门认证，或由家属代为认证。"


# -- errors ------------------------------------------------------------------------------


class ConsentRequired(Conflict):
    code = "FACE_CONSENT_REQUIRED"


class NoReference(Conflict):
    code = "NO_REFERENCE_PHOTO"


class NotAPensioner(Conflict):
    code = "NOT_A_PENSIONER"


class AttemptsExhausted(RateLimited):
    code = "FACE_ATTEMPTS_EXHAUSTED"


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


class CaseNotFound(NotFound):
    code = "REVIEW_CASE_NOT_FOUND"


# -- configuration and context -------------------------------------------------------------


@dataclass(frozen=True)
class CertConfig:
    face: FaceCheckConfig = field(default_factory=FaceCheckConfig)
    match_threshold: float = 0.5  # one-to-one; calibrate with pension_cert.calibrate
    one_to_many_threshold: float = 0.4  # stricter: used against every other pensioner
    daily_failures: int = 5
    challenge_ttl: timedelta = timedelta(seconds=120)
    min_frames: int = 15
    max_frames: int = 90
    max_frame_bytes: int = 100 * 1024
    dead_template_retention: timedelta = timedelta(days=30)
    cycle_rules: tuple[CycleRule, ...] = DEFAULT_CYCLE_RULES
    commitment_allowed: bool = True


@dataclass
class CertContext:
    repo: CertRepository
    people: PeopleRepository
    outbox: OutboxRepository
    notification_policy: NotificationPolicy
    clock: Clock
    guard: Guard
    limiter: RateLimiter
    audit: AuditLog
    pool: FacePool
    template_key: bytes
    config: CertConfig = field(default_factory=CertConfig)
    rng: random.Random = field(default_factory=random.SystemRandom)

    def today(self) -> date:
        return local_date(self.clock.now())

    def failure_rule(self) -> RateRule:
        return RateRule("face_failures", limit=self.config.daily_failures,
                        window=timedelta(days=1))


# -- consent ---------------------------------------------------------------------------------


async def record_consent(person_id: str, decision: str, *, actor: str, ctx: CertContext,
                         notice_version: str = NOTICE_VERSION) -> dict[str, Any]:
    """give / refuse / withdraw. Withdrawing deletes the template; refusing changes nothing else."""
    if decision not in ("give", "refuse", "withdraw"):
        raise ValidationFailed("decision is give, refuse or withdraw", field="decision")
    await _pensioner(person_id, ctx=ctx)
    now = ctx.clock.now()
    status = {"give": "given", "refuse": "refused", "withdraw": "withdrawn"}[decision]
    entry = {"status": status, "at": now, "notice_version": notice_version,
             "purpose": CONSENT_PURPOSE, "retention": "认证有效期内及其后 30 天；撤回即删除",
             "actor": actor}
    await ctx.repo.record_consent(person_id, entry)
    if decision == "withdraw":
        await ctx.repo.delete_template(person_id, now)
    await ctx.audit.record(actor=actor, action=f"consent.{decision}", object=person_id,
                           outcome=status)
    return {**entry, "other_routes": OTHER_ROUTES}


async def consent_of(person_id: str, *, ctx: CertContext) -> dict[str, Any]:
    consent = await ctx.repo.consent(person_id)
    template = await ctx.repo.template(person_id)
    return {"status": (consent or {}).get("status", "none"),
            "notice_version": (consent or {}).get("notice_version"),
            "history": (consent or {}).get("history", []), "has_reference": template is not None}


# -- reference templates ----------------------------------------------------------------------


async def enroll_reference(person_id: str, photo: bytes, *, source: str, actor: str,
                           ctx: CertContext) -> None:
    """Encode an official photo and keep only the sealed encoding; the photo is dropped."""
    person = await _pensioner(person_id, ctx=ctx)
    problem, encoding = await ctx.pool.run(face.encode_photo, photo, ctx.config.face)
    if problem or encoding is None:
        raise PhotoRejected(problem or "no encoding", field="photo", problem=problem)
    blob = seal(encoding, key=ctx.template_key, person_id=person_id)
    await ctx.repo.save_template(person_id, blob, person.region_code, source, ctx.clock.now())
    await ctx.audit.record(actor=actor, action="template.enroll", object=person_id,
                           outcome="ok", source=source)


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class PhotoImportReport:
    enrolled: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    def add(self, problem: str, name: str) -> None:
        self.problems.setdefault(problem, []).append(name)


async def import_photos(photos: Sequence[tuple[str, bytes]], *, ctx: CertContext,
                        on_file: Any = lambda: None) -> PhotoImportReport:
    """Official photos named by ID number. Templates made before consent are kept but
    not used until the person consents."""
    report = PhotoImportReport()
    for name, data in photos:
        stem = name.rsplit(".", 1)[0]
        try:
            person = await ctx.people.find_by_id_number(IdNumber.parse(stem).value)
        except ValidationFailed:
            person = None
        if person is None:
            report.add("NOT_IN_REGISTRY", name)
        else:
            try:
                await enroll_reference(person.person_id, data, source="bulk_import",
                                       actor="cli", ctx=ctx)
                report.enrolled += 1
            except PhotoRejected as rejected:
                report.add(str(rejected.params.get("problem") or "REJECTED"), name)
            except NotAPensioner:
                report.add("NOT_A_PENSIONER", name)
        on_file()
    return report


async def purge_dead_templates(*, ctx: CertContext) -> int:
    """Templates of people who died more than the retention period ago are deleted."""
    cutoff = ctx.today() - ctx.config.dead_template_retention
    purged = 0
    async for doc in ctx.repo.templates.find({}, {"_id": 1}):
        person = await ctx.people.get(doc["_id"])
        if person and person.death_date and person.death_date < cutoff:
            purged += await ctx.repo.delete_template(person.person_id, ctx.clock.now())
    return purged


# -- the face check ---------------------------------------------------------------------------


async def start_challenge(principal: Principal, person_id: str, *, on_behalf: str | None,
                          ctx: CertContext) -> dict[str, Any]:
    person = await _pensioner(person_id, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is not None and state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("blocked pending review")
    consent = await ctx.repo.consent(person_id)
    if not consent or consent.get("status") != "given":
        raise ConsentRequired("face check needs consent", other_routes=OTHER_ROUTES)
    if await ctx.repo.template(person_id) is None:
        raise NoReference("no reference photo", other_routes=OTHER_ROUTES)
    await _attempts_left(person.person_id, ctx=ctx)
    now = ctx.clock.now()
    nonce = secrets.token_urlsafe(24)
    actions = ctx.rng.sample(face.Action.ALL, 2)
    challenge = {
        "_id": "CH" + secrets.token_hex(10), "person_id": person_id,
        "account_id": principal.subject, "session_id": principal.session_id,
        "on_behalf": on_behalf, "nonce_hash": _digest(nonce), "actions": actions,
        "created_at": now, "expires_at": now + ctx.config.challenge_ttl,
    }
    await ctx.repo.save_challenge(challenge)
    return {"challenge_id": challenge["_id"], "nonce": nonce, "actions": actions,
            "expires_in": int(ctx.config.challenge_ttl.total_seconds())}


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
    if challenge is None or challenge["account_id"] != principal.subject or (
            challenge["session_id"] != principal.session_id):
        raise ChallengeNotFound(challenge_id)  # another person's challenge: not yours to see
    if not hmac.compare_digest(challenge["nonce_hash"], _digest(nonce)):
        raise NonceRefused("nonce does not match", field="nonce")
    if ctx.clock.now() >= as_utc(challenge["expires_at"]):
        raise NonceExpired("challenge expired", field="nonce")
    if not await ctx.guard.claim(f"used:nonce:{challenge_id}", ttl=ctx.config.challenge_ttl):
        raise NonceUsed("challenge already used", field="nonce")
    _check_frames(frames, ctx.config)
    person_id = challenge["person_id"]
    await _attempts_left(person_id, ctx=ctx)
    digests = [hashlib.sha256(f).hexdigest() for f in frames]
    if not await ctx.repo.claim_frames(digests, challenge_id, ctx.clock.now()):
        analysis = Analysis("REPLAYED", frames=len(frames))
    else:
        analysis = await ctx.pool.run(face.analyse, list(frames), challenge["actions"],
                                      ctx.config.face)
    reason = analysis.reason or await _match(person_id, analysis, ctx=ctx)
    channel = Channel.FAMILY if challenge.get("on_behalf") else Channel.FACE
    await ctx.repo.log_attempt({
        "person_id": person_id, "at": ctx.clock.now(), "channel": channel.value,
        "actor": principal.subject, "on_behalf": challenge.get("on_behalf"),
        "result": "fail" if reason else "pass", "reason": reason, "frames": len(frames),
        "actions": challenge["actions"], "ms": round((time.perf_counter() - started) * 1000),
    })
    if reason:
        left = await _count_failure(person_id, ctx=ctx)
        return CheckResult(False, reason, attempts_left=left)
    assert analysis.encoding is not None
    suspect = await fraud_suspicion(person_id, np.asarray(analysis.encoding), ctx=ctx)
    state = await certify(person_id, ctx.today(), channel, actor=principal.subject,
                          on_behalf=challenge.get("on_behalf"), ctx=ctx, suspicion=suspect)
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
        raise AttemptsExhausted(_seconds_to_midnight(ctx), rule="face_failures")
    return left


async def _count_failure(person_id: str, *, ctx: CertContext) -> int:
    try:
        await ctx.limiter.hit("face", person_id, [ctx.failure_rule()])
    except RateLimited:
        return 0
    return ctx.config.daily_failures - await ctx.limiter.used("face", person_id,
                                                              ctx.failure_rule())


def _seconds_to_midnight(ctx: CertContext) -> int:
    tomorrow = datetime.combine(ctx.today() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return max(1, int((tomorrow - ctx.clock.now()).total_seconds()))


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


# -- fraud ------------------------------------------------------------------------------------


async def fraud_suspicion(person_id: str, live: np.ndarray, *, ctx: CertContext
                          ) -> dict[str, Any] | None:
    """Flag when the live face is closer to another pensioner's reference than to the
    person's own, and within the stricter one-to-many threshold."""
    person = await ctx.people.get(person_id)
    if person is None:
        return None
    index = await region_index(person.region_code[:4], ctx=ctx)
    # A region can hold hundreds of thousands of templates (1,000,000 take ~0.25 s):
    # search in a thread, where numpy runs without holding the event loop.
    own, nearest = await asyncio.to_thread(
        lambda: (index.distance_to(person_id, live), index.nearest_other(person_id, live)))
    if nearest is None or own is None:
        return None
    other_id, distance = nearest
    if distance < own and distance <= ctx.config.one_to_many_threshold:
        return {"kind": "face_matches_other", "other_person_id": other_id}
    return None


class RegionIndex:
    """One float32 matrix of a region's sealed templates, opened once per change."""

    def __init__(self, ids: list[str], matrix: np.ndarray, token: str) -> None:
        self.ids = ids
        self.matrix = matrix
        self.token = token

    def distances(self, live: np.ndarray) -> np.ndarray:
        if not self.ids:
            return np.empty(0, dtype=np.float32)
        return np.linalg.norm(self.matrix - live.astype(np.float32), axis=1)

    def distance_to(self, person_id: str, live: np.ndarray) -> float | None:
        if person_id not in self.ids:
            return None
        return float(self.distances(live)[self.ids.index(person_id)])

    def nearest_other(self, person_id: str, live: np.ndarray) -> tuple[str, float] | None:
        distances = self.distances(live)
        best: tuple[str, float] | None = None
        for i in np.argsort(distances)[:2]:
            if self.ids[i] != person_id:
                best = (self.ids[i], float(distances[i]))
                break
        return best


_INDEXES: dict[tuple[int, str], RegionIndex] = {}


async def region_index(region_prefix: str, *, ctx: CertContext) -> RegionIndex:
    token = await ctx.repo.change_token()
    key = (id(ctx.repo), region_prefix)
    cached = _INDEXES.get(key)
    if cached is not None and cached.token == token:
        return cached
    templates = await ctx.repo.region_templates(region_prefix)
    consented = await ctx.repo.consented([person_id for person_id, _ in templates])
    # Templates imported before consent are kept, but not used.
    sealed = [(person_id, blob) for person_id, blob in templates if person_id in consented]
    _INDEXES[key] = await asyncio.to_thread(_open_index, sealed, ctx.template_key, token)
    return _INDEXES[key]


def _open_index(sealed: list[tuple[str, bytes]], template_key: bytes, token: str) -> RegionIndex:
    """Decrypt a region's templates into one matrix (in a thread: it is CPU work)."""
    ids, rows = [], []
    for person_id, blob in sealed:
        try:
            rows.append(unseal(blob, key=template_key, person_id=person_id))
        except TemplateUnreadable:
            continue
        ids.append(person_id)
    matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), 128)
    return RegionIndex(ids, matrix, token)


# -- the cycle -------------------------------------------------------------------------------


async def _pensioner(person_id: str, *, ctx: CertContext) -> Person:
    person = await ctx.people.get(person_id)
    if person is None:
        raise NotFound(person_id)
    if person.person_type not in (PersonType.RETIREE, PersonType.SURVIVOR):
        raise NotAPensioner("only pension recipients certify")
    return person


async def certify(person_id: str, day: date, channel: Channel, *, actor: str,
                  on_behalf: str | None, ctx: CertContext, note: str | None = None,
                  suspicion: dict[str, Any] | None = None) -> CertState:
    """Record a certification on ``day``. After a suspension, payment resumes the next
    month with back pay. A suspicious one waits for an agent's review."""
    person = await _pensioner(person_id, ctx=ctx)
    state = await ctx.repo.state(person_id)
    if state is None:
        state = CertState(person_id=person_id, valid_through=day)
        await ctx.repo.create_state(state)
        state = await ctx.repo.state(person_id) or state
    if state.status is CertStatus.BLOCKED:
        raise CertificationBlocked("certification is blocked for this person")
    if person.death_date and day > person.death_date:
        suspicion = suspicion or {"kind": "certified_after_death",
                                  "death_date": person.death_date.isoformat()}
    event = {"at": ctx.clock.now().isoformat(), "day": day.isoformat(), "channel": channel.value,
             "actor": actor, "on_behalf": on_behalf or "", "note": note or ""}
    if suspicion:
        return await _hold_for_review(person, state, day, channel, event, suspicion, ctx=ctx)
    await _apply_certification(person, state, day, event, ctx=ctx)
    await ctx.audit.record(actor=actor, action="pension.certify", object=person_id,
                           outcome=channel.value, on_behalf_of=on_behalf)
    return await ctx.repo.state(person_id) or state


async def _apply_certification(person: Person, state: CertState, day: date,
                               event: dict[str, str], *, ctx: CertContext) -> None:
    months = cycle_months(person, day, ctx.config.cycle_rules)
    new_state = CertState(person_id=person.person_id, valid_through=valid_through(day, months),
                          status=CertStatus.CERTIFIED, last_certified_on=day,
                          history=[*state.history, {**event, "result": "certified"}])
    if state.suspended_from is not None and Month.of(day) < state.suspended_from:
        # Certified after the deadline but before the suspended month began: nothing was
        # withheld yet, so the suspension instruction is withdrawn instead of resumed.
        await ctx.repo.withdraw_payroll_event(state.suspended_from, person.person_id, "suspend")
        await _set_payment(person, PaymentStatus.PAYING, ctx=ctx)
    elif state.suspended_from is not None:
        pay = back_pay(suspended_from=state.suspended_from, certified_on=day,
                       monthly_pension_fen=person.monthly_pension_fen or 0,
                       prison_periods=person.prison_periods)
        await ctx.repo.add_payroll_event({
            "person_id": person.person_id, "month": str(pay.resume_month), "kind": "resume",
            "backpay_months": [str(m) for m in pay.months],
            "excluded_prison_months": [str(m) for m in pay.excluded_prison_months],
            "amount_fen": pay.amount_fen, "monthly_fen": person.monthly_pension_fen or 0,
        })
        await _set_payment(person, PaymentStatus.PAYING, ctx=ctx)
    await step_version(guard=ctx.guard, clock=ctx.clock, collection=ctx.repo.states,
                       record_id=person.person_id, expected_version=state.version,
                       changes=state_doc_changes(new_state))
    if person.phone:
        await enqueue(kind=CERT_DONE, dedupe_key=f"cert_done:{person.person_id}:{day}",
                      params={"name": person.name,
                              "valid_through": new_state.valid_through.isoformat()},
                      outbox=ctx.outbox, clock=ctx.clock, policy=ctx.notification_policy,
                      person_id=person.person_id, phone=person.phone)


async def _hold_for_review(person: Person, state: CertState, day: date, channel: Channel,
                           event: dict[str, str], suspicion: dict[str, Any], *,
                           ctx: CertContext) -> CertState:
    case_id = "RC" + uuid.uuid4().hex[:12]
    await ctx.repo.open_case({
        "_id": case_id, "person_id": person.person_id, "region_code": person.region_code,
        "status": "open", "opened_at": ctx.clock.now(), "day": day.isoformat(),
        "channel": channel.value, "suspicion": suspicion, "previous_status": state.status.value,
    })
    held = {**state_doc_changes(state), "status": CertStatus.PENDING_REVIEW.value,
            "history": [*state.history, {**event, "result": "pending_review",
                                         "case_id": case_id}]}
    await step_version(guard=ctx.guard, clock=ctx.clock, collection=ctx.repo.states,
                       record_id=person.person_id, expected_version=state.version, changes=held)
    await ctx.audit.record(actor=event["actor"], action="pension.review_case",
                           object=person.person_id, outcome=suspicion["kind"], case_id=case_id)
    return await ctx.repo.state(person.person_id) or state


async def decide_case(case_id: str, decision: str, *, agent: Principal,
                      ctx: CertContext) -> CertState:
    """clear: certify as of the attempt's date. fraud: block and suspend."""
    case = await ctx.repo.case(case_id)
    if case is None or case["status"] != "open":
        raise CaseNotFound(case_id)
    from auth.access import covers
    if agent.role is not None and agent.role.value == "agent" and not covers(
            agent.regions, case["region_code"]):
        raise CaseNotFound(case_id)
    if decision not in ("clear", "fraud"):
        raise ValidationFailed("decision is clear or fraud", field="decision")
    await ctx.repo.cases.update_one({"_id": case_id, "status": "open"}, {"$set": {
        "status": decision, "decided_by": agent.subject, "decided_at": ctx.clock.now()}})
    person = await _pensioner(case["person_id"], ctx=ctx)
    state = await ctx.repo.state(person.person_id)
    assert state is not None
    event = {"at": ctx.clock.now().isoformat(), "day": case["day"], "channel": case["channel"],
             "actor": agent.subject, "on_behalf": "", "note": f"review {case_id}: {decision}"}
    if decision == "clear":
        state.status = CertStatus(case["previous_status"]) if case["previous_status"] != \
            CertStatus.PENDING_REVIEW.value else CertStatus.CERTIFIED
        await _apply_certification(person, state, date.fromisoformat(case["day"]), event,
                                   ctx=ctx)
    else:
        await _block(person, state, event, ctx=ctx)
    await ctx.audit.record(actor=agent.subject, action="pension.review_decision",
                           object=case_id, outcome=decision)
    return await ctx.repo.state(person.person_id) or state


async def _block(person: Person, state: CertState, event: dict[str, str], *,
                 ctx: CertContext, suspend_from: Month | None = None) -> None:
    month = suspend_from or Month.of(ctx.today()).next()
    changes = {**state_doc_changes(state), "status": CertStatus.BLOCKED.value,
               "suspended_from": str(state.suspended_from or month),
               "history": [*state.history, {**event, "result": "blocked"}]}
    await step_version(guard=ctx.guard, clock=ctx.clock, collection=ctx.repo.states,
                       record_id=person.person_id, expected_version=state.version,
                       changes=changes)
    if state.suspended_from is None:
        await ctx.repo.add_payroll_event({
            "person_id": person.person_id, "month": str(month), "kind": "suspend",
            "monthly_fen": person.monthly_pension_fen or 0, "amount_fen": 0,
            "backpay_months": [], "reason": "blocked"})
    await _set_payment(person, PaymentStatus.SUSPENDED, ctx=ctx)


async def _set_payment(person: Person, status: PaymentStatus, *, ctx: CertContext) -> None:
    await ctx.people.set_payment_status(person.person_id, status)


async def run_cycle_once_a_day(*, ctx: CertContext, owner: str) -> dict[str, int] | None:
    """The daily job for worker processes: whichever claims the day first runs it."""
    today = ctx.today()
    key = f"cycle:{today.isoformat()}"
    if not await ctx.guard.claim(key, ttl=timedelta(days=2), owner=owner):
        return None
    try:
        counts = await run_cycle(ctx=ctx, today=today)
        counts["purged"] = await purge_dead_templates(ctx=ctx)
    except BaseException:
        await ctx.guard.release(key, owner=owner)  # let another worker try again
        raise
    return counts


async def run_cycle(*, ctx: CertContext, today: date | None = None) -> dict[str, int]:
    """The daily job: reminders 30, 7 and 1 days ahead; suspension when overdue.
    Running it twice on one day changes nothing the second time."""
    today = today or ctx.today()
    counts = {"reminded": 0, "suspended": 0}
    for state in await ctx.repo.all_states():
        person = await ctx.people.get(state.person_id)
        if person is None or state.status in (CertStatus.BLOCKED, CertStatus.PENDING_REVIEW):
            continue
        if state.status_on(today) is CertStatus.OVERDUE_SUSPENDED:
            if state.suspended_from is None:
                await _suspend(person, state, ctx=ctx)
                counts["suspended"] += 1
            continue
        threshold = state.reminder_due(today)
        if threshold is not None:
            await _remind(person, state, threshold, ctx=ctx)
            counts["reminded"] += 1
    return counts


async def _suspend(person: Person, state: CertState, *, ctx: CertContext) -> None:
    month = first_suspended_month(state.valid_through)
    changes = {**state_doc_changes(state), "status": CertStatus.OVERDUE_SUSPENDED.value,
               "suspended_from": str(month),
               "history": [*state.history, {"at": ctx.clock.now().isoformat(),
                                            "result": "suspended", "month": str(month)}]}
    await step_version(guard=ctx.guard, clock=ctx.clock, collection=ctx.repo.states,
                       record_id=person.person_id, expected_version=state.version,
                       changes=changes)
    await ctx.repo.add_payroll_event({
        "person_id": person.person_id, "month": str(month), "kind": "suspend",
        "monthly_fen": person.monthly_pension_fen or 0, "amount_fen": 0,
        "backpay_months": [], "reason": "overdue"})
    await _set_payment(person, PaymentStatus.SUSPENDED, ctx=ctx)
    if person.phone:
        await enqueue(kind=CERT_OVERDUE, dedupe_key=f"overdue:{person.person_id}:{month}",
                      params={"name": person.name, "due_date": state.valid_through.isoformat()},
                      outbox=ctx.outbox, clock=ctx.clock, policy=ctx.notification_policy,
                      person_id=person.person_id, phone=person.phone)


async def _remind(person: Person, state: CertState, threshold: int, *,
                  ctx: CertContext) -> None:
    key = state.reminder_key(threshold)
    await step_version(guard=ctx.guard, clock=ctx.clock, collection=ctx.repo.states,
                       record_id=person.person_id, expected_version=state.version,
                       changes={"reminders_sent": [*state.reminders_sent, key],
                                "status": CertStatus.DUE_SOON.value})
    if person.phone:
        await enqueue(kind=CERT_DUE_SOON, dedupe_key=f"due:{person.person_id}:{key}",
                      params={"name": person.name, "due_date": state.valid_through.isoformat()},
                      outbox=ctx.outbox, clock=ctx.clock, policy=ctx.notification_policy,
                      person_id=person.person_id, phone=person.phone)


# -- other routes and passive certification ----------------------------------------------------


async def register_new_retiree(person_id: str, first_payment: date, *,
                               ctx: CertContext) -> CertState:
    """A new retiree's first deadline is the last day of the month of the first payment."""
    await _pensioner(person_id, ctx=ctx)
    state = CertState(person_id=person_id, valid_through=new_retiree_deadline(first_payment),
                      history=[{"at": ctx.clock.now().isoformat(), "day": first_payment.isoformat(),
                                "channel": Channel.INITIAL.value, "result": "first_deadline"}])
    if not await ctx.repo.create_state(state):
        raise Conflict("this person already has a certification record")
    return state


async def agent_certify(agent: Principal, person_id: str, kind: str, note: str,
                        signer: str | None, *, ctx: CertContext) -> CertState:
    """Home visit or office (no face), or a family member's signed commitment letter."""
    if kind not in ("home_visit", "office", "commitment"):
        raise ValidationFailed("kind is home_visit, office or commitment", field="kind")
    if len(note.strip()) < 4:
        raise ValidationFailed("an evidence note is required", field="note")
    if kind == "commitment" and not (ctx.config.commitment_allowed and signer):
        raise ValidationFailed("a commitment letter names the family member who signed it",
                               field="signer")
    channel = Channel.COMMITMENT if kind == "commitment" else Channel.AGENT
    text = f"{kind}: {note.strip()}" + (f" (承诺人: {signer})" if signer else "")
    return await certify(person_id, ctx.today(), channel, actor=agent.subject, on_behalf=None,
                         ctx=ctx, note=text)


SIGNAL_KINDS = ("medical_settlement", "card_use", "bank", "civil_affairs", "police", "death")


async def ingest_signal(*, source: str, record_id: str, person_id: str, kind: str, day: date,
                        ctx: CertContext) -> str:
    """A proof of life (or a death) from data held elsewhere. Idempotent by record id."""
    if kind not in SIGNAL_KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(SIGNAL_KINDS)}", field="kind")
    if day > ctx.today():
        raise ValidationFailed("a signal cannot be dated in the future", field="date")
    person = await _pensioner(person_id, ctx=ctx)
    if not await ctx.repo.claim_signal(source, record_id, {
            "person_id": person_id, "kind": kind, "day": day.isoformat(),
            "received_at": ctx.clock.now()}):
        return "duplicate"
    state = await ctx.repo.state(person_id)
    if kind == "death":
        if state is None:
            await ctx.repo.create_state(CertState(person_id=person_id, valid_through=day))
            state = await ctx.repo.state(person_id)
        assert state is not None
        await ctx.people.record_death(person_id, day)
        await _block(person, state, {"at": ctx.clock.now().isoformat(), "day": day.isoformat(),
                                     "channel": "passive", "actor": f"signal:{source}",
                                     "on_behalf": "", "note": "death record"},
                     ctx=ctx, suspend_from=Month.of(day).next())
        return "blocked"
    if state is not None and state.last_certified_on and day <= state.last_certified_on:
        return "ignored"  # older than the certification we already have
    if state is not None and state.status in (CertStatus.BLOCKED, CertStatus.PENDING_REVIEW):
        return "ignored"
    await certify(person_id, day, Channel.PASSIVE, actor=f"signal:{source}", on_behalf=None,
                  ctx=ctx, note=f"{kind} {record_id}")
    return "certified"


# -- payroll ------------------------------------------------------------------------------------

PAYROLL_COLUMNS = ("instruction", "person_id", "month", "monthly_fen", "backpay_months",
                   "backpay_fen")


async def payroll_rows(month: Month, *, ctx: CertContext) -> list[list[str]]:
    """The month's instructions for the payment system, with control totals last.
    Events are stored once each, so exporting a month twice gives the same file."""
    rows = [list(PAYROLL_COLUMNS)]
    totals = {"suspend": 0, "resume": 0, "backpay_fen": 0}
    for event in await ctx.repo.payroll_events(month):
        totals[event["kind"]] += 1
        totals["backpay_fen"] += int(event.get("amount_fen", 0))
        rows.append([event["kind"], event["person_id"], event["month"],
                     str(event.get("monthly_fen", 0)), ";".join(event.get("backpay_months", [])),
                     str(event.get("amount_fen", 0))])
    rows.append(["TOTAL", f"suspend={totals['suspend']}", f"resume={totals['resume']}",
                 f"rows={len(rows) - 1}", "", str(totals["backpay_fen"])])
    return rows
