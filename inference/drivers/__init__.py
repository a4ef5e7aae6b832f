"""Backend drivers: one interface (base.Driver) over the kinds of inference server the fleet runs.

| kind | health | models | load (busy-aware routing) |
| --- | --- | --- | --- |
| llama.cpp | ``/health`` | ``/v1/models`` | ``/metrics``: requests processing + deferred |
| Ollama | ``/api/tags`` | ``/api/tags``, ``/api/show``; pull, keep-alive | ``/api/ps``: model loaded |
| vLLM, SGLang | ``/v1/models`` | ``/v1/models`` | ``/metrics``: running + waiting, KV cache |
| OpenAI-compatible | ``/v1/models`` | ``/v1/models`` | none (in-flight counts) |
"""

from inference.drivers.base import Driver, DriverError, Probe
from inference.drivers.metrics import LlamaCppDriver, SglangDriver, VllmDriver
from inference.drivers.ollama import OllamaDriver
from inference.models import Backend

DRIVERS: dict[str, type[Driver]] = {
    Backend.Kind.LLAMACPP: LlamaCppDriver,
    Backend.Kind.OLLAMA: OllamaDriver,
    Backend.Kind.VLLM: VllmDriver,
    Backend.Kind.SGLANG: SglangDriver,
    Backend.Kind.OPENAI_COMPATIBLE: Driver,
}


def driver_for(backend: Backend) -> Driver:
    """The driver of a backend's kind."""
    return DRIVERS.get(backend.kind, Driver)(backend)


__all__ = ["DRIVERS", "Driver", "DriverError", "OllamaDriver", "Probe", "driver_for"]
