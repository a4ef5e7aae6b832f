"""Backend health: a beat task probes every backend; a failing one leaves routing (the catalog
published to Redis lists only routable deployments) and comes back once a probe succeeds.

The probe is the kind's own cheap route, by its driver (inference/drivers/): llama-server's
``/health`` (503 while loading), Ollama's ``/api/tags``, else the OpenAI ``/models`` listing (vLLM,
SGLang, any OpenAI-compatible server), sent with the upstream key its env variable holds.
Every probe is kept in the backend's history (the last HISTORY_KEPT)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inference.drivers import Probe, driver_for
from inference.models import Backend, BackendHealthCheck
from inference.publishing import catalog_publish_on_commit

log = logging.getLogger(__name__)
HISTORY_KEPT = 200  # probes kept per backend


def probe_url(backend: Backend) -> str:
    return driver_for(backend).health_url()


def backend_probe(backend: Backend, *, timeout: float) -> Probe:
    """One probe by the backend's driver (inference/drivers/): a 2xx within ``timeout`` is healthy."""
    return driver_for(backend).probe(timeout=timeout)


def backend_health_record(*, backend: Backend, probe: Probe) -> bool:
    """Store one probe and the backend's new state; True when the state flipped (the catalog is
    then republished on commit). A conditional UPDATE decides the flip, so two racing probes
    never both miss it."""
    state = Backend.Health.HEALTHY if probe.ok else Backend.Health.UNHEALTHY
    now = timezone.now()
    fields = {"health_checked_at": now, "health_error": probe.error}
    with transaction.atomic():
        BackendHealthCheck.objects.create(
            backend=backend, checked_at=now, ok=probe.ok, latency_ms=probe.latency_ms, error=probe.error
        )
        flipped = Backend.objects.filter(pk=backend.pk).exclude(health=state).update(health=state, **fields) > 0
        if flipped:
            log.warning("backend %s is now %s%s", backend.name, state, f" ({probe.error})" if probe.error else "")
            catalog_publish_on_commit()
        else:
            Backend.objects.filter(pk=backend.pk).update(**fields)
        stale = BackendHealthCheck.objects.filter(backend=backend).order_by("-checked_at")[
            HISTORY_KEPT : HISTORY_KEPT + 1000
        ]
        stale_ids = list(stale.values_list("pk", flat=True))
        if stale_ids:
            BackendHealthCheck.objects.filter(pk__in=stale_ids).delete()
    return flipped


def backends_probe() -> dict[str, bool]:
    """Probe every backend that has probing on, concurrently; backend name → healthy."""
    # A managed backend's process is the fleet agent's to watch while it is not running (stopped on
    # purpose is not down; lifecycle/agent.py): it is probed only while it runs.
    running = ~Q(managed=True) | Q(run_state=Backend.RunState.RUNNING)
    backends = list(Backend.objects.filter(running, probe=True))
    if not backends:
        return {}
    timeout = settings.HEALTH_PROBE_TIMEOUT_SECONDS
    with ThreadPoolExecutor(max_workers=min(8, len(backends))) as pool:
        probes = list(pool.map(lambda b: backend_probe(b, timeout=timeout), backends))
    for backend, probe in zip(backends, probes, strict=True):
        backend_health_record(backend=backend, probe=probe)
    return {b.name: p.ok for b, p in zip(backends, probes, strict=True)}
