"""Writes to the fleet catalog. Each change is published to Redis on commit (publishing.py), so
every LiteLLM worker's router follows it within a second, without a restart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from inference.models import Backend, ModelAlias, ModelDeployment
from inference.publishing import catalog_publish_on_commit
from llmaas.errors import ApplicationError, NotFound


def _validated(obj: Backend | ModelDeployment | ModelAlias) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ApplicationError(
            f"Invalid {obj._meta.verbose_name}: {exc.message_dict}.", code="invalid_catalog_entry"
        ) from None


def backend_name_for(url: str) -> str:
    """A backend name derived from its URL (host-port), for deployments named by URL only."""
    parts = urlsplit(url)
    host = (parts.hostname or "backend").replace("_", "-")
    return f"{host}-{parts.port}" if parts.port else host


@transaction.atomic
def backend_set(
    *,
    name: str,
    base_url: str,
    kind: str = Backend.Kind.OPENAI_COMPATIBLE,
    host: str = "",
    gpu_ids: str = "",
    upstream_key_env: str = "",
    probe: bool = True,
) -> Backend:
    """Create or update a backend by name (``probe``: whether beat probes its health)."""
    backend = Backend.objects.select_for_update().filter(name=name).first() or Backend(name=name)
    backend.base_url, backend.kind, backend.host = base_url, kind, host
    backend.gpu_ids, backend.upstream_key_env, backend.probe = gpu_ids, upstream_key_env, probe
    if not probe:
        backend.health = Backend.Health.UNKNOWN  # routable: nothing will ever probe it
    _validated(backend)
    backend.save()
    catalog_publish_on_commit()
    return backend


def _backend_by_url(url: str, kind: str, upstream_key_env: str, probe: bool | None) -> Backend:
    existing = Backend.objects.select_for_update().filter(base_url=url).order_by("created_at").first()
    if existing is not None:
        changed = []
        if upstream_key_env and existing.upstream_key_env != upstream_key_env:
            existing.upstream_key_env = upstream_key_env
            changed.append("upstream_key_env")
        if probe is not None and existing.probe != probe:
            existing.probe = probe
            changed.append("probe")
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing
    name = backend_name_for(url)
    if Backend.objects.filter(name=name).exists():
        name = f"{name}-{Backend.objects.count() + 1}"
    return backend_set(
        name=name, base_url=url, kind=kind, upstream_key_env=upstream_key_env, probe=True if probe is None else probe
    )


@transaction.atomic
def deployment_set(
    *,
    name: str,
    upstream_model: str,
    context_window: int,
    public_name: str | None = None,
    backend: Backend | None = None,
    backend_url: str | None = None,
    backend_kind: str = Backend.Kind.OPENAI_COMPATIBLE,
    backend_probe: bool | None = None,
    upstream_key_env: str = "",
    input_price_per_mtok: Decimal = Decimal("0"),
    output_price_per_mtok: Decimal = Decimal("0"),
    max_output_tokens: int = 1024,
    max_concurrency: int | None = None,
    queue_timeout_seconds: int = 0,
    routing_profile: str = ModelDeployment.Profile.THROUGHPUT,
    mode: str = ModelDeployment.Mode.CHAT,
    digest: str = "",
    enabled: bool = True,
) -> ModelDeployment:
    """Create or update the deployment ``name`` (serving ``public_name``, by default its own name)
    on ``backend``, or on the backend at ``backend_url`` (made when none has that URL)."""
    if backend is None:
        if not backend_url:
            raise ApplicationError("A deployment needs a backend or a backend URL.", code="backend_required")
        backend = _backend_by_url(backend_url, backend_kind, upstream_key_env, backend_probe)
    deployment = ModelDeployment.objects.select_for_update().filter(name=name).first() or ModelDeployment(name=name)
    fields: dict[str, Any] = {
        "public_name": public_name or name,
        "backend": backend,
        "upstream_model": upstream_model,
        "context_window": context_window,
        "input_price_per_mtok": input_price_per_mtok,
        "output_price_per_mtok": output_price_per_mtok,
        "max_output_tokens": max_output_tokens,
        "max_concurrency": max_concurrency,
        "queue_timeout_seconds": queue_timeout_seconds,
        "routing_profile": routing_profile,
        "mode": mode,
        "digest": digest,
        "enabled": enabled,
    }
    for field, value in fields.items():
        setattr(deployment, field, value)
    _validated(deployment)
    deployment.save()
    catalog_publish_on_commit()
    return deployment


@transaction.atomic
def deployment_enable(*, name: str, enabled: bool) -> ModelDeployment:
    deployment = ModelDeployment.objects.select_for_update().filter(name=name).first()
    if deployment is None:
        raise NotFound(f"No deployment named {name!r}.", code="deployment_not_found")
    deployment.enabled = enabled
    deployment.save(update_fields=["enabled", "updated_at"])
    catalog_publish_on_commit()
    return deployment


@transaction.atomic
def deployment_delete(*, name: str) -> None:
    deleted, _ = ModelDeployment.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"No deployment named {name!r}.", code="deployment_not_found")
    catalog_publish_on_commit()


@transaction.atomic
def alias_set(*, name: str, public_name: str) -> ModelAlias:
    alias = ModelAlias.objects.select_for_update().filter(name=name).first() or ModelAlias(name=name)
    alias.public_name = public_name
    _validated(alias)
    alias.save()
    catalog_publish_on_commit()
    return alias


@transaction.atomic
def alias_delete(*, name: str) -> None:
    deleted, _ = ModelAlias.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"No alias named {name!r}.", code="alias_not_found")
    catalog_publish_on_commit()
