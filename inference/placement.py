"""Placement: which GPUs of a host a locally managed backend takes, and how much of each GPU's
memory; the check that refuses two backends overcommitting a GPU's memory.

Pure functions over plain values (models.py feeds them from the database in ``Backend.clean``),
so the admin, ``catalog_set`` and the services share one rule:

- a backend pinned to GPUs on a host registered as a ``GpuHost`` claims, on each of its GPUs,
  its ``gpu_memory_gib``, else ``gpu_memory_fraction`` × the host's per-GPU memory, else the whole
  GPU (a process given a GPU without a share may fill it: vLLM takes 90 % by default);
- GPU ids exist on the host (0 .. gpu_count-1) and a tensor-parallel size of N takes N GPUs;
- on every GPU the claims of all backends pinned to it sum to at most the GPU's memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


def gib(value: Decimal) -> str:
    """48.00 → "48", 0.50 → "0.5": memory as an operator writes it."""
    return f"{value.normalize():f}"


def gpu_list(gpu_ids: str) -> tuple[int, ...]:
    """``"0,1"`` → (0, 1); empty → ()."""
    return tuple(int(g) for g in gpu_ids.split(",") if g.strip()) if gpu_ids.strip() else ()


@dataclass(frozen=True)
class Claim:
    """What one backend takes on each GPU it is pinned to."""

    backend: str
    gpus: tuple[int, ...]
    gib_per_gpu: Decimal


def claim_of(
    backend: str,
    gpu_ids: str,
    *,
    gpu_memory_gib: Decimal | None,
    gpu_memory_fraction: Decimal | None,
    capacity_gib: Decimal,
) -> Claim:
    if gpu_memory_gib is not None:
        share = gpu_memory_gib
    elif gpu_memory_fraction is not None:
        share = (gpu_memory_fraction * capacity_gib).quantize(Decimal("0.01"))
    else:
        share = capacity_gib
    return Claim(backend, gpu_list(gpu_ids), share)


def placement_errors(
    claim: Claim,
    others: Iterable[Claim],
    *,
    host: str,
    gpu_count: int,
    capacity_gib: Decimal,
    tensor_parallel_size: int,
) -> dict[str, str]:
    """Field → message for every rule ``claim`` breaks on ``host`` beside ``others`` (empty: fits)."""
    errors: dict[str, str] = {}
    missing = [g for g in claim.gpus if g >= gpu_count]
    if missing:
        errors["gpu_ids"] = (
            f"{host} has {gpu_count} GPU(s) (ids 0 to {gpu_count - 1}); "
            f"there is no GPU {', '.join(str(g) for g in missing)}."
        )
    if len(set(claim.gpus)) != len(claim.gpus):
        errors["gpu_ids"] = "A GPU id is listed twice."
    if claim.gpus and tensor_parallel_size != len(claim.gpus):
        errors["tensor_parallel_size"] = (
            f"A tensor-parallel size of {tensor_parallel_size} takes {tensor_parallel_size} GPU(s); "
            f"{len(claim.gpus)} are listed."
        )
    if claim.gib_per_gpu > capacity_gib:
        errors["gpu_memory_gib"] = (
            f"{gib(claim.gib_per_gpu)} GiB is more than a GPU of {host} has ({gib(capacity_gib)} GiB)."
        )
    if errors:
        return errors
    others = list(others)
    for gpu in claim.gpus:
        sharing = [o for o in others if gpu in o.gpus]
        used = sum((o.gib_per_gpu for o in sharing), Decimal(0))
        if used + claim.gib_per_gpu > capacity_gib:
            names = ", ".join(f"{o.backend} ({gib(o.gib_per_gpu)} GiB)" for o in sharing)
            errors["gpu_ids"] = (
                f"GPU {gpu} of {host} would be overcommitted: it has {gib(capacity_gib)} GiB, {names} already "
                f"take {gib(used)} GiB, this backend asks for {gib(claim.gib_per_gpu)} GiB."
            )
            break
    return errors
