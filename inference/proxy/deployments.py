"""One catalog model as a LiteLLM deployment: the same entry in the rendered ``litellm/config.yaml``
(cold start) and in each worker's router when the catalog changes live (router_sync.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from inference.proxy.contract import CatalogModel

PER_TOKEN = Decimal(1_000_000)
NO_KEY = "no-key"  # the OpenAI client needs some key; a backend that checks none ignores it


def key_reference(env_name: str) -> str:
    """How the rendered config names an upstream key: LiteLLM resolves it from the environment."""
    return f"os.environ/{env_name}" if env_name else NO_KEY


def deployment_entry(model: CatalogModel, api_key: str) -> dict[str, Any]:
    """A ``model_list`` entry; ``api_key`` is a key_reference (config) or the key itself (router)."""
    return {
        "model_name": model.name,
        "litellm_params": {
            "model": f"openai/{model.upstream_model}",
            "api_base": model.backend_url,
            "api_key": api_key,
        },
        "model_info": {
            "id": model.name,  # stable deployment id, reported by the usage callback as model_id
            "max_input_tokens": model.context_window,
            "input_cost_per_token": float(Decimal(model.input_price_per_mtok) / PER_TOKEN),
            "output_cost_per_token": float(Decimal(model.output_price_per_mtok) / PER_TOKEN),
        },
    }
