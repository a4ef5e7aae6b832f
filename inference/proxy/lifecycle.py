"""On-demand deployments and schedules on the proxy's side (plain Python, no Django).

- ``scheduled``: the deployments of a model that its windows (or an operator's override) allow
  now, decided from the published catalog with the worker's clock: no Redis, no SQL per call.
  None allowed → OutsideSchedule (a 503 naming the next window, with Retry-After).
- ``Starter.running``: among the routing candidates, the ones whose process runs (an unmanaged
  deployment always counts as running). When every candidate is an on-demand deployment that is
  not running, the worker asks the fleet agent to start the first (one HSET on
  ``{p}:fleet:wanted``: the only added round trip, on a cold start only) and waits for the catalog
  to show it running, up to its start timeout; the calls that find it starting meanwhile wait on
  the same start (others queue). The agent republishes the catalog on each state change, which
  reaches every worker through the snapshot store's subscription, so waiting reads the cached
  catalog and costs Redis one GET per change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from inference.proxy.contract import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_STARTING,
    CatalogDeployment,
    CatalogModel,
    RedisKeys,
)
from inference.proxy.schedule import Availability, Window, availability


def _availability(d: CatalogDeployment, now: datetime) -> Availability:
    windows = tuple(Window.from_list(w) for w in d.windows)
    return availability(windows, d.schedule_tz, now, d.override, d.override_until)


@dataclass
class OutsideSchedule(Exception):
    """No deployment of the model may serve now."""

    model: str
    opens_at: datetime | None  # None: no window opens (an override, or none listed)
    window: str
    time_zone: str

    def retry_after(self, now: datetime) -> int:
        if self.opens_at is None:
            return 3600
        return max(1, int((self.opens_at - now).total_seconds() + 0.999))

    def message(self) -> str:
        if self.opens_at is None:
            return f"The model {self.model!r} is not available now (an operator has made it unavailable)."
        return (
            f"The model {self.model!r} is not available now. It is next available from "
            f"{self.opens_at.isoformat(timespec='minutes')} ({self.window}, {self.time_zone})."
        )


def scheduled(model: CatalogModel, now: datetime | None = None) -> CatalogModel:
    """``model`` with only the deployments its schedule allows now; OutsideSchedule if none."""
    if not any(d.windows or d.override for d in model.deployments):
        return model  # the common case: no schedule anywhere
    now = now or datetime.now(UTC)
    verdicts = [(d, _availability(d, now)) for d in model.deployments]
    allowed = tuple(d for d, a in verdicts if a.available)
    if allowed:
        return model if len(allowed) == len(verdicts) else replace(model, deployments=allowed)
    opening = sorted(
        ((a.next_change, a.next_window, d.schedule_tz) for d, a in verdicts if a.next_change is not None),
        key=lambda item: item[0],
    )
    if not opening:
        raise OutsideSchedule(model.name, None, "", model.deployments[0].schedule_tz)
    opens_at, label, tz = opening[0]
    # An override's end is not a window: say when, with no label.
    raise OutsideSchedule(model.name, opens_at, label or "override ends", tz)


class StartTimeout(Exception):
    def __init__(self, model: str, deployment: str, timeout: float) -> None:
        super().__init__(f"{deployment} did not start within {timeout:g} s")
        self.model, self.deployment, self.timeout = model, deployment, timeout


class StartFailed(Exception):
    """``retry_after``: seconds until the fleet agent tries the deployment again (None: unknown)."""

    def __init__(self, model: str, deployment: str, retry_after: float | None = None) -> None:
        super().__init__(f"{deployment} failed to start")
        self.model, self.deployment, self.retry_after = model, deployment, retry_after


def backing_off(d: CatalogDeployment, now: float) -> bool:
    """Its last starts failed and the agent will not try again before ``d.start_retry_at``."""
    return d.run_state == RUN_FAILED and d.start_retry_at is not None and d.start_retry_at > now


def is_running(d: CatalogDeployment) -> bool:
    return not d.on_demand or d.run_state == RUN_RUNNING


ASK_AGAIN_EVERY = 2.0  # seconds: a start asked while the agent was stopping it, or missed
POLL_FIRST, POLL_MOST = 0.02, 0.25


class Starter:
    def __init__(
        self,
        redis: Any,  # the store's asyncio client (a Redis or a RedisCluster): only HSET is used
        keys: RedisKeys,
        catalog_model: Callable[[str], Awaitable[CatalogModel | None]],
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.catalog_model = catalog_model
        self._starts: dict[str, asyncio.Task[CatalogDeployment]] = {}

    async def running(self, model: str, choices: list[CatalogDeployment]) -> list[CatalogDeployment]:
        """The candidates that run now; else the first one, once started (StartTimeout, StartFailed)."""
        ready = [d for d in choices if is_running(d)]
        if ready or not choices:
            return ready
        # A deployment whose starts keep failing is not asked again before the agent's next try:
        # refused at once (with when to retry) rather than waiting out a start that is not coming.
        now = time.time()
        startable = [d for d in choices if not backing_off(d, now)]
        if not startable:
            first = min(choices, key=lambda d: d.start_retry_at or 0.0)
            raise StartFailed(model, first.id, (first.start_retry_at or now) - now)
        target = startable[0]
        task = self._starts.get(target.id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._start(model, target))
            self._starts[target.id] = task
        # Each waiter may give up (its client went away) without cancelling the others' start.
        return [await asyncio.shield(task)]

    async def _ask(self, deployment: str) -> None:
        await self.redis.hset(self.keys.fleet_wanted, deployment, str(time.time()))

    async def _start(self, model: str, target: CatalogDeployment) -> CatalogDeployment:
        await self._ask(target.id)
        started = time.monotonic()
        deadline = started + max(target.start_timeout_s, 1.0)
        asked, pause, progressed = started, POLL_FIRST, False
        while True:
            found = await self.catalog_model(model)
            current = next((d for d in (found.deployments if found else ()) if d.id == target.id), None)
            if current is None:
                raise StartFailed(model, target.id)  # removed or disabled meanwhile
            if current.run_state == RUN_RUNNING:
                return current
            if current.run_state == RUN_STARTING:
                progressed = True
            elif current.run_state == RUN_FAILED and (progressed or backing_off(current, time.time())):
                # This start failed (not the last one), or the agent declined it: it tries again later.
                retry_at = current.start_retry_at
                raise StartFailed(model, target.id, None if retry_at is None else max(0.0, retry_at - time.time()))
            now = time.monotonic()
            if now >= deadline:
                raise StartTimeout(model, target.id, target.start_timeout_s)
            if current.run_state != RUN_STARTING and now - asked >= ASK_AGAIN_EVERY:
                await self._ask(target.id)
                asked = now
            await asyncio.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 2, POLL_MOST)
