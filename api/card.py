"""Social-security card routes: status and progress, loss, replacement, renewal, the 12333
phone channel, feeds, the electronic card code and the service points."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Operation, Reply, Resp
from api.schemas.card import (
    CardDelivery,
    CardEventRequest,
    CardHistoryEntry,
    CardList,
    CardProgressStep,
    CardsQuery,
    CardView,
    ECode,
    ECodeHolder,
    ECodeRequest,
    ECodeScan,
    ECodeSmsSent,
    IssuanceOutcome,
    IssuanceRecord,
    ServicePointList,
    ServicePointsQuery,
    ServicePointView,
    UsageOutcome,
    UsageRecord,
)
from auth.access import Action
from auth.model import CodeExhausted, CodeExpired, CodeInvalid, RecordNotFound
from common.errors import ValidationFailed
from common.versioning import etag
from notifications.model import SmsNotSent, SmsRateLimited
from people.model import IdNumber, InvalidIdNumber, PersonNotFound
from social_card import ecard, service_points
from social_card import model as m
from social_card import service as cards
from social_card.model import STATUS_NAMES, Card
from social_card.service import CardContext

TAG = ("社保卡",)
FEEDS = ("机构接口",)
DEFAULT_BANK = "中国工商银行"  # what card makers meant when their records named no bank


def card_view(card: Card, ctx: CardContext) -> CardView:
    """The card as its holder sees it; the status is the one in force today (a temporary
    loss lifts itself on read)."""
    today = ctx.today()
    status = card.status_on(today, ctx.config)
    return CardView(
        card_id=card.card_id, person_id=card.person_id,
        card_number=card.card_number,  # masked by its type in the answer model
        bank=card.bank, status=status, status_name=STATUS_NAMES[status],
        bank_status=card.bank_status, issued_on=card.issued_on, expires_on=card.expires_on,
        progress=[CardProgressStep.model_validate(s) for s in card.progress(today)],
        temp_loss_lifts_on=_lifts_on(card, status, ctx.config),
        replaced_by=card.replaced_by, replacement_of=card.replacement_of,
        delivery=CardDelivery.model_validate(card.delivery),
        renewal_open=m.in_renewal_window(card, today), version=card.version,
        history=[CardHistoryEntry.model_validate(h) for h in card.history[-20:]])


def _lifts_on(card: Card, status: m.CardStatus, config: m.CardConfig) -> date | None:
    if status is m.CardStatus.TEMP_LOSS and card.temp_loss_on:
        return m.lifts_on(card.temp_loss_on, config.temp_loss_working_days)
    return None


def versioned(card: Card, ctx: CardContext) -> Reply:
    """The card with its version as the ETag, for the next If-Match."""
    return Reply(card_view(card, ctx), 200, {"ETag": etag(card.version)})


class CardHandler(BaseHandler):
    kind = HandlerKind.PERSON
    ctx: CardContext

    async def allowed_card(self, card_id: str) -> tuple[Card, str | None]:
        """The card, if the caller may act on its holder's cards, else the same 404 as a
        missing card; and whom a family member acts for (for the history and audit)."""
        # get_card and cards_of are new in the service (their code is in the refactor's
        # notes); the ignore, itself exempt from warn_unused_ignores, goes once they land.
        card = await cards.get_card(
            card_id, ctx=self.ctx)
        return card, await self.authorize(Action.CARD, card.person_id, m.CardNotFound(card_id))


class CardsHandler(CardHandler):
    openapi: ClassVar = {"get": Operation(
        "list_cards", "社保卡与制卡进度", "本人、获授权家属或坐席查看参保人的社保卡、"
        "状态和制卡进度。", TAG, {200: Resp("社保卡列表（卡号已脱敏）", CardList)},
        query=CardsQuery, errors=(RecordNotFound,))}

    async def get(self) -> CardList:
        person_id = self.query(CardsQuery).person_id or self.me.person_id
        if not person_id:  # a console account is nobody's holder: it names the person
            raise ValidationFailed("person_id is required", field="person_id")
        await self.authorize(Action.CARD, person_id)
        found = await cards.cards_of(
            person_id, ctx=self.ctx)
        return CardList(cards=[card_view(card, self.ctx) for card in found])


class CardDetailHandler(CardHandler):
    openapi: ClassVar = {"get": Operation(
        "get_card", "社保卡详情", "一张社保卡的状态、制卡进度和办理记录；ETag 用于办理业务。",
        TAG, {200: Resp("社保卡（卡号已脱敏）", CardView, etag=True)},
        errors=(m.CardNotFound,))}

    async def get(self, card_id: str) -> Reply:
        card, _ = await self.allowed_card(card_id)
        return versioned(card, self.ctx)


class CardEventHandler(CardHandler):
    """temp_loss, cancel_temp_loss, formal_loss, cancel_loss, replace, renew (holder, family
    or agent); activate and cancel (agents). An agent's temp_loss is the 12333 phone
    channel and records the identity questions the caller answered (``verified_by``)."""

    openapi: ClassVar = {"post": Operation(
        "apply_card_event", "办理社保卡业务", "挂失、解除挂失、解挂、补卡、换卡（本人、家属或"
        "坐席），激活与注销（坐席）；坐席电话挂失须记录核对的身份问题。", TAG,
        {200: Resp("已办理", CardView, etag=True)}, body=CardEventRequest, empty_body=True,
        versioned_update=True, invalid=m.CardInvalid,
        errors=(m.CardNotFound, m.CardTransitionRefused, m.RenewalNotDue, m.CardInvalid))}

    async def post(self, card_id: str, event: str) -> Reply:
        card, on_behalf = await self.allowed_card(card_id)
        self.require_if_match(card.version)
        body = self.body(CardEventRequest)
        request = m.EventRequest(
            functions=frozenset(body.functions), verified_by=tuple(body.verified_by or ()),
            service_point_id=body.service_point_id, address=body.address)
        updated = await cards.apply_event(self.me, card, event, request=request,
                                          on_behalf=on_behalf, ctx=self.ctx)
        return versioned(updated, self.ctx)


class ECodeConfirmHandler(CardHandler):
    openapi: ClassVar = {"post": Operation(
        "request_ecard_sms", "电子社保卡码：短信确认", "临时挂失期间出示电子社保卡码，先向"
        "持卡人登记的手机发送验证码。", TAG, {202: Resp("验证码已发送", ECodeSmsSent)},
        errors=(m.CardNotFound, m.ECodeRefused, SmsRateLimited, SmsNotSent))}

    async def post(self, card_id: str) -> Reply:
        card, _ = await self.allowed_card(card_id)
        challenge_id = await ecard.request_ecode_confirmation(self.me, card, ctx=self.ctx)
        return Reply(ECodeSmsSent(challenge_id=challenge_id), 202)


class ECodeHandler(CardHandler):
    openapi: ClassVar = {"post": Operation(
        "issue_ecard_code", "出示电子社保卡码", "生成 60 秒内有效、扫一次即失效的电子社保卡码；"
        "临时挂失期间须附短信验证码。", TAG,
        {200: Resp("电子社保卡码与二维码", ECode)}, body=ECodeRequest, empty_body=True,
        errors=(m.CardNotFound, m.ECodeRefused, m.ECodeConfirmationNeeded,
                CodeInvalid, CodeExpired, CodeExhausted))}

    async def post(self, card_id: str) -> ECode:
        card, _ = await self.allowed_card(card_id)
        request = self.body(ECodeRequest)
        answer = await ecard.issue_ecode(self.me, card, challenge_id=request.challenge_id,
                                         sms_code=request.code, ctx=self.ctx)
        return ECode.model_validate(answer)


class ECodeVerifyHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.verify"
    ctx: CardContext
    openapi: ClassVar = {"post": Operation(
        "verify_ecard_code", "核验电子社保卡码", "服务网点扫码核验：回答持卡人（脱敏）、"
        "卡状态与有效期；每个码只能核验一次。", FEEDS,
        {200: Resp("持卡人（脱敏）、卡状态与有效期", ECodeHolder)}, body=ECodeScan,
        errors=(m.ECodeInvalid, m.ECodeUsed, m.CardNotFound))}

    async def post(self) -> ECodeHolder:
        code = self.body(ECodeScan).code
        # The institution is the authenticated key, never a name the body claims.
        holder = await ecard.verify_ecode(code, institution=self.me.subject, ctx=self.ctx)
        return ECodeHolder.model_validate(holder)


class IssuanceFeedHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.feed"
    ctx: CardContext
    openapi: ClassVar = {"post": Operation(
        "card_issuance_feed", "制卡进度推送", "制卡厂、银行和网点推送制卡进度；同一数据源的"
        "同一记录只处理一次。", FEEDS,
        {200: Resp("已记录（重复记录不会重复处理）", IssuanceOutcome)}, body=IssuanceRecord,
        invalid=m.CardInvalid, errors=(m.CardInvalid, InvalidIdNumber, PersonNotFound))}

    async def post(self) -> IssuanceOutcome:
        record = self.body(IssuanceRecord)
        outcome = await cards.ingest_issuance(
            source=self.me.subject, record_id=record.record_id,
            id_number=IdNumber.parse(record.id_number).value,
            card_number=record.card_number, step=record.step.value, at=record.at,
            bank=record.bank or DEFAULT_BANK, ctx=self.ctx)
        return IssuanceOutcome.model_validate({"outcome": outcome})


class UsageFeedHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.feed"
    ctx: CardContext
    openapi: ClassVar = {"post": Operation(
        "card_usage_feed", "用卡记录推送", "医院、药店、银行推送用卡记录；在医院或药店用卡"
        "可作为养老金领取人的生存信息。", FEEDS,
        {200: Resp("已记录（重复记录不会重复处理）", UsageOutcome)}, body=UsageRecord,
        invalid=m.CardInvalid, errors=(m.CardInvalid, m.CardNotFound))}

    async def post(self) -> UsageOutcome:
        use = self.body(UsageRecord)
        outcome = await cards.ingest_usage(source=self.me.subject, record_id=use.record_id,
                                           card_number=use.card_number, kind=use.kind,
                                           day=use.date, ctx=self.ctx)
        return UsageOutcome.model_validate({"outcome": outcome})


class ServicePointsHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    ctx: CardContext
    openapi: ClassVar = {"get": Operation(
        "list_card_service_points", "社保卡服务网点", "按行政区划代码前缀列出社保卡服务网点，"
        "用于补卡、换卡时选择领卡地点。", TAG,
        {200: Resp("社保卡服务网点", ServicePointList)}, query=ServicePointsQuery)}

    async def get(self) -> ServicePointList:
        region = self.query(ServicePointsQuery).region
        return ServicePointList(service_points=[
            ServicePointView(service_point_id=p.point_id, name=p.name, address=p.address,
                             region_code=p.region_code)
            for p in service_points.in_region(region)])


_CARD = r"/v1/cards/(?P<card_id>C[A-Za-z0-9]+)"
# Every event by name, so the document lists them and an unknown one is a plain 404.
_EVENT = "(?P<event>" + "|".join(event.value for event in m.Event) + ")"
routes: list[Route] = [
    (r"/v1/cards", CardsHandler, {"context": "cards"}),
    (r"/v1/cards/service-points", ServicePointsHandler, {"context": "cards"}),
    (r"/v1/cards/ecode/verify", ECodeVerifyHandler, {"context": "cards"}),
    (r"/v1/cards/feed/issuance", IssuanceFeedHandler, {"context": "cards"}),
    (r"/v1/cards/feed/usage", UsageFeedHandler, {"context": "cards"}),
    (_CARD, CardDetailHandler, {"context": "cards"}),
    # The literal ecode routes come before the event route: Tornado takes the first match.
    (rf"{_CARD}/ecode", ECodeHandler, {"context": "cards"}),
    (rf"{_CARD}/ecode/sms", ECodeConfirmHandler, {"context": "cards"}),
    (rf"{_CARD}/{_EVENT}", CardEventHandler, {"context": "cards"}),
]
