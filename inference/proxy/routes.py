"""The public surface of the data plane, in one place: which (method, path) pairs reach
LiteLLM, and which request fields a client may send on them.

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

# The request fields a client may send, per generation route: OpenAI's own (as of its API
# reference), a few knobs that open-model servers share and that change neither how much is
# generated nor where it goes (top_k, min_p, repetition penalties, llama.cpp's cache_prompt),
# and ``api_key``, which hooks.py drops before LiteLLM would forward it upstream.
# Anything else is a 400 naming the field. An allowlist, not a list of what to refuse: LiteLLM
# reads hundreds of body fields, and any of them can steer it — ``no-log`` skips every usage
# callback (no billing), ``additional_drop_params`` strips the cap we write, ``extra_body`` and
# backend names (``n_cmpl``, ``n_predict``) reach llama-server past admission, ``timeout`` /
# ``stream_timeout`` cut a stream into an unbilled failure, ``fallbacks`` / ``mock_*`` /
# ``api_base`` re-route or skip the backend. Stateful fields that would make LiteLLM pick a
# deployment from a client-supplied id (``previous_response_id``, ``conversation``,
# ``background``) are left out as well.
_BACKEND_KNOBS = frozenset({"top_k", "min_p", "repetition_penalty", "repeat_penalty", "cache_prompt"})
_COMMON = frozenset({"model", "user", "api_key"})
ALLOWED_FIELDS: dict[str, frozenset[str]] = {
    "/v1/chat/completions": _COMMON
    | _BACKEND_KNOBS
    | {
        "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
        "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
        "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
        "top_logprobs", "top_p", "verbosity", "web_search_options",
    },
    "/v1/completions": _COMMON
    | _BACKEND_KNOBS
    | {
        "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
        "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p",
    },
    "/v1/embeddings": _COMMON | {"input", "dimensions", "encoding_format"},
    "/v1/responses": _COMMON
    | {
        "input", "instructions", "include", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
        "prompt_cache_key", "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options",
        "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
    },
}  # fmt: skip
# The JSON types of the structured fields above, as OpenAI documents them: LiteLLM answers some
# wrong types with a 500 (a string ``response_format``, found by the fuzz test), so they are a 400
# here. Numbers that are booleans are refused too. Prompts are checked by admission.check_prompt.
_NUMBER = (int, float)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "response_format": (dict,),
    "stream": (bool,),
    "stream_options": (dict,),
    "tools": (list,),
    "functions": (list,),
    "tool_choice": (str, dict),
    "function_call": (str, dict),
    "stop": (str, list),
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "frequency_penalty": _NUMBER,
    "presence_penalty": _NUMBER,
    "logit_bias": (dict,),
    "metadata": (dict,),
    "seed": (int,),
    "top_logprobs": (int,),
    "parallel_tool_calls": (bool,),
    "text": (dict,),
    "reasoning": (dict,),
    "include": (list,),
    "instructions": (str,),
}
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


def refused_field(path: str, body: dict[str, object]) -> str | None:
    """The first field of a generation request's body that a client may not send on ``path``
    (``metadata.<key>`` for a reserved metadata key), or None."""
    allowed = ALLOWED_FIELDS.get(path, frozenset())
    for name in body:
        if name not in allowed:
            return str(name)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for name in metadata:
            if not isinstance(name, str) or name.startswith(REFUSED_METADATA_PREFIXES):
                return f"metadata.{name}"
    return None


def mistyped_field(body: dict[str, object]) -> tuple[str, str] | None:
    """(field, expected type) of the first structured field whose JSON type is wrong, or None."""
    for name, types in FIELD_TYPES.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return name, " or ".join(_JSON_NAMES[t] for t in types)
    return None


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number"}  # fmt: skip
