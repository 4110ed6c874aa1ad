"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its viewer."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, ClassVar

import swagger_ui_bundle
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.web import HTTPError, StaticFileHandler

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Operation, Page, Resp
from api.errors import HTTP_CODES, ApiError
from api.http import html_page, secure_headers
from api.messages import message_for
from api.schemas.ops import Health, Ready
from common.mongo import DATABASE_ERROR

READINESS_TIMEOUT_S = 3.0
TAG = ("运维",)


class HealthzHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "healthz", "进程存活", "进程在运行就回答 200，不访问数据库。", TAG,
        {200: Resp("进程在运行", Health)})}

    async def get(self) -> Health:
        return Health(status="ok")


class ReadyzHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "readyz", "可以接收请求", "数据库能应答时回答 200，否则 503（带 Retry-After）。", TAG,
        {200: Resp("可以接收请求", Ready)}, errors=("NOT_READY",))}

    async def get(self) -> Ready:
        try:
            await asyncio.wait_for(self.web.ping(), READINESS_TIMEOUT_S)
        except (DATABASE_ERROR, TimeoutError) as error:
            reason = f"database did not answer: {type(error).__name__}"
            raise ApiError(503, "NOT_READY", reason=reason, headers={"Retry-After": "5"}) from None
        return Ready(status="ready")


class MetricsHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "metrics", "运行指标", "Prometheus 文本格式的请求、发送队列与每日任务指标。", TAG,
        {200: Resp("Prometheus 文本格式指标", content_type="text/plain",
                   schema={"type": "string"})})}

    async def get(self) -> Page:
        return Page(generate_latest(self.web.metrics.registry), CONTENT_TYPE_LATEST)


class OpenApiHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "openapi", "接口文档", "本服务的 OpenAPI 3.1 文档（由接口模型生成）。", TAG,
        {200: Resp("OpenAPI 3.1 文档", schema={"type": "object"})})}

    async def get(self) -> None:
        self.write_json(200, self.application.settings["openapi_document"])


SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
ASSETS_DIR = Path(__file__).resolve().parent.parent / "web" / "assets"

_DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>12333 服务 API 文档</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/static/docs-init.js"></script>
</body></html>"""

_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"});"""


class DocsHandler(BaseHandler):
    """Swagger UI from the bundled, offline copy: no CDN is reachable in production networks."""

    kind = HandlerKind.PUBLIC
    openapi: ClassVar = {"get": Operation(
        "docs", "接口文档页面", "离线打包的 Swagger UI，浏览接口文档。", TAG,
        {200: Resp("Swagger UI 页面", content_type="text/html", schema={"type": "string"})})}

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-cache")

    async def get(self) -> None:
        html_page(self, _DOCS_PAGE)


class DocsInitHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    in_openapi = False

    async def get(self) -> None:
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.finish(_DOCS_INIT)


class DocsStaticHandler(StaticFileHandler):
    """Bundled static files (Swagger UI, the pages' own assets), served from this origin:
    no CDN. Errors in the same envelope as every other route."""

    kind = HandlerKind.PUBLIC
    in_openapi = False

    def set_default_headers(self) -> None:
        secure_headers(self)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:
            raise HTTPError(404)  # a NUL byte names no file (and would crash os.stat)
        return super().validate_absolute_path(root, absolute_path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        code = HTTP_CODES.get(status_code, "NOT_FOUND")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"error": {"code": code, "message": message_for(code),
                                          "request_id": uuid.uuid4().hex}},
                               ensure_ascii=False))


routes: list[Route] = [
    (r"/healthz", HealthzHandler),
    (r"/readyz", ReadyzHandler),
    (r"/metrics", MetricsHandler),
    (r"/openapi.json", OpenApiHandler),
    (r"/docs", DocsHandler),
    (r"/docs/static/docs-init.js", DocsInitHandler),
    (r"/docs/static/(?P<path>.+)", DocsStaticHandler, {"path": str(SWAGGER_DIR)}),
    (r"/assets/(?P<path>.+)", DocsStaticHandler, {"path": str(ASSETS_DIR)}),
]
