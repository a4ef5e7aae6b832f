"""Django → Redis: the model catalog for the proxy (see inference/proxy/contract.py).

Key snapshots are the keys app's (keys/publishing.py), which also puts this catalog back when
Redis lost its state.
"""

from __future__ import annotations

from inference.models import ServedModel
from inference.proxy.contract import EVENT_CATALOG, Catalog, CatalogModel, encode_event
from llmaas.redis_client import redis_client, redis_keys


def catalog_model(m: ServedModel) -> CatalogModel:
    return CatalogModel(
        name=m.name,
        upstream_model=m.upstream_model,
        context_window=m.context_window,
        input_price_per_mtok=str(m.input_price_per_mtok),
        output_price_per_mtok=str(m.output_price_per_mtok),
        max_output_tokens=m.max_output_tokens,
        backend_url=m.backend_url,
        upstream_key_env=m.upstream_key_env,
    )


def catalog_build() -> Catalog:
    return Catalog(models=tuple(catalog_model(m) for m in ServedModel.objects.filter(is_active=True).order_by("name")))


def catalog_publish() -> None:
    keys = redis_keys()
    pipe = redis_client().pipeline(transaction=True)
    pipe.set(keys.catalog, catalog_build().to_json())
    pipe.publish(keys.events, encode_event(EVENT_CATALOG))
    pipe.execute()
