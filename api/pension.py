"""Pension certification routes: consent, reference photo, challenge and frames, status,
agent and commitment routes, passive signals, review cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar

from tornado.httputil import HTTPFile, parse_body_arguments

from api.base import BaseHandler, BodyLimit, HandlerKind, Route
from api.contract import NO_CONTENT, Link, Operation, Reply, Resp
from api.messages import message_for
from api.schemas.pension import (
    AgentCertification,
    AttemptView,
    CaptureHints,
    CaseList,
    CaseView,
    CertStatusView,
    ChallengeRequest,
    ChallengeStarted,
    CheckOutcome,
    ConsentDecision,
    ConsentEntry,
    ConsentRecorded,
    ConsentView,
    FaceReasonView,
    HistoryEntry,
    ReviewDecision,
    Signal,
    SignalOutcome,
)
from auth.access import Action
from auth.model import Forbidden
from pension_cert import service as cert
from pension_cert.check_model import Attempt, FacePoolBusy, FramesInvalid
from pension_cert.context import CertContext
from pension_cert.model import CertState
from people.model import IdNumber, InvalidIdNumber, PersonNotFound

TAG = ("养老金资格认证",)
CAPTURE_FPS = 15  # what the liveness rules were calibrated at (docs/face.md)
SECONDS_PER_ACTION = 2.0
FRAMES_BODY = {
    "type": "object", "required": ["nonce", "frames"],
    "properties": {
        "nonce": {"type": "string", "description": "发起认证时得到的一次性随机数"},
        "frames": {"type": "array", "minItems": 15, "maxItems": 90,
                   "description": "按拍摄顺序的 JPEG 画面（每张不超过 100 KB，约每秒 15 张）；"
                                  "也可以命名为 frame000、frame001……",
                   "items": {"type": "string", "contentMediaType": "image/jpeg"}}},
}
PHOTO_BODY = {"type": "string", "contentMediaType": "image/jpeg",
              "description": "一张只有本人、脸部清晰的正面照片（JPEG 或 PNG）"}


def status_view(state: CertState | None, today: date,
                attempts: Sequence[Attempt] = ()) -> CertStatusView:
    seen = [AttemptView(at=a.at, channel=a.channel, result="pass" if a.result == "pass"
                        else "fail", reason=a.reason) for a in attempts]
    if state is None:
        return CertStatusView(status="not_started", valid_through=None, history=[],
                              attempts=seen)
    return CertStatusView(
        status=state.status_on(today).value, valid_through=state.valid_through,
        last_certified_on=state.last_certified_on,
        suspended_from=str(state.suspended_from) if state.suspended_from else None,
        history=[HistoryEntry.model_validate(h) for h in state.history[-20:]],
        attempts=seen)


def outcome_view(result: cert.CheckResult, today: date) -> CheckOutcome:
    """Pass with the new validity, or the reason and what to do next (never a score)."""
    if result.passed:
        assert result.state is not None
        return CheckOutcome(
            result="pass", status=status_view(result.state, today),
            pending_review=result.pending_review,
            message=message_for("FACE_PASSED" if not result.pending_review
                                else "FACE_PENDING_REVIEW"))
    code = f"FACE_{result.reason}"
    return CheckOutcome(
        result="fail", reason=FaceReasonView.model_validate(
            {"code": code, "message": message_for(code)}),
        attempts_left=result.attempts_left,
        other_routes=None if result.attempts_left else cert.OTHER_ROUTES)


def consent_view(found: cert.ConsentView) -> ConsentView:
    consent = found.consent
    return ConsentView(
        status=found.status, has_reference=found.has_reference,
        notice_version=consent.latest.notice_version if consent else None,
        history=[ConsentEntry(status=e.status, at=e.at, notice_version=e.notice_version,
                              purpose=e.purpose, retention=e.retention, channel=e.channel,
                              paper_reference=e.paper_reference)
                 for e in (consent.history if consent else ())])


class PensionHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: CertContext

    async def allowed(self, person_id: str, action: Action = Action.PENSION_CERT) -> str | None:
        # Someone else's pensioner reads exactly like one who does not exist.
        return await self.authorize(action, person_id, PersonNotFound(person_id))


class ConsentHandler(PensionHandler):
    openapi: ClassVar = {
        "get": Operation("get_face_consent", "查看人脸识别同意", "本人、获授权家属或坐席查看"
                         "同意记录与是否已有登记照片。", TAG,
                         {200: Resp("人脸识别同意记录", ConsentView)}, errors=(PersonNotFound,)),
        "post": Operation("decide_face_consent", "同意、拒绝或撤回人脸识别",
                          "本人作出决定；撤回即删除模板；坐席只能登记本人签署的纸质同意书。", TAG,
                          {200: Resp("已记录", ConsentRecorded)}, body=ConsentDecision,
                          errors=(PersonNotFound, cert.NotAPensioner, cert.ConsentIsPersonal,
                                  cert.NoticeOutdated)),
    }

    async def get(self, person_id: str) -> ConsentView:
        await self.allowed(person_id)
        return consent_view(await cert.consent_of(person_id, ctx=self.ctx))

    async def post(self, person_id: str) -> ConsentRecorded:
        await self.allowed(person_id)
        decision = self.body(ConsentDecision)
        entry = await cert.record_consent(
            self.me, person_id, decision.decision, ctx=self.ctx,
            notice_version=decision.notice_version,
            paper_reference=decision.paper_reference, reason=decision.reason)
        return ConsentRecorded(status=entry.status, notice_version=entry.notice_version,
                               other_routes=cert.OTHER_ROUTES)


class ReferencePhotoHandler(PensionHandler):
    """An agent uploads an official photo; only its sealed encoding is kept."""

    body_limit = BodyLimit.UPLOAD
    openapi: ClassVar = {"post": Operation(
        "upload_reference_photo", "登记参保人照片", "坐席上传官方照片；只保存加密的特征值，"
        "照片当即丢弃。", TAG, {204: Resp("已登记")}, body_content="image/jpeg",
        body_schema=PHOTO_BODY,
        errors=(cert.PhotoRejected, Forbidden, PersonNotFound, FacePoolBusy))}

    async def post(self, person_id: str) -> Reply:
        await self.allowed(person_id)
        self.require_agent()
        photo = self.body_bytes()
        try:
            await cert.enroll_reference(person_id, photo, source="agent_upload",
                                        actor=self.me.subject, ctx=self.ctx)
        finally:
            del photo  # nothing of the image outlives the request
        return NO_CONTENT


class ChallengesHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "start_face_challenge", "发起人脸认证", "给出一次性随机数和两个随机动作（其中一个是转头），"
        "120 秒内提交画面。本人或有养老金认证授权的家属可发起；每人同时只有一个进行中的认证，"
        "每天发起和提交不合格画面合计 5 次。", TAG,
        {201: Resp("动作挑战（含一次性随机数）", ChallengeStarted)}, body=ChallengeRequest,
        idempotent_create=True,
        links={"submit_frames": Link("submit_face_frames",
                                     {"challenge_id": "$response.body#/challenge_id"},
                                     "提交这次挑战的画面")},
        errors=(cert.ConsentRequired, cert.NoReference, cert.AttemptsExhausted,
                cert.ChallengeOpen, cert.NotAPensioner, cert.CertificationBlocked,
                PersonNotFound, cert.FaceCheckIsSelfService, cert.WrongFaceProvider))}

    async def post(self) -> Reply:
        person_id = self.body(ChallengeRequest).person_id
        on_behalf = await self.allowed(person_id)

        async def start(seed: str) -> Reply:
            challenge = await cert.start_challenge(self.me, person_id, on_behalf=on_behalf,
                                                   challenge_id="CH" + seed[:20], ctx=self.ctx)
            config = self.ctx.config
            seconds = min(SECONDS_PER_ACTION * len(challenge.actions),
                          config.max_frames / CAPTURE_FPS)
            return Reply(ChallengeStarted(
                challenge_id=challenge.challenge_id, nonce=challenge.nonce,
                actions=list(challenge.actions), expires_in=challenge.expires_in,
                capture=CaptureHints(fps=CAPTURE_FPS, seconds=seconds, width=640, height=480,
                                     max_frame_bytes=config.max_frame_bytes,
                                     max_frames=config.max_frames)), 201)

        # The nonce is not kept in the idempotency store: a retry asks the service again.
        return await self.create_idempotently(start, keep_body=False)


class FramesHandler(PensionHandler):
    """multipart/form-data: ``nonce`` and the JPEG frames, in capture order."""

    body_limit = BodyLimit.UPLOAD
    openapi: ClassVar = {"post": Operation(
        "submit_face_frames", "提交认证画面", "服务端检查活体动作与登记照片，回答通过，"
        "或不通过的原因与下一步建议（不含分数）。", TAG,
        {200: Resp("认证结果", CheckOutcome)}, body_content="multipart/form-data",
        body_schema=FRAMES_BODY,
        errors=(cert.ChallengeNotFound, cert.NonceRefused, cert.NonceExpired, cert.NonceUsed,
                cert.FramesInvalid, cert.AttemptsExhausted, FacePoolBusy))}

    async def post(self, challenge_id: str) -> CheckOutcome:
        nonce, frames = self._form()
        result = await cert.submit_frames(self.me, challenge_id, nonce, frames, ctx=self.ctx)
        return outcome_view(result, self.ctx.today())

    def _form(self) -> tuple[str, list[bytes]]:
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        parse_body_arguments(self.request.headers.get("Content-Type", ""), self.body_bytes(),
                             arguments, files, self.request.headers)
        nonce = (arguments.get("nonce") or [b""])[0].decode(errors="replace")
        frames = [f.body for name in sorted(files, key=_frame_order) for f in files[name]]
        if not nonce or not frames:
            raise FramesInvalid("send the nonce and the frames as multipart", field="frames")
        return nonce, frames


def _frame_order(name: str) -> tuple[int, str, str]:
    """Frames in capture order by the number in their part name (frame002 before frame010),
    compared as digit strings: a part name of thousands of digits is no number to parse."""
    digits = "".join(c for c in name if c.isdigit()).lstrip("0")
    return (len(digits), digits, name)


class StatusHandler(PensionHandler):
    openapi: ClassVar = {"get": Operation(
        "get_certification_status", "认证状态与记录", "有效期、是否暂停发放、认证记录和最近的"
        "人脸认证尝试。", TAG, {200: Resp("认证状态与记录", CertStatusView)},
        errors=(PersonNotFound,))}

    async def get(self, person_id: str) -> CertStatusView:
        await self.allowed(person_id)
        state, attempts = await cert.status_of(person_id, ctx=self.ctx)
        view = status_view(state, self.ctx.today(), attempts)
        return view.model_copy(update={"face_provider": cert.provider_for(self.me)})


class AgentCertificationHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "agent_certification", "上门、窗口或承诺书认证", "坐席为不能用人脸认证的人办理，"
        "记录核实情况。", TAG, {200: Resp("已认证", CertStatusView)}, body=AgentCertification,
        errors=(Forbidden, PersonNotFound, cert.CertificationBlocked))}

    async def post(self, person_id: str) -> CertStatusView:
        await self.allowed(person_id)
        self.require_agent()
        request = self.body(AgentCertification)
        state = await cert.agent_certify(self.me, person_id, request.kind, request.note,
                                         request.signer, ctx=self.ctx)
        return status_view(state, self.ctx.today())


class ReviewCasesHandler(PensionHandler):
    openapi: ClassVar = {"get": Operation(
        "list_review_cases", "待复核案件", "坐席所辖地区待复核的认证：疑似冒认、死亡后仍有"
        "生存信息。", TAG, {200: Resp("待复核案件", CaseList)}, errors=(Forbidden,))}

    async def get(self) -> CaseList:
        self.require_agent()
        cases = await cert.open_cases(self.me, ctx=self.ctx)
        return CaseList(cases=[CaseView(case_id=c.case_id, person_id=c.person_id, day=c.day,
                                        kind=str(c.suspicion["kind"]), opened_at=c.opened_at)
                               for c in cases])


class ReviewDecisionHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "decide_review_case", "处理复核案件", "通过（按当日认证）、认定冒领（暂停），或维持"
        "已记录的死亡。", TAG, {200: Resp("已处理", CertStatusView)}, body=ReviewDecision,
        errors=(Forbidden, cert.CaseNotFound, cert.CaseAlreadyDecided))}

    async def post(self, case_id: str) -> CertStatusView:
        self.require_agent()
        decision = self.body(ReviewDecision).decision
        state = await cert.decide_case(case_id, decision, agent=self.me, ctx=self.ctx)
        return status_view(state, self.ctx.today())


class SignalsHandler(BaseHandler):
    """Proof-of-life signals from feeds: settlements, card use, bank and civil-affairs records."""

    kind = HandlerKind.SERVICE
    service_scope = "pension.signals"
    ctx: CertContext
    openapi: ClassVar = {"post": Operation(
        "pension_signal", "生存信息推送", "医保结算、用卡、银行、民政等数据证明本人健在（或死亡）；"
        "同一数据源的同一记录只处理一次。", ("机构接口",),
        {200: Resp("已处理（重复记录不会重复处理）", SignalOutcome)}, body=Signal,
        errors=(PersonNotFound, cert.NotAPensioner, InvalidIdNumber))}

    async def post(self) -> SignalOutcome:
        signal = self.body(Signal)
        # The feed is the authenticated key, never a name the body claims.
        outcome = await cert.ingest_signal_for(
            source=f"key:{self.me.subject}", record_id=signal.record_id,
            id_number=IdNumber.parse(signal.id_number).value, kind=signal.kind,
            day=signal.date, ctx=self.ctx, place=signal.place)
        return SignalOutcome.model_validate({"outcome": outcome})


_PERSON = r"(?P<person_id>[A-Za-z0-9]+)"
routes: list[Route] = [
    (rf"/v1/pension/people/{_PERSON}/consent", ConsentHandler, {"context": "cert"}),
    (rf"/v1/pension/people/{_PERSON}/reference-photo", ReferencePhotoHandler,
     {"context": "cert"}),
    (rf"/v1/pension/people/{_PERSON}/status", StatusHandler, {"context": "cert"}),
    (rf"/v1/pension/people/{_PERSON}/agent-certifications", AgentCertificationHandler,
     {"context": "cert"}),
    (r"/v1/pension/challenges", ChallengesHandler, {"context": "cert"}),
    (r"/v1/pension/challenges/(?P<challenge_id>[A-Za-z0-9]+)/frames", FramesHandler,
     {"context": "cert"}),
    (r"/v1/pension/review-cases", ReviewCasesHandler, {"context": "cert"}),
    (r"/v1/pension/review-cases/(?P<case_id>[A-Za-z0-9]+)/decision", ReviewDecisionHandler,
     {"context": "cert"}),
    (r"/v1/pension/signals", SignalsHandler, {"context": "cert"}),
]
