"""A small resource mounted only in tests, to drive the shared HTTP conventions
(Idempotency-Key, If-Match, rate limits, bad JSON, crashes) through the real
BaseHandler over real HTTP before any domain route uses them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from api.base import BaseHandler, HandlerKind
from api.contract import Operation, Reply, RequestModel, Resp, ResponseModel
from common.errors import NotFound
from common.mongo import insert_once
from common.ratelimit import RateRule
from common.versioning import etag, step_version
from composition import Container

NOTES = "probe_notes"
LIMIT = RateRule("probe_per_ip", limit=3, window=timedelta(minutes=1))
TAG = ("probe",)


class NoteText(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "一"}]})

    text: str = Field(min_length=1)


class Note(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note_id": "N1", "text": "一", "version": 1}]})

    note_id: str
    text: str
    version: int


class Anything(RequestModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"n": 1}]})


class Echoed(ResponseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"n": 1}]})


class Limited(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ok": True,
                                                               "client_ip": "198.51.0.1"}]})

    ok: bool
    client_ip: str


class ProbeHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    ctx: Container


class NotesHandler(ProbeHandler):
    openapi: ClassVar = {"post": Operation(
        "create_note", "新建便签", "测试用资源。", TAG, {201: Resp("created", Note, etag=True)},
        body=NoteText, idempotent_create=True)}

    async def post(self) -> Reply:
        text = self.body(NoteText).text

        async def create(seed: str) -> Reply:
            note_id = "N" + seed[:12]
            await insert_once(self.ctx.db[NOTES], {"_id": note_id, "text": text, "version": 1})
            return Reply(Note(note_id=note_id, text=text, version=1), 201,
                         {"ETag": etag(1), "Location": f"/probe/notes/{note_id}"})

        return await self.create_idempotently(create)


class NoteHandler(ProbeHandler):
    openapi: ClassVar = {
        "get": Operation("get_note", "便签", "测试用资源。", TAG,
                         {200: Resp("note", Note, etag=True)}, errors=(NotFound,)),
        "put": Operation("put_note", "改便签", "测试用资源。", TAG,
                         {200: Resp("updated", Note, etag=True)}, body=NoteText,
                         versioned_update=True, errors=(NotFound,)),
    }

    async def _load(self, note_id: str) -> dict[str, Any]:
        note = await self.ctx.db[NOTES].find_one({"_id": note_id})
        if note is None:
            raise NotFound(note_id)
        return note

    async def get(self, note_id: str) -> Reply:
        note = await self._load(note_id)
        return Reply(Note(note_id=note_id, text=note["text"], version=note["version"]), 200,
                     {"ETag": etag(note["version"])})

    async def put(self, note_id: str) -> Reply:
        text = self.body(NoteText).text
        note = await self._load(note_id)
        self.require_if_match(note["version"])
        version = await step_version(
            guard=self.ctx.guard, clock=self.ctx.clock, collection=self.ctx.db[NOTES],
            record_id=note_id, expected_version=note["version"], changes={"text": text},
        )
        return Reply(Note(note_id=note_id, text=text, version=version), 200,
                     {"ETag": etag(version)})


class LimitedHandler(ProbeHandler):
    openapi: ClassVar = {"post": Operation("limited", "限流", "测试用资源。", TAG,
                                           {200: Resp("ok", Limited)})}

    async def post(self) -> Limited:
        await self.ctx.limiter.hit("probe", self.client_ip(), [LIMIT])
        return Limited(ok=True, client_ip=self.client_ip())


class EchoHandler(ProbeHandler):
    openapi: ClassVar = {"post": Operation("echo", "回显", "测试用资源。", TAG,
                                           {200: Resp("echo", Echoed)}, body=Anything)}

    async def post(self) -> Echoed:
        return Echoed.model_validate(self.body(Anything).model_dump())


class CrashHandler(ProbeHandler):
    openapi: ClassVar = {"get": Operation("crash", "崩溃", "测试用资源。", TAG,
                                          {200: Resp("never")})}

    async def get(self) -> None:
        raise RuntimeError("secret internal detail /srv/app/db.py line 42")


routes = [
    (r"/probe/notes", NotesHandler, {"context": "probe"}),
    (r"/probe/notes/(?P<note_id>[^/]+)", NoteHandler, {"context": "probe"}),
    (r"/probe/limited", LimitedHandler, {"context": "probe"}),
    (r"/probe/echo", EchoHandler, {"context": "probe"}),
    (r"/probe/crash", CrashHandler, {"context": "probe"}),
]
