"""A deployment's lifecycle and schedule as the catalog publishes them and GET /api/models/ shows
them. The proxy evaluates the same windows with proxy/schedule.py at each call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from inference.models import AvailabilityWindow, Backend, ModelDeployment
from inference.proxy.contract import RUN_FAILED, RUN_RUNNING
from inference.proxy.schedule import Availability, Window, availability, parse_days


def window_of(w: AvailabilityWindow) -> Window:
    return Window(parse_days(w.days), w.start.hour * 60 + w.start.minute, w.end.hour * 60 + w.end.minute)


def windows_of(d: ModelDeployment) -> tuple[Window, ...]:
    return tuple(window_of(w) for w in d.windows.all())


def run_state(backend: Backend) -> str:
    """What the proxy reads: an unmanaged backend is always running (its health is another matter)."""
    return str(backend.run_state) if backend.managed else RUN_RUNNING


def start_retry_at(backend: Backend) -> datetime | None:
    """When the fleet agent tries a backend whose starts failed again, or None if a call may start it."""
    if not backend.managed or backend.run_state != RUN_FAILED:
        return None
    return backend.start_retry_at


def running(backend: Backend) -> bool:
    return run_state(backend) == RUN_RUNNING


def catalog_lifecycle(d: ModelDeployment) -> dict[str, Any]:
    """The CatalogDeployment fields of lifecycle and schedule."""
    return {
        "on_demand": d.backend.managed,
        "run_state": run_state(d.backend),
        "start_timeout_s": float(d.backend.start_timeout_seconds),
        "start_retry_at": retry.timestamp() if (retry := start_retry_at(d.backend)) else None,
        "windows": tuple(w.to_list() for w in windows_of(d)),
        "schedule_tz": settings.LLMAAS_SCHEDULE_TIME_ZONE,
        "override": d.availability_override,
        "override_until": d.override_until.timestamp() if d.override_until else None,
    }


def deployment_availability(d: ModelDeployment, now: datetime) -> Availability:
    return availability(
        windows_of(d),
        settings.LLMAAS_SCHEDULE_TIME_ZONE,
        now,
        d.availability_override,
        d.override_until.timestamp() if d.override_until else None,
    )


def availability_view(d: ModelDeployment, now: datetime) -> dict[str, Any]:
    """One deployment's availability for GET /api/models/."""
    a = deployment_availability(d, now)
    return {
        "available_now": a.available,
        "reason": a.reason,
        "next_change": a.next_change,
        "next_window": a.next_window,
        "windows": [w.label() for w in windows_of(d)],
        "time_zone": settings.LLMAAS_SCHEDULE_TIME_ZONE,
        "run_state": run_state(d.backend),
        "on_demand": d.backend.managed,
        "start_retry_at": start_retry_at(d.backend),
    }


def model_availability(views: list[dict[str, Any]]) -> dict[str, Any]:
    """A public model's availability from its deployments' views: available when any is; the
    soonest change otherwise."""
    open_now = [v for v in views if v["available_now"]]
    if open_now:
        closing = [v["next_change"] for v in open_now]
        return {
            "available_now": True,
            "next_window": "",
            "next_change": None if None in closing else max(closing),
            "running": any(v["run_state"] == RUN_RUNNING for v in open_now),
        }
    opening = sorted((v["next_change"], v["next_window"]) for v in views if v["next_change"] is not None)
    return {
        "available_now": False,
        "next_window": opening[0][1] if opening else "",
        "next_change": opening[0][0] if opening else None,
        "running": False,
    }
