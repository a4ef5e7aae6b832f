"""One catalog deployment as a LiteLLM deployment: the same entry in the rendered
``litellm/config.yaml`` (cold start) and in each worker's router when the catalog changes live
(router_sync.py).

Every deployment of a public model sits in the router's model group of that public name (so
``/v1/models`` lists it), under its own ``model_info.id``: ``dep/<deployment name>``. Our hooks
choose the deployment (routing.py) and hand LiteLLM that id as the model, which its router
serves from that one deployment; ``/`` never occurs in a model name, so an id cannot shadow one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from inference.proxy.contract import CatalogDeployment, CatalogModel

PER_TOKEN = Decimal(1_000_000)
NO_KEY = "no-key"  # the OpenAI client needs some key; a backend that checks none ignores it
DEPLOYMENT_ID_PREFIX = "dep/"


def key_reference(env_name: str) -> str:
    """How the rendered config names an upstream key: LiteLLM resolves it from the environment."""
    return f"os.environ/{env_name}" if env_name else NO_KEY


def router_id(deployment_id: str) -> str:
    """The LiteLLM ``model_info.id`` of a catalog deployment."""
    return DEPLOYMENT_ID_PREFIX + deployment_id


def deployment_of_router_id(model_id: object) -> str | None:
    """The catalog deployment behind a LiteLLM ``model_info.id`` (None for other ids)."""
    if isinstance(model_id, str) and model_id.startswith(DEPLOYMENT_ID_PREFIX):
        return model_id[len(DEPLOYMENT_ID_PREFIX) :]
    return None


def deployment_entry(model: CatalogModel, deployment: CatalogDeployment, api_key: str) -> dict[str, Any]:
    """A ``model_list`` entry; ``api_key`` is a key_reference (config) or the key itself (router)."""
    entry: dict[str, Any] = {
        "model_name": model.name,
        "litellm_params": {
            "model": f"openai/{deployment.upstream_model}",
            "api_base": deployment.backend_url,
            "api_key": api_key,
        },
        "model_info": {
            "id": router_id(deployment.id),  # reported by the usage callback as model_id
            "mode": "embedding" if model.mode == "embedding" else "chat",
            "max_input_tokens": deployment.context_window,
            "input_cost_per_token": float(Decimal(deployment.input_price_per_mtok) / PER_TOKEN),
            "output_cost_per_token": float(Decimal(deployment.output_price_per_mtok) / PER_TOKEN),
        },
    }
    return entry
