"""Django's /metrics collectors against the real Redis and PostgreSQL: the shippers' counters and
the budget drift from the ``{p}:metrics`` hash, backend health from the probes' last record."""

from __future__ import annotations

import pytest
import redis as redis_lib
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from inference.models import Backend
from inference.proxy.shipper import DELIVERIES, RETRIES, metrics_hash

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_prefix(settings, redis_prefix):
    settings.REDIS_PREFIX = redis_prefix.prefix
    return redis_prefix


def samples(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    page = client.get("/metrics")
    assert page.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.content.decode())
        for sample in family.samples
    }


def test_it_reports_the_shippers_counters_and_the_budget_drift(settings, local_prefix) -> None:
    redis = redis_lib.Redis.from_url(settings.REDIS_URL)
    redis.hset(metrics_hash(local_prefix), mapping={DELIVERIES: 7, RETRIES: 3, "spend_drift_nano": 1_500_000})
    found = samples(Client())
    assert found[("llmaas_shipper_deliveries_total", ())] == 7
    assert found[("llmaas_shipper_retries_total", ())] == 3
    assert found[("llmaas_budget_drift_usd", ())] == pytest.approx(0.0015)


def test_it_reports_nothing_counted_yet_as_zero(local_prefix) -> None:
    found = samples(Client())
    assert found[("llmaas_shipper_retries_total", ())] == 0
    assert found[("llmaas_budget_drift_usd", ())] == 0


def test_it_reports_each_backend_routable_unless_its_last_probe_failed(catalog, local_prefix) -> None:
    down = Backend.objects.order_by("name").first()
    assert down is not None
    Backend.objects.filter(pk=down.pk).update(health=Backend.Health.UNHEALTHY)
    found = samples(Client())
    up = {dict(labels)["backend"]: value for (name, labels), value in found.items() if name == "llmaas_backend_up"}
    assert up == {b.name: (0 if b.pk == down.pk else 1) for b in Backend.objects.all()}
