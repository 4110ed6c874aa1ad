"""Social-security card routes: status and progress, loss, replacement, renewal, the 12333
phone channel, feeds, the electronic card code and the service points."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from api.base import BaseHandler, HandlerKind, Route
from api.openapi import Operation
from auth.access import Action
from common.errors import ValidationFailed
from common.masking import mask_card_number
from common.versioning import etag
from people.model import IdNumber, PersonNotFound
from social_card import model as m
from social_card import service as cards
from social_card import service_points
from social_card.model import STATUS_NAMES, Card

TAG = ("社保卡",)
_OBJ = {"type": "object"}
_STR = {"type": "string"}


def card_view(card: Card, config: m.CardConfig, today: date) -> dict[str, Any]:
    status = card.status_on(today, config)
    return {
        "card_id": card.card_id, "person_id": card.person_id,
        "card_number": mask_card_number(card.card_number),
        "bank": card.bank, "status": status.value, "status_name": STATUS_NAMES[status],
        "bank_status": card.bank_status.value, "issued_on": card.issued_on,
        "expires_on": card.expires_on, "progress": card.progress(today),
        "temp_loss_lifts_on": m.lifts_on(card.temp_loss_on, config.temp_loss_working_days)
        if status is m.CardStatus.TEMP_LOSS and card.temp_loss_on else None,
        "replaced_by": card.replaced_by, "replacement_of": card.replacement_of,
        "delivery": card.delivery, "renewal_open": m.in_renewal_window(card, today),
        "version": card.version, "history": card.history[-20:],
    }


class CardHandler(BaseHandler):
    kind = HandlerKind.PERSON

    async def allowed_card(self, card_id: str, action: Action = Action.CARD
                           ) -> tuple[Card, str | None]:
        card = await self.deps.cards.repo.get(card_id)
        if card is None:
            raise m.CardNotFound(card_id)
        return card, await self.authorize(action, card.person_id, m.CardNotFound(card_id))

    def answer(self, card: Card) -> None:
        ctx = self.deps.cards
        self.write_json(200, card_view(card, ctx.config, ctx.today()), {"ETag": etag(card.version)})


class CardsHandler(CardHandler):
    openapi: ClassVar = {"get": Operation("cards", TAG, {200: ("社保卡与制卡进度", _OBJ)},
                                          query={"person_id": _STR})}

    async def get(self) -> None:
        person_id = self.get_query_argument("person_id", None) or self.me.person_id
        if not person_id:
            raise ValidationFailed("person_id is required", field="person_id")
        await self.authorize(Action.CARD, person_id)
        ctx = self.deps.cards
        found = await ctx.repo.of_person(person_id)
        self.write_json(200, {"cards": [card_view(c, ctx.config, ctx.today()) for c in found]})


class CardDetailHandler(CardHandler):
    openapi: ClassVar = {"get": Operation("card", TAG, {200: ("社保卡", _OBJ)},
                                          errors=(m.CardNotFound,))}

    async def get(self, card_id: str) -> None:
        card, _ = await self.allowed_card(card_id)
        self.answer(card)


class CardEventHandler(CardHandler):
    """temp_loss, cancel_temp_loss, formal_loss, cancel_loss, replace, renew (holder, family
    or agent); activate and cancel (agents). An agent's temp_loss is the 12333 phone
    channel and records the identity questions the caller answered (``verified_by``)."""

    openapi: ClassVar = {"post": Operation(
        "card_event", TAG, {200: ("已办理", _OBJ)}, versioned_update=True,
        request_schema={"type": "object", "properties": {
            "functions": {"type": "array", "items": {"enum": ["ss", "bank"]}},
            "verified_by": {"type": "array", "items": _STR}, "address": _STR,
            "service_point_id": _STR}},
        errors=(m.CardNotFound, m.CardTransitionRefused, m.RenewalNotDue, m.CardInvalid))}

    async def post(self, card_id: str, event: str) -> None:
        card, on_behalf = await self.allowed_card(card_id)
        self.require_if_match(card.version)
        body = self.json_body() if self.body_bytes().strip() else {}
        updated = await cards.apply_event(self.me, card, event, body=body, on_behalf=on_behalf,
                                          ctx=self.deps.cards)
        self.answer(updated)


class ECodeConfirmHandler(CardHandler):
    openapi: ClassVar = {"post": Operation(
        "ecard_sms", TAG, {202: ("确认验证码已发送", _OBJ)}, errors=(m.CardNotFound,))}

    async def post(self, card_id: str) -> None:
        card, _ = await self.allowed_card(card_id)
        challenge_id = await cards.request_ecode_confirmation(self.me, card, ctx=self.deps.cards)
        self.write_json(202, {"challenge_id": challenge_id})


class ECodeHandler(CardHandler):
    openapi: ClassVar = {"post": Operation(
        "ecard_code", TAG, {200: ("电子社保卡码（60 秒内有效，扫一次即失效）", _OBJ)},
        request_schema={"type": "object", "properties": {"challenge_id": _STR, "code": _STR}},
        errors=(m.CardNotFound, cards.ECodeRefused, cards.ECodeConfirmationNeeded))}

    async def post(self, card_id: str) -> None:
        card, _ = await self.allowed_card(card_id)
        body = self.json_body() if self.body_bytes().strip() else {}
        answer = await cards.issue_ecode(
            self.me, card, challenge_id=body.get("challenge_id"), sms_code=body.get("code"),
            ctx=self.deps.cards)
        self.write_json(200, answer)


class ECodeVerifyHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.verify"
    openapi: ClassVar = {"post": Operation(
        "ecard_verify", ("机构接口",), {200: ("持卡人（脱敏）、卡状态与有效期", _OBJ)},
        request_schema={"type": "object", "required": ["code"], "properties": {"code": _STR}},
        errors=(cards.ECodeInvalid, cards.ECodeUsed))}

    async def post(self) -> None:
        code = self.json_body().get("code")
        if not isinstance(code, str) or not code:
            raise ValidationFailed("code is required", field="code")
        assert self.principal is not None
        self.write_json(200, await cards.verify_ecode(code, institution=self.principal.subject,
                                                      ctx=self.deps.cards))


class IssuanceFeedHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.feed"
    openapi: ClassVar = {"post": Operation(
        "card_issuance_feed", ("机构接口",), {200: ("已记录", _OBJ)},
        request_schema={"type": "object",
                        "required": ["record_id", "id_number", "card_number", "step", "at"],
                        "properties": {"record_id": _STR, "id_number": _STR,
                                       "card_number": _STR, "bank": _STR,
                                       "step": {"enum": [s.value for s in m.Step]}, "at": _STR}},
        errors=(m.CardInvalid, PersonNotFound))}

    async def post(self) -> None:
        body = self.json_body()
        try:
            id_number = IdNumber.parse(str(body.get("id_number", ""))).value
            at = datetime.fromisoformat(str(body["at"]))
            record_id, number = str(body["record_id"]), str(body["card_number"])
        except (ValueError, KeyError):
            raise m.CardInvalid("record_id, id_number, card_number, step and at are required",
                                field="record_id") from None
        if at.tzinfo is None:
            raise m.CardInvalid("at needs a time zone", field="at")
        assert self.principal is not None
        outcome = await cards.ingest_issuance(
            source=self.principal.subject, record_id=record_id, id_number=id_number,
            card_number=number, step=str(body.get("step")), at=at,
            bank=str(body.get("bank") or "中国工商银行"), ctx=self.deps.cards)
        self.write_json(200, {"outcome": outcome})


class UsageFeedHandler(BaseHandler):
    kind = HandlerKind.SERVICE
    service_scope = "card.feed"
    openapi: ClassVar = {"post": Operation(
        "card_usage_feed", ("机构接口",), {200: ("已记录", _OBJ)},
        request_schema={"type": "object",
                        "required": ["record_id", "card_number", "kind", "date"],
                        "properties": {"record_id": _STR, "card_number": _STR,
                                       "kind": {"enum": ["hospital", "pharmacy", "bank",
                                                         "other"]}, "date": _STR}},
        errors=(m.CardInvalid, m.CardNotFound))}

    async def post(self) -> None:
        body = self.json_body()
        try:
            day = date.fromisoformat(str(body.get("date", "")))
            record_id, number = str(body["record_id"]), str(body["card_number"])
        except (ValueError, KeyError):
            raise m.CardInvalid("record_id, card_number, kind and date are required",
                                field="record_id") from None
        assert self.principal is not None
        outcome = await cards.ingest_usage(source=self.principal.subject, record_id=record_id,
                                           card_number=number, kind=str(body.get("kind")),
                                           day=day, ctx=self.deps.cards)
        self.write_json(200, {"outcome": outcome})


class ServicePointsHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation("card_service_points", TAG,
                                          {200: ("社保卡服务网点", _OBJ)}, query={"region": _STR})}

    async def get(self) -> None:
        region = self.get_query_argument("region", "15")
        self.write_json(200, {"service_points": [
            {"service_point_id": p.point_id, "name": p.name, "address": p.address,
             "region_code": p.region_code} for p in service_points.in_region(region)]})


routes: list[Route] = [
    (r"/v1/cards", CardsHandler),
    (r"/v1/cards/service-points", ServicePointsHandler),
    (r"/v1/cards/ecode/verify", ECodeVerifyHandler),
    (r"/v1/cards/feed/issuance", IssuanceFeedHandler),
    (r"/v1/cards/feed/usage", UsageFeedHandler),
    (r"/v1/cards/(?P<card_id>C[A-Za-z0-9]+)", CardDetailHandler),
    (r"/v1/cards/(?P<card_id>C[A-Za-z0-9]+)/ecode", ECodeHandler),
    (r"/v1/cards/(?P<card_id>C[A-Za-z0-9]+)/ecode/sms", ECodeConfirmHandler),
    (r"/v1/cards/(?P<card_id>C[A-Za-z0-9]+)/(?P<event>[a-z_]+)", CardEventHandler),
]
