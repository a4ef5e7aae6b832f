"""The fleet agent driven step by step in the test process, with real llama-servers (the tiny
GGUF), real PostgreSQL and Redis: the GPUs a process is given, a GPU out-of-memory (faked: no GPU
here, so a wrapper prints CUDA's OOM and exits when asked for 4 slots, and runs the real
llama-server otherwise) restarted at half concurrency, a start past its timeout, a crash."""

from __future__ import annotations

import os
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from inference.health import backends_probe
from inference.lifecycle.agent import AgentConfig, FleetAgent
from inference.models import Backend, ModelDeployment
from inference.proxy.contract import RUN_FAILED, RUN_RUNNING, RUN_STOPPED, Catalog
from inference.publishing import catalog_build
from inference.tests.test_data_plane import poll
from stack import assets
from stack.processes import free_port

pytestmark = pytest.mark.django_db

WRAPPER = """#!/bin/sh
# A stand-in for a GPU llama-server: out of memory with 4 slots, slow to load with --fake-hang.
case " $* " in
  *" --parallel 4 "*) echo "ggml_cuda_init: found 1 CUDA devices"; echo "CUDA error: out of memory"; exit 1;;
  *" --fake-hang "*) exec sleep 60;;
  *" --fake-crash "*) echo "error: loading model: bad magic"; exit 3;;
esac
exec {binary} "$@"
"""


@pytest.fixture
def fake_gpu_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "llama-server-gpu"
    script.write_text(WRAPPER.format(binary=assets.llama_server()))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("LLMAAS_LLAMA_SERVER", str(script))
    return script


@pytest.fixture
def agent(tmp_path: Path, redis_client, fake_gpu_server):
    fleet = FleetAgent(AgentConfig(log_dir=tmp_path, tick=0.05, refresh=0.2, stop_grace=0.2))
    yield fleet
    fleet.stop_all()


def managed(name: str, *, parallel: int, gpu_ids: str = "0", extra: tuple[str, ...] = (), timeout: int = 60) -> Backend:
    backend = Backend.objects.create(
        name=name,
        kind=Backend.Kind.LLAMACPP,
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        gpu_ids=gpu_ids,
        managed=True,
        launch_model=str(assets.tiny_gguf()),
        launch_args=["-c", "512", "-t", "1", *extra],
        parallel=parallel,
        start_timeout_seconds=timeout,
        idle_ttl_seconds=0,
    )
    ModelDeployment.objects.create(
        name=name, public_name=name, backend=backend, upstream_model="tiny-random", context_window=512
    )
    return backend


def run_until(agent: FleetAgent, backend: Backend, state: str, timeout: float = 60) -> Backend:
    def reached() -> bool:
        agent.step()
        backend.refresh_from_db()
        return backend.run_state == state

    assert poll(reached, timeout=timeout, every=0.05), (backend.run_state, backend.run_error)
    return backend


def process_of(agent: FleetAgent, backend: Backend) -> tuple[list[str], dict[str, str]]:
    pid = agent.procs[backend.pk].popen.pid
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item
    )
    return argv, environ


def test_a_gpu_out_of_memory_restarts_the_process_with_half_the_concurrency(agent, redis_client):
    backend = managed("oom-gpu", parallel=4, gpu_ids="1")
    agent.refresh()
    agent.want(backend.pk)
    backend = run_until(agent, backend, RUN_RUNNING)
    assert backend.parallel == 2  # saved: later starts keep it
    assert "GPU out of memory with concurrency 4; restarted with 2" in backend.run_error
    argv, environ = process_of(agent, backend)
    assert argv[argv.index("--parallel") + 1] == "2"
    assert environ["CUDA_VISIBLE_DEVICES"] == "1"
    # The catalog told the proxy it runs.
    catalog = Catalog.from_json(redis_client.get(agent.keys.catalog))
    (deployment,) = catalog.models[0].deployments
    assert deployment.on_demand and deployment.run_state == RUN_RUNNING


