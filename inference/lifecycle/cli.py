"""catalog_set's placement, lifecycle and schedule options (the admin edits the same fields)."""

from __future__ import annotations

import argparse
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from inference.lifecycle.services import backend_lifecycle_set, deployment_schedule_set, window_parse
from inference.models import ModelDeployment
from llmaas.errors import ApplicationError

# option dest → Backend field
BACKEND_OPTIONS = {
    "host": "host",
    "gpu_ids": "gpu_ids",
    "tensor_parallel_size": "tensor_parallel_size",
    "gpu_memory_fraction": "gpu_memory_fraction",
    "gpu_memory_gib": "gpu_memory_gib",
    "managed": "managed",
    "launch_model": "launch_model",
    "launch_arg": "launch_args",
    "parallel": "parallel",
    "start_timeout": "start_timeout_seconds",
    "idle_ttl": "idle_ttl_seconds",
}


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time with its offset: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time's offset, e.g. {value}+00:00")
    return parsed


def add_lifecycle_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("placement and lifecycle (of the deployment's backend)")
    g.add_argument("--host", help="the GPU host it runs on (a GpuHost name, for placement)")
    g.add_argument("--gpu-ids", help="GPU indexes on the host, e.g. 0,1 (its CUDA_VISIBLE_DEVICES)")
    g.add_argument("--tensor-parallel-size", type=int)
    g.add_argument("--gpu-memory-fraction", type=_decimal, help="share of each GPU's memory, e.g. 0.45")
    g.add_argument("--gpu-memory-gib", type=_decimal, help="or GiB of each GPU's memory")
    g.add_argument(
        "--managed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the fleet agent starts it on demand and stops it when idle",
    )
    g.add_argument("--launch-model", help="what its process serves: a GGUF path (llama.cpp), a model id (vLLM)")
    g.add_argument("--launch-arg", action="append", help="an extra argument of its command line (repeatable)")
    g.add_argument("--parallel", type=int, help="requests its process serves at once (llama.cpp --parallel)")
    g.add_argument("--start-timeout", type=int, help="seconds a start may take")
    g.add_argument("--idle-ttl", type=int, help="stopped after this many idle seconds (0: never)")
    s = parser.add_argument_group("availability (of the deployment)")
    s.add_argument("--window", action="append", help="'mon-fri 22:00-06:00' in the operator's time zone (repeatable)")
    s.add_argument("--no-windows", action="store_true", help="remove its windows: always available")
    s.add_argument("--override", choices=["available", "unavailable", "none"], help="force it (none: clear)")
    s.add_argument("--override-until", type=_when, help="the override ends at this time (ISO, with offset)")


def lifecycle_apply(deployment: ModelDeployment, o: dict[str, Any]) -> None:
    """Apply the options given (the ones left out keep their values)."""
    fields = {field: o[dest] for dest, field in BACKEND_OPTIONS.items() if o.get(dest) is not None}
    if fields:
        backend_lifecycle_set(backend=deployment.backend, **fields)
    windows = [] if o.get("no_windows") else [window_parse(w) for w in o.get("window") or []] or None
    override = o.get("override")
    if override is None and o.get("override_until") is not None:
        raise ApplicationError("--override-until needs --override.", code="invalid_override")
    if windows is not None or override is not None:
        deployment_schedule_set(
            deployment=deployment,
            windows=windows,
            override=None if override is None else ("" if override == "none" else override),
            override_until=o.get("override_until"),
        )
