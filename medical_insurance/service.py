"""Filing use cases: file, change, cancel, review, expire; hospital
verification; settlement records (forwarded to pension passive certification). The
reads (an agent's search, a person's filings, the certificate) live in ``queries`` and are
re-exported here, so callers find every filing use case in this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from auth.model import Principal, Role
from common.audit import AuditLog
from common.clock import Clock, as_utc, local_date
from common.errors import Conflict, PreconditionFailed, ValidationFailed
from common.guard import Guard
from medical_insurance.guide import FilingGuide, category_guides, commitment_letter
from medical_insurance.model import (
    CATEGORY_NAMES,
    RULES,
    AfterDischarge,
    Commitment,
    Destination,
    Filing,
    FilingConfig,
    FilingDraft,
    FilingEdit,
    FilingInvalid,
    FilingNotFound,
    LongTermFilingExists,
    Status,
    check_change_lock,
    check_transition,
    end_date_for,
)
from medical_insurance.queries import Certificate as Certificate
from medical_insurance.queries import certificate_code as certificate_code
from medical_insurance.queries import certificate_of as certificate_of
from medical_insurance.queries import code_is_genuine as code_is_genuine
from medical_insurance.queries import filings_of as filings_of
from medical_insurance.queries import search_filings as search_filings
from medical_insurance.repository import FilingRepository
from notifications.model import OutboxMessage
from notifications.service import Notifier
from notifications.templates import (
    FILING_CANCELLED,
    FILING_CHANGED,
    FILING_CREATED,
    FILING_EXPIRING,
    FILING_REJECTED,
)
from pension_cert import service as pension
from people.model import Person, PersonNotFound, PersonType
from people.repository import PeopleRepository


@dataclass
class FilingContext:
    repo: FilingRepository
    people: PeopleRepository
    notifier: Notifier
    clock: Clock
    guard: Guard
    audit: AuditLog
    certificate_key: bytes
    cert: pension.CertContext
    config: FilingConfig = field(default_factory=FilingConfig)

    def today(self) -> date:
        return local_date(self.clock.now())


def _slot(person_id: str) -> str:
    # A person holds one long-term filing: there are no partial unique indexes, so the
    # slot is a guard claim owned by the filing that holds it.
    return f"filing-longterm:{person_id}"


async def file(principal: Principal, person_id: str, draft: FilingDraft, *, channel: str,
               on_behalf: str | None, filing_id: str, ctx: FilingContext) -> Filing:
    """Make a filing. It takes effect at once unless its category needs review.

    ``filing_id`` comes from the request's (actor, Idempotency-Key): a create retried
    after a crash, at any point, finds the filing it made and answers with it.
    """
    earlier = await ctx.repo.get(filing_id)
    if earlier is not None:
        await ctx.repo.finish_listing(filing_id)
        return earlier
    person = await ctx.people.get(person_id)
    if person is None:
        raise PersonNotFound(person_id)
    category = draft.category
    rule = RULES[category]
    destination = _destination(draft.destination)
    if destination.city_code[:4] == person.region_code[:4]:
        raise FilingInvalid("the destination is the insured region itself",
                            field="destination.city_code")
    if rule.pensioners_only and person.person_type not in (PersonType.RETIREE,
                                                          PersonType.SURVIVOR):
        raise FilingInvalid("resettled-retiree filings are for retirees", field="category")
    today = ctx.today()
    start = _start_date(draft.start_date, today, required=True)
    assert start is not None
    details = {name: _required_text(draft, name) for name in rule.required}
    hospital = details.pop("hospital", None) or draft.text("hospital")
    commitment = _commitment(draft.commitment, rule.commitment, ctx.config)
    late = _late(draft, today)
    status = Status.EFFECTIVE
    if rule.review_without:
        reference = draft.text(rule.review_without)
        if reference:
            details[rule.review_without] = reference
        else:
            status = Status.PENDING_REVIEW  # a referral without the hospital's transfer proof
    now = ctx.clock.now()
    filing = Filing(
        filing_id=filing_id, person_id=person_id, category=category,
        destination=destination, start_date=start, end_date=end_date_for(category, start,
                                                                          ctx.config),
        status=status, channel=channel, actor=principal.subject, created_at=now,
        on_behalf=on_behalf, hospital=hospital, details=details,
        commitment_version=commitment, late=late,
        history=[{"at": now.isoformat(), "event": "file", "actor": principal.subject,
                  "on_behalf": on_behalf, "status": status.value}],
    )
    if rule.long_term and not await ctx.guard.claim(_slot(person_id), owner=filing.filing_id):
        await _take_stale_slot(person_id, filing.filing_id, today, ctx=ctx)
    if not await ctx.repo.add(filing, person.region_code):
        stored = await ctx.repo.get(filing_id)  # a retry of the same create got here first
        assert stored is not None
        return stored
    await ctx.audit.record(actor=principal.subject, action="filing.create",
                           object=filing.filing_id, outcome=status.value,
                           on_behalf_of=on_behalf, category=category.value)
    await _notify(person, filing, FILING_CREATED, ctx=ctx,
                  state="生效" if status is Status.EFFECTIVE else "提交，等待审核")
    return filing


SLOT_GRACE = timedelta(seconds=30)  # time a slot's winner has to store its filing


async def _take_stale_slot(person_id: str, filing_id: str, today: date, *,
                           ctx: FilingContext) -> None:
    """The long-term slot is taken. Refuse, unless its filing has ended (or never got
    stored by a request that died), in which case this filing takes the slot over."""
    holder = await ctx.guard.holder(_slot(person_id)) or {}
    owner = str(holder.get("owner"))
    if owner == filing_id:
        return  # taken by an earlier try of this very create
    existing = await ctx.repo.get(owner)
    if existing is not None and existing.status_on(today) in (Status.EFFECTIVE,
                                                              Status.PENDING_REVIEW):
        raise LongTermFilingExists("a long-term filing exists",
                                   existing_filing_id=existing.filing_id,
                                   destination=existing.destination.name)
    claimed_at = holder.get("claimed_at")
    if existing is None and claimed_at is not None and (
            as_utc(claimed_at) + SLOT_GRACE > ctx.clock.now()):
        raise LongTermFilingExists("a long-term filing is being made right now")
    await ctx.guard.release(_slot(person_id), owner=owner)  # only that stale claim
    if not await ctx.guard.claim(_slot(person_id), owner=filing_id):
        raise LongTermFilingExists("a long-term filing exists")


def _destination(codes: tuple[str, str] | None) -> Destination:
    if codes is None:
        raise FilingInvalid("destination needs province_code and city_code",
                            field="destination")
    return Destination.of(*codes)


def _required_text(draft: FilingDraft, name: str) -> str:
    value = draft.text(name)
    if value is None:
        raise FilingInvalid(f"{name} is required for this category", field=name)
    return value


def filing_guide(*, ctx: FilingContext) -> FilingGuide:
    """What a person reads before filing: the categories, their fields and the letter of
    the version this service accepts."""
    return FilingGuide(categories=tuple(category_guides()),
                       letter=commitment_letter(ctx.config.commitment_version),
                       temporary_months=ctx.config.temporary_months)


def _commitment(commitment: Commitment | None, needed: bool,
                config: FilingConfig) -> str | None:
    if not needed:
        return None
    if commitment is None or commitment.accepted is not True:
        raise FilingInvalid("read and accept the personal commitment (承诺书)",
                            field="commitment")
    version = commitment.version or ""
    if version != config.commitment_version:
        raise FilingInvalid("the commitment text has changed; read it again",
                            field="commitment.version")
    return version


def _late(draft: FilingDraft, today: date) -> bool:
    admitted, discharged = draft.admission_date, draft.discharge_date
    if discharged is not None and discharged <= today:
        raise AfterDischarge("after discharge the claim is made by hand at home",
                             field="discharge_date")
    return admitted is not None and admitted <= today


async def get_filing(filing_id: str, *, ctx: FilingContext) -> Filing:
    filing = await ctx.repo.get(filing_id)
    if filing is None:
        raise FilingNotFound(filing_id)
    return filing


async def move(principal: Principal, filing: Filing, event: str, expected_version: int, *,
               edit: FilingEdit, on_behalf: str | None, ctx: FilingContext) -> Filing:
    """change, cancel (person, family or agent); approve, reject (agent)."""
    today = ctx.today()
    target = check_transition(filing, event, today)
    if event in ("change", "cancel"):
        check_change_lock(filing, today, ctx.config)
    if event in ("approve", "reject") and principal.role not in (Role.AGENT, Role.ADMIN):
        raise Conflict("only an agent reviews a filing", current_state=filing.status.value)
    if expected_version != filing.version:
        raise PreconditionFailed("stale", current_etag=f'"v{filing.version}"')
    updated = _apply(filing, event, target, edit, ctx.config, today)
    updated.history = [*filing.history, {
        "at": ctx.clock.now().isoformat(), "event": event, "actor": principal.subject,
        "on_behalf": on_behalf, "status": target.value,
        **({"reason": (edit.reason or "")[:200]} if event == "reject" else {})}]
    updated.version = filing.version + 1
    person = await ctx.people.get(filing.person_id)
    kind = {"change": FILING_CHANGED, "cancel": FILING_CANCELLED, "reject": FILING_REJECTED,
            "approve": FILING_CREATED}.get(event)
    notice = await _notice(person, updated, kind, ctx=ctx, state="生效",
                           reason=edit.reason or "材料不全") \
        if person and kind else None
    updated.version = await ctx.repo.step(filing, updated, ctx.notifier.derived(notice))
    if filing.long_term and target in (Status.CANCELLED, Status.REJECTED):
        await ctx.guard.release(_slot(filing.person_id), owner=filing.filing_id)
    await ctx.audit.record(actor=principal.subject, action=f"filing.{event}",
                           object=filing.filing_id, outcome=target.value,
                           on_behalf_of=on_behalf)
    return updated


def _start_date(start: date | None, today: date, *, required: bool) -> date | None:
    """A filing starts within 90 days from today, and at most a year back (a stay that
    began earlier is filed from today: it takes effect when it is made)."""
    if start is None and required:
        raise FilingInvalid("start_date is required", field="start_date")
    if start is not None and not today - timedelta(days=365) <= start <= today + timedelta(
            days=90):
        raise FilingInvalid("a filing starts within 90 days, and at most a year back",
                            field="start_date")
    return start


def _apply(filing: Filing, event: str, target: Status, edit: FilingEdit,
           config: FilingConfig, today: date) -> Filing:
    updated = Filing(**{**filing.__dict__, "status": target})
    if event != "change":
        return updated
    if edit.destination is not None:
        updated.destination = Destination.of(*edit.destination)
    start = _start_date(edit.start_date, today, required=False)
    if start is not None:
        updated.start_date = start
        updated.end_date = end_date_for(filing.category, start, config)
    hospital = edit.hospital.strip() if edit.hospital else None
    if hospital:
        updated.hospital = hospital
    if updated == filing or (updated.destination == filing.destination
                             and updated.start_date == filing.start_date
                             and updated.hospital == filing.hospital):
        raise ValidationFailed("nothing to change", field="destination")
    return updated


def _notice_params(person: Person, filing: Filing, extra: dict[str, str]) -> dict[str, str]:
    return {"name": person.name, "category": CATEGORY_NAMES[filing.category],
            "place": filing.destination.name,
            "end_date": filing.end_date.isoformat() if filing.end_date else "长期", **extra}


async def _notice(person: Person, filing: Filing, kind: str, *, ctx: FilingContext,
                  **extra: str) -> OutboxMessage | None:
    """The notice of a filing's version (its dedupe key names the version)."""
    return await ctx.notifier.message(
        kind, f"{kind}:{filing.filing_id}:v{filing.version}",
        _notice_params(person, filing, extra), person_id=person.person_id, phone=person.phone)


