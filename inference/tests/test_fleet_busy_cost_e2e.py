"""Issue 18 items 4 and 5, end to end through the real proxy: busy-aware routing by the backends'
own metrics (a llama-server kept busy by calls that never pass the proxy loses to an idle one), and
GPU cost (100 calls, some concurrent, on a backend at $3.60/h: the GPU-seconds sum to the busy time
the backend measured itself, within 10 %, and each internal cost is GPU-seconds x $0.001 exactly)."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from decimal import Decimal

import httpx
import pytest

from inference.proxy.backend_load import BackendLoad, load_from_metrics
from inference.tests.test_data_plane import poll
from inference.tests.test_fleet_e2e import SHORT, admin, catalog_set, chat, deployments_of, key, llama  # noqa: F401
from stack.processes import Proc, free_port, http_ok
from usage.gpu_cost import union_length
from usage.tests.test_usage_pipeline import wait_rows

pytestmark = pytest.mark.stack
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_calls_go_to_the_idle_deployment_when_the_other_backend_is_busy_outside_the_proxy(e2e, key):  # noqa: F811
    busy_port = llama(e2e, "llama-busy-a", context=8192, parallel=1)
    idle_port = llama(e2e, "llama-busy-b", context=8192, parallel=1)
    # "busy-a" sorts first: among equally idle candidates (no call in flight) it is the one taken.
    catalog_set(e2e, "busy", "busy-a", busy_port, 8192)
    catalog_set(e2e, "busy", "busy-b", idle_port, 8192)
    assert poll(lambda: chat(e2e, key, "busy", SHORT).status_code == 200, timeout=25)
    # A worker's first call after the catalog changed is routed before it has scraped the new
    # backends, and nginx may hand any call to any worker: every worker serves this model first
    # (a CI run once routed a call to the busy backend through a worker that had not).
    workers: set[str] = set()

    def every_worker_served() -> bool:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            burst = list(pool.map(lambda _: chat(e2e, key, "busy", SHORT), range(4)))
        workers.update(r.headers["x-llmaas-worker"] for r in burst if r.status_code == 200)
        return len(workers) >= e2e.stack.config.litellm_workers

    assert poll(every_worker_served, timeout=30)
    assert deployments_of(e2e, [chat(e2e, key, "busy", SHORT) for _ in range(3)]) == ["busy-a"] * 3

    # Keep busy-a's only slot taken and a queue behind it, by calls straight to its llama-server.
    stop = threading.Event()
    long_call = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 6000}

    def hog() -> None:
        while not stop.is_set():
            httpx.post(f"http://127.0.0.1:{busy_port}/v1/chat/completions", json=long_call, timeout=120)

    hogs = [threading.Thread(target=hog) for _ in range(3)]
    for t in hogs:
        t.start()
    try:
        metrics = f"http://127.0.0.1:{busy_port}/metrics"
        assert poll(lambda: (load_from_metrics("llamacpp", httpx.get(metrics).text) or BackendLoad()).busy >= 2, 20)
        # Within a few scrapes (LLMAAS_BACKEND_SCRAPE_SECONDS, 1 s) each worker sees the queue.
        assert poll(lambda: deployments_of(e2e, [chat(e2e, key, "busy", SHORT)]) == ["busy-b"], timeout=30)
        routed = [chat(e2e, key, "busy", SHORT) for _ in range(6)]
        assert [r.status_code for r in routed] == [200] * 6
        assert deployments_of(e2e, routed) == ["busy-b"] * 6
    finally:
        stop.set()
        for t in hogs:
            t.join()
    e2e.stack.manage("catalog_remove", "busy-a")
    e2e.stack.manage("catalog_remove", "busy-b")


@pytest.fixture(scope="module")
def timed_backend(e2e) -> str:
    port = free_port()
    proc = Proc(
        "timed-backend",
        [os.path.join(ROOT, ".venv", "bin", "python"), "-m", "uvicorn", "inference.tests.timed_backend:app",
         "--port", str(port), "--log-level", "warning"],
        {**os.environ, "TIMED_BACKEND_DELAY_MS": "500"},
        e2e.stack.config.state_dir / "logs" / "timed-backend.log",
        http_ok(f"http://127.0.0.1:{port}/_intervals"),
    )  # fmt: skip
    e2e.stack.supervisor.start(proc)
    e2e.stack.supervisor.wait_ready(["timed-backend"], timeout=30)
    return f"http://127.0.0.1:{port}"


def test_100_calls_record_gpu_seconds_that_sum_to_the_backends_busy_time(e2e, key, timed_backend):  # noqa: F811
    e2e.stack.manage(
        "catalog_set", "timed", "--backend-url", f"{timed_backend}/v1", "--upstream-model", "timed",
        "--context-window", "4096", "--no-probe",
    )  # fmt: skip
    assert e2e.sql(
        "UPDATE inference_backend SET hourly_cost_usd = 3.60 WHERE base_url = %s RETURNING id", f"{timed_backend}/v1"
    )
    assert poll(lambda: chat(e2e, key, "timed", SHORT).status_code == 200, timeout=25)
    before = len(httpx.get(f"{timed_backend}/_intervals").json())

    responses = [chat(e2e, key, "timed", SHORT) for _ in range(10)]  # alone on the backend
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # four at a time, overlapping
        responses += list(pool.map(lambda _: chat(e2e, key, "timed", SHORT), range(80)))
    responses += [chat(e2e, key, "timed", SHORT) for _ in range(10)]
    assert [r.status_code for r in responses] == [200] * 100
    ids = [r.headers["x-litellm-call-id"] for r in responses]
    wait_rows(e2e, ids)
    intervals = [tuple(i) for i in httpx.get(f"{timed_backend}/_intervals").json()[before:]]
    assert len(intervals) == 100
    busy = union_length(intervals)  # measured by the backend itself

    time.sleep(0.1)
    e2e.stack.manage("gpu_cost_allocate", "--delay", "0")
    rows = e2e.sql("SELECT gpu_seconds, internal_cost FROM request_logs WHERE call_id = ANY(%s)", ids)
    assert len(rows) == 100 and all(g is not None for g, _ in rows)
    gpu_seconds = sum(Decimal(g) for g, _ in rows)
    print(
        f"busy {busy:.3f} s (backend), GPU-seconds {gpu_seconds} (request logs), ratio {float(gpu_seconds) / busy:.4f}"
    )
    assert abs(float(gpu_seconds) - busy) <= 0.10 * busy
    assert all(Decimal(c) == Decimal(g) * Decimal("0.001") for g, c in rows)
    e2e.stack.manage("catalog_remove", "timed")
