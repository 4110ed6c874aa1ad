"""Pension certification routes: consent, reference photo, challenge and frames, status,
agent and commitment routes, passive signals, review cases."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from tornado.httputil import HTTPFile, parse_body_arguments

from api.base import BaseHandler, BodyLimit, HandlerKind, Route
from api.messages import message_for
from api.openapi import Operation
from auth.access import Action
from auth.model import Forbidden
from common.errors import ValidationFailed
from common.idempotency import StoredResponse
from pension_cert import service as cert
from pension_cert.model import CertState
from pension_cert.pool import FacePoolBusy
from people.model import IdNumber, PersonNotFound

TAG = ("养老金资格认证",)
_OBJ = {"type": "object"}
_STR = {"type": "string"}


def state_view(state: CertState | None, today: date) -> dict[str, Any]:
    if state is None:
        return {"status": "not_started", "valid_through": None, "history": []}
    return {
        "status": state.status_on(today).value,
        "valid_through": state.valid_through.isoformat(),
        "last_certified_on": state.last_certified_on.isoformat()
        if state.last_certified_on else None,
        "suspended_from": str(state.suspended_from) if state.suspended_from else None,
        "history": state.history[-20:],
    }


class PensionHandler(BaseHandler):
    kind = HandlerKind.PERSON

    async def allowed(self, person_id: str, action: Action = Action.PENSION_CERT) -> str | None:
        return await self.authorize(action, person_id)

    def text(self, name: str, *, required: bool = True, max_length: int = 500) -> str:
        value = self.json_body().get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise ValidationFailed(f"{name} is required", field=name)
        return value.strip()


class ConsentHandler(PensionHandler):
    openapi: ClassVar = {
        "get": Operation("face_consent", TAG, {200: ("人脸识别同意记录", _OBJ)},
                         errors=(PersonNotFound,)),
        "post": Operation("face_consent_decide", TAG, {200: ("已记录", _OBJ)},
                          request_schema={"type": "object", "required": ["decision"],
                                          "properties": {"decision": {
                                              "enum": ["give", "refuse", "withdraw"]},
                                              "notice_version": _STR,
                                              "paper_reference": _STR, "reason": _STR}},
                          errors=(PersonNotFound, cert.NotAPensioner,
                                  cert.ConsentIsPersonal)),
    }

    async def get(self, person_id: str) -> None:
        await self.allowed(person_id, Action.PENSION_CERT)
        self.write_json(200, await cert.consent_of(person_id, ctx=self.deps.cert))

    async def post(self, person_id: str) -> None:
        await self.allowed(person_id)
        body = self.json_body()
        entry = await cert.record_consent(
            self.me, person_id, self.text("decision", max_length=10), ctx=self.deps.cert,
            notice_version=str(body.get("notice_version") or cert.NOTICE_VERSION),
            paper_reference=self.text("paper_reference", required=False, max_length=100)
            or None, reason=self.text("reason", required=False) or None)
        self.write_json(200, {"status": entry["status"], "notice_version": entry["notice_version"],
                              "other_routes": entry["other_routes"]})


class ReferencePhotoHandler(PensionHandler):
    """An agent uploads an official photo; only its sealed encoding is kept."""

    body_limit = BodyLimit.UPLOAD
    openapi: ClassVar = {"post": Operation(
        "reference_photo", TAG, {204: ("已登记", None)},
        errors=(cert.PhotoRejected, Forbidden, PersonNotFound, FacePoolBusy))}

    async def post(self, person_id: str) -> None:
        await self.allowed(person_id, Action.PENSION_CERT)
        self.require_agent()
        photo = self.body_bytes()
        try:
            await cert.enroll_reference(person_id, photo, source="agent_upload",
                                        actor=self.me.subject, ctx=self.deps.cert)
        finally:
            del photo  # nothing of the image outlives the request
        self.set_status(204)
        self.finish()


class ChallengesHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "face_challenge", TAG, {201: ("动作挑战（含一次性 nonce）", _OBJ)},
        request_schema={"type": "object", "required": ["person_id"],
                        "properties": {"person_id": _STR}},
        idempotent_create=True,
        errors=(cert.ConsentRequired, cert.NoReference, cert.AttemptsExhausted,
                cert.NotAPensioner, cert.CertificationBlocked, PersonNotFound,
                cert.FaceCheckIsSelfService))}

    async def post(self) -> None:
        person_id = self.text("person_id", max_length=40)
        on_behalf = await self.allowed(person_id)

        async def start(_seed: str) -> StoredResponse:
            challenge = await cert.start_challenge(self.me, person_id, on_behalf=on_behalf,
                                                   ctx=self.deps.cert)
            return StoredResponse(201, challenge)

        await self.create_idempotently(start)


class FramesHandler(PensionHandler):
    """multipart/form-data: ``nonce`` and the JPEG frames, in capture order."""

    body_limit = BodyLimit.UPLOAD
    openapi: ClassVar = {"post": Operation(
        "face_frames", TAG, {200: ("认证结果：通过，或不通过的原因与建议（不含分数）", _OBJ)},
        errors=(cert.ChallengeNotFound, cert.NonceRefused, cert.NonceExpired, cert.NonceUsed,
                cert.FramesInvalid, cert.AttemptsExhausted, FacePoolBusy))}

    async def post(self, challenge_id: str) -> None:
        nonce, frames = self._form()
        result = await cert.submit_frames(self.me, challenge_id, nonce, frames,
                                          ctx=self.deps.cert)
        body: dict[str, Any] = {"result": "pass" if result.passed else "fail"}
        if result.passed:
            assert result.state is not None
            body["status"] = state_view(result.state, self.deps.cert.today())
            body["pending_review"] = result.pending_review
            body["message"] = message_for("FACE_PASSED" if not result.pending_review
                                          else "FACE_PENDING_REVIEW")
        else:
            code = f"FACE_{result.reason}"
            body["reason"] = {"code": code, "message": message_for(code)}
            body["attempts_left"] = result.attempts_left
            if not result.attempts_left:
                body["other_routes"] = cert.OTHER_ROUTES
        self.write_json(200, body)

    def _form(self) -> tuple[str, list[bytes]]:
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        parse_body_arguments(self.request.headers.get("Content-Type", ""), self.body_bytes(),
                             arguments, files, self.request.headers)
        nonce = (arguments.get("nonce") or [b""])[0].decode(errors="replace")
        frames = [f.body for name in sorted(files, key=_frame_order) for f in files[name]]
        if not nonce or not frames:
            raise ValidationFailed("send the nonce and the frames as multipart", field="frames")
        return nonce, frames


def _frame_order(name: str) -> tuple[int, str, str]:
    """Frames in capture order by the number in their part name (frame002 before frame010),
    compared as digit strings: a part name of thousands of digits is no number to parse."""
    digits = "".join(c for c in name if c.isdigit()).lstrip("0")
    return (len(digits), digits, name)


class StatusHandler(PensionHandler):
    openapi: ClassVar = {"get": Operation("cert_status", TAG, {200: ("认证状态与记录", _OBJ)},
                                          errors=(PersonNotFound,))}

    async def get(self, person_id: str) -> None:
        await self.allowed(person_id, Action.PENSION_CERT)
        state, attempts = await cert.status_of(person_id, ctx=self.deps.cert)
        self.write_json(200, {**state_view(state, self.deps.cert.today()),
                              "attempts": attempts})


class AgentCertificationHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "agent_certification", TAG, {200: ("已认证", _OBJ)},
        request_schema={"type": "object", "required": ["kind", "note"], "properties": {
            "kind": {"enum": ["home_visit", "office", "commitment"]}, "note": _STR,
            "signer": _STR}},
        errors=(Forbidden, PersonNotFound, cert.CertificationBlocked))}

    async def post(self, person_id: str) -> None:
        await self.allowed(person_id, Action.PENSION_CERT)
        self.require_agent()
        state = await cert.agent_certify(
            self.me, person_id, self.text("kind", max_length=20), self.text("note"),
            self.text("signer", required=False, max_length=40) or None, ctx=self.deps.cert)
        self.write_json(200, state_view(state, self.deps.cert.today()))


class ReviewCasesHandler(PensionHandler):
    openapi: ClassVar = {"get": Operation("review_cases", TAG, {200: ("待复核案件", _OBJ)},
                                          errors=(Forbidden,))}

    async def get(self) -> None:
        self.require_agent()
        cases = await cert.open_cases(self.me, ctx=self.deps.cert)
        self.write_json(200, {"cases": [
            {"case_id": c.case_id, "person_id": c.person_id, "day": c.day,
             "kind": c.suspicion["kind"], "opened_at": c.opened_at.isoformat()}
            for c in cases]})


class ReviewDecisionHandler(PensionHandler):
    openapi: ClassVar = {"post": Operation(
        "review_decision", TAG, {200: ("已处理", _OBJ)},
        request_schema={"type": "object", "required": ["decision"],
                        "properties": {"decision": {"enum": ["clear", "fraud", "confirm"]}}},
        errors=(Forbidden, cert.CaseNotFound, cert.CaseAlreadyDecided))}

    async def post(self, case_id: str) -> None:
        self.require_agent()
        state = await cert.decide_case(case_id, self.text("decision", max_length=10),
                                       agent=self.me, ctx=self.deps.cert)
        self.write_json(200, state_view(state, self.deps.cert.today()))


class SignalsHandler(BaseHandler):
    """Proof-of-life signals from feeds: settlements, card use, bank and civil-affairs records."""

    kind = HandlerKind.SERVICE
    service_scope = "pension.signals"
    openapi: ClassVar = {"post": Operation(
        "pension_signal", TAG, {200: ("已处理（重复记录不会重复处理）", _OBJ)},
        request_schema={"type": "object",
                        "required": ["record_id", "id_number", "kind", "date"],
                        "properties": {"record_id": _STR, "id_number": _STR,
                                       "kind": {"enum": list(cert.SIGNAL_KINDS)},
                                       "date": {"type": "string", "format": "date"}}},
        errors=(PersonNotFound, cert.NotAPensioner))}

    async def post(self) -> None:
        body = self.json_body()
        try:
            id_number = IdNumber.parse(str(body.get("id_number", ""))).value
            day = date.fromisoformat(str(body.get("date", "")))
        except ValueError:
            raise ValidationFailed("id_number and date (YYYY-MM-DD) are required",
                                   field="id_number") from None
        person = await self.deps.people.find_by_id_number(id_number)
        if person is None:
            raise PersonNotFound(id_number)
        for name in ("record_id", "kind"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise ValidationFailed(f"{name} is required", field=name)
        # The feed is the authenticated key, never a name the body claims.
        outcome = await cert.ingest_signal(source=f"key:{self.me.subject}",
                                           record_id=body["record_id"],
                                           person_id=person.person_id, kind=body["kind"],
                                           day=day, ctx=self.deps.cert)
        self.write_json(200, {"outcome": outcome})


routes: list[Route] = [
    (r"/v1/pension/people/(?P<person_id>[A-Za-z0-9]+)/consent", ConsentHandler),
    (r"/v1/pension/people/(?P<person_id>[A-Za-z0-9]+)/reference-photo", ReferencePhotoHandler),
    (r"/v1/pension/people/(?P<person_id>[A-Za-z0-9]+)/status", StatusHandler),
    (r"/v1/pension/people/(?P<person_id>[A-Za-z0-9]+)/agent-certifications",
     AgentCertificationHandler),
    (r"/v1/pension/challenges", ChallengesHandler),
    (r"/v1/pension/challenges/(?P<challenge_id>[A-Za-z0-9]+)/frames", FramesHandler),
    (r"/v1/pension/review-cases", ReviewCasesHandler),
    (r"/v1/pension/review-cases/(?P<case_id>[A-Za-z0-9]+)/decision", ReviewDecisionHandler),
    (r"/v1/pension/signals", SignalsHandler),
]
