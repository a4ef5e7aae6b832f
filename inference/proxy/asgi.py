"""The LiteLLM proxy app behind our route gate; what the stack runs with uvicorn.

``CONFIG_FILE_PATH=litellm/config.yaml uvicorn inference.proxy.asgi:app --workers 2``

LiteLLM registers ~650 routes, and dozens of them (its UI, docs, SSO, "public" hubs, asset
and config readers) answer before any auth runs, so an auth hook alone cannot close them.
The gate lets through only the inference surface (then our ``custom_auth`` decides), the
readiness probes, and requests that carry the master key (operators); everything else gets
an OpenAI-style 404 without reaching LiteLLM. nginx applies the same allowlist publicly.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from litellm.proxy.proxy_server import app as litellm_app

from inference.proxy.preload import settle_optional_imports
from inference.proxy.routes import INFERENCE_ROUTES, PROBE_ROUTES
from inference.proxy.settings import SETTINGS

settle_optional_imports()

Scope = dict[str, Any]


def _bearer(scope: Scope) -> bytes:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return bytes(value[7:]).strip() if value[:7].lower() == b"bearer " else bytes(value).strip()
    return b""


def _is_operator(scope: Scope) -> bool:
    master = SETTINGS.master_key.encode()
    return bool(master) and hmac.compare_digest(_bearer(scope), master)


class RouteGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)  # lifespan
            return
        path = scope.get("path", "")
        if INFERENCE_ROUTES.match(path) or path in PROBE_ROUTES or _is_operator(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {
                "error": {
                    "message": f"Unknown endpoint: {scope.get('method', 'GET')} {path}",
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
