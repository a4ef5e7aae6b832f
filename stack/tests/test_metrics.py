"""Django's /metrics on its own port: counters summed over every gunicorn and Celery process, the
usage pipeline's gauges read from Redis. LiteLLM's /metrics on the proxy's port, for the master key
only: LiteLLM's own counters and our admission counters, summed over both uvicorn workers. Neither
is ever served through the public origin."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.stack


# LiteLLM labels a call with the deployment our routing chose (its id in the router).
DEPLOYMENT = "dep/tiny"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(e2e: Any) -> Samples:
    return parse(httpx.get(f"http://127.0.0.1:{e2e.stack.config.django_port}/metrics", timeout=30))


def scrape_proxy(e2e: Any) -> Samples:
    master = {"Authorization": f"Bearer {e2e.stack.master_key()}"}
    return parse(httpx.get(f"{e2e.litellm}/metrics/", headers=master, timeout=30))


def parse(page: httpx.Response) -> Samples:
    assert page.status_code == 200, page.text[:500]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def requests_to(samples: Samples, view: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "django_http_requests_total_by_view_transport_method_total" and dict(labels).get("view") == view
    )


def test_it_counts_every_request_whichever_process_served_it(e2e: Any) -> None:
    # /api/health: no edge limit applies to it (unlike /api/auth/, which test_edge floods).
    before = requests_to(scrape(e2e), "health")
    with httpx.Client(base_url=e2e.public, timeout=30) as client:
        for _ in range(20):  # through nginx: spread over the gunicorn workers
            assert client.get("/api/health").status_code == 200
    assert requests_to(scrape(e2e), "health") - before == 20


def test_it_reports_the_usage_pipeline_and_celery_tasks(e2e: Any) -> None:
    samples = scrape(e2e)
    assert samples[("llmaas_redis_up", ())] == 1
    for gauge in ("llmaas_usage_stream_backlog", "llmaas_usage_stream_lag_seconds", "llmaas_usage_dead_letters"):
        assert samples[(gauge, ())] >= 0
    assert ("llmaas_reservations_open", ()) in samples
    # Beat runs its periodic tasks on the stack's worker; their outcomes are counted there.
    deadline = time.monotonic() + 120
    while not any(name == "llmaas_celery_tasks_total" and value > 0 for (name, _), value in samples.items()):
        assert time.monotonic() < deadline, "no Celery task outcome was ever counted"
        time.sleep(2)
        samples = scrape(e2e)
    succeeded = {
        dict(labels)["task"]
        for (name, labels), value in samples.items()
        if name == "llmaas_celery_tasks_total" and dict(labels)["outcome"] == "success" and value > 0
    }
    assert succeeded, samples


def test_it_never_serves_metrics_on_the_public_origin(e2e: Any) -> None:
    response = httpx.get(f"{e2e.public}/metrics", timeout=30)
    assert response.status_code == 404
    assert "django_http" not in response.text


def test_it_counts_proxied_calls_in_litellms_and_our_admission_counters(e2e: Any) -> None:
    key = str(e2e.create_key(e2e.login(), name="metrics", models=["tiny"])["secret"])
    before = scrape_proxy(e2e)
    workers: set[str] = set()
    calls = 0

    def call(_: int) -> httpx.Response:
        return httpx.post(
            f"{e2e.public}/v1/chat/completions",
            json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )

    # Through nginx, 20 calls in bursts of 5 simultaneous ones (nginx opens a connection to LiteLLM
    # for each, so the kernel spreads them over the uvicorn workers); more bursts only until both
    # workers served some.
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        while calls < 20 or (len(workers) < 2 and calls < 100):
            for response in pool.map(call, range(5)):
                assert response.status_code == 200, response.text
                workers.add(response.headers["x-llmaas-worker"])
            calls += 5
    # LiteLLM counts a call in its success callback, just after the response: poll (5x headroom).
    deadline = time.monotonic() + 10
    while True:
        after = scrape_proxy(e2e)
        served = total(after, "litellm_proxy_total_requests_metric_total", model_id=DEPLOYMENT) - total(
            before, "litellm_proxy_total_requests_metric_total", model_id=DEPLOYMENT
        )
        if served >= calls or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(workers) == 2, "every call reached the same worker"
    assert served == calls, (served, calls)
    admitted = total(after, "llmaas_admissions_total", outcome="admitted")
    assert admitted - total(before, "llmaas_admissions_total", outcome="admitted") == calls
    tokens = total(after, "litellm_output_tokens_metric_total", model_id=DEPLOYMENT)
    assert tokens - total(before, "litellm_output_tokens_metric_total", model_id=DEPLOYMENT) == calls  # 1 each


def test_it_counts_refused_admissions_by_scope_and_limit(e2e: Any) -> None:
    key = str(e2e.create_key(e2e.login(), name="metrics rpm", models=["tiny"], rpm=2)["secret"])
    before = scrape_proxy(e2e)
    statuses = [
        httpx.post(
            f"{e2e.public}/v1/chat/completions",
            json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ).status_code
        for _ in range(5)
    ]
    refused = statuses.count(429)
    assert refused >= 1 and statuses.count(200) + refused == 5, statuses  # a minute's edge may admit more
    after = scrape_proxy(e2e)
    limited = {"outcome": "limited", "scope": "key", "limit": "rpm"}
    counted = total(after, "llmaas_admissions_total", **limited) - total(before, "llmaas_admissions_total", **limited)
    assert counted == refused


def test_it_serves_the_proxys_metrics_to_the_master_key_only(e2e: Any) -> None:
    tenant = str(e2e.create_key(e2e.login(), name="metrics probe")["secret"])
    master = e2e.stack.master_key()
    for path in ("/metrics", "/metrics/", "/v1/metrics"):
        for headers in ({}, {"Authorization": f"Bearer {tenant}"}, {"Authorization": f"Bearer {master}"}):
            public = httpx.get(f"{e2e.public}{path}", headers=headers, timeout=30)
            assert public.status_code == 404, (path, public.status_code)
            assert "litellm_" not in public.text and "llmaas_" not in public.text
        for headers in ({}, {"Authorization": f"Bearer {tenant}"}):
            private = httpx.get(f"{e2e.litellm}{path}", headers=headers, timeout=30)
            assert private.status_code == 404, (path, private.status_code)
            assert "litellm_" not in private.text
    assert ("llmaas_admissions_total", (("limit", ""), ("outcome", "admitted"), ("scope", ""))) in scrape_proxy(e2e)


def test_it_reports_shipper_deliveries_budget_drift_and_backend_health(e2e: Any) -> None:
    samples = scrape(e2e)
    for counter in ("llmaas_shipper_deliveries_total", "llmaas_shipper_retries_total"):
        assert (counter, ()) in samples
    assert samples[("llmaas_budget_drift_usd", ())] >= 0
    backends = {
        dict(labels)["backend"]: value for (name, labels), value in samples.items() if name == "llmaas_backend_up"
    }
    assert backends, "no backend reported"
    assert all(value in (0, 1) for value in backends.values())
