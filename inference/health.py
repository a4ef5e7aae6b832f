"""Backend health: a beat task probes every backend; a failing one leaves routing (the catalog
published to Redis lists only routable deployments) and comes back once a probe succeeds.

The probe is the kind's own cheap route: llama-server's ``/health`` (503 while loading), Ollama's
``/api/tags``, else the OpenAI ``/models`` listing (vLLM, SGLang, any OpenAI-compatible server).
Every probe is kept in the backend's history (the last HISTORY_KEPT)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference.models import Backend, BackendHealthCheck
from inference.publishing import catalog_publish_on_commit

log = logging.getLogger(__name__)
HISTORY_KEPT = 200  # probes kept per backend
ERROR_MAX = 500


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float | None
    error: str = ""


def probe_url(backend: Backend) -> str:
    base = backend.base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    if backend.kind == Backend.Kind.LLAMACPP:
        return f"{root}/health"
    if backend.kind == Backend.Kind.OLLAMA:
        return f"{root}/api/tags"
    return f"{base}/models"


def backend_probe(backend: Backend, *, timeout: float) -> Probe:
    """One probe: a 2xx within ``timeout`` is healthy; anything else names what went wrong."""
    started = time.monotonic()
    try:
        response = httpx.get(probe_url(backend), timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Probe(False, None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX])
    latency = (time.monotonic() - started) * 1000
    if response.is_success:
        return Probe(True, latency)
    return Probe(False, latency, f"HTTP {response.status_code}: {response.text[:200]}"[:ERROR_MAX])


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
    backends = list(Backend.objects.filter(probe=True))
    if not backends:
        return {}
    timeout = settings.HEALTH_PROBE_TIMEOUT_SECONDS
    with ThreadPoolExecutor(max_workers=min(8, len(backends))) as pool:
        probes = list(pool.map(lambda b: backend_probe(b, timeout=timeout), backends))
    for backend, probe in zip(backends, probes, strict=True):
        backend_health_record(backend=backend, probe=probe)
    return {b.name: p.ok for b, p in zip(backends, probes, strict=True)}