def test_a_start_past_its_timeout_is_killed_and_failed(agent):
    backend = managed("slow-gpu", parallel=1, extra=("--fake-hang",), timeout=1)
    agent.refresh()
    agent.want(backend.pk)
    pid = agent.procs[backend.pk].popen.pid
    backend = run_until(agent, backend, RUN_FAILED, timeout=30)
    assert "not ready within its start timeout (1 s)" in backend.run_error
    assert backend.pk not in agent.procs
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_crash_that_is_not_an_out_of_memory_is_failed_with_its_last_line(agent):
    backend = managed("bad-gpu", parallel=1, extra=("--fake-crash",))
    agent.refresh()
    agent.want(backend.pk)
    backend = run_until(agent, backend, RUN_FAILED, timeout=30)
    retry = f"{backend.start_retry_at:%H:%M:%S}"
    assert backend.run_error == f"1 failed start in a row, next try after {retry} UTC: " + (
        "exited with status 3: error: loading model: bad magic"
    )
    assert backend.parallel == 1 and backend.start_failures == 1


def test_failed_starts_are_retried_after_a_doubling_pause_that_the_catalog_publishes(
    tmp_path, redis_client, fake_gpu_server
):
    fleet = FleetAgent(AgentConfig(log_dir=tmp_path, tick=0.05, refresh=0.2, stop_grace=0.2, retry_first=2.0))
    try:
        backend = managed("crashing-gpu", parallel=1, extra=("--fake-crash",))
        fleet.refresh()
        fleet.want(backend.pk)
        backend = run_until(fleet, backend, RUN_FAILED, timeout=30)
        first_retry = backend.start_retry_at
        assert backend.start_failures == 1 and first_retry is not None
        assert 1.0 < (first_retry - backend.run_state_at).total_seconds() <= 2.1
        # The proxies see when it is tried again (and refuse its calls until then).
        (deployment,) = Catalog.from_json(redis_client.get(fleet.keys.catalog)).models[0].deployments
        assert deployment.run_state == RUN_FAILED and deployment.start_retry_at == first_retry.timestamp()
        # Wanted again within the pause: not started.
        fleet.want(backend.pk)
        assert backend.pk not in fleet.procs
        # After it: started, fails again, and the pause doubles.
        assert poll(lambda: time.time() > first_retry.timestamp(), timeout=10, every=0.05)
        fleet.want(backend.pk)
        assert backend.pk in fleet.procs
        assert poll(lambda: (fleet.step(), Backend.objects.get(pk=backend.pk).start_failures == 2)[1], timeout=30)
        backend.refresh_from_db()
        assert 3.0 < (backend.start_retry_at - backend.run_state_at).total_seconds() <= 4.1
        # A changed launch is tried at once: the operator fixed it.
        Backend.objects.filter(pk=backend.pk).update(launch_args=["-c", "512", "-t", "1"])
        assert poll(lambda: (fleet.step(), Backend.objects.get(pk=backend.pk).start_retry_at is None)[1], timeout=10)
        (deployment,) = Catalog.from_json(redis_client.get(fleet.keys.catalog)).models[0].deployments
        assert deployment.start_retry_at is None
        fleet.want(backend.pk)
        backend = run_until(fleet, backend, RUN_RUNNING)
        assert backend.start_failures == 0 and backend.start_retry_at is None
    finally:
        fleet.stop_all()


def test_a_restarted_agent_may_start_a_backend_whose_starts_failed(agent):
    backend = managed("retried-gpu", parallel=1)
    Backend.objects.filter(pk=backend.pk).update(
        run_state=RUN_FAILED, start_failures=3, start_retry_at=timezone.now() + timedelta(minutes=5)
    )
    agent.reset_states()
    backend.refresh_from_db()
    assert (backend.run_state, backend.start_failures, backend.start_retry_at) == (RUN_STOPPED, 0, None)


def test_an_idle_process_is_stopped_after_its_ttl_and_wanted_again_it_starts(agent, redis_client):
    backend = managed("idle-gpu", parallel=1)
    Backend.objects.filter(pk=backend.pk).update(idle_ttl_seconds=1)
    agent.refresh()
    agent.want(backend.pk)
    backend = run_until(agent, backend, RUN_RUNNING)
    pid = agent.procs[backend.pk].popen.pid
    backend = run_until(agent, backend, RUN_STOPPED, timeout=30)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    # A proxy worker asks for it again (proxy/lifecycle.py writes this hash).
    redis_client.hset(agent.keys.fleet_wanted, "idle-gpu", "1")
    run_until(agent, backend, RUN_RUNNING)
    assert redis_client.hget(agent.keys.fleet_wanted, "idle-gpu") is None


