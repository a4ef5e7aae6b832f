"""Renders the model catalog into LiteLLM's proxy config (``litellm/config.yaml``).

The config names no secret: the master key and upstream keys are ``os.environ/NAME``
references that LiteLLM resolves at start.
"""

from collections.abc import Iterable

import yaml

from inference.models import ModelDeployment
from inference.proxy.deployments import deployment_entry, key_reference
from inference.publishing import catalog_models

HEADER = (
    "# Rendered from the model catalog by `manage.py render_litellm_config`; edit models in the admin.\n"
    "# No secrets here: os.environ/NAME references are resolved by LiteLLM at start.\n"
)


def render_litellm_config(deployments: Iterable[ModelDeployment]) -> str:
    """The cold-start config of the enabled ``deployments`` (backends known to be down are left
    out, as the live catalog leaves them out)."""
    enabled = [d for d in deployments if d.enabled]
    config = {
        "model_list": [
            deployment_entry(model, d, key_reference(d.upstream_key_env))
            for model in catalog_models(enabled)
            for d in model.deployments
        ],
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
            # Unbounded (a series per client address or agent) and personal: never labels.
            "prometheus_exclude_labels": ["client_ip", "user_agent", "user_email", "end_user"],
            # Requests, failures, latencies, tokens, spend, deployment state: every other metric is a no-op, never
            # computed per call (LiteLLM defines ~90, most about its database's keys and teams).
            "prometheus_metrics_config": [
                {
                    "group": "proxy",
                    "metrics": [
                        "litellm_proxy_total_requests_metric",
                        "litellm_proxy_failed_requests_metric",
                        "litellm_request_total_latency_metric",
                        "litellm_llm_api_latency_metric",
                        "litellm_llm_api_time_to_first_token_metric",
                        "litellm_overhead_latency_metric",
                        "litellm_input_tokens_metric",
                        "litellm_output_tokens_metric",
                        "litellm_total_tokens_metric",
                        "litellm_spend_metric",
                        "litellm_deployment_state",
                        "litellm_deployment_success_responses",
                        "litellm_deployment_failure_responses",
                        "litellm_deployment_total_requests",
                    ],
                }
            ],
            # "prometheus": LiteLLM's own metrics at /metrics (no license needed), summed over the
            # workers through PROMETHEUS_MULTIPROC_DIR; the route gate serves it to the master key only.
            # After the prometheus_* settings: importing the hooks installs our leaner instance of that
            # callback (lean_prometheus.py), which reads them.
            "callbacks": ["inference.proxy.hooks.proxy_hooks", "inference.proxy.usage.usage_logger", "prometheus"],
            "enable_post_custom_auth_checks": False,
            "telemetry": False,
            "drop_params": True,
            "request_timeout": 600,
        },
    }
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
