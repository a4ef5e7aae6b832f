"""The proxy's side of on-demand starts (proxy/lifecycle.py Starter) with real Redis: a running or
unmanaged candidate costs nothing, a cold start asks the agent once however many calls wait on it,
and waiting ends with the catalog's running deployment, a timeout or a failed start."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis as redis_lib

from inference.proxy.contract import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_STARTING,
    RUN_STOPPED,
    CatalogDeployment,
    CatalogModel,
)
from inference.proxy.lifecycle import Starter, StartFailed, StartTimeout
from inference.proxy.snapshots import async_redis

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
T = TypeVar("T")


def deployment(name: str, state: str, *, on_demand: bool = True, timeout: float = 5.0) -> CatalogDeployment:
    return CatalogDeployment(
        id=name,
        upstream_model="m",
        backend_url="http://127.0.0.1:9/v1",
        context_window=512,
        input_price_per_mtok="1",
        output_price_per_mtok="1",
        on_demand=on_demand,
        run_state=state,
        start_timeout_s=timeout,
    )


class Catalog:
    """What the snapshot store answers: the model as the agent last published it."""

    def __init__(self, *deployments: CatalogDeployment) -> None:
        self.model = CatalogModel("m", "m", 512, "1", "1", deployments=deployments)
        self.reads = 0

    async def lookup(self, name: str) -> CatalogModel | None:
        self.reads += 1
        return self.model if name == "m" else None

    def publish(self, name: str, state: str) -> None:
        deps = tuple(dataclasses.replace(d, run_state=state) if d.id == name else d for d in self.model.deployments)
        self.model = dataclasses.replace(self.model, deployments=deps)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_running_or_unmanaged_candidates_need_no_start_and_no_redis(redis_prefix):
    catalog = Catalog()
    starter = Starter(None, redis_prefix, catalog.lookup)  # no Redis: any use would fail
    running, stopped, external = (
        deployment("a", RUN_RUNNING),
        deployment("b", RUN_STOPPED),
        deployment("c", RUN_STOPPED, on_demand=False),
    )
    assert run(starter.running("m", [stopped, running])) == [running]
    assert run(starter.running("m", [external])) == [external]
    assert catalog.reads == 0


def test_calls_waiting_on_a_cold_start_share_one_request_and_get_the_started_deployment(redis_prefix):
    stopped = deployment("a", RUN_STOPPED)
    catalog = Catalog(stopped)
    sync = redis_lib.Redis.from_url(LOCAL_REDIS)

    async def scenario() -> list[list[CatalogDeployment]]:
        starter = Starter(async_redis(LOCAL_REDIS, 1.0), redis_prefix, catalog.lookup)
        waiting = [asyncio.create_task(starter.running("m", [stopped])) for _ in range(5)]
        await asyncio.sleep(0.2)
        assert sync.hkeys(redis_prefix.fleet_wanted) == [b"a"]  # one start asked for all five
        sync.hdel(redis_prefix.fleet_wanted, "a")  # the agent takes it
        catalog.publish("a", RUN_STARTING)
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in waiting)
        catalog.publish("a", RUN_RUNNING)
        return await asyncio.gather(*waiting)

    results = run(scenario())
    assert all(r == [dataclasses.replace(stopped, run_state=RUN_RUNNING)] for r in results)
    assert sync.hkeys(redis_prefix.fleet_wanted) == []  # not asked again once starting


def test_a_start_that_never_comes_times_out_and_a_failed_one_fails(redis_prefix):
    async def wait(catalog: Catalog, target: CatalogDeployment, then: str | None = None) -> None:
        starter = Starter(async_redis(LOCAL_REDIS, 1.0), redis_prefix, catalog.lookup)
        task = asyncio.create_task(starter.running("m", [target]))
        if then is not None:
            await asyncio.sleep(0.1)
            catalog.publish(target.id, RUN_STARTING)
            await asyncio.sleep(0.3)
            catalog.publish(target.id, then)
        await task

    slow = deployment("slow", RUN_STOPPED, timeout=1.0)
    with pytest.raises(StartTimeout) as caught:
        run(wait(Catalog(slow), slow))
    assert caught.value.timeout == 1.0
    broken = deployment("broken", RUN_FAILED)  # failed last time: asked again, and fails again
    with pytest.raises(StartFailed):
        run(wait(Catalog(broken), broken, then=RUN_FAILED))
    gone = deployment("gone", RUN_STOPPED)
    with pytest.raises(StartFailed):
        run(wait(Catalog(), gone))  # removed from the catalog meanwhile


def test_a_deployment_backing_off_after_failed_starts_is_refused_at_once_with_when_to_retry(redis_prefix):
    sync = redis_lib.Redis.from_url(LOCAL_REDIS)
    later = time.time() + 30
    broken = dataclasses.replace(deployment("broken", RUN_FAILED, timeout=60.0), start_retry_at=later)
    catalog = Catalog(broken)

    async def call(*choices: CatalogDeployment) -> list[CatalogDeployment]:
        starter = Starter(async_redis(LOCAL_REDIS, 1.0), redis_prefix, catalog.lookup)
        return await asyncio.wait_for(starter.running("m", list(choices)), 5)  # never the 60 s start timeout

    with pytest.raises(StartFailed) as caught:
        run(call(broken))
    assert 25 < caught.value.retry_after <= 30
    assert sync.hkeys(redis_prefix.fleet_wanted) == []  # the agent was not asked
    # Another candidate that may start is started instead.
    spare = deployment("spare", RUN_STOPPED)
    catalog = Catalog(broken, spare)

    async def spare_starts() -> list[CatalogDeployment]:
        task = asyncio.create_task(call(broken, spare))
        await asyncio.sleep(0.2)
        assert sync.hkeys(redis_prefix.fleet_wanted) == [b"spare"]
        catalog.publish("spare", RUN_RUNNING)
        return await task

    assert run(spare_starts()) == [dataclasses.replace(spare, run_state=RUN_RUNNING)]
    sync.hdel(redis_prefix.fleet_wanted, "spare")
    # Once its pause is over, it is asked for again.
    retried = dataclasses.replace(broken, start_retry_at=time.time() - 1)
    catalog = Catalog(retried)

    async def retried_starts() -> list[CatalogDeployment]:
        task = asyncio.create_task(call(retried))
        await asyncio.sleep(0.2)
        assert sync.hkeys(redis_prefix.fleet_wanted) == [b"broken"]
        catalog.publish("broken", RUN_RUNNING)
        return await task

    assert run(retried_starts())[0].run_state == RUN_RUNNING


def test_a_start_the_agent_declines_ends_the_wait_with_when_to_retry(redis_prefix):
    stopped = deployment("flaky", RUN_STOPPED, timeout=60.0)
    catalog = Catalog(stopped)

    async def scenario() -> None:
        starter = Starter(async_redis(LOCAL_REDIS, 1.0), redis_prefix, catalog.lookup)
        task = asyncio.create_task(starter.running("m", [stopped]))
        await asyncio.sleep(0.1)
        # Its last start failed before this one was asked: the agent publishes its pause.
        failed = dataclasses.replace(stopped, run_state=RUN_FAILED, start_retry_at=time.time() + 20)
        catalog.model = dataclasses.replace(catalog.model, deployments=(failed,))
        await asyncio.wait_for(task, 5)

    with pytest.raises(StartFailed) as caught:
        run(scenario())
    assert 15 < caught.value.retry_after <= 20
