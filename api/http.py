"""Small HTTP helpers every handler shares: parsing JSON safely, believing forwarded
addresses only from trusted proxies, and the headers every answer carries."""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from tornado.web import RequestHandler

from api.errors import ApiError
from common.settings import IPNetwork

# HTML pages: scripts and styles from this origin only (Swagger UI sets style
# attributes), never framed.
HTML_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400. Refused too: nesting deep enough to
    exhaust the parser, NaN/Infinity, integers the database cannot hold, and lone
    surrogates (``"\\ud800"`` decodes to a string that cannot be encoded again, so it
    would fail later, far from here)."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float,
                           parse_int=_int64)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise ApiError(400, "INVALID_JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "INVALID_JSON")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity
        raise ValueError("not a finite number")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:  # the database stores 64-bit integers at most
        raise ValueError("integer out of range")
    return value


def json_value(value: Any) -> str:
    """Dates and instants in answers are ISO 8601 strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def html_page(handler: RequestHandler, page: str) -> None:
    """Answer an HTML page with its content security policy."""
    handler.set_header("Content-Type", "text/html; charset=UTF-8")
    handler.set_header("Content-Security-Policy", HTML_POLICY)
    handler.finish(page)


def secure_headers(handler: RequestHandler) -> None:
    """On every answer: no server banner, no sniffing, never framed."""
    handler.clear_header("Server")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("X-Frame-Options", "DENY")
    handler.set_header("Referrer-Policy", "no-referrer")


def resolve_client_ip(remote_ip: str, forwarded_for: Sequence[str],
                      trusted: Sequence[IPNetwork]) -> str:
    """The caller's address: X-Forwarded-For is believed only as far as trusted proxies vouch.

    Walk the chain from the right (nearest hop) while each hop is a trusted
    proxy; the first untrusted address is the client. A client cannot forge
    its way past this by sending its own X-Forwarded-For, because only the
    entries appended by trusted proxies are read.
    """
    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not is_trusted(remote_ip):
        return remote_ip
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote_ip  # garbage where a trusted proxy should have written an IP
    return hops[0] if hops else remote_ip
