"""What the fleet agent runs for a managed backend: one process per backend, one model per
process, its GPUs given by ``CUDA_VISIBLE_DEVICES``. The command line is per kind:

- llama.cpp: ``llama-server -m <gguf> --parallel N --metrics`` (binary from ``LLMAAS_LLAMA_SERVER``);
- vLLM: ``vllm serve <model> --tensor-parallel-size T --gpu-memory-utilization F --max-num-seqs N``;
- SGLang: ``python -m sglang.launch_server --model-path <model> --tp-size T --mem-fraction-static F
  --max-running-requests N``.

Ollama serves many models from its own daemon and an OpenAI-compatible upstream is someone
else's process: neither is launched (``launchable``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from inference.models import Backend, GpuHost

LAUNCHABLE = (Backend.Kind.LLAMACPP, Backend.Kind.VLLM, Backend.Kind.SGLANG)
# Patterns of a GPU out-of-memory in a process's output (CUDA, PyTorch, llama.cpp's ggml-cuda).
OOM_MARKERS = (
    "cuda out of memory",
    "cuda error: out of memory",
    "torch.outofmemoryerror",
    "cudamalloc failed: out of memory",
    "out of memory allocating",
    "failed to allocate cuda",
    "not enough memory: you tried to allocate",
)


class LaunchError(ValueError):
    """A managed backend that cannot be launched as configured."""


@dataclass(frozen=True)
class LaunchSpec:
    backend: str
    argv: tuple[str, ...]
    env: dict[str, str]  # added to the agent's environment
    health_url: str  # 200 once the model is loaded

    @property
    def cuda_visible_devices(self) -> str:
        return self.env["CUDA_VISIBLE_DEVICES"]


def launchable(kind: str) -> bool:
    return kind in LAUNCHABLE


def server_root(base_url: str) -> tuple[str, str, int]:
    """(root URL, host, port) of an OpenAI base URL such as http://127.0.0.1:8091/v1."""
    parts = urlsplit(base_url)
    if parts.hostname is None:
        raise LaunchError(f"{base_url!r} has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.netloc}", parts.hostname, port


def memory_fraction(backend: Backend, host: GpuHost | None) -> Decimal | None:
    if backend.gpu_memory_gib is not None and host is not None:
        return min(Decimal(1), (backend.gpu_memory_gib / host.gpu_memory_gib).quantize(Decimal("0.001")))
    return backend.gpu_memory_fraction


def served_names(backend: Backend) -> list[str]:
    names = sorted({d.upstream_model for d in backend.deployments.all()})
    return names or [backend.name]


def launch_spec(backend: Backend, host: GpuHost | None = None, *, parallel: int | None = None) -> LaunchSpec:
    """The process for ``backend`` (``parallel`` overrides its concurrency, e.g. after an OOM)."""
    if not launchable(backend.kind):
        raise LaunchError(f"a {backend.get_kind_display()} backend is not launched by the fleet agent")
    root, bind, port = server_root(backend.base_url)
    slots = str(parallel or backend.parallel)
    fraction = memory_fraction(backend, host)
    names = served_names(backend)
    extra = [str(a) for a in backend.launch_args]
    if backend.kind == Backend.Kind.LLAMACPP:
        binary = os.environ.get("LLAMA_SERVER_BIN") or os.environ.get("LLMAAS_LLAMA_SERVER", "llama-server")
        argv = [binary, "-m", backend.launch_model, "--host", bind, "--port", str(port), "--alias", names[0]]
        argv += ["--parallel", slots, "--metrics", "--no-webui"]
        if len(backend.gpus) > 1:
            argv += ["--split-mode", "layer"]
    elif backend.kind == Backend.Kind.VLLM:
        argv = ["vllm", "serve", backend.launch_model, "--host", bind, "--port", str(port)]
        argv += ["--served-model-name", *names, "--tensor-parallel-size", str(backend.tensor_parallel_size)]
        argv += ["--max-num-seqs", slots]
        if fraction is not None:
            argv += ["--gpu-memory-utilization", str(fraction)]
    else:
        argv = [sys.executable, "-m", "sglang.launch_server", "--model-path", backend.launch_model]
        argv += ["--host", bind, "--port", str(port), "--served-model-name", names[0]]
        argv += ["--tp-size", str(backend.tensor_parallel_size), "--max-running-requests", slots]
        if fraction is not None:
            argv += ["--mem-fraction-static", str(fraction)]
    # No GPU listed: none visible (never every GPU of the host by accident).
    env = {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in backend.gpus)}
    return LaunchSpec(backend.name, tuple(argv + extra), env, f"{root}/health")


def looks_like_oom(output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in OOM_MARKERS)
