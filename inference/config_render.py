"""Renders the model catalog into LiteLLM's proxy config (``litellm/config.yaml``).

The config names no secret: the master key and upstream keys are ``os.environ/NAME``
references that LiteLLM resolves at start.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import yaml

from inference.models import ServedModel

HEADER = (
    "# Rendered from the model catalog by `manage.py render_litellm_config`; edit models in the admin.\n"
    "# No secrets here: os.environ/NAME references are resolved by LiteLLM at start.\n"
)
PER_TOKEN = Decimal(1_000_000)


def _deployment(model: ServedModel) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"openai/{model.upstream_model}",
        "api_base": model.backend_url,
        # The OpenAI client needs some key; a backend that checks none ignores it.
        "api_key": f"os.environ/{model.upstream_key_env}" if model.upstream_key_env else "no-key",
    }
    return {
        "model_name": model.name,
        "litellm_params": params,
        "model_info": {
            "id": model.name,  # stable deployment id, reported by the usage callback as model_id
            "max_input_tokens": model.context_window,
            "input_cost_per_token": float(model.input_price_per_mtok / PER_TOKEN),
            "output_cost_per_token": float(model.output_price_per_mtok / PER_TOKEN),
        },
    }


def render_litellm_config(models: Iterable[ServedModel]) -> str:
    config = {
        "model_list": [_deployment(m) for m in models],
        "general_settings": {
            "master_key": "os.environ/LITELLM_MASTER_KEY",
            "custom_auth": "inference.proxy.auth.user_api_key_auth",
            # Our custom_auth enforces routes, expiry and the model allowlist itself, and admission
            # enforces limits; LiteLLM's common checks would only add ~1 ms per call (bench B1).
            "custom_auth_run_common_checks": False,
            # Streams are billed like other calls: LiteLLM asks the backend for usage.
            "always_include_stream_usage": True,
        },
        "litellm_settings": {
            "callbacks": ["inference.proxy.hooks.proxy_hooks", "inference.proxy.usage.usage_logger"],
            "enable_post_custom_auth_checks": False,
            "telemetry": False,
            "drop_params": True,
            "request_timeout": 600,
        },
    }
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
