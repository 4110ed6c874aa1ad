"""What a person reads before acting, from the server that checks it: the face-check
notice and the cross-region filing guide. Public: nothing personal, and a client needs
them before its person has logged in."""

from __future__ import annotations

from typing import ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Operation, Resp
from api.schemas.guides import (
    CommitmentLetter,
    ConsentNotice,
    FilingCategoryGuide,
    FilingField,
    FilingGuide,
)
from medical_insurance import service as filings
from medical_insurance.service import FilingContext
from pension_cert import service as cert
from pension_cert.context import CertContext


class ConsentNoticeHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    ctx: CertContext
    openapi: ClassVar = {"get": Operation(
        "get_consent_notice", "人脸识别告知书", "同意人脸识别前要显示的告知书；同意时带回它的版本，"
        "旧版本会被拒绝（CONSENT_NOTICE_OUTDATED）。", ("养老金资格认证",),
        {200: Resp("告知书", ConsentNotice)})}

    async def get(self) -> ConsentNotice:
        notice = cert.notice_of(self.ctx)
        return ConsentNotice(version=notice.version, title=notice.title,
                             paragraphs=list(notice.paragraphs), purpose=notice.purpose,
                             retention=notice.retention, other_routes=notice.other_routes)


class FilingGuideHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    ctx: FilingContext
    openapi: ClassVar = {"get": Operation(
        "get_filing_guide", "异地就医备案指南", "备案类别、每类要填的内容和个人承诺书；备案时带回"
        "承诺书的版本，旧版本会被拒绝。", ("异地就医备案",),
        {200: Resp("备案类别与承诺书", FilingGuide)})}

    async def get(self) -> FilingGuide:
        found = filings.filing_guide(ctx=self.ctx)
        letter = found.letter
        return FilingGuide(
            categories=[FilingCategoryGuide(
                category=c.category, name=c.name, who=c.who, long_term=c.long_term,
                commitment=c.commitment, pensioners_only=c.pensioners_only,
                fields=[FilingField(field=f.field, label=f.label, placeholder=f.placeholder,
                                    required=f.required) for f in c.fields])
                for c in found.categories],
            commitment=CommitmentLetter(version=letter.version, title=letter.title,
                                        paragraphs=list(letter.paragraphs)),
            temporary_months=found.temporary_months)


routes: list[Route] = [
    (r"/v1/pension/consent-notice", ConsentNoticeHandler, {"context": "cert"}),
    (r"/v1/medical/filing-guide", FilingGuideHandler, {"context": "filings"}),
]
