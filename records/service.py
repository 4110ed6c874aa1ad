"""Use cases of contribution records: the feed (CSV import and the API), and the views.

An import goes in batches. Each batch finds its people by ID number, reads what they
already have, and sorts every row into: new, a correction (a new source record for a
month and type already recorded: stored as the next version, counted, never silent),
unchanged (the same source record again) or refused (an unknown person, or a source
record id resent with other values). Bad rows are reported line by line and never stop
the good ones.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from auth.model import Principal
from common.audit import AuditLog
from common.clock import Clock, local_date
from common.errors import DomainError
from common.signed_codes import CodeSigner
from people.repository import PeopleRepository
from records.model import (
    Contribution,
    ContributionRow,
    InsuranceType,
    InvalidContribution,
    SourceRecordConflict,
    parse_row,
)
from records.repository import ContributionRepository, ProofRepository

BATCH = 1000
# Rounds of version claims in one batch: enough for a month corrected again and
# again in one file, or raced by concurrent imports.
MAX_VERSION_ROUNDS = 50


@dataclass(frozen=True)
class RecordsContext:
    contributions: ContributionRepository
    proofs: ProofRepository
    people: PeopleRepository
    clock: Clock
    signer: CodeSigner  # the codes printed on proofs of insurance
    audit: AuditLog


@dataclass
class ContributionReport:
    stored: int = 0
    corrected: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, str | None]] = field(default_factory=list)

    def rejected_by_code(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, reason, _ in self.rejected:
            counts[reason] += 1
        return dict(counts)


async def import_contributions(rows: Iterable[tuple[int, Mapping[str, str]]], *,
                               ctx: RecordsContext,
                               on_batch: Callable[[int], None] = lambda n: None
                               ) -> ContributionReport:
    """Rows paired with their line numbers; returns what happened to each."""
    report = ContributionReport()
    today = local_date(ctx.clock.now())
    batch: list[tuple[int, ContributionRow]] = []
    for line, raw in rows:
        try:
            batch.append((line, parse_row(raw, today)))
        except InvalidContribution as error:
            report.rejected.append((line, error.detail, error.field))
        if len(batch) >= BATCH:
            await _import_batch(batch, report, ctx)
            on_batch(len(batch))
            batch = []
    if batch:
        await _import_batch(batch, report, ctx)
        on_batch(len(batch))
    return report


async def feed_contribution(raw: Mapping[str, str], *, ctx: RecordsContext) -> str:
    """One row from the API feed: "stored", "corrected" or "unchanged"; a bad row raises."""
    report = ContributionReport()
    row = parse_row(raw, local_date(ctx.clock.now()))
    await _import_batch([(1, row)], report, ctx)
    if report.rejected:
        _, detail, field_name = report.rejected[0]
        if field_name == "source_record_id":
            raise SourceRecordConflict(detail, field="source_record_id")
        raise InvalidContribution(detail, field=field_name)
    return "corrected" if report.corrected else "stored" if report.stored else "unchanged"


async def _import_batch(batch: Sequence[tuple[int, ContributionRow]],
                        report: ContributionReport, ctx: RecordsContext) -> None:
    people = await _people_of(batch, ctx)
    ids = sorted(set(people.values()))
    history = dict(zip(ids, await asyncio.gather(
        *[ctx.contributions.of_person(pid) for pid in ids]), strict=True))
    new: list[tuple[int, Contribution]] = []
    for line, row in batch:
        person_id = people.get(row.id_number)
        if person_id is None:
            report.rejected.append((line, "no insured person has this ID number", "id_number"))
            continue
        known = {r.source_record_id: r for r in history[person_id]}
        if row.source_record_id in known:
            _same_or_refuse(line, row, known[row.source_record_id], report)
            continue
        record = _versioned(row, person_id)
        history[person_id].append(record)
        new.append((line, record))
    await _store(new, report, ctx)


async def _people_of(batch: Sequence[tuple[int, ContributionRow]], ctx: RecordsContext
                     ) -> dict[str, str]:
    numbers = sorted({row.id_number for _, row in batch})
    people = await asyncio.gather(*[ctx.people.find_by_id_number(n) for n in numbers])
    return {n: p.person_id for n, p in zip(numbers, people, strict=True) if p is not None}


def _same_or_refuse(line: int, row: ContributionRow, stored: Contribution,
                    report: ContributionReport) -> None:
    if row.same_values(stored):
        report.unchanged += 1
    else:
        report.rejected.append((line, "this source record id was imported before with "
                                "another month, type or amount; send a correction under "
                                "a new source record id", "source_record_id"))


def _versioned(row: ContributionRow, person_id: str) -> Contribution:
    """The row as a record; its version is found when claimed (``_claim_versions``)."""
    return Contribution(
        person_id=person_id, source_record_id=row.source_record_id, month=row.month,
        insurance_type=row.insurance_type, base_fen=row.base_fen,
        employer_fen=row.employer_fen, personal_fen=row.personal_fen, payer=row.payer,
        version=1)


async def _store(new: list[tuple[int, Contribution]], report: ContributionReport,
                 ctx: RecordsContext) -> None:
    """Claim each row's version first, then store the rows under their source ids and
    list them per person. A source id stored already (by a concurrent import, or before a
    crash but not yet listed) is listed when it is the same record, and refused
    otherwise."""
    claimed = await _claim_versions([record for _, record in new], ctx)
    for (line, _), record in zip(new, claimed, strict=True):
        if record is None:
            report.rejected.append((line, "this month and type is being corrected by "
                                    "another import; send the row again", "month"))
    new = [(line, record) for (line, _), record in zip(new, claimed, strict=True)
           if record is not None]
    records = [record for _, record in new]
    existed = await ctx.contributions.store(records, ctx.clock.now())
    earlier = await ctx.contributions.by_source(
        [records[i].source_record_id for i in existed])
    to_list: dict[str, list[Contribution]] = defaultdict(list)
    unused: list[Contribution] = []  # version claims no stored row stands behind
    for i, record in enumerate(records):
        if i in existed:
            stored = earlier.get(record.source_record_id)
            if stored is None or stored.person_id != record.person_id or not _same(
                    record, stored):
                report.rejected.append((new[i][0], "this source record id was imported "
                                        "before with another person or values",
                                        "source_record_id"))
                unused.append(record)
                continue
            if stored.version != record.version:
                unused.append(record)  # the row stored earlier keeps its own version
            record = stored
        to_list[record.person_id].append(record)
        report.stored += 1
        report.corrected += record.version > 1
    await ctx.contributions.release_versions(unused)
    await asyncio.gather(*[ctx.contributions.list_for(person_id, rows)
                           for person_id, rows in to_list.items()])


async def _claim_versions(records: Sequence[Contribution], ctx: RecordsContext
                          ) -> list[Contribution | None]:
    """Give each record the lowest version of its month and type that no other source
    record holds, by claiming it (an insert). Probing from version 1 finds a claim this
    very record made before a crash, so a resent row keeps its place and never leaves
    an empty version behind. Rows of one month and type in the same batch take their
    versions in line order. None: still contested after ``MAX_VERSION_ROUNDS``."""
    records = list(records)
    settled: list[Contribution | None] = [None] * len(records)
    last_settled: dict[tuple[str, str, str], int] = {}
    pending = list(range(len(records)))
    for _ in range(MAX_VERSION_ROUNDS):
        if not pending:
            break
        now: list[int] = []
        later: list[int] = []
        keys: set[tuple[str, str, str]] = set()
        for i in pending:  # one row per month and type a round, in line order
            key = _version_key(records[i])
            (later if key in keys else now).append(i)
            keys.add(key)
        held = await ctx.contributions.claim_versions([records[i] for i in now])
        contested: list[int] = []
        for j, i in enumerate(now):
            if j in held and held[j] != records[i].source_record_id:
                records[i] = replace(records[i], version=records[i].version + 1)
                contested.append(i)
            else:
                settled[i] = records[i]
                last_settled[_version_key(records[i])] = records[i].version
        for i in later:
            after = last_settled.get(_version_key(records[i]), 0) + 1
            records[i] = replace(records[i], version=max(records[i].version, after))
        pending = sorted(contested + later)
    return settled


def _version_key(record: Contribution) -> tuple[str, str, str]:
    return (record.person_id, str(record.month), record.insurance_type.value)


def _same(a: Contribution, b: Contribution) -> bool:
    return (a.month, a.insurance_type, a.base_fen, a.employer_fen, a.personal_fen,
            a.payer) == (b.month, b.insurance_type, b.base_fen, b.employer_fen,
                         b.personal_fen, b.payer)


# -- views ---------------------------------------------------------------------------------


async def contributions_of(person_id: str, *, ctx: RecordsContext) -> list[Contribution]:
    """The person's records, all versions; the caller has checked who may read them."""
    return await ctx.contributions.of_person(person_id)


async def read_contributions(viewer: Principal, person_id: str, *, client_ip: str,
                             on_behalf: str | None, ctx: RecordsContext
                             ) -> list[Contribution]:
    """The records for whoever may read them; a look-up by anyone but the person (an
    agent, family) is audited."""
    records = await contributions_of(person_id, ctx=ctx)
    if viewer.person_id != person_id:
        await ctx.audit.record(actor=viewer.subject, action="contributions.read",
                               object=person_id, outcome=str(len(records)),
                               client_ip=client_ip, on_behalf_of=on_behalf)
    return records


def types_paid(records: Sequence[Contribution]) -> list[InsuranceType]:
    return [kind for kind in InsuranceType
            if any(r.insurance_type is kind and r.paid_fen > 0 for r in records)]


__all__ = ["ContributionReport", "DomainError", "RecordsContext", "contributions_of",
           "feed_contribution", "import_contributions", "read_contributions", "types_paid"]
