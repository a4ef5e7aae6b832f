"""Reads of the fleet catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from inference.lifecycle.availability import availability_view, model_availability
from inference.models import BackendHealthCheck, ModelAlias, ModelDeployment


def deployments_enabled() -> QuerySet[ModelDeployment]:
    return (
        ModelDeployment.objects.filter(enabled=True)
        .select_related("backend")
        .prefetch_related("windows")
        .order_by("public_name", "name")
    )


def public_model_names(*, names: Iterable[str] | None = None) -> set[str]:
    """Names clients may call enabled models by: public names and their aliases."""
    public = set(deployments_enabled().values_list("public_name", flat=True))
    aliases = {a.name for a in ModelAlias.objects.filter(public_name__in=public)}
    known = public | aliases
    return known if names is None else known & set(names)


@dataclass(frozen=True)
class PublicModel:
    """One public model as callers see it: the dearest prices and largest window of its enabled
    deployments (what admission reserves for), and how many of them can take calls now."""

    name: str
    mode: str
    context_window: int
    max_output_tokens: int
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    deployments: tuple[ModelDeployment, ...]
    aliases: tuple[str, ...]

    @property
    def available(self) -> bool:
        return any(d.backend.routable for d in self.deployments)


def public_models(*, names: Iterable[str] | None = None) -> list[PublicModel]:
    """Enabled public models, by name (only ``names`` when given, aliases resolved)."""
    by_name: dict[str, list[ModelDeployment]] = {}
    for d in deployments_enabled():
        by_name.setdefault(d.public_name, []).append(d)
    aliases: dict[str, list[str]] = {}
    for alias in ModelAlias.objects.filter(public_name__in=by_name):
        aliases.setdefault(alias.public_name, []).append(alias.name)
    if names is not None:
        wanted = set(names)
        wanted |= {target for target, names_ in aliases.items() for a in names_ if a in wanted}
        by_name = {k: v for k, v in by_name.items() if k in wanted}
    return [
        PublicModel(
            name=name,
            mode=deps[0].mode,
            context_window=max(d.context_window for d in deps),
            max_output_tokens=max(d.max_output_tokens for d in deps),
            input_price_per_mtok=max(d.input_price_per_mtok for d in deps),
            output_price_per_mtok=max(d.output_price_per_mtok for d in deps),
            deployments=tuple(deps),
            aliases=tuple(sorted(aliases.get(name, ()))),
        )
        for name, deps in sorted(by_name.items())
    ]


def model_prices(*, names: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """USD per million (input, output) tokens by public model name (enabled or not: a call served
    before a model was disabled is still billed), the dearest of its deployments."""
    prices: dict[str, tuple[Decimal, Decimal]] = {}
    rows = ModelDeployment.objects.filter(public_name__in=set(names)).values_list(
        "public_name", "input_price_per_mtok", "output_price_per_mtok"
    )
    for name, price_in, price_out in rows:
        old_in, old_out = prices.get(name, (Decimal(0), Decimal(0)))
        prices[name] = (max(old_in, price_in), max(old_out, price_out))
    return prices


def deployment_prices(*, names: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """USD per million (input, output) tokens by deployment name."""
    rows = ModelDeployment.objects.filter(name__in=set(names)).values_list(
        "name", "input_price_per_mtok", "output_price_per_mtok"
    )
    return {name: (price_in, price_out) for name, price_in, price_out in rows}


HEALTH_HISTORY_SHOWN = 5


def model_catalog_for(*, allowed: Iterable[str] | None) -> list[dict[str, Any]]:
    """The public models a caller may use (``allowed``: an allow-list of names, None for all), as
    GET /api/models/ shows them: no backend address, key name or host."""
    models = public_models(names=allowed)
    backends = {d.backend_id for m in models for d in m.deployments}
    history: dict[int, list[dict[str, Any]]] = {}
    for backend_id in backends:
        checks = BackendHealthCheck.objects.filter(backend_id=backend_id).order_by("-checked_at")
        history[backend_id] = [{"checked_at": c.checked_at, "ok": c.ok} for c in checks[:HEALTH_HISTORY_SHOWN]]
    result = []
    now = timezone.now()
    for m in models:
        when = {d.pk: availability_view(d, now) for d in m.deployments}
        up = [d.backend.routable for d in m.deployments]
        health = "healthy" if all(up) else "degraded" if any(up) else "unavailable"
        result.append(
            {
                "name": m.name,
                "aliases": list(m.aliases),
                "mode": m.mode,
                "context_window": m.context_window,
                "max_output_tokens": m.max_output_tokens,
                "input_price_per_mtok": m.input_price_per_mtok,
                "output_price_per_mtok": m.output_price_per_mtok,
                "available": m.available,
                "health": health,
                "availability": model_availability(list(when.values())),
                "deployments": [
                    {
                        "name": d.name,
                        "routing_profile": d.routing_profile,
                        "context_window": d.context_window,
                        "max_concurrency": d.max_concurrency,
                        "health": d.backend.health,
                        "health_checked_at": d.backend.health_checked_at,
                        "health_history": history.get(d.backend_id, []),
                        "availability": when[d.pk],
                    }
                    for d in m.deployments
                ],
            }
        )
    return result
