"""The public surface of the data plane, in one place: which (method, path) pairs reach
LiteLLM, and which request fields a client may not send.

Shared by the route gate (asgi.py), the auth hook (auth.py), and the nginx config that the
stack renders from it (stack/stack.py ``render_nginx``), so the three cannot drift apart.
Paths are exact: LiteLLM registers many look-alikes (``/models/{m}:generateContent``,
``/engines/{m}/chat/completions``, the unprefixed copies) that stay closed.
"""

from __future__ import annotations

import re

# Routes that generate tokens: admitted against the limits, and their model is checked.
GENERATION_ROUTES = frozenset(
    {
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/responses"),
    }
)
PUBLIC_ROUTES = GENERATION_ROUTES | {("GET", "/v1/models")}
# GET /v1/models/{id}: the id in a safe charset only (no ':', which Google-style routes use;
# no '/', '%' or '.'-only segments). Written so that Python's re and nginx's PCRE read it alike.
MODEL_ID_CHARS = "[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}"
MODEL_ROUTE_PREFIX = "/v1/models/"
MODEL_ROUTE = re.compile(f"^{re.escape(MODEL_ROUTE_PREFIX)}({MODEL_ID_CHARS})$")

# Readiness probes for the orchestrator; reachable only on LiteLLM's own (private) port.
PROBE_ROUTES = frozenset({("GET", "/health/liveliness"), ("GET", "/health/readiness")})

# Request body fields that would let a client steer LiteLLM's router, skip the backend, or
# forge what LiteLLM records about the call: refused with 400 (param names the field).
# Upstream credentials (api_key, …) are not here: hooks.py drops them silently, as before.
REFUSED_FIELDS = frozenset(
    {
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "specific_deployment",
        "deployment_id",
        "model_list",
        "model_info",
        "custom_llm_provider",
        "api_base",
        "base_url",
        "api_version",
        "num_retries",
        "max_retries",
        "retry_policy",
        "router_settings_override",
        "litellm_logging_obj",
        "litellm_call_id",
        "litellm_trace_id",
        "litellm_metadata",
        "litellm_params",
        "proxy_server_request",
        "secret_fields",
        "user_config",
        "azure_ad_token",
        "input_cost_per_token",
        "output_cost_per_token",
        "input_cost_per_second",
        "output_cost_per_second",
        "cost_per_query",
    }
)
# Prefixes of refused fields (mock_response, mock_testing_fallbacks, …; LiteLLM internals).
REFUSED_PREFIXES = ("mock_", "litellm_", "user_api_key", "_")
# Keys inside ``metadata`` that LiteLLM or our hooks own.
REFUSED_METADATA_PREFIXES = ("user_api_key", "llmaas_", "litellm_")
MODEL_MAX_LENGTH = 100  # as ServedModel.name


def is_public_route(method: str, path: str) -> bool:
    return (method, path) in PUBLIC_ROUTES or (method == "GET" and MODEL_ROUTE.match(path) is not None)


def is_generation_route(method: str, path: str) -> bool:
    return (method, path) in GENERATION_ROUTES


def is_probe_route(method: str, path: str) -> bool:
    return (method, path) in PROBE_ROUTES


def model_of_route(path: str) -> str | None:
    """The model id of ``GET /v1/models/{id}``, or None for any other path."""
    match = MODEL_ROUTE.match(path)
    return match.group(1) if match else None


def refused_field(body: dict[str, object]) -> str | None:
    """The first field of a request body that a client may not send (``metadata.<key>`` for a
    reserved metadata key), or None."""
    for name in body:
        if name in REFUSED_FIELDS or name.startswith(REFUSED_PREFIXES):
            return name
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for name in metadata:
            if not isinstance(name, str) or name.startswith(REFUSED_METADATA_PREFIXES):
                return f"metadata.{name}"
    return None
