"""Django → Redis: the model catalog for the proxy (see inference/proxy/contract.py).

Only what may be routed is published: enabled deployments on backends not known to be down
(health.py takes a failing backend out, and puts it back when it recovers). When every
deployment of a public model is down, all of them are published ("panic" routing, as load
balancers do): a backend that has just come back serves before its next probe, and one still
down answers its own error, as it would without probes; refusing them all would only add an
outage of up to one probe interval after every recovery. Key snapshots are the keys app's
(keys/publishing.py), which also puts this catalog back when Redis lost its state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from inference.lifecycle.availability import catalog_lifecycle, running
from inference.models import ModelAlias, ModelDeployment
from inference.proxy.contract import EVENT_CATALOG, Catalog, CatalogDeployment, CatalogModel, encode_event
from llmaas.redis_client import redis_keys, redis_pipeline_for_publish, redis_write_and_publish

log = logging.getLogger(__name__)


def catalog_deployment(d: ModelDeployment) -> CatalogDeployment:
    return CatalogDeployment(
        id=d.name,
        upstream_model=d.upstream_model,
        backend_url=d.backend.base_url,
        context_window=d.context_window,
        input_price_per_mtok=str(d.input_price_per_mtok),
        output_price_per_mtok=str(d.output_price_per_mtok),
        upstream_key_env=d.backend.upstream_key_env,
        profile=d.routing_profile,
        max_concurrency=d.max_concurrency,
        queue_timeout_s=float(d.queue_timeout_seconds),
        backend_kind=d.backend.kind,
        **catalog_lifecycle(d),
    )


def catalog_model(name: str, deployments: list[ModelDeployment]) -> CatalogModel:
    """The public model ``name`` served by ``deployments`` (all enabled; the routable ones are
    published as its deployments, or all of them when none is)."""
    # A managed backend not running is not down: the proxy asks the fleet agent for it on demand.
    up = [d for d in deployments if d.backend.routable or (d.backend.managed and not running(d.backend))]
    routable = [catalog_deployment(d) for d in (up or deployments)]
    first = deployments[0]
    return CatalogModel(
        name=name,
        upstream_model=first.upstream_model,
        context_window=max(d.context_window for d in deployments),
        # The dearest deployment's: a reservation never undershoots; settling uses the chosen one's.
        input_price_per_mtok=str(max(d.input_price_per_mtok for d in deployments)),
        output_price_per_mtok=str(max(d.output_price_per_mtok for d in deployments)),
        max_output_tokens=max(d.max_output_tokens for d in deployments),
        backend_url=routable[0].backend_url if routable else "",
        upstream_key_env=routable[0].upstream_key_env if routable else "",
        mode=first.mode,
        deployments=tuple(routable),
    )


def catalog_models(deployments: Iterable[ModelDeployment]) -> list[CatalogModel]:
    by_name: dict[str, list[ModelDeployment]] = {}
    for d in deployments:
        by_name.setdefault(d.public_name, []).append(d)
    return [catalog_model(name, deps) for name, deps in sorted(by_name.items())]


def catalog_build() -> Catalog:
    enabled = (
        ModelDeployment.objects.filter(enabled=True)
        .select_related("backend")
        .prefetch_related("windows")
        .order_by("public_name", "name")
    )
    models = catalog_models(enabled)
    names = {m.name for m in models}
    aliases = tuple((a.name, a.public_name) for a in ModelAlias.objects.order_by("name") if a.public_name in names)
    return Catalog(models=tuple(models), aliases=aliases)


def catalog_publish() -> None:
    keys = redis_keys()
    pipe = redis_pipeline_for_publish()
    pipe.set(keys.catalog, catalog_build().to_json())
    redis_write_and_publish(pipe, keys.events, [encode_event(EVENT_CATALOG)])


def catalog_publish_on_commit() -> None:
    """Publish once the transaction commits; if Redis cannot take it then, the periodic reconcile
    (keys/publishing.py) puts the catalog back."""

    def publish() -> None:
        try:
            catalog_publish()
        except Exception:
            log.warning("publishing the model catalog failed; the reconcile task retries", exc_info=True)

    transaction.on_commit(publish)