def test_it_never_launches_an_unmanaged_kind_and_forgets_states_left_by_an_earlier_agent(agent):
    backend = managed("left-over", parallel=1)
    Backend.objects.filter(pk=backend.pk).update(run_state=RUN_RUNNING)
    agent.reset_states()
    backend.refresh_from_db()
    assert backend.run_state == RUN_STOPPED
    Backend.objects.filter(pk=backend.pk).update(kind=Backend.Kind.OLLAMA)
    agent.refresh()
    agent.want(backend.pk)
    backend.refresh_from_db()
    assert backend.run_state == RUN_FAILED and "not launched by the fleet agent" in backend.run_error
    assert os.environ["LLMAAS_LLAMA_SERVER"].endswith("llama-server-gpu")


def test_beat_probes_a_managed_backend_only_while_its_process_runs(agent):
    backend = managed("probed-gpu", parallel=1)
    assert "probed-gpu" not in backends_probe()  # stopped on purpose: not "unhealthy"
    agent.refresh()
    agent.want(backend.pk)
    run_until(agent, backend, RUN_RUNNING)
    assert backends_probe()["probed-gpu"] is True


def test_a_stopped_managed_deployment_stays_published_but_a_running_one_that_fails_its_probe_leaves(db):
    healthy = Backend.objects.create(name="always-on", kind=Backend.Kind.LLAMACPP, base_url="http://127.0.0.1:9/v1")
    ModelDeployment.objects.create(
        name="shared-a", public_name="shared", backend=healthy, upstream_model="m", context_window=512
    )
    backend = managed("shared-gpu", parallel=1)
    ModelDeployment.objects.filter(backend=backend).update(public_name="shared")
    Backend.objects.filter(pk=backend.pk).update(health=Backend.Health.UNHEALTHY)  # its probe failed while stopped

    def published() -> list[str]:
        (model,) = [m for m in catalog_build().models if m.name == "shared"]
        return sorted(d.id for d in model.deployments)

    assert published() == ["shared-a", "shared-gpu"]  # stopped on purpose: the proxy may start it
    Backend.objects.filter(pk=backend.pk).update(run_state=RUN_RUNNING)
    assert published() == ["shared-a"]  # running and failing its probe: down like any backend


def test_a_process_is_stopped_when_its_deployments_leave_their_schedule_even_without_a_ttl(agent):
    backend = managed("night-gpu", parallel=1)  # idle TTL 0: never stopped for idleness
    agent.refresh()
    agent.want(backend.pk)
    run_until(agent, backend, RUN_RUNNING)
    for _ in range(10):
        agent.step()
    backend.refresh_from_db()
    assert backend.run_state == RUN_RUNNING
    ModelDeployment.objects.filter(backend=backend).update(availability_override="unavailable")
    run_until(agent, backend, RUN_STOPPED, timeout=30)


def test_a_changed_launch_drains_the_old_process_and_the_next_start_uses_the_new_one(agent):
    backend = managed("moved-gpu", parallel=1, gpu_ids="0")
    agent.refresh()
    agent.want(backend.pk)
    run_until(agent, backend, RUN_RUNNING)
    for _ in range(5):
        agent.step()
    assert Backend.objects.get(pk=backend.pk).run_state == RUN_RUNNING  # unchanged: kept (no TTL)
    Backend.objects.filter(pk=backend.pk).update(gpu_ids="1", parallel=2)
    run_until(agent, backend, RUN_STOPPED, timeout=30)
    agent.want(backend.pk)
    run_until(agent, backend, RUN_RUNNING)
    argv, environ = process_of(agent, backend)
    assert environ["CUDA_VISIBLE_DEVICES"] == "1" and argv[argv.index("--parallel") + 1] == "2"
