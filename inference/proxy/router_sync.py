"""Applies the published catalog to this worker's LiteLLM router: a model added, changed or
removed in Django is routable (or gone) on every worker without a restart.

LiteLLM's own ``/model/new`` needs its database, which the DB-less proxy lacks; its router takes
``upsert_deployment`` / ``delete_deployment`` in process (LITELLM.md). The snapshot store calls
``apply`` whenever it loads the catalog afresh (after a catalog event, or when its subscription is
down), from the auth hook, before the request is routed: so the request that first names a new
model is routed by a router that knows it. ``litellm/config.yaml`` stays the cold-start copy.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from litellm.proxy import proxy_server
from litellm.types.router import Deployment

from inference.proxy.contract import Catalog
from inference.proxy.deployments import NO_KEY, deployment_entry

log = logging.getLogger("llmaas.proxy")


class RouterSync:
    def __init__(self) -> None:
        self._applied: bytes | str | None = None  # the catalog (as published) that the router matches

    def apply(self, raw: bytes | str, catalog: Catalog) -> None:
        router = proxy_server.llm_router
        if router is None or raw == self._applied:
            return
        try:
            self._apply(router, catalog)
        except Exception:
            # Never fails a request: auth and the pre-call hook still serve only catalog models,
            # and the next load of the catalog tries again (nothing was marked applied).
            log.exception("applying the catalog to the router failed")
            return
        self._applied = raw
        log.info("router follows the catalog: %s", sorted(catalog.names()))

    def _apply(self, router: Any, catalog: Catalog) -> None:
        wanted: set[str] = set()
        for model in catalog.models:
            for deployment in model.deployments:
                env = deployment.upstream_key_env
                api_key = os.environ.get(env, "") if env else NO_KEY
                entry = deployment_entry(model, deployment, api_key)
                wanted.add(entry["model_info"]["id"])
                router.upsert_deployment(Deployment(**entry))
        if not catalog.models:
            return  # an empty catalog is refused by the auth hook anyway; never empty the router
        # Deployments disabled, deleted or down leave the router; a call in flight keeps the
        # deployment object it already holds and completes.
        for entry in list(router.model_list):
            model_id = str((entry.get("model_info") or {}).get("id"))
            if model_id not in wanted:
                router.delete_deployment(id=model_id)


router_sync = RouterSync()
