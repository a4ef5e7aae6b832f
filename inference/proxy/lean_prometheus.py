"""LiteLLM's ``prometheus`` callback without the per-call work for metrics we never enable.

The config enables 14 of LiteLLM's metrics (``prometheus_metrics_config``); the others are no-ops,
but LiteLLM still computes their labels on every call: the v3 rate-limit gauges (ten header
lookups, label sets and series bookkeeping per call) and the per-key remaining requests/tokens
gauges took most of the callback's time in ``bench.profile`` (about 60 % of it, the callback
costing ~13 % of a proxy worker's CPU per request). This subclass skips those two steps unless
one of their metrics is enabled; every enabled metric is counted exactly as LiteLLM counts it.

LiteLLM builds the ``prometheus`` callback once per process and reuses an instance it finds in
its in-memory loggers: ``install()`` puts ours there first. It runs when the hooks module is
imported, while LiteLLM reads ``litellm_settings.callbacks``: the ``prometheus_*`` settings come
before ``callbacks`` in the rendered config (config_render.py), so they are already applied.
"""

from __future__ import annotations

import logging
from typing import Any

from litellm.integrations.prometheus import PrometheusLogger
from litellm.litellm_core_utils import litellm_logging

log = logging.getLogger("llmaas.proxy.metrics")
# The metrics each skipped step writes (LiteLLM 1.106's names).
V3_RATE_LIMIT_METRICS = (
    "litellm_api_key_rate_limit_allowed_metric",
    "litellm_api_key_rate_limit_used_metric",
    "litellm_team_rate_limit_allowed_metric",
    "litellm_team_rate_limit_used_metric",
    "litellm_project_model_rate_limit_allowed_metric",
    "litellm_project_model_rate_limit_used_metric",
)
KEY_REMAINING_METRICS = ("litellm_remaining_api_key_requests_for_model", "litellm_remaining_api_key_tokens_for_model")


class LeanPrometheusLogger(PrometheusLogger):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._v3_rate_limits = any(self._is_metric_enabled(name) for name in V3_RATE_LIMIT_METRICS)
        self._key_remaining = any(self._is_metric_enabled(name) for name in KEY_REMAINING_METRICS)

    def _set_v3_rate_limit_allowed_and_used_metrics(self, *args: Any, **kwargs: Any) -> None:
        if self._v3_rate_limits:
            super()._set_v3_rate_limit_allowed_and_used_metrics(*args, **kwargs)

    def _set_virtual_key_rate_limit_metrics(self, *args: Any, **kwargs: Any) -> None:
        if self._key_remaining:
            super()._set_virtual_key_rate_limit_metrics(*args, **kwargs)


def install() -> PrometheusLogger | None:
    """The process's ``prometheus`` callback: ours, registered before LiteLLM builds its own.

    Without ``prometheus_metrics_config`` applied yet (settings in another order, or a process
    that never configured Prometheus), nothing is installed: LiteLLM builds its own callback as
    usual, which counts the same series at the full cost."""
    for logger in litellm_logging._in_memory_loggers:
        if isinstance(logger, PrometheusLogger):
            return logger
    if not litellm_logging.litellm.prometheus_metrics_config:  # the litellm package (not our litellm/ folder)
        log.warning("prometheus_metrics_config is not applied yet: LiteLLM's own prometheus callback is used")
        return None
    logger = LeanPrometheusLogger()
    litellm_logging._in_memory_loggers.append(logger)
    return logger
