"""Issue 17 (items 1-5), end to end with real llama-servers behind the real proxy: routing by
window and profile, the live catalog (added, removed, disabled), per-deployment concurrency
across both LiteLLM workers, and health probes taking a killed backend out and back."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import httpx
import openai
import pytest

from inference.tests.test_data_plane import poll, sdk
from stack import assets
from stack.processes import free_port
from stack.stack import LlamaSpec
from usage.tests.test_usage_pipeline import wait_rows

pytestmark = pytest.mark.stack
SHORT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
LONG = {"messages": [{"role": "user", "content": "word " * 600}], "max_tokens": 2}


@pytest.fixture(scope="module")
def admin(e2e):
    return e2e.login()


@pytest.fixture(scope="module")
def key(e2e, admin) -> str:
    return str(e2e.create_key(admin, name="fleet")["secret"])


def llama(e2e, name: str, *, context: int, parallel: int) -> int:
    """Start one more tiny llama-server in the stack (stopped with it); its port."""
    port = free_port()
    spec = LlamaSpec(name, assets.tiny_gguf(), port, "tiny-random", parallel=parallel, context=context)
    e2e.stack.supervisor.start(e2e.stack.llama_proc(spec, assets.llama_server()))
    e2e.stack.supervisor.wait_ready([name], timeout=60)
    return port


def catalog_set(e2e, model: str, deployment: str, port: int, window: int, *extra: str) -> None:
    e2e.stack.manage(
        "catalog_set", model, "--deployment", deployment, "--backend-url", f"http://127.0.0.1:{port}/v1",
        "--backend-kind", "llamacpp", "--upstream-model", "tiny-random", "--context-window", str(window),
        "--input-price", "1", "--output-price", "2", *extra,
    )  # fmt: skip


def chat(e2e, key: str, model: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions",
        json={**body, "model": model},
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=60,
    )


def deployments_of(e2e, responses: list[httpx.Response]) -> list[str]:
    ids = [r.headers["x-litellm-call-id"] for r in responses]
    wait_rows(e2e, ids)
    found = dict(e2e.sql("SELECT call_id, deployment_id FROM request_logs WHERE call_id = ANY(%s)", ids))
    return [str(found[i]) for i in ids]


def answers(e2e, key: str, model: str) -> bool:
    return chat(e2e, key, model, SHORT).status_code == 200


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_it_routes_long_prompts_to_the_long_context_deployment_and_short_ones_to_throughput(e2e, key):
    fast = llama(e2e, "llama-fleet-fast", context=1024, parallel=2)  # 512 tokens per slot
    long = llama(e2e, "llama-fleet-long", context=4096, parallel=1)
    catalog_set(e2e, "fleet", "fleet-fast", fast, 512)
    catalog_set(e2e, "fleet", "fleet-long", long, 4096, "--profile", "long_context")
    assert poll(lambda: answers(e2e, key, "fleet"), timeout=25)

    short = [chat(e2e, key, "fleet", SHORT) for _ in range(3)]
    long_prompts = [chat(e2e, key, "fleet", LONG) for _ in range(2)]
    asked = chat(e2e, key, "fleet", SHORT, **{"x-llmaas-routing-profile": "long_context"})
    assert [r.status_code for r in (*short, *long_prompts, asked)] == [200] * 6, [r.text for r in long_prompts]
    assert deployments_of(e2e, short) == ["fleet-fast"] * 3
    assert deployments_of(e2e, long_prompts) == ["fleet-long"] * 2
    assert deployments_of(e2e, [asked]) == ["fleet-long"]
    # Without the long-context deployment, a long prompt overflows the throughput window: the
    # backend's own 400 (so the routing above is what made those calls work).
    e2e.stack.manage("catalog_remove", "fleet-long")
    assert poll(lambda: chat(e2e, key, "fleet", LONG).status_code == 400, timeout=25)


def test_a_model_added_live_answers_while_a_stream_completes_and_leaves_when_removed_or_disabled(e2e, key):
    tiny_port = e2e.backend_ports[1]
    streamed: dict[str, Any] = {}

    def stream() -> None:
        client = sdk(e2e, key)
        chunks = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "go"}], max_tokens=1500, stream=True
        )
        text, finish = [], None
        for chunk in chunks:
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        streamed.update(text="".join(text), finish=finish)

    in_flight = threading.Thread(target=stream)
    in_flight.start()
    catalog_set(e2e, "hot", "hot", tiny_port, 2048)
    client = sdk(e2e, key)

    def hot_answers() -> bool:
        try:
            return client.chat.completions.create(model="hot", **SHORT).choices[0].message is not None
        except openai.NotFoundError:
            return False

    assert poll(hot_answers, timeout=25)  # live: no restart (the bound is 5 s; 5x headroom)
    in_flight.join(60)
    assert streamed.get("finish") == "length" and streamed["text"], streamed

    e2e.stack.manage("catalog_remove", "hot")
    assert poll(lambda: chat(e2e, key, "hot", SHORT).status_code == 404, timeout=25)
    assert error_code(chat(e2e, key, "hot", SHORT)) == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="hot", **SHORT)

    catalog_set(e2e, "cold", "cold", tiny_port, 2048)
    e2e.stack.manage("catalog_alias", "cold-alias", "cold")
    assert poll(lambda: answers(e2e, key, "cold-alias"), timeout=25)
    (served,) = deployments_of(e2e, [chat(e2e, key, "cold-alias", SHORT)])
    assert served == "cold"
    catalog_set(e2e, "cold", "cold", tiny_port, 2048, "--inactive")
    assert poll(lambda: chat(e2e, key, "cold", SHORT).status_code == 404, timeout=25)
    for name in ("cold", "cold-alias", "dep/cold", "tiny-random", "openai/tiny-random"):
        refused = chat(e2e, key, name, SHORT)
        assert refused.status_code in (400, 404), (name, refused.text)
        for stream_too in (chat(e2e, key, name, {**SHORT, "stream": True}),):
            assert stream_too.status_code in (400, 404), name
    assert "cold" not in {m.id for m in client.models.list()}


def burst(e2e, key: str, model: str, body: dict[str, Any], attempts: int = 8) -> list[httpx.Response]:
    """Six simultaneous calls, straight to LiteLLM with a connection each so that the kernel
    spreads them over both workers; a burst that landed on one worker is repeated (once the slots
    are free again). Every call returns: none may hang (60 s client timeout)."""
    for _ in range(attempts):
        assert poll(lambda: answers(e2e, key, model), timeout=25)  # the slots are free again

        def call(_: int) -> httpx.Response:
            return httpx.post(
                f"{e2e.litellm}/v1/chat/completions",
                json={**body, "model": model},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(call, range(6)))
        if len({r.headers.get("x-llmaas-worker") for r in responses}) == 2:
            return responses
    pytest.fail("no burst reached both workers")


def test_max_concurrency_admits_two_of_six_across_both_workers_and_refuses_or_queues_the_rest(e2e, key):
    port = llama(e2e, "llama-fleet-capped", context=4096, parallel=2)
    catalog_set(e2e, "capped", "capped", port, 2048, "--max-concurrency", "2")
    slow = {"messages": [{"role": "user", "content": "go"}], "max_tokens": 1000}
    responses = burst(e2e, key, "capped", slow)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503, 503, 503], [r.text[:200] for r in responses]
    for refused in (r for r in responses if r.status_code == 503):
        assert error_code(refused) == "model_at_capacity" and int(refused.headers["Retry-After"]) >= 1

    # With a queue configured, the four past the limit wait for a slot instead (bounded: 60 s).
    catalog_set(e2e, "queued", "queued", port, 2048, "--max-concurrency", "2", "--queue-timeout", "60")
    waited = burst(e2e, key, "queued", slow)
    assert [r.status_code for r in waited] == [200] * 6, [r.text[:200] for r in waited]


def test_a_killed_backend_leaves_routing_and_returns_after_restart(e2e, key, admin):
    a = llama(e2e, "llama-fleet-a", context=2048, parallel=2)
    b = llama(e2e, "llama-fleet-b", context=2048, parallel=2)
    catalog_set(e2e, "twin", "twin-a", a, 1024)
    catalog_set(e2e, "twin", "twin-b", b, 1024)

    def health(deployment: str) -> str:
        models = {m["name"]: m for m in admin.get("/api/models/").json()["results"]}
        return next(d["health"] for d in models["twin"]["deployments"] if d["name"] == deployment)

    assert poll(lambda: health("twin-a") == "healthy" and health("twin-b") == "healthy", timeout=25)
    e2e.stack.supervisor.stop("llama-fleet-a")
    assert poll(lambda: health("twin-a") == "unhealthy", timeout=25)  # one probe interval is 1 s here
    calls = [chat(e2e, key, "twin", SHORT) for _ in range(4)]
    assert [r.status_code for r in calls] == [200] * 4
    assert deployments_of(e2e, calls) == ["twin-b"] * 4

    e2e.stack.supervisor.restart("llama-fleet-a", timeout=60)
    assert poll(lambda: health("twin-a") == "healthy", timeout=25)

    def lands_on_a() -> bool:
        return deployments_of(e2e, [chat(e2e, key, "twin", SHORT)]) == ["twin-a"]

    assert poll(lands_on_a, timeout=25)
