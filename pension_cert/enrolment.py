"""Reference templates: encode an official photo, keep only the sealed encoding, and
delete templates once the consent text no longer covers keeping them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import ValidationFailed
from pension_cert import face
from pension_cert.check_model import PhotoRejected
from pension_cert.context import CertContext, pensioner
from pension_cert.model import CertState, NotAPensioner
from pension_cert.templates import seal
from people.model import IdNumber

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


async def enroll_reference(person_id: str, photo: bytes, *, source: str, actor: str,
                           ctx: CertContext) -> None:
    """Encode an official photo and keep only the sealed encoding; the photo is dropped."""
    person = await pensioner(person_id, ctx=ctx)
    problem, encoding = await ctx.pool.run(face.encode_photo, photo, ctx.config.face)
    if problem or encoding is None:
        raise PhotoRejected(problem or "no encoding", field="photo", problem=problem)
    blob = seal(encoding, key=ctx.template_key, person_id=person_id)
    consent = await ctx.repo.consent(person_id)
    await ctx.repo.save_template(person_id, blob, person.region_code, source, ctx.clock.now(),
                                 consented=consent is not None and consent.given)
    await ctx.audit.record(actor=actor, action="template.enroll", object=person_id,
                           outcome="ok", source=source)


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


def template_expired(state: CertState | None, ctx: CertContext) -> bool:
    """Kept during the certification's validity and ``template_retention`` after it, or
    that long after a recorded death (what the consent text promises)."""
    if state is None:
        return False
    ended = state.death_date if state.death_date is not None else state.valid_through
    return ended + ctx.config.template_retention < ctx.today()


async def purge_expired_templates(*, ctx: CertContext) -> int:
    """Delete the templates the consent text no longer lets us keep."""
    purged = 0
    async for person_ids in ctx.repo.template_owners():
        states = await ctx.repo.states(person_ids)
        for person_id in person_ids:
            if template_expired(states.get(person_id), ctx):
                purged += await ctx.repo.delete_template(person_id, ctx.clock.now())
    return purged
