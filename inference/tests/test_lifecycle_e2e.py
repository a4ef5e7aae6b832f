"""Issue 18 (items 2 and 3), end to end: the stack's fleet agent and proxy with real llama-servers
(the tiny GGUF; SmolLM2 for a slow stream). Managed deployments pinned to different (fake: this
machine has no GPU) GPU ids get their CUDA_VISIBLE_DEVICES; a placement that overcommits a GPU is
refused; the first call starts a stopped deployment and is served; an idle process stops after its
TTL, never while a stream is in flight; a schedule makes a model answer 503 naming its next window
outside it, and an operator's override opens it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference.tests.test_data_plane import poll
from stack import assets
from stack.processes import free_port

pytestmark = pytest.mark.stack
SHORT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
HOST = "lc-gpu-host"


@pytest.fixture(scope="module")
def admin(e2e):
    return e2e.login()


@pytest.fixture(scope="module")
def key(e2e, admin) -> str:
    return str(e2e.create_key(admin, name="lifecycle")["secret"])


def managed(e2e, model: str, port: int, *extra: str, gguf: Path | None = None, upstream: str = "tiny-random") -> None:
    e2e.stack.manage(
        "catalog_set", model, "--backend-url", f"http://127.0.0.1:{port}/v1", "--backend-kind", "llamacpp",
        "--upstream-model", upstream, "--context-window", "1024", "--input-price", "1", "--output-price", "2",
        "--managed", "--launch-model", str(gguf or assets.tiny_gguf()), "--launch-arg=-c", "--launch-arg=1024",
        "--launch-arg=-t", "--launch-arg=1", "--start-timeout", "60", *extra,
    )  # fmt: skip


def chat(e2e, key: str, model: str, body: dict[str, Any] = SHORT) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions",
        json={**body, "model": model},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )


def run_state(e2e, model: str) -> str:
    rows = e2e.sql(
        "SELECT b.run_state FROM inference_backend b JOIN inference_modeldeployment d ON d.backend_id = b.id "
        "WHERE d.name = %s",
        model,
    )
    return str(rows[0][0])


def server_pid(port: int) -> int | None:
    """The llama-server listening on ``port`` (the agent's child), by its command line."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode() and b"--alias" in argv:
            return int(proc.name)
    return None


def environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def availability(e2e, admin, model: str) -> dict[str, Any]:
    models = admin.get(f"{e2e.public}/api/models/").json()["results"]
    return next(m for m in models if m["name"] == model)


def test_pinned_deployments_start_on_demand_with_their_gpus_and_placement_refuses_an_overcommit(e2e, key, admin):
    e2e.stack.manage("gpu_host_set", HOST, "--gpus", "2", "--memory-gib", "1")
    port_a, port_b = free_port(), free_port()
    managed(e2e, "lc-a", port_a, "--host", HOST, "--gpu-ids", "0", "--gpu-memory-gib", "0.5")
    managed(e2e, "lc-b", port_b, "--host", HOST, "--gpu-ids", "1", "--gpu-memory-gib", "0.5")
    with pytest.raises(RuntimeError, match="GPU 1 of lc-gpu-host would be overcommitted: it has 1 GiB"):
        managed(e2e, "lc-c", free_port(), "--host", HOST, "--gpu-ids", "1", "--gpu-memory-gib", "0.6")
    assert not e2e.sql("SELECT 1 FROM inference_modeldeployment WHERE name = 'lc-c'")  # nothing half set

    shown = availability(e2e, admin, "lc-a")
    assert shown["availability"] == {"available_now": True, "next_change": None, "next_window": "", "running": False}
    assert shown["deployments"][0]["availability"]["run_state"] == "stopped"
    assert server_pid(port_a) is None

    # The first call starts the process and is served; the second finds it running.
    first = chat(e2e, key, "lc-a")
    assert first.status_code == 200, first.text
    assert first.json()["choices"][0]["message"]["content"]
    assert chat(e2e, key, "lc-b").status_code == 200
    assert run_state(e2e, "lc-a") == run_state(e2e, "lc-b") == "running"
    pid_a, pid_b = server_pid(port_a), server_pid(port_b)
    assert pid_a and pid_b
    assert environ(pid_a)["CUDA_VISIBLE_DEVICES"] == "0"
    assert environ(pid_b)["CUDA_VISIBLE_DEVICES"] == "1"
    shown = availability(e2e, admin, "lc-a")
    assert shown["availability"]["running"] and shown["deployments"][0]["availability"]["run_state"] == "running"


def test_calls_arriving_during_a_cold_start_queue_on_it_and_are_all_served(e2e, key):
    port = free_port()
    managed(e2e, "lc-burst", port)
    results: list[int] = []

    def call() -> None:
        results.append(chat(e2e, key, "lc-burst").status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert server_pid(port) is not None


def test_an_idle_process_stops_after_its_ttl_but_never_during_a_stream(e2e, key):
    port, ttl = free_port(), 1
    # SmolLM2 with one thread streams ~50-140 tokens/s here: 600 tokens outlive the TTL and the
    # stop's grace (1 s) several times; end-of-text is biased away so the stream runs to max_tokens.
    managed(
        e2e, "lc-stream", port, "--idle-ttl", str(ttl), "--parallel", "1", gguf=assets.smollm2(), upstream="smollm2"
    )
    assert chat(e2e, key, "lc-stream").status_code == 200  # started on demand
    body = {
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": 600,
        "stream": True,
        "stream_options": {"include_usage": True},
        "logit_bias": {"0": -100, "1": -100, "2": -100},
    }
    states: list[str] = []
    started = time.monotonic()
    chunks, finish = 0, None
    with httpx.stream(
        "POST",
        f"{e2e.public}/v1/chat/completions",
        json={**body, "model": "lc-stream"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                chunks += 1
                finish = finish or ('"finish_reason":"length"' in line.replace(" ", "") or None)
            if chunks % 25 == 0:
                states.append(run_state(e2e, "lc-stream"))
    lasted = time.monotonic() - started
    ended = time.monotonic()
    assert lasted > ttl + 2, f"the stream lasted {lasted:.1f} s: too short to outlive the TTL and grace"
    assert finish, "the stream did not run to its end"
    assert set(states) == {"running"}, states  # never stopping or stopped while it streamed
    assert poll(lambda: run_state(e2e, "lc-stream") == "stopped", timeout=60), run_state(e2e, "lc-stream")
    assert time.monotonic() - ended >= ttl  # not before its TTL
    assert poll(lambda: server_pid(port) is None, timeout=30)
    # Stopped, it starts again on the next call.
    assert chat(e2e, key, "lc-stream").status_code == 200


def test_outside_its_window_a_model_answers_503_naming_the_next_window_and_an_override_opens_it(e2e, key, admin):
    port = free_port()
    managed(e2e, "lc-night", port)
    later = datetime.now(UTC) + timedelta(days=2)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[later.weekday()]
    managed(e2e, "lc-night", port, "--window", f"{day} 03:00-04:00")
    refused = chat(e2e, key, "lc-night")
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    opens = later.replace(hour=3, minute=0, second=0, microsecond=0)
    assert error["code"] == "model_outside_schedule"
    assert error["message"] == (
        f"The model 'lc-night' is not available now. It is next available from "
        f"{opens.isoformat(timespec='minutes')} ({day} 03:00-04:00, UTC)."
    )
    retry_after = int(refused.headers["Retry-After"])
    assert abs(retry_after - (opens - datetime.now(UTC)).total_seconds()) < 120
    assert server_pid(port) is None  # refused before anything was started
    shown = availability(e2e, admin, "lc-night")["availability"]
    assert not shown["available_now"] and shown["next_window"] == f"{day} 03:00-04:00"

    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    managed(e2e, "lc-night", port, "--override", "available", "--override-until", until)
    assert chat(e2e, key, "lc-night").status_code == 200
    managed(e2e, "lc-night", port, "--override", "unavailable")
    refused = chat(e2e, key, "lc-night")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_outside_schedule"
    assert "an operator has made it unavailable" in refused.json()["error"]["message"]


def test_a_start_that_keeps_failing_is_refused_at_once_until_its_retry_and_a_fixed_launch_serves(
    e2e, key, admin, tmp_path
):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file" * 64)
    port = free_port()
    managed(e2e, "lc-broken", port, gguf=broken)
    first = chat(e2e, key, "lc-broken")  # starts it: the process exits before it is ready
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] == "model_unavailable"
    assert "failed to start; it is tried again in" in first.json()["error"]["message"]
    failures = e2e.sql(
        "SELECT b.start_failures, b.run_error FROM inference_backend b JOIN inference_modeldeployment d "
        "ON d.backend_id = b.id WHERE d.name = %s",
        "lc-broken",
    )
    assert failures[0][0] == 1 and "1 failed start in a row, next try after" in failures[0][1], failures
    # Within the agent's pause (10 s): refused without another start, saying when.
    again = chat(e2e, key, "lc-broken")
    assert again.status_code == 503 and 1 <= int(again.headers["Retry-After"]) <= 10, again.text
    assert e2e.sql(
        "SELECT b.start_failures FROM inference_backend b JOIN inference_modeldeployment d "
        "ON d.backend_id = b.id WHERE d.name = %s",
        "lc-broken",
    ) == [(1,)]
    shown = availability(e2e, admin, "lc-broken")["deployments"][0]["availability"]
    assert shown["run_state"] == "failed" and shown["start_retry_at"] is not None
    # The operator fixes the launch: tried at the next call, and served.
    managed(e2e, "lc-broken", port)

    def served() -> bool:
        return chat(e2e, key, "lc-broken").status_code == 200

    assert poll(served, timeout=60, every=1.0)
    assert availability(e2e, admin, "lc-broken")["deployments"][0]["availability"]["start_retry_at"] is None
