"""Pension records routes: payment details, the certification plan, home-visit bookings
and the administrators' coverage report."""

from __future__ import annotations

from typing import ClassVar

from api.base import Route
from api.contract import Operation, Reply, Resp
from api.pension import TAG, PensionHandler
from api.schemas.records import (
    CertifiedByView,
    CoverageQuery,
    CoverageReport,
    LeagueCoverageView,
    PaymentDetails,
    PaymentMonthView,
    PersonQuery,
    PlanView,
    RouteOptionView,
    VisitList,
    VisitOutcome,
    VisitRequest,
    VisitsQuery,
    VisitView,
)
from auth.access import Action
from auth.model import Forbidden, Role
from common.errors import ValidationFailed
from common.versioning import etag
from pension_cert import coverage as cover
from pension_cert import model as cert_model
from pension_cert import payments, plan, visits
from pension_cert import visit_model as vm
from people.model import PersonNotFound


class PersonRecordHandler(PensionHandler):
    def person_of(self, person_id: str | None) -> str:
        chosen = person_id or self.me.person_id
        if not chosen:
            raise ValidationFailed("person_id is required", field="person_id")
        return chosen


class PaymentsHandler(PersonRecordHandler):
    openapi: ClassVar = {"get": Operation(
        "get_pension_payments", "养老金发放明细", "近两年每月发放、暂停、补发和调待差额，"
        "每项附白话说明。", TAG, {200: Resp("发放明细", PaymentDetails)}, query=PersonQuery,
        errors=(PersonNotFound,))}

    async def get(self) -> PaymentDetails:
        person_id = self.person_of(self.query(PersonQuery).person_id)
        await self.allowed(person_id, Action.RECORDS)
        found = await payments.payment_details(person_id, ctx=self.ctx)
        return PaymentDetails(person_id=person_id, months=[
            PaymentMonthView(
                month=str(p.line.month), status=p.line.status,
                monthly_fen=p.line.monthly_fen, regular_fen=p.line.regular_fen,
                backpay_months=[str(x) for x in p.line.backpay_months],
                backpay_fen=p.line.backpay_fen,
                excluded_prison_months=[str(x) for x in p.line.excluded_prison_months],
                raise_months=[str(x) for x in p.line.raise_months], raise_fen=p.line.raise_fen,
                total_fen=p.line.total_fen, explanations=p.explanations)
            for p in found])


def visit_view(visit: vm.HomeVisit) -> VisitView:
    return VisitView(
        booking_id=visit.booking_id, person_id=visit.person_id, region_code=visit.region_code,
        preferred_dates=list(visit.preferred_dates), address=visit.address, phone=visit.phone,
        status=visit.status.value,
        result=visit.result.value if visit.result else None,
        note=visit.note, created_at=visit.created_at, closed_on=visit.closed_on,
        version=visit.version)


class PlanHandler(PersonRecordHandler):
    openapi: ClassVar = {"get": Operation(
        "get_certification_plan", "我需要认证吗", "是否需要认证、截止日期、上次由哪条记录认证、"
        "逾期后果和可用的认证方式（人脸、家属、上门、窗口）。", TAG,
        {200: Resp("认证计划", PlanView)}, query=PersonQuery,
        errors=(PersonNotFound,))}

    async def get(self) -> PlanView:
        person_id = self.person_of(self.query(PersonQuery).person_id)
        await self.allowed(person_id)
        found = await plan.plan_of(person_id, ctx=self.ctx)
        last = found.last_certified
        return PlanView(
            person_id=person_id, status=found.status.value, must_act=found.must_act,
            act_by=found.act_by, valid_through=found.valid_through,
            last_certified=CertifiedByView(channel=last.channel, day=last.day,
                                           description=last.description) if last else None,
            summary=found.summary, if_not=found.if_not,
            routes=[RouteOptionView(route=r.route, available=r.available,
                                    how=r.how) for r in found.routes],
            open_visit=visit_view(found.open_visit) if found.open_visit else None)


