"""The H5 pages served by the app: the face check (/h5/certify), the mobile app's web view
and the fallback when the mini-program camera fails. The page is static; it talks to the
public API with the token the app hands it (in the URL fragment, never sent here)."""

from __future__ import annotations

from pathlib import Path

from api.base import BaseHandler, HandlerKind, Route
from api.contract import Page
from api.http import HTML_POLICY

H5_DIR = Path(__file__).resolve().parent.parent / "web" / "h5"
HTML = "text/html; charset=UTF-8"


class CertifyPageHandler(BaseHandler):
    kind = HandlerKind.PUBLIC
    in_openapi = False

    async def get(self) -> Page:
        return Page((H5_DIR / "certify.html").read_text(encoding="utf-8"), HTML, headers={
            "Content-Security-Policy": HTML_POLICY,
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
            "Cache-Control": "no-store"})


routes: list[Route] = [
    (r"/h5/certify", CertifyPageHandler),
]
