"""The URL conf as tests walk it: every route with its view (for the authorization matrix and
the scope declarations)."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView


def routes(patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(route as the resolver spells it, callback) for every pattern, nested includes flattened."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def view_class(callback: object) -> type[APIView] | None:
    """The DRF view behind a callback, or None for a plain function view."""
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return view if isinstance(view, type) and issubclass(view, APIView) else None
