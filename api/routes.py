"""Every route of the service, and the start-up checks on them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tornado.web import RequestHandler, URLSpec

from api import (
    account,
    auth,
    card,
    console,
    guides,
    h5,
    medical,
    ops,
    pension,
    pension_records,
    records,
    registry,
    wechat_face,
)
from api.base import BaseHandler, HandlerKind, Route
from api.openapi import HTTP_METHODS, path_template
from api.web import WebContext


class RouteDeclarationError(RuntimeError):
    """A handler that does not say who may call it, or a route the docs cannot describe."""


def all_routes() -> list[Route]:
    # Each domain module ends with its ``routes``; they are listed here once.
    return [*ops.routes, *auth.routes, *account.routes, *pension.routes, *wechat_face.routes,
            *pension_records.routes, *medical.routes, *card.routes, *registry.routes,
            *records.routes, *console.routes, *h5.routes, *guides.routes]


def check_routes(routes: Iterable[Route]) -> None:
    """Refuse to start with a handler whose access kind is undeclared."""
    for route in routes:
        pattern, handler = route[0], route[1]
        kind = getattr(handler, "kind", None)
        if not isinstance(kind, HandlerKind):
            raise RouteDeclarationError(
                f"{handler.__name__} ({pattern}) declares no kind: set kind = "
                "HandlerKind.PUBLIC, PERSON or SERVICE"
            )
        if kind is HandlerKind.SERVICE and not getattr(handler, "service_scope", None):
            raise RouteDeclarationError(f"{handler.__name__} is service-authenticated "
                                        "but names no service_scope")
        if "(" in pattern.replace("(?P<", ""):
            raise RouteDeclarationError(f"{pattern}: use named groups (?P<name>...) only")


def undocumented_methods(routes: Iterable[Route]) -> list[str]:
    """Methods a handler answers that its OpenAPI declaration leaves out."""
    missing = []
    for route in routes:
        handler = route[1]
        if not getattr(handler, "in_openapi", True):
            continue
        documented = getattr(handler, "openapi", {})
        for method in HTTP_METHODS:
            implemented = getattr(handler, method) is not getattr(RequestHandler, method)
            if implemented and method not in documented:
                missing.append(f"{method.upper()} {path_template(route[0])[0]}")
    return missing


def bind(routes: Sequence[Route], web: WebContext, contexts: Mapping[str, Any]) -> list[URLSpec]:
    """Each handler gets the web context and the one domain context its route names."""
    specs = []
    for route in routes:
        pattern, handler = route[0], route[1]
        kwargs: dict[str, Any] = dict(route[2]) if len(route) > 2 else {}
        if issubclass(handler, BaseHandler):
            context = kwargs.pop("context", None)
            kwargs.update(web=web, route=path_template(pattern)[0],
                          ctx=contexts[context] if context else None)
        specs.append(URLSpec(pattern + "$" if not pattern.endswith("$") else pattern,
                             handler, kwargs))
    return specs
