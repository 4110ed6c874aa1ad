"""The OpenAPI document covers every route; undeclared handlers stop the app."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from tornado.web import RequestHandler

from api.messages import CATALOGUE, message_for, pick_locale
from api.openapi import documented_codes, path_template
from api.routes import RouteDeclarationError, all_routes, undocumented_methods
from app import make_app
from tests import probe_api


async def test_the_served_document_is_valid_openapi_3_1_and_covers_every_route(api):
    document = (await api.get("/openapi.json")).json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    for route in all_routes():
        handler = route[1]
        if getattr(handler, "in_openapi", True):
            assert path_template(route[0])[0] in document["paths"], route[0]


def test_every_method_a_handler_answers_is_documented():
    assert undocumented_methods(all_routes()) == []
    assert undocumented_methods(probe_api.routes) == []


def test_every_documented_error_code_has_a_chinese_message(settings, deps):
    app = make_app(settings, deps, probe_api.routes, {"probe": deps})
    document = app.settings["openapi_document"]
    validate(document)
    codes = documented_codes(document)
    assert {"INTERNAL_ERROR", "IDEMPOTENCY_KEY_REUSED", "PRECONDITION_FAILED"} <= codes
    missing = sorted(code for code in codes if code not in CATALOGUE["zh-CN"])
    assert missing == []


def test_the_document_maps_error_codes_to_the_statuses_the_server_sends(settings, deps):
    document = make_app(settings, deps, probe_api.routes, {"probe": deps}).settings[
        "openapi_document"]
    put = document["paths"]["/probe/notes/{note_id}"]["put"]
    assert {"412", "428", "404", "413", "400", "500"} <= set(put["responses"])
    assert any(p["name"] == "If-Match" for p in put["parameters"])
    post = document["paths"]["/probe/notes"]["post"]
    assert "422" in post["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_the_app_refuses_to_start_with_an_undeclared_handler(settings, deps):
    class Forgetful(RequestHandler):
        async def get(self) -> None:
            self.write("who may call me?")

    with pytest.raises(RouteDeclarationError, match="declares no kind"):
        make_app(settings, deps, [(r"/forgetful", Forgetful)])


def test_a_service_handler_must_name_its_scope(settings, deps):
    from api.base import BaseHandler, HandlerKind

    class Vague(BaseHandler):
        kind = HandlerKind.SERVICE

    with pytest.raises(RouteDeclarationError, match="service_scope"):
        make_app(settings, deps, [(r"/vague", Vague)])


def test_messages_fall_back_to_chinese_and_fill_parameters():
    assert pick_locale("mn-MN,zh;q=0.8") == "zh-CN"  # no Mongolian catalogue yet
    assert pick_locale(None) == "zh-CN"
    assert message_for("NO_SUCH_CODE") == message_for("INTERNAL_ERROR")
    assert "5 分钟" in message_for("RATE_LIMITED", params={"retry_after_text": "5 分钟"})
