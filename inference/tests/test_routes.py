"""routes.py: the public surface, and the nginx config the stack renders from it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import gunicorn.config
import pytest
import uvicorn.config

from inference.proxy.routes import (
    GENERATION_ROUTES,
    PUBLIC_ROUTES,
    is_generation_route,
    is_public_route,
    mistyped_field,
    model_of_route,
    refused_field,
)
from stack.stack import Stack, StackConfig, nginx_binary

ROOT = Path(__file__).resolve().parents[2]
CHAT, TEXT, EMBEDDINGS, RESPONSES = "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/responses"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/smollm2"),
        ("GET", "/v1/models/qwen2.5-0.5b_instruct"),
    ],
)
def test_it_opens_the_openai_surface(method, path):
    assert is_public_route(method, path)


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/chat/completions"),  # LiteLLM's unprefixed copies
        ("POST", "/models/tiny:generateContent"),
        ("POST", "/v1/models/tiny:generateContent"),
        ("GET", "/v1/models/tiny:generateContent"),
        ("GET", "/v1/models/a/b"),
        ("GET", "/v1/models/"),
        ("GET", "/v1/models/.."),
        ("GET", "/v1/models/" + "x" * 101),
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/models"),
        ("POST", "/v1/chat/completions/"),
        ("POST", "/engines/tiny/chat/completions"),
        ("GET", "/v1/responses/resp_1"),
        ("DELETE", "/v1/responses/resp_1"),
        ("POST", "/v1/realtime"),
        ("GET", "/health/readiness"),
    ],
)
def test_it_closes_everything_else(method, path):
    assert not is_public_route(method, path)


def test_only_post_routes_generate():
    assert all(method == "POST" for method, _ in GENERATION_ROUTES)
    assert is_generation_route("POST", "/v1/embeddings")
    assert not is_generation_route("GET", "/v1/models")
    assert model_of_route("/v1/models/smollm2") == "smollm2"
    assert model_of_route("/v1/models/a:b") is None


@pytest.mark.parametrize(
    "path,body,refused",
    [
        (CHAT, {"model": "tiny", "fallbacks": ["smollm2"]}, "fallbacks"),
        (CHAT, {"model": "tiny", "context_window_fallbacks": []}, "context_window_fallbacks"),
        (CHAT, {"model": "tiny", "mock_response": "hi"}, "mock_response"),
        (CHAT, {"model": "tiny", "mock_anything_new": 1}, "mock_anything_new"),
        (CHAT, {"model": "tiny", "litellm_logging_obj": {}}, "litellm_logging_obj"),
        (CHAT, {"model": "tiny", "user_api_key_hash": "x"}, "user_api_key_hash"),
        (CHAT, {"model": "tiny", "no-log": True}, "no-log"),
        (CHAT, {"model": "tiny", "additional_drop_params": ["max_tokens"]}, "additional_drop_params"),
        (CHAT, {"model": "tiny", "extra_body": {}}, "extra_body"),
        (CHAT, {"model": "tiny", "n_cmpl": 2}, "n_cmpl"),
        (CHAT, {"model": "tiny", "stream_timeout": 1}, "stream_timeout"),
        (CHAT, {"model": "tiny", "prompt": "a field of another route"}, "prompt"),
        (RESPONSES, {"model": "tiny", "input": "hi", "previous_response_id": "resp_x"}, "previous_response_id"),
        (EMBEDDINGS, {"model": "tiny", "input": "hi", "max_tokens": 3}, "max_tokens"),
        (
            CHAT,
            {"model": "tiny", "metadata": {"user_api_key_auth_metadata": {}}},
            "metadata.user_api_key_auth_metadata",
        ),
        (CHAT, {"model": "tiny", "metadata": {"llmaas_org_id": "x"}}, "metadata.llmaas_org_id"),
        (CHAT, {"model": "tiny", "messages": [], "user": "u", "metadata": {"purpose": "test"}}, None),
        (CHAT, {"model": "tiny", "messages": [], "tools": [], "top_k": 5, "stream_options": {}, "api_key": "x"}, None),
        (CHAT, {"model": "tiny", "messages": [], "cache_prompt": False}, None),  # bench B3 sends it to L1 and L2
        (TEXT, {"model": "tiny", "prompt": "hi", "best_of": 1, "echo": False, "suffix": "."}, None),
        (EMBEDDINGS, {"model": "tiny", "input": ["a"], "dimensions": 8, "encoding_format": "float"}, None),
        (RESPONSES, {"model": "tiny", "input": "hi", "instructions": "x", "max_output_tokens": 16}, None),
    ],
)
def test_it_names_the_first_field_a_route_does_not_accept(path, body, refused):
    assert refused_field(path, body) == refused


def test_the_rendered_nginx_config_routes_exactly_the_public_surface(tmp_path):
    config = StackConfig(state_dir=tmp_path, public_port=18999)
    (tmp_path / "logs").mkdir()
    path = Stack(config).render_nginx()
    text = path.read_text()
    for method, route in PUBLIC_ROUTES:
        assert f'"{method} {route}" 1;' in text
    assert "proxy_set_header X-Forwarded-Host $http_host;" in text
    assert "location ^~ /api/webhooks/litellm" in text
    checked = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path / "nginx"), "-e", str(tmp_path / "logs" / "e.log"), "-c", str(path)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_nginx_closes_idle_upstream_connections_before_the_servers_do(tmp_path):
    """A server that closes an idle keep-alive connection while nginx sends a request on it makes
    that request a 502 (found by bench B7: one in 48,000 calls of a 10-minute soak). nginx must
    close first: below uvicorn's and gunicorn's own keep-alive, which nothing here overrides."""
    config = StackConfig(state_dir=tmp_path, public_port=18999)
    (tmp_path / "logs").mkdir()
    text = Stack(config).render_nginx().read_text()
    timeouts = {
        name: int(seconds) for name, seconds in re.findall(r"upstream (\w+) \{[^}]*keepalive_timeout (\d+)s;", text)
    }
    assert timeouts["litellm"] < uvicorn.config.Config(app=None).timeout_keep_alive
    assert timeouts["django"] < gunicorn.config.Config().keepalive
    launchers = [ROOT / "stack" / "stack.py", ROOT / "docker-compose.dev.yml", *(ROOT / "deploy").rglob("*"),
                 *(ROOT / "k8s").rglob("*.yaml")]  # fmt: skip
    for path in launchers:
        if path.is_file():
            source = path.read_text()
            assert "--timeout-keep-alive" not in source and "--keep-alive" not in source, path


@pytest.mark.parametrize(
    "body,mistyped",
    [
        ({"response_format": "json"}, "response_format"),  # LiteLLM answered it with a 500
        ({"stream": "yes"}, "stream"),
        ({"stream_options": []}, "stream_options"),
        ({"tools": {}}, "tools"),
        ({"temperature": True}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"seed": 1.5}, "seed"),
        ({"metadata": "x"}, "metadata"),
        ({"response_format": {"type": "json_object"}, "stream": False, "temperature": 0, "stop": ["\n"]}, None),
        ({"tool_choice": "auto", "top_p": 0.5, "seed": 7, "metadata": {}}, None),
    ],
)
def test_it_names_the_first_structured_field_of_the_wrong_json_type(body, mistyped):
    found = mistyped_field({"model": "tiny", **body})
    assert (found[0] if found else None) == mistyped
