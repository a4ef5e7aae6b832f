"""Django's /metrics on its own port: counters summed over every gunicorn and Celery process, the
usage pipeline's gauges read from Redis; never served through the public origin."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.stack


def scrape(e2e: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    page = httpx.get(f"http://127.0.0.1:{e2e.stack.config.django_port}/metrics", timeout=30)
    assert page.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }


def requests_to(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], view: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "django_http_requests_total_by_view_transport_method_total" and dict(labels).get("view") == view
    )


def test_it_counts_every_request_whichever_process_served_it(e2e: Any) -> None:
    before = requests_to(scrape(e2e), "auth-csrf")
    with httpx.Client(base_url=e2e.public, timeout=30) as client:
        for _ in range(20):  # through nginx: spread over the gunicorn workers
            assert client.get("/api/auth/csrf").status_code == 200
    assert requests_to(scrape(e2e), "auth-csrf") - before == 20


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
