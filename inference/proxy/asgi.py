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
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from litellm.proxy.proxy_server import app as litellm_app

from inference.proxy.preload import settle_optional_imports
from inference.proxy.routes import is_probe_route, is_public_route
from inference.proxy.settings import SETTINGS

settle_optional_imports()

Scope = dict[str, Any]

CALL_ID_HEADER = b"x-litellm-call-id"
CLIENT_REQUEST_ID_HEADER = b"x-llmaas-client-request-id"
CLIENT_REQUEST_ID_MAX = 100
RESERVED_HEADER_PREFIXES = (b"x-litellm-", b"litellm", b"x-llmaas-")
# Ours, but the client's to send: it only chooses among deployments the catalog allows (routing.py).
CLIENT_HEADERS = frozenset({b"x-llmaas-routing-profile"})


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


def _with_own_headers(scope: Scope) -> Scope:
    """The scope with our call id, and without the headers by which a client could steer
    LiteLLM (``x-litellm-num-retries``, ``-timeout``, ``-tags``, ``-spend-logs-metadata``,
    ``litellm_user_api_key``, …) or pose as us."""
    headers = []
    client_id = b""
    for name, value in scope.get("headers") or ():
        if name == CALL_ID_HEADER:
            client_id = client_id or _client_request_id(value)
        elif not name.startswith(RESERVED_HEADER_PREFIXES) or name in CLIENT_HEADERS:
            headers.append((name, value))
    headers.append((CALL_ID_HEADER, str(uuid.uuid4()).encode()))
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
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if is_public_route(method, path) or is_probe_route(method, path) or _is_operator(scope):
            await self.app(_with_own_headers(scope), receive, send)
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