class VisitsHandler(PersonRecordHandler):
    openapi: ClassVar = {
        "post": Operation(
            "book_home_visit", "预约上门认证", "本人或获授权家属为不能用人脸认证的老人预约"
            "上门认证，进入所在盟市坐席的待办队列。", TAG,
            {201: Resp("已预约", VisitView, etag=True)}, body=VisitRequest,
            idempotent_create=True, invalid=vm.InvalidVisit,
            errors=(PersonNotFound, vm.InvalidVisit, vm.VisitAlreadyBooked,
                    cert_model.NotAPensioner)),
        "get": Operation(
            "list_home_visits", "上门认证预约队列", "坐席所辖地区的预约，最新在前，按游标分页。",
            TAG, {200: Resp("预约列表", VisitList)}, query=VisitsQuery, errors=(Forbidden,)),
    }

    async def post(self) -> Reply:
        request = self.body(VisitRequest)
        person_id = self.person_of(request.person_id)
        await self.allowed(person_id)

        async def book(seed: str) -> Reply:
            visit = await visits.book_visit(
                self.me, person_id, seed, preferred_dates=request.preferred_dates,
                address=request.address, phone=request.phone, ctx=self.ctx)
            return Reply(visit_view(visit), 201, {"ETag": etag(visit.version)})

        return await self.create_idempotently(book)

    async def get(self) -> VisitList:
        query = self.query(VisitsQuery)
        found, cursor = await visits.visit_queue(
            self.me, status=vm.VisitStatus(query.status) if query.status else None,
            after=query.after, ctx=self.ctx)
        return VisitList(visits=[visit_view(v) for v in found], next_cursor=cursor)


class VisitHandler(PersonRecordHandler):
    async def allowed_visit(self, booking_id: str) -> vm.HomeVisit:
        visit = await visits.get_visit(booking_id, ctx=self.ctx)
        await self.authorize(Action.PENSION_CERT, visit.person_id,
                             vm.VisitNotFound(booking_id))
        return visit


class VisitDetailHandler(VisitHandler):
    openapi: ClassVar = {"get": Operation(
        "get_home_visit", "上门认证预约", "一条预约及其结果；ETag 用于登记结果。", TAG,
        {200: Resp("预约", VisitView, etag=True)}, errors=(vm.VisitNotFound,))}

    async def get(self, booking_id: str) -> Reply:
        visit = await self.allowed_visit(booking_id)
        return Reply(visit_view(visit), 200, {"ETag": etag(visit.version)})


class VisitOutcomeHandler(VisitHandler):
    openapi: ClassVar = {"post": Operation(
        "close_home_visit", "登记上门认证结果", "坐席登记上门结果：认证通过即完成认证并关闭预约。",
        TAG, {200: Resp("已登记", VisitView, etag=True)}, body=VisitOutcome,
        versioned_update=True, errors=(vm.VisitNotFound, Forbidden))}

    async def post(self, booking_id: str) -> Reply:
        self.require_agent()
        visit = await self.allowed_visit(booking_id)
        request = self.body(VisitOutcome)
        if visit.status is vm.VisitStatus.OPEN:
            self.require_if_match(visit.version)
        closed = await visits.close_visit(self.me, visit, vm.VisitResult(request.result),
                                          request.note, ctx=self.ctx)
        return Reply(visit_view(closed), 200, {"ETag": etag(closed.version)})


class CoverageHandler(PensionHandler):
    openapi: ClassVar = {"get": Operation(
        "coverage_report", "认证覆盖情况", "管理员按盟市和月份查看静默、人脸、家属、坐席认证的"
        "占比，30天内到期人数和暂停人数。", TAG, {200: Resp("覆盖情况", CoverageReport)},
        query=CoverageQuery, errors=(Forbidden,))}

    async def get(self) -> CoverageReport:
        if self.me.role is not Role.ADMIN:
            raise Forbidden("administrators only")
        month = cert_model.Month.parse(self.query(CoverageQuery).month)
        leagues = await cover.coverage(month, ctx=self.ctx)
        groups = ("passive", "face", "family", "agent")
        return CoverageReport(month=str(month), leagues=[LeagueCoverageView(
            league=r.league, league_name=cover.region_name(r.league) or "",
            pensioners=r.pensioners, certified=r.certified,
            by_channel={g: r.by_group[g] for g in groups},
            shares={g: float(r.share(g) or 0) for g in groups},
            due_next_30_days=r.due_soon, suspended=r.suspended) for r in leagues])


_BOOKING = r"(?P<booking_id>V[A-Z0-9]{1,40})"
routes: list[Route] = [
    (r"/v1/pension/payments", PaymentsHandler, {"context": "cert"}),
    (r"/v1/pension/plan", PlanHandler, {"context": "cert"}),
    (r"/v1/pension/home-visits", VisitsHandler, {"context": "cert"}),
    (rf"/v1/pension/home-visits/{_BOOKING}", VisitDetailHandler, {"context": "cert"}),
    (rf"/v1/pension/home-visits/{_BOOKING}/outcome", VisitOutcomeHandler, {"context": "cert"}),
    (r"/v1/admin/coverage", CoverageHandler, {"context": "cert"}),
]
