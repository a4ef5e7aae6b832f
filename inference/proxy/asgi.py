"""The LiteLLM proxy app behind our route gate; what the stack runs with uvicorn.

``CONFIG_FILE_PATH=litellm/config.yaml uvicorn inference.proxy.asgi:app --workers 2``

LiteLLM registers ~650 routes, and dozens of them (its UI, docs, SSO, "public" hubs, asset
and config readers) answer before any auth runs, so an auth hook alone cannot close them.
The gate lets through only the exact (method, path) pairs of routes.py (then our
``custom_auth`` decides), the readiness probes, and requests that carry the master key
(operators, on this private port); everything else gets an OpenAI-style 404 without reaching
LiteLLM. WebSockets are refused to everyone (close 1008): none is part of the surface. nginx
applies the same allowlist publicly.

The gate also owns the call id: LiteLLM takes it from the ``x-litellm-call-id`` request
header, and the usage record is stored once per call id, so a client's id could collide with
another call (one of them never billed) or be too long to store. Every request gets a fresh
uuid4; the client's value is kept, bounded, as ``x-llmaas-client-request-id``.

And the request id (logs.py): ``x-request-id`` as nginx set it (or the client, on this private
port) when well-formed, else a fresh one; LiteLLM and the hooks see it in the headers (the usage
record stores it), every log line written while the request runs carries it, the response
returns it, and the gate writes one JSON access line per request.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from typing import Any

from litellm.proxy.proxy_server import app as litellm_app

from inference.proxy.logs import REQUEST_ID_HEADER, configure, request_id_or_new, reset_request_id, set_request_id
from inference.proxy.preload import settle_optional_imports
from inference.proxy.routes import is_probe_route, is_public_route
from inference.proxy.settings import SETTINGS

settle_optional_imports()
configure()
access_log = logging.getLogger("llmaas.proxy.access")

Scope = dict[str, Any]

CALL_ID_HEADER = b"x-litellm-call-id"
CLIENT_REQUEST_ID_HEADER = b"x-llmaas-client-request-id"
CLIENT_REQUEST_ID_MAX = 100
RESERVED_HEADER_PREFIXES = (b"x-litellm-", b"litellm", b"x-llmaas-")
# Ours, but the client's to send: it only chooses among deployments the catalog allows (routing.py).
CLIENT_HEADERS = frozenset({b"x-llmaas-routing-profile"})
REQUEST_ID = REQUEST_ID_HEADER.encode()


def _bearer(scope: Scope) -> bytes:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return bytes(value[7:]).strip() if value[:7].lower() == b"bearer " else bytes(value).strip()
    return b""


def _is_operator(scope: Scope) -> bool:
    master = SETTINGS.master_key.encode()
    return bool(master) and hmac.compare_digest(_bearer(scope), master)


def _client_request_id(value: bytes) -> bytes:
    """The client's call id as an attribute: printable ASCII, bounded."""
    return bytes(b for b in value[:CLIENT_REQUEST_ID_MAX] if 0x20 < b < 0x7F)


def _request_id(scope: Scope) -> str:
    """The request's id: the incoming ``x-request-id`` when well-formed, else a fresh one."""
    for name, value in scope.get("headers") or ():
        if name == REQUEST_ID:
            return request_id_or_new(value)
    return request_id_or_new(None)


def _with_own_headers(scope: Scope, request_id: str) -> Scope:
    """The scope with our call id and the request id, and without the headers by which a client
    could steer LiteLLM (``x-litellm-num-retries``, ``-timeout``, ``-tags``,
    ``-spend-logs-metadata``, ``litellm_user_api_key``, …) or pose as us."""
    headers = []
    client_id = b""
    for name, value in scope.get("headers") or ():
        if name == CALL_ID_HEADER:
            client_id = client_id or _client_request_id(value)
        elif name == REQUEST_ID:
            continue  # replaced by the checked one below
        elif not name.startswith(RESERVED_HEADER_PREFIXES) or name in CLIENT_HEADERS:
            headers.append((name, value))
    headers.append((CALL_ID_HEADER, str(uuid.uuid4()).encode()))
    headers.append((REQUEST_ID, request_id.encode()))
    if client_id:
        headers.append((CLIENT_REQUEST_ID_HEADER, client_id))
    return {**scope, "headers": headers}


class RouteGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan
            return
        request_id = _request_id(scope)
        token = set_request_id(request_id)
        started = time.monotonic()
        status = 0

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != REQUEST_ID]
                message = {**message, "headers": [*headers, (REQUEST_ID, request_id.encode())]}
            await send(message)

        try:
            await self._gate(scope, receive, send_with_id, request_id)
        finally:
            if not is_probe_route(scope.get("method", "GET"), scope.get("path", "")):
                access_log.info(
                    "%s %s %s",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status,
                    extra={"status": status, "duration_ms": round((time.monotonic() - started) * 1000, 1)},
                )
            reset_request_id(token)

    async def _gate(self, scope: Scope, receive: Any, send: Any, request_id: str) -> None:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if is_public_route(method, path) or is_probe_route(method, path) or _is_operator(scope):
            await self.app(_with_own_headers(scope, request_id), receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "message": f"Unknown endpoint: {method} {path}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "unknown_url",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


app = RouteGate(litellm_app)
