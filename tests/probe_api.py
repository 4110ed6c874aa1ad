"""A small resource mounted only in tests, to drive the shared HTTP conventions
(Idempotency-Key, If-Match, rate limits, bad JSON, crashes) through the real
BaseHandler over real HTTP before any domain route uses them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from api.base import BaseHandler, HandlerKind
from api.openapi import Operation
from common.errors import NotFound, ValidationFailed
from common.idempotency import StoredResponse
from common.mongo import insert_once
from common.ratelimit import RateRule
from common.versioning import etag, step_version

NOTES = "probe_notes"
LIMIT = RateRule("probe_per_ip", limit=3, window=timedelta(minutes=1))
_NOTE = {"type": "object"}


def _text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise ValidationFailed("text is required", field="text")
    return text


class NotesHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation("create_note", ("probe",), {201: ("created", _NOTE)},
                                           request_schema=_NOTE, idempotent_create=True)}

    async def post(self) -> None:
        text = _text(self.json_body())

        async def create(seed: str) -> StoredResponse:
            note_id = "N" + seed[:12]
            await insert_once(self.deps.db[NOTES], {"_id": note_id, "text": text, "version": 1})
            return StoredResponse(201, {"note_id": note_id, "text": text, "version": 1},
                                  {"ETag": etag(1), "Location": f"/probe/notes/{note_id}"})

        await self.create_idempotently(create)


class NoteHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {
        "get": Operation("get_note", ("probe",), {200: ("note", _NOTE)}, errors=(NotFound,)),
        "put": Operation("put_note", ("probe",), {200: ("updated", _NOTE)},
                         request_schema=_NOTE, versioned_update=True, errors=(NotFound,)),
    }

    async def _load(self, note_id: str) -> dict[str, Any]:
        note = await self.deps.db[NOTES].find_one({"_id": note_id})
        if note is None:
            raise NotFound(note_id)
        return note

    async def get(self, note_id: str) -> None:
        note = await self._load(note_id)
        self.write_json(200, {"note_id": note_id, "text": note["text"],
                              "version": note["version"]}, {"ETag": etag(note["version"])})

    async def put(self, note_id: str) -> None:
        text = _text(self.json_body())
        note = await self._load(note_id)
        self.require_if_match(note["version"])
        version = await step_version(
            guard=self.deps.guard, clock=self.deps.clock, collection=self.deps.db[NOTES],
            record_id=note_id, expected_version=note["version"], changes={"text": text},
        )
        self.write_json(200, {"note_id": note_id, "text": text, "version": version},
                        {"ETag": etag(version)})


class LimitedHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation("limited", ("probe",), {200: ("ok", _NOTE)})}

    async def post(self) -> None:
        await self.deps.limiter.hit("probe", self.client_ip(), [LIMIT])
        self.write_json(200, {"ok": True, "client_ip": self.client_ip()})


class EchoHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"post": Operation("echo", ("probe",), {200: ("echo", _NOTE)})}

    async def post(self) -> None:
        self.write_json(200, self.json_body())


class CrashHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation("crash", ("probe",), {200: ("never", None)})}

    async def get(self) -> None:
        raise RuntimeError("secret internal detail /srv/app/db.py line 42")


routes = [
    (r"/probe/notes", NotesHandler),
    (r"/probe/notes/(?P<note_id>[^/]+)", NoteHandler),
    (r"/probe/limited", LimitedHandler),
    (r"/probe/echo", EchoHandler),
    (r"/probe/crash", CrashHandler),
]
