"""The 12333 agent console: its API (agent tokens, the agent's regions only, every call
audited; actions take If-Match and answer their audit id), its web pages under /console/,
and the test-only clock hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.console_views import audit_row, caller, case_row, overview_view, region_name
from api.contract import Operation, Page, Reply, Resp
from api.errors import ApiError
from api.http import secure_headers
from api.medical import filing_view
from api.ops import DocsStaticHandler
from api.schemas.console import (
    ActionDone,
    AuditList,
    AuditQuery,
    AuditQueryFields,
    CallerList,
    CallerOverview,
    CallerSearch,
    CaseDecision,
    CaseQueue,
    CaseQueueQuery,
    CaseQueueRow,
    Choice,
    ClockMove,
    ConsoleCertification,
    ConsoleClock,
    ConsoleMe,
    FilingQueue,
    FilingQueueQuery,
    FilingQueueRow,
    FilingReview,
    NoBody,
    Revealed,
    RevealRequest,
    TempLossRequest,
    VisitBooking,
)
from auth.access import Action
from auth.model import CONSOLE_IDLE_TIMEOUT, Forbidden
from common.errors import ValidationFailed
from common.versioning import etag
from console import model as cm
from console import service as console
from console.context import ConsoleContext
from medical_insurance.model import FilingNotFound, TransitionRefused
from pension_cert import service as cert
from pension_cert import visit_model as vm
from people.model import InvalidIdNumber, PersonNotFound
from social_card.model import CardInvalid, CardNotFound, CardTransitionRefused

TAG = ("坐席",)
WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "console"
# The console's pages: this origin only, no inline script or style, never framed.
CONSOLE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
                  "data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                  "form-action 'self'; frame-ancestors 'none'")
_AGENT = (cm.AgentsOnly,)
_ACTION_OK = {200: Resp("已办理；返回审计记录编号与新版本", ActionDone, etag=True)}


class ConsoleHandler(BaseHandler):
    """Agents and admins only: anyone else gets 403 on every console route, whatever the
    id, before any body is read (nothing about a record leaks)."""

    kind = HandlerKind.PERSON
    ctx: ConsoleContext

    async def prepare(self) -> None:
        await super().prepare()
        cm.require_agent(self.me)

    def done(self, done: cm.Done) -> Reply:
        return Reply(ActionDone(audit_id=done.audit_id, version=done.version,
                                detail={k: str(v) for k, v in done.detail.items()}),
                     200, {"ETag": etag(done.version)})

    @property
    def if_match(self) -> str | None:
        return self.request.headers.get("If-Match")


class MeHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_me", "坐席本人与会话", "坐席的姓名、辖区、会话何时到期（无操作 30 分钟、登录满 "
        "12 小时），以及查看理由和身份问题的固定列表。", TAG, {200: Resp("坐席与会话", ConsoleMe)},
        errors=(*_AGENT, PersonNotFound))}

    async def get(self) -> ConsoleMe:
        me = await console.me(self.me, ctx=self.ctx)
        session = me.session
        return ConsoleMe(
            account_id=me.account.account_id, display_name=me.account.display_name or "",
            role="admin" if me.account.role.value == "admin" else "agent",
            regions=[Choice(code=r, name=region_name(r)) for r in me.account.regions],
            now=me.now, session_started_at=session.created_at if session else None,
            session_ends_at=session.expires_at if session else None,
            idle_timeout_seconds=int(CONSOLE_IDLE_TIMEOUT.total_seconds()),
            reveal_reasons=[Choice(code=k, name=v) for k, v in cm.REVEAL_REASONS.items()],
            identity_questions=[Choice(code=k, name=v)
                                for k, v in cm.IDENTITY_QUESTIONS.items()])


class ClockHandler(BaseHandler):
    """The server's time, so the console can warn before an idle or 12-hour logout by the
    clock that decides it (read without a token: reading it is not activity)."""

    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "console_clock", "服务器时间", "坐席工作台据此提前提示自动退出。", TAG,
        {200: Resp("服务器时间", ConsoleClock)})}

    async def get(self) -> ConsoleClock:
        return ConsoleClock(now=self.web.clock.now())


class SearchHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_search_callers", "查找来电人", "按身份证号、手机号或姓名加出生年份查找本人辖区的"
        "参保人，至多 20 人，信息脱敏；辖区外的人与查无此人回答相同。", TAG,
        {200: Resp("匹配的参保人（脱敏）", CallerList)}, body=CallerSearch,
        invalid=cm.SearchInvalid, errors=(*_AGENT, cm.SearchInvalid, InvalidIdNumber))}

    async def post(self) -> CallerList:
        asked = self.body(CallerSearch)
        search = cm.Search.of(id_number=asked.id_number, phone=asked.phone, name=asked.name,
                              birth_year=asked.birth_year, today=self.ctx.today())
        found = await console.search_callers(self.me, search, client_ip=self.client_ip(),
                                             ctx=self.ctx)
        return CallerList(callers=[caller(p) for p in found.people], more=found.more)


class OverviewHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_caller_overview", "来电人一览", "一屏看全：身份（脱敏）、资格认证、异地就医备案、"
        "社保卡、最近通知与亲情服务；辖区外回答 404。", TAG,
        {200: Resp("来电人一览（脱敏）", CallerOverview)},
        errors=(*_AGENT, PersonNotFound))}

    async def get(self, person_id: str) -> CallerOverview:
        await self.authorize(Action.PERSON, person_id, PersonNotFound(person_id))
        seen = await console.overview(self.me, person_id, client_ip=self.client_ip(),
                                      ctx=self.ctx)
        return overview_view(seen, self.ctx)


class RevealHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_reveal", "查看完整证件号或手机号", "须选择理由并填写说明；每次查看都记录审计，"
        "并按坐席每日计数（超过阈值在 /metrics 告警）。", TAG,
        {200: Resp("完整信息（已记录审计）", Revealed)}, body=RevealRequest,
        invalid=cm.RevealInvalid, errors=(*_AGENT, PersonNotFound, cm.RevealInvalid))}

    async def post(self, person_id: str) -> Revealed:
        await self.authorize(Action.PERSON, person_id, PersonNotFound(person_id))
        asked = self.body(RevealRequest)
        result = await console.reveal(self.me, person_id,
                                      cm.Reveal.of(asked.field, asked.reason, asked.note),
                                      client_ip=self.client_ip(), ctx=self.ctx)
        return Revealed(field=asked.field, value=result.value, audit_id=result.audit_id,
                        reveals_today=result.reveals_today, alert=result.alert)


class CertifyHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_certify", "上门或窗口认证", "坐席为不能用人脸认证的领取人办理资格认证；"
        "If-Match 为认证记录的版本。", TAG, _ACTION_OK, body=ConsoleCertification,
        versioned_update=True,
        errors=(*_AGENT, PersonNotFound, ValidationFailed, cert.CertificationBlocked,
                cert.NotAPensioner))}

    async def post(self, person_id: str) -> Reply:
        await self.authorize(Action.PENSION_CERT, person_id, PersonNotFound(person_id))
        asked = self.body(ConsoleCertification)
        return self.done(await console.certify(
            self.me, person_id, kind=asked.kind, note=asked.note, if_match=self.if_match,
            client_ip=self.client_ip(), ctx=self.ctx))


class ResendHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_resend_reminder", "重发最近的认证提醒", "把最近一次认证提醒再发一次（同一提醒"
        "每天一次）；If-Match 为认证记录的版本。", TAG, _ACTION_OK, body=NoBody,
        empty_body=True, versioned_update=True,
        errors=(*_AGENT, PersonNotFound, cm.NoReminder))}

    async def post(self, person_id: str) -> Reply:
        await self.authorize(Action.PENSION_CERT, person_id, PersonNotFound(person_id))
        self.body(NoBody)
        return self.done(await console.resend_reminder(
            self.me, person_id, if_match=self.if_match, client_ip=self.client_ip(),
            ctx=self.ctx))


class VisitHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_book_home_visit", "预约上门认证", "为不能用人脸认证的来电人预约上门认证，进入"
        "所在盟市的待办队列；联系电话默认为登记的手机号。If-Match 为认证记录的版本。", TAG,
        _ACTION_OK, body=VisitBooking, versioned_update=True, invalid=vm.InvalidVisit,
        errors=(*_AGENT, PersonNotFound, vm.InvalidVisit, vm.VisitAlreadyBooked,
                cert.NotAPensioner))}

    async def post(self, person_id: str) -> Reply:
        await self.authorize(Action.PENSION_CERT, person_id, PersonNotFound(person_id))
        asked = self.body(VisitBooking)
        return self.done(await console.book_home_visit(
            self.me, person_id, preferred_dates=list(asked.preferred_dates),
            address=asked.address, phone=asked.phone, if_match=self.if_match,
            client_ip=self.client_ip(), ctx=self.ctx))


class TempLossHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_card_temp_loss", "12333 电话临时挂失", "核对至少两个身份问题后为来电人临时挂失"
        "社保卡（社保和银行功能）；If-Match 为卡的版本。", TAG, _ACTION_OK,
        body=TempLossRequest, versioned_update=True, invalid=cm.QuestionsMissing,
        errors=(*_AGENT, CardNotFound, CardTransitionRefused, CardInvalid,
                cm.QuestionsMissing))}

    async def post(self, card_id: str) -> Reply:
        asked = self.body(TempLossRequest)
        return self.done(await console.card_temp_loss(
            self.me, card_id, if_match=self.if_match, questions=asked.verified_by,
            client_ip=self.client_ip(), ctx=self.ctx))


class CaseQueueHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_case_queue", "复核案件队列", "本人辖区（或其中一个地区）某状态的复核案件，"
        "最早的在前，分页。", TAG, {200: Resp("复核案件", CaseQueue)}, query=CaseQueueQuery,
        errors=_AGENT)}

    async def get(self) -> CaseQueue:
        asked = self.query(CaseQueueQuery)
        page = await console.case_queue(self.me, status=asked.status, region=asked.region,
                                        after=asked.after, limit=asked.limit,
                                        client_ip=self.client_ip(), ctx=self.ctx)
        return CaseQueue(cases=[
            CaseQueueRow(case=case_row(case), person_id=case.person_id,
                         name=person.name if person else "—", region_code=case.region_code,
                         region_name=region_name(case.region_code))
            for case, person in page.cases], next_cursor=page.next_cursor)


class DecideHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_decide_case", "处理复核案件", "通过、认定冒领或维持死亡记录；If-Match 为案件"
        "版本（待处理为 v1）。", TAG, _ACTION_OK, body=CaseDecision, versioned_update=True,
        errors=(*_AGENT, ValidationFailed, cert.CaseNotFound, cert.CaseAlreadyDecided,
                cert.NotAPensioner, cert.CertificationBlocked, PersonNotFound))}

    async def post(self, case_id: str) -> Reply:
        asked = self.body(CaseDecision)
        return self.done(await console.decide_case(
            self.me, case_id, decision=asked.decision, if_match=self.if_match,
            client_ip=self.client_ip(), ctx=self.ctx))


class FilingQueueHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_filing_queue", "备案队列", "本人辖区（或其中一个地区）某状态的异地就医备案，"
        "最新的在前，分页。", TAG, {200: Resp("备案", FilingQueue)}, query=FilingQueueQuery,
        errors=(*_AGENT, Forbidden))}

    async def get(self) -> FilingQueue:
        asked = self.query(FilingQueueQuery)
        page = await console.filing_queue(self.me, status=asked.status, region=asked.region,
                                          after=asked.after, limit=asked.limit,
                                          client_ip=self.client_ip(), ctx=self.ctx)
        today = self.ctx.today()
        return FilingQueue(filings=[
            FilingQueueRow(filing=filing_view(filing, today),
                           name=person.name if person else "—",
                           region_code=person.region_code if person else "",
                           region_name=region_name(person.region_code) if person else "")
            for filing, person in page.filings], next_cursor=page.next_cursor)


class FilingReviewHandler(ConsoleHandler):
    openapi: ClassVar = {"post": Operation(
        "console_review_filing", "审核转诊备案", "批准或驳回等待审核的备案（驳回须写原因）；"
        "If-Match 为备案版本。", TAG, _ACTION_OK, body=FilingReview, empty_body=True,
        versioned_update=True,
        errors=(*_AGENT, FilingNotFound, TransitionRefused, ValidationFailed))}

    async def post(self, filing_id: str, event: str) -> Reply:
        asked = self.body(FilingReview)
        return self.done(await console.review_filing(
            self.me, filing_id, event, reason=asked.reason, if_match=self.if_match,
            client_ip=self.client_ip(), ctx=self.ctx))


def _audit_query(asked: AuditQueryFields, after: str | None = None,
                 limit: int = cm.QUEUE_PAGE) -> cm.AuditQuery:
    return cm.AuditQuery(actor=asked.actor, person=asked.person, action=asked.action,
                         since=asked.since, until=asked.until, after=after, limit=limit)


class AuditHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_audit", "审计记录", "管理员按坐席、人员、操作和日期查询审计记录；坐席只能看"
        "本人的记录。最新的在前，分页。", TAG, {200: Resp("审计记录", AuditList)},
        query=AuditQuery, errors=_AGENT)}

    async def get(self) -> AuditList:
        asked = self.query(AuditQuery)
        page = await console.audit_trail(self.me, _audit_query(asked, asked.after, asked.limit),
                                         client_ip=self.client_ip(), ctx=self.ctx)
        return AuditList(entries=[audit_row(e) for e in page.entries],
                         next_cursor=page.next_cursor)


class AuditExportHandler(ConsoleHandler):
    openapi: ClassVar = {"get": Operation(
        "console_audit_export", "导出审计记录", "按同样的条件导出 CSV（UTF-8），至多 5 万条。",
        TAG, {200: Resp("审计记录（CSV）", content_type="text/csv",
                        schema={"type": "string"})}, query=AuditQueryFields, errors=_AGENT)}

    async def get(self) -> Page:
        asked = self.query(AuditQueryFields)
        text = await console.audit_csv(self.me, _audit_query(asked), client_ip=self.client_ip(),
                                       ctx=self.ctx)
        day = self.ctx.today().isoformat()
        return Page(text.encode(), "text/csv; charset=UTF-8", headers={
            "Content-Disposition": f'attachment; filename="audit-{day}.csv"'})


# -- the web console and the test-only clock hook -----------------------------------------


class ConsolePageHandler(BaseHandler):
    """/console/: the single page; its script and styles come from /console/."""

    kind = HandlerKind.PUBLIC
    in_openapi = False

    async def get(self) -> None:
        if not self.request.path.endswith("/"):
            self.redirect("/console/", permanent=False)
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", CONSOLE_POLICY)
        self.set_header("Cache-Control", "no-cache")
        self.finish((WEB_DIR / "index.html").read_bytes())


class ConsoleStaticHandler(DocsStaticHandler):
    def set_default_headers(self) -> None:
        secure_headers(self)
        self.set_header("Content-Security-Policy", CONSOLE_POLICY)
        self.set_header("Cache-Control", "no-cache")


class TestClockHandler(BaseHandler):
    """Moves the application's clock forward: for browser tests of the idle and 12-hour
    logouts. Refused (404) unless APP_ENV is dev or test and the clock can be moved."""

    kind = HandlerKind.PUBLIC
    in_openapi = False
    openapi: ClassVar = {"post": Operation(
        "test_clock", "测试时钟", "仅开发与测试环境：拨快服务器时钟。", ("测试",),
        {200: Resp("服务器时间", ConsoleClock)}, body=ClockMove)}

    async def post(self) -> ConsoleClock:
        clock: Any = self.web.clock
        if not (self.web.settings.is_dev and callable(getattr(clock, "advance", None))):
            raise ApiError(404)
        clock.advance(seconds=self.body(ClockMove).advance_seconds)
        return ConsoleClock(now=clock.now())


_PERSON = r"(?P<person_id>[A-Za-z0-9]+)"
_C = {"context": "console"}
routes: list[Route] = [
    (r"/v1/console/me", MeHandler, _C),
    (r"/v1/console/clock", ClockHandler),
    (r"/v1/console/callers/search", SearchHandler, _C),
    (rf"/v1/console/people/{_PERSON}", OverviewHandler, _C),
    (rf"/v1/console/people/{_PERSON}/reveal", RevealHandler, _C),
    (rf"/v1/console/people/{_PERSON}/certifications", CertifyHandler, _C),
    (rf"/v1/console/people/{_PERSON}/reminders/resend", ResendHandler, _C),
    (rf"/v1/console/people/{_PERSON}/home-visits", VisitHandler, _C),
    (r"/v1/console/cards/(?P<card_id>C[A-Za-z0-9]+)/temp-loss", TempLossHandler, _C),
    (r"/v1/console/review-cases", CaseQueueHandler, _C),
    (r"/v1/console/review-cases/(?P<case_id>[A-Za-z0-9]+)/decision", DecideHandler, _C),
    (r"/v1/console/filings", FilingQueueHandler, _C),
    (r"/v1/console/filings/(?P<filing_id>F[A-Za-z0-9]+)/(?P<event>approve|reject)",
     FilingReviewHandler, _C),
    (r"/v1/console/audit", AuditHandler, _C),
    (r"/v1/console/audit/export", AuditExportHandler, _C),
    (r"/console/?", ConsolePageHandler),
    (r"/console/(?P<path>.+)", ConsoleStaticHandler, {"path": str(WEB_DIR)}),
    (r"/_test/clock", TestClockHandler),
]
