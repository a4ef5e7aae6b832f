"""The fleet's series on Django's /metrics (llmaas/metrics.py), registered in InferenceConfig.ready."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inference.models import Backend
from llmaas.metrics import collector_register

log = logging.getLogger(__name__)


class BackendCollector(Collector):
    """Each backend's health as beat's last probe recorded it: 1 routable, 0 unhealthy."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("llmaas_backend_up", "Backend routable (1) or unhealthy (0) by its last probe.",
                               labels=["backend", "kind", "health"])  # fmt: skip
        try:
            backends = list(Backend.objects.values_list("name", "kind", "health"))
        except DatabaseError:
            log.warning("metrics: PostgreSQL unreachable during a scrape")
            return  # the rest of the page still answers
        for name, kind, health in backends:
            up.add_metric([name, kind, health], 0 if health == Backend.Health.UNHEALTHY else 1)
        yield up


collector_register(BackendCollector())
