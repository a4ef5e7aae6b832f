"""Servers that publish Prometheus gauges of their queue: llama.cpp's ``llama-server``
(``--metrics``), vLLM and SGLang (``--enable-metrics``). The gauges' names and how they add up
are in inference/proxy/backend_load.py, which the proxy's scraper shares."""

from __future__ import annotations

from inference.drivers.base import Driver, DriverError
from inference.models import Backend
from inference.proxy.backend_load import BackendLoad, load_from_metrics


class MetricsDriver(Driver):
    def metrics_url(self) -> str:
        return f"{self.root}/metrics"

    def load(self, *, timeout: float) -> BackendLoad | None:
        response = self.get(self.metrics_url(), timeout=timeout)
        if not response.is_success:
            raise DriverError(f"{self.metrics_url()}: HTTP {response.status_code}")
        return load_from_metrics(self.kind, response.text)


class LlamaCppDriver(MetricsDriver):
    """llama.cpp's llama-server: ``/health`` answers 503 while the model loads, 200 once it serves."""

    kind = Backend.Kind.LLAMACPP

    def health_url(self) -> str:
        return f"{self.root}/health"


class VllmDriver(MetricsDriver):
    """``vllm serve``: OpenAI-compatible; health by its ``/models`` listing (the model is loaded
    once it lists it)."""

    kind = Backend.Kind.VLLM


class SglangDriver(MetricsDriver):
    """SGLang's server (``python -m sglang.launch_server``): OpenAI-compatible, like vLLM."""

    kind = Backend.Kind.SGLANG
