"""Writes of placement, lifecycle and schedules (the admin edits the same fields; catalog_set and
gpu_host_set call these). Each validates with the models' clean (placement.py's check) and
publishes the catalog on commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from inference.models import AvailabilityWindow, Backend, GpuHost, ModelDeployment
from inference.proxy.schedule import ScheduleError, parse_days
from inference.publishing import catalog_publish_on_commit
from llmaas.errors import ApplicationError

_WINDOW = re.compile(r"^\s*(\S+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _invalid(what: str, exc: ValidationError) -> ApplicationError:
    return ApplicationError(f"Invalid {what}: {exc.message_dict}.", code="invalid_catalog_entry")


@dataclass(frozen=True)
class WindowSpec:
    days: str
    start: time
    end: time


def window_parse(text: str) -> WindowSpec:
    """``"mon-fri 22:00-06:00"`` → a window (ApplicationError when it is not one)."""
    match = _WINDOW.match(text)
    try:
        if match is None:
            raise ValueError(text)
        days, h1, m1, h2, m2 = match.groups()
        parse_days(days)
        return WindowSpec(days, time(int(h1), int(m1)), time(int(h2), int(m2)))
    except (ValueError, ScheduleError):
        raise ApplicationError(
            f"{text!r} is not a window such as 'mon-fri 22:00-06:00' (days, then start-end in 24 h time).",
            code="invalid_window",
        ) from None


@transaction.atomic
def gpu_host_set(*, name: str, gpu_count: int, gpu_memory_gib: Decimal, node_selector: dict[str, str]) -> GpuHost:
    host = GpuHost.objects.select_for_update().filter(name=name).first() or GpuHost(name=name)
    host.gpu_count, host.gpu_memory_gib, host.node_selector = gpu_count, gpu_memory_gib, node_selector
    try:
        host.full_clean()
    except ValidationError as exc:
        raise _invalid("GPU host", exc) from None
    host.save()
    return host


@transaction.atomic
def backend_lifecycle_set(*, backend: Backend, **fields: object) -> Backend:
    """Set placement/lifecycle fields of ``backend`` (host, gpu_ids, tensor_parallel_size,
    gpu_memory_fraction, gpu_memory_gib, managed, launch_model, launch_args, parallel,
    start_timeout_seconds, idle_ttl_seconds); refused when the placement overcommits a GPU."""
    allowed = {
        "host", "gpu_ids", "tensor_parallel_size", "gpu_memory_fraction", "gpu_memory_gib", "managed",
        "launch_model", "launch_args", "parallel", "start_timeout_seconds", "idle_ttl_seconds",
    }  # fmt: skip
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError(f"Unknown backend fields: {sorted(unknown)}.", code="invalid_catalog_entry")
    locked = Backend.objects.select_for_update().get(pk=backend.pk)
    for name, value in fields.items():
        setattr(locked, name, value)
    try:
        locked.full_clean()
    except ValidationError as exc:
        raise _invalid("backend", exc) from None
    locked.save(update_fields=[*fields, "updated_at"])
    catalog_publish_on_commit()
    return locked


@transaction.atomic
def deployment_schedule_set(
    *,
    deployment: ModelDeployment,
    windows: list[WindowSpec] | None = None,
    override: str | None = None,
    override_until: datetime | None = None,
) -> ModelDeployment:
    """Replace the deployment's windows (when given) and set or clear its override ("" clears)."""
    locked = ModelDeployment.objects.select_for_update().get(pk=deployment.pk)
    if windows is not None:
        locked.windows.all().delete()
        for w in windows:
            window = AvailabilityWindow(deployment=locked, days=w.days, start=w.start, end=w.end)
            try:
                window.full_clean()
            except ValidationError as exc:
                raise _invalid("window", exc) from None
            window.save()
    if override is not None:
        locked.availability_override = override
        locked.override_until = override_until if override else None
        try:
            locked.full_clean()
        except ValidationError as exc:
            raise _invalid("override", exc) from None
        locked.save(update_fields=["availability_override", "override_until", "updated_at"])
    catalog_publish_on_commit()
    return locked