async def _notify(person: Person, filing: Filing, kind: str, *, ctx: FilingContext,
                  **extra: str) -> None:
    await ctx.notifier.notify(kind, f"{kind}:{filing.filing_id}:v{filing.version}",
                              _notice_params(person, filing, extra),
                              person_id=person.person_id, phone=person.phone)


async def daily(*, ctx: FilingContext, today: date | None = None) -> dict[str, int]:
    """Mark expired temporary filings and tell people a week before theirs run out."""
    today = today or ctx.today()
    counts = {"expired": 0, "noticed": 0}
    for filing in await ctx.repo.effective_temporary():
        assert filing.end_date is not None
        person = await ctx.people.get(filing.person_id)
        if filing.status_on(today) is Status.EXPIRED:
            try:
                await ctx.repo.step(filing, Filing(**{**filing.__dict__,
                                                      "status": Status.EXPIRED}))
            except PreconditionFailed:
                continue  # changed meanwhile; the next run looks again
            counts["expired"] += 1
        elif (filing.end_date - today).days == ctx.config.expiry_notice_days and person:
            await _notify(person, filing, FILING_EXPIRING, ctx=ctx)
            counts["noticed"] += 1
    return counts


# -- verification and settlements ----------------------------------------------------------


async def verify_coverage(*, institution: str, id_number: str, province: str, city: str,
                          day: date, ctx: FilingContext) -> dict[str, Any]:
    """For hospitals: is this person covered here on this day, under which category, until
    when? Every call is audited."""
    person = await ctx.people.find_by_id_number(id_number)
    filings = await ctx.repo.of_person(person.person_id) if person else []
    covering = next((f for f in filings if f.covers(province, city, day)), None)
    await ctx.audit.record(actor=f"service:{institution}", action="filing.verify",
                           object=person.person_id if person else "unknown",
                           outcome="covered" if covering else "not_covered",
                           place=f"{province}/{city}", day=day.isoformat())
    if covering is None:
        return {"covered": False}
    return {"covered": True, "category": covering.category.value,
            "category_name": CATEGORY_NAMES[covering.category],
            "valid_from": covering.start_date.isoformat(),
            "valid_until": covering.end_date.isoformat() if covering.end_date else None,
            "late_filing": covering.late}


async def record_settlement(*, settlement_no: str, id_number: str, day: date,
                            institution: str, amount_fen: int, source: str,
                            ctx: FilingContext) -> str:
    """Store a direct-settlement record (idempotent by number) and pass it to pension
    certification as proof of life."""
    if amount_fen < 0:
        raise ValidationFailed("amount_fen cannot be negative", field="amount_fen")
    person = await ctx.people.find_by_id_number(id_number)
    if person is None:
        raise PersonNotFound(id_number)
    stored = await ctx.repo.add_settlement({
        "settlement_no": settlement_no, "person_id": person.person_id, "day": day.isoformat(),
        "institution": institution, "amount_fen": amount_fen, "source": source,
        "received_at": ctx.clock.now()})
    if not stored:
        return "duplicate"
    if person.person_type in (PersonType.RETIREE, PersonType.SURVIVOR):
        await pension.ingest_signal(source="settlement", record_id=settlement_no,
                                    person_id=person.person_id, kind="medical_settlement",
                                    day=min(day, ctx.today()), ctx=ctx.cert, place=institution)
    return "stored"
