"""End to end through the public origin (nginx) and LiteLLM's own port: a key issued by
Django admits the unmodified OpenAI SDK to real local models, and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from inference.proxy.routes import PROBE_ROUTES, is_public_route
from stack.nginx import PORTAL_ROUTES
from stack.stack import LITELLM_VENV, ROOT
from stack.testing import secrets_in_logs

pytestmark = pytest.mark.stack
CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}


def poll(check: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


@pytest.fixture(scope="module")
def admin(e2e):
    return e2e.login()


def sdk(e2e, key: str, base: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=(base or e2e.public) + "/v1", api_key=key, max_retries=0, timeout=60)


def post_chat(e2e, key: str | None, body: dict[str, Any] | None = None, base: str | None = None) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {key}" if key else ""}
    return httpx.post(f"{base or e2e.public}/v1/chat/completions", json=body or CHAT, headers=headers, timeout=60)


def test_it_serves_the_openai_sdk_with_a_key_from_the_api(e2e, admin):
    issued = e2e.create_key(admin, name="sdk")
    assert str(issued["secret"]).startswith("sk-")
    client = sdk(e2e, str(issued["secret"]))

    reply = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=16
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    listed = {m.id for m in client.models.list()}
    assert {"smollm2", "tiny", "recorder"} <= listed
    assert client.models.retrieve("smollm2").id == "smollm2"


def _is_openai_error(response: httpx.Response, status: int, code: str | None = None) -> bool:
    body = response.json()
    assert response.status_code == status, response.text
    assert set(body["error"]) >= {"message", "type", "code"}, body
    return code is None or body["error"]["code"] == code


@pytest.mark.parametrize(
    "key",
    [None, "", "sk-" + "x" * 48, "not-a-key", "sk-short", "Bearer sk-" + "y" * 48, "sk-" + "z" * 500],
    ids=["missing", "empty", "wrong", "malformed", "too-short", "double-bearer", "too-long"],
)
def test_it_refuses_bad_keys_with_openai_401s(e2e, key):
    for base in (e2e.public, e2e.litellm):
        response = post_chat(e2e, key, base=base)
        assert _is_openai_error(response, 401, "invalid_api_key")
        assert "x" * 20 not in response.text  # the presented key is not echoed back
    with pytest.raises(openai.AuthenticationError):
        sdk(e2e, key or "sk-none").chat.completions.create(**CHAT)


def test_it_enforces_the_key_model_allowlist(e2e, admin):
    key = str(e2e.create_key(admin, name="tiny only", models=["tiny"])["secret"])
    assert _is_openai_error(post_chat(e2e, key), 403, "model_not_allowed")
    client = sdk(e2e, key)
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("smollm2")
    ok = post_chat(e2e, key, {**CHAT, "model": "tiny"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["usage"]["completion_tokens"] == 4  # the tiny model always runs to max_tokens


def test_it_refuses_an_expired_key(e2e, admin):
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    key = str(e2e.create_key(admin, name="short-lived", models=["tiny"], expires_at=expires)["secret"])
    assert post_chat(e2e, key, {**CHAT, "model": "tiny"}).status_code == 200
    assert poll(lambda: post_chat(e2e, key, {**CHAT, "model": "tiny"}).status_code == 401, timeout=30)


def test_a_revoked_key_is_refused_by_every_proxy_worker(e2e, admin):
    issued = e2e.create_key(admin, name="to revoke", models=["tiny"])
    key, body = str(issued["secret"]), {**CHAT, "model": "tiny", "max_tokens": 1}
    workers: set[str] = set()

    def warm() -> bool:  # both workers have admitted (and cached) the key
        response = post_chat(e2e, key, body, base=e2e.litellm)
        assert response.status_code == 200, response.text
        workers.add(response.headers["x-llmaas-worker"])
        return len(workers) == 2

    assert poll(warm, timeout=60, every=0), f"saw only workers {workers}"
    assert admin.delete(f"/api/keys/{issued['id']}/").status_code == 204

    def refused_everywhere() -> bool:
        refusals: dict[str, int] = {}
        for _ in range(40):
            response = post_chat(e2e, key, body, base=e2e.litellm)
            if response.status_code != 401:
                return False
            worker = response.headers["x-llmaas-worker"]
            refusals[worker] = refusals.get(worker, 0) + 1
        return set(refusals) == workers

    # Design target: refused everywhere within 1 s; polled with 10x headroom.
    assert poll(refused_everywhere, timeout=10, every=0.05)
    listed = admin.get("/api/keys/").json()["results"]
    assert next(k for k in listed if k["id"] == issued["id"])["revoked"] is True


def _litellm_routes() -> list[tuple[str, list[str]]]:
    out = subprocess.run(
        [str(LITELLM_VENV / "bin" / "python"), str(ROOT / "inference" / "tests" / "litellm_routes.py")],
        capture_output=True,
        text=True,
        check=True,
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"},
    )
    return [(path, methods) for path, methods in json.loads(out.stdout)]


def _portal_page(path: str) -> bool:
    """A path the public origin serves the built portal on (``/`` and its routes)."""
    return path == "/" or any(path == f"/{r}" or path.startswith(f"/{r}/") for r in PORTAL_ROUTES)


def test_every_other_litellm_route_is_refused_to_a_tenant_key(e2e, admin):
    key = str(e2e.create_key(admin, name="sweeper")["secret"])
    routes = _litellm_routes()
    assert len(routes) > 300  # the enumeration really sees LiteLLM's app
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answered: dict[tuple[str, str, str], int] = {}
    portal_built = (e2e.stack.config.portal_dist / "index.html").is_file()
    with httpx.Client(timeout=30) as client:
        for path, methods in routes:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method in methods:
                if method in {"WEBSOCKET", "HEAD", "OPTIONS"}:
                    continue
                verb = "GET" if method == "*" else method
                if is_public_route(verb, concrete):
                    continue
                for name, base in (("public", e2e.public), ("direct", e2e.litellm)):
                    response = client.request(verb, base + concrete, headers=headers, content=b"{}")
                    if name == "public" and portal_built and _portal_page(concrete):
                        # The portal's own page (nginx serves its index.html; other verbs 405):
                        # never LiteLLM's answer.
                        assert response.status_code in (200, 405), (verb, concrete, response.status_code)
                        assert response.status_code == 405 or '<div id="root">' in response.text
                        continue
                    answered[(name, verb, concrete)] = response.status_code
    probes = {path for _, path in PROBE_ROUTES}
    bad = {
        route: status
        for route, status in answered.items()
        if status not in (401, 403, 404) and not (route[0] == "direct" and route[2] in probes)
    }
    assert not bad, f"{len(bad)} routes answered a tenant key with something else: {sorted(bad.items())[:40]}"
    # The readiness probes answer on LiteLLM's private port only, never publicly.
    assert all(status == 404 for (where, _, path), status in answered.items() if where == "public" and
               path in probes)  # fmt: skip


def test_a_body_api_key_never_reaches_the_backend(e2e, admin):
    key = str(e2e.create_key(admin, name="recorder", models=["recorder"])["secret"])
    smuggled = "sk-smuggled-" + "q" * 30
    client = sdk(e2e, key)
    reply = client.chat.completions.create(
        model="recorder", messages=[{"role": "user", "content": "hi"}], extra_body={"api_key": smuggled}
    )
    assert reply.choices[0].message.content == "recorded"
    stream = client.chat.completions.create(
        model="recorder", messages=[{"role": "user", "content": "hi"}], stream=True, extra_body={"api_key": smuggled}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "recorded"

    recorded = httpx.get(f"{e2e.recorder_url}/_recorded").json()
    chats = [r for r in recorded if r["path"] == "/v1/chat/completions"]
    assert len(chats) >= 2
    for request in chats:
        assert request["headers"]["authorization"] == f"Bearer {e2e.recorder_key}"
        assert smuggled not in json.dumps(request)
        assert key not in json.dumps(request)  # the tenant's own key is never forwarded either


def test_no_response_header_names_a_backend(e2e, admin):
    key = str(e2e.create_key(admin, name="headers")["secret"])
    addresses = [f"127.0.0.1:{port}" for port in e2e.backend_ports] + [e2e.recorder_url.split("//")[1]]
    responses = [
        post_chat(e2e, key),
        post_chat(e2e, key, {**CHAT, "model": "recorder"}),
        post_chat(e2e, key, {**CHAT, "stream": True}),
        httpx.get(f"{e2e.public}/v1/models", headers={"Authorization": f"Bearer {key}"}),
        post_chat(e2e, "sk-" + "w" * 48),
    ]
    for response in responses:
        for name, value in response.headers.items():
            assert not any(address in value for address in addresses), (name, value)
            assert "api-base" not in name or value == "", (name, value)
            assert "llama" not in value.lower(), (name, value)


def test_redis_down_fails_closed_and_recovers(e2e, admin):
    key = str(e2e.create_key(admin, name="redis", models=["tiny"])["secret"])
    body = {**CHAT, "model": "tiny", "max_tokens": 1}
    assert post_chat(e2e, key, body).status_code == 200
    e2e.stack.supervisor.stop("redis")
    try:
        assert poll(lambda: post_chat(e2e, key, body).status_code == 503, timeout=10)
        statuses = [post_chat(e2e, key, body, base=base) for base in (e2e.public, e2e.litellm) for _ in range(10)]
        assert {r.status_code for r in statuses} == {503}
        assert all(r.headers.get("retry-after") for r in statuses)
        assert all(r.json()["error"]["code"] == "service_unavailable" for r in statuses)
    finally:
        # Restarted empty: beat's reconcile republishes the snapshot from PostgreSQL.
        e2e.stack.supervisor.restart("redis", timeout=30)
    assert poll(lambda: post_chat(e2e, key, body).status_code == 200, timeout=30, every=0.25)


def test_operators_reach_litellm_admin_routes_with_the_master_key_only_directly(e2e, admin):
    master = e2e.stack.master_key()
    headers = {"Authorization": f"Bearer {master}"}
    assert httpx.get(f"{e2e.litellm}/model/info", headers=headers).status_code == 200
    assert httpx.get(f"{e2e.public}/model/info", headers=headers).status_code == 404  # never public
    models = sdk(e2e, master, base=e2e.litellm).models.list()
    assert {"smollm2", "tiny", "recorder"} <= {m.id for m in models}
    tenant = str(e2e.create_key(admin, name="not an operator")["secret"])
    assert httpx.get(f"{e2e.litellm}/model/info", headers={"Authorization": f"Bearer {tenant}"}).status_code == 404


def test_no_secret_reaches_any_log(e2e):
    """Runs last in this module: every key issued above, and the master key, stay out of the logs."""
    assert e2e.issued, "no key was issued through the API in this session"
    secrets = [*e2e.issued, e2e.stack.state["demo_key"], e2e.stack.master_key(), e2e.recorder_key]
    secrets.append(e2e.stack.secret("LLMAAS_WEBHOOK_SECRET"))
    assert secrets_in_logs(e2e, secrets) == {}
