"""Prometheus metrics of the control plane, scraped from ``/metrics`` on Django's own port
(nginx never routes it publicly).

- Django's requests, responses and latencies: django-prometheus's middleware.
- Celery task outcomes: counted in the worker (``task_prerun``/``postrun`` signals).
- The usage pipeline, read from Redis at scrape time (nothing on the request path): backlog and
  age of the oldest unshipped record, dead letters, open budget reservations, the shippers'
  deliveries and retries and the budget reconcile's last drift (the ``{p}:metrics`` hash).
- Backend health as beat's probes last recorded it (PostgreSQL, at scrape time).

The proxy's own metrics (LiteLLM's and our admission counters) are on LiteLLM's ``/metrics``
(inference/proxy/metrics.py).

Gunicorn and Celery run several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (the stack sets
it, and wipes it at start) each process writes its counters there and any process's ``/metrics``
sums them all, so a scrape sees the whole service, whichever worker answers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from inference.proxy.shipper import DELIVERIES, RETRIES, metrics_hash
from llmaas.redis_client import redis_client, redis_keys

log = logging.getLogger(__name__)

TASKS = Counter("llmaas_celery_tasks_total", "Celery tasks run, by task and outcome.", ["task", "outcome"])
TASK_SECONDS = Histogram("llmaas_celery_task_seconds", "Celery task run time.", ["task"])
WEBHOOK_BATCH = Histogram(
    "llmaas_usage_webhook_batch_records",
    "Usage records per webhook delivery.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
WEBHOOK_RECORDS = Counter("llmaas_usage_webhook_records_total", "Usage records received, by outcome.", ["outcome"])
for _outcome in ("inserted", "duplicate", "rejected"):  # each series exists from the start, at 0
    WEBHOOK_RECORDS.labels(_outcome)

_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


@task_failure.connect
def _task_failed(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    TASKS.labels(getattr(sender, "name", "unknown"), "failure").inc()


@task_postrun.connect
def _task_finished(sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    name = getattr(sender, "name", "unknown")
    started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.monotonic() - started)
    if state != "FAILURE":  # failures were counted by task_failure, with their exception
        TASKS.labels(name, (state or "unknown").lower()).inc()


class PipelineCollector(Collector):
    """The usage pipeline and admission state as they are in Redis now."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        keys, client = redis_keys(), redis_client()
        up = GaugeMetricFamily("llmaas_redis_up", "Whether the scrape could read Redis.")
        try:
            pipe = client.pipeline(transaction=False)
            pipe.xlen(keys.usage_stream)
            pipe.xrange(keys.usage_stream, count=1)
            pipe.xlen(keys.usage_dead)
            pipe.hgetall(metrics_hash(keys))
            backlog, oldest, dead, counters = pipe.execute()
            # Reservations are kept per organization (one hash slot each on a cluster): counted set by set.
            zsets = client.scan_iter(match=keys.reservations_pattern, count=1000, _type="zset")
            reservations = sum(int(client.zcard(zset)) for zset in zsets)
        except RedisError:
            log.warning("metrics: Redis unreachable during a scrape")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        lag = 0.0
        if oldest:
            entry_id = oldest[0][0].decode() if isinstance(oldest[0][0], bytes) else oldest[0][0]
            lag = max(0.0, time.time() - int(entry_id.split("-")[0]) / 1000)
        yield _gauge("llmaas_usage_stream_backlog", "Usage records not yet stored (shipped and acknowledged).", backlog)
        yield _gauge("llmaas_usage_stream_lag_seconds", "Age of the oldest usage record not yet stored.", lag)
        yield _gauge("llmaas_usage_dead_letters", "Usage records in the dead-letter stream.", dead)
        yield _gauge("llmaas_reservations_open", "Budget reservations not yet settled or expired.", reservations)
        counters = {_text(k): int(v) for k, v in counters.items()}
        for name, field, documentation in (
            ("llmaas_shipper_deliveries", DELIVERIES, "Usage batches the shippers delivered (acknowledged)."),
            ("llmaas_shipper_retries", RETRIES, "Webhook deliveries tried again (non-2xx, unreachable)."),
        ):
            counter = CounterMetricFamily(name, documentation)
            counter.add_metric([], counters.get(field, 0))
            yield counter
        yield _gauge(
            "llmaas_budget_drift_usd",
            "Redis's budget spend against request_logs at the last reconcile (absolute, summed over scopes).",
            counters.get("spend_drift_nano", 0) / 1e9,
        )


# Collectors of the apps above this one (registered from their AppConfig.ready: llmaas imports no
# app), run at each scrape after the pipeline's.
APP_COLLECTORS: list[Collector] = []


def collector_register(collector: Collector) -> None:
    APP_COLLECTORS.append(collector)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def metrics_view(request: HttpRequest) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY  # one process: its own metrics
    pipeline = CollectorRegistry()
    pipeline.register(PipelineCollector())
    for collector in APP_COLLECTORS:
        pipeline.register(collector)
    body = generate_latest(processes) + generate_latest(pipeline)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
