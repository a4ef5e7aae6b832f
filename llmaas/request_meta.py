"""Who is calling, from where: the client IP, user agent and request id of the current request.

A small middleware puts them in a context variable, so that services (the audit log, login
throttling) read them without ``request`` being threaded through every call. Outside a
request (Celery, management commands) both are empty.

nginx is the one public origin: it sets ``X-Real-IP`` (the peer it saw) and appends to
``X-Forwarded-For``. Those headers are believed only when the direct peer is one of
``settings.TRUSTED_PROXIES``; anyone else could write them. An IPv4 client seen through a
dual-stack socket (``::ffff:a.b.c.d``) is its IPv4 address. No usable address: ``None``, which
the sign-in throttle counts as one address of its own ("unknown") and logs.

The request id is nginx's ``X-Request-ID`` (the client's, when well-formed, else nginx's own;
inference/proxy/logs.py), or a fresh one for a request that did not come through nginx. Every log
line written while the request runs carries it (``logging_json.RequestIdFilter``), and the
response returns it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from inference.proxy.logs import request_id_or_new

USER_AGENT_MAX = 256
REQUEST_ID_RESPONSE_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


_NONE = RequestMeta()
_current: ContextVar[RequestMeta | None] = ContextVar("llmaas_request_meta", default=None)


def current() -> RequestMeta:
    """The current request's client IP and user agent (empty outside a request)."""
    return _current.get() or _NONE


def bind_request_id(request_id: str) -> Token[RequestMeta | None]:
    """Makes ``request_id`` the current one outside a request (a Celery task run on behalf of one);
    give the token back to ``unbind`` when the work is done."""
    return _current.set(RequestMeta(request_id=request_id))


def unbind(token: Token[RequestMeta | None]) -> None:
    _current.reset(token)


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _trusted(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP: the peer's, or what a trusted proxy says the client's was."""
    peer = _valid_ip(request.META.get("REMOTE_ADDR"))
    if peer is None or not _trusted(peer):
        return peer
    real = _valid_ip(request.META.get("HTTP_X_REAL_IP"))
    if real is not None:
        return real
    # X-Forwarded-For: the right-most address that is not one of our proxies (the left part
    # is whatever the client wrote).
    for item in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        ip = _valid_ip(item)
        if ip is not None and not _trusted(ip):
            return ip
    return peer


class RequestMetaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = RequestMeta(
            client_ip(request),
            request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            request_id_or_new(request.META.get("HTTP_X_REQUEST_ID")),
        )
        token = _current.set(meta)
        request.request_id = meta.request_id  # type: ignore[attr-defined]  # for django.request's lines
        try:
            response = self.get_response(request)
            response[REQUEST_ID_RESPONSE_HEADER] = meta.request_id
            return response
        finally:
            _current.reset(token)
