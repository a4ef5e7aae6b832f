"""The fleet agent (``manage.py fleet_agent``): runs the processes of the managed backends of its
host, one model per process, each with its GPUs in ``CUDA_VISIBLE_DEVICES`` (launch.py).

- **On demand**: a proxy worker that finds an on-demand deployment not running asks for it in
  ``{p}:fleet:wanted`` (proxy/lifecycle.py); the agent starts the process (``starting``), polls its
  health route until it answers 200 (``running``) or the backend's start timeout passes (killed,
  ``failed``). Each state change is saved on the Backend and the catalog republished, which is how
  the waiting calls learn it.
- **Idle stop**: a running process is busy while any of its deployments has calls in flight in
  admission's counters (every proxy worker's) or its own metrics show requests running or queued, or
  its token counters moved since the last look. Idle for the backend's TTL (or outside every
  window of its deployments), it is marked ``stopping`` and the catalog republished, so that new
  calls wait for a start instead of reaching it; after a grace for that to reach every worker the
  agent looks again, and stops it only if still idle (else it is ``running`` again). A stream in
  flight therefore always completes.
- **GPU out of memory**: a process that dies with an OOM in its output is restarted with half its
  concurrency (``--parallel`` for llama.cpp), saved on the backend; another exit is ``failed``.
- **Failed starts back off**: a start that times out, exits before it is ready or cannot be
  launched counts on the backend (``start_failures``); the agent does not start it again before
  ``start_retry_at`` (``retry_first`` seconds, doubling with each failure in a row up to
  ``retry_most``), which the catalog publishes so that proxies refuse its calls at once with a
  Retry-After instead of each one waiting out a start. A start that reaches ``running``, a change of
  the backend's launch settings, or a restart of the agent clears it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

from inference.lifecycle.activity import Activity, parse_activity
from inference.lifecycle.availability import deployment_availability
from inference.lifecycle.launch import LaunchError, LaunchSpec, launch_spec, looks_like_oom, server_root
from inference.models import Backend, GpuHost
from inference.proxy.contract import RUN_FAILED, RUN_RUNNING, RUN_STARTING, RUN_STOPPED, RUN_STOPPING
from inference.publishing import catalog_publish
from llmaas.redis_client import redis_client, redis_keys

log = logging.getLogger(__name__)

LOG_TAIL_BYTES = 16_384
_PR_SET_PDEATHSIG = 1


def _die_with_agent() -> None:
    """In the child, before exec: a SIGTERM when the agent dies, so no model is left running."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


Launch = tuple[tuple[str, ...], dict[str, str]]  # a process's argv and the environment it adds


@dataclass(frozen=True)
class FailedStart:
    """A backend whose last start failed: when it may be started again (time.time()) and the launch
    that failed (None: it could not be built), so that a changed launch is tried at once."""

    retry_at: float
    launch: Launch | None


@dataclass
class Managed:
    """The agent's view of one managed backend's process."""

    backend_id: int
    name: str
    spec: LaunchSpec
    log_path: Path
    popen: subprocess.Popen[bytes]
    started: float  # monotonic
    timeout: float
    parallel: int  # its concurrency (llama.cpp --parallel)
    state: str = RUN_STARTING
    last_active: float = field(default_factory=time.monotonic)
    stopping_since: float = 0.0
    tokens: float = -1.0  # the last token counter seen (-1: none yet)
    note: str = ""  # why it was (re)started, kept as the backend's run_error while it runs
    outdated: bool = False  # the backend's launch settings changed since it started

    @property
    def launch(self) -> Launch:
        return self.spec.argv, self.spec.env

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def terminate(self, timeout: float = 5.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class AgentConfig:
    host: str | None = None  # manage only backends on this host (None: every managed backend)
    log_dir: Path = Path("/tmp")  # noqa: S108 - a default for ad-hoc runs; the stack gives its own
    tick: float = 0.25  # seconds between looks at the start requests
    refresh: float = 1.0  # seconds between reads of the backends
    stop_grace: float = 1.0  # seconds between "stopping" being published and the last look
    http_timeout: float = 0.5
    retry_first: float = 10.0  # seconds before a backend that failed to start is tried again
    retry_most: float = 300.0  # the pause doubles with each failure in a row, up to this


class FleetAgent:
    def __init__(self, config: AgentConfig, *, now: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.now = now
        self.procs: dict[int, Managed] = {}
        self.failed_starts: dict[int, FailedStart] = {}
        self.backends: dict[int, Backend] = {}
        self._refreshed = -1e9
        self.redis = redis_client()
        self.keys = redis_keys()
        self.http = httpx.Client(timeout=config.http_timeout)
        self.stopped = threading.Event()

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        self.reset_states()
        try:
            while not self.stopped.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("fleet agent step failed")
                    connections.close_all()  # a dropped database connection is made afresh next step
                self.stopped.wait(self.config.tick)
        finally:
            self.stop_all()

    def step(self) -> None:
        if self.now() - self._refreshed >= self.config.refresh:
            self.refresh()
        for backend_id in self.take_wanted():
            self.want(backend_id)
        for proc in list(self.procs.values()):
            self.watch(proc)

    def managed(self) -> QuerySet[Backend]:
        backends = Backend.objects.filter(managed=True)
        if self.config.host is not None:
            backends = backends.filter(host=self.config.host)
        return backends.prefetch_related("deployments__windows")

    def refresh(self) -> None:
        self.backends = {b.pk: b for b in self.managed()}
        self._refreshed = self.now()
        hosts = {h.name: h for h in GpuHost.objects.filter(name__in={b.host for b in self.backends.values()})}
        for backend_id, proc in list(self.procs.items()):
            backend = self.backends.get(backend_id)
            if backend is None:  # no longer managed here: stop it
                self.stop(proc, RUN_STOPPED, "no longer managed by this agent")
            else:
                proc.outdated = self.spec_of(backend, hosts.get(backend.host)) != proc.launch
        for backend_id, failed in list(self.failed_starts.items()):
            backend = self.backends.get(backend_id)
            if backend is None:
                del self.failed_starts[backend_id]
            elif self.spec_of(backend, hosts.get(backend.host)) != failed.launch:
                self.forget_failures(backend_id)

    @staticmethod
    def spec_of(backend: Backend, host: GpuHost | None) -> Launch | None:
        try:
            spec = launch_spec(backend, host)
        except LaunchError:
            return None
        return spec.argv, spec.env

    def reset_states(self) -> None:
        """At start: no process of ours runs, whatever an earlier agent left recorded, and every
        backend may be started (a restarted agent tries a failed one again at once)."""
        stale = self.managed().exclude(run_state=RUN_STOPPED)
        changed = stale.update(run_state=RUN_STOPPED, run_state_at=timezone.now())
        changed += self.managed().filter(start_failures__gt=0).update(start_failures=0, start_retry_at=None)
        if changed:
            catalog_publish()

    def take_wanted(self) -> list[int]:
        """Backends whose deployments a proxy asked for (taking only the ones managed here)."""
        wanted = self.redis.hgetall(self.keys.fleet_wanted)
        if not wanted:
            return []
        by_deployment = {d.name: b.pk for b in self.backends.values() for d in b.deployments.all()}
        mine = [
            name for name in (k.decode() if isinstance(k, bytes) else str(k) for k in wanted) if name in by_deployment
        ]
        if mine:
            self.redis.hdel(self.keys.fleet_wanted, *mine)
        return sorted({by_deployment[name] for name in mine})

    # --- state changes ------------------------------------------------------------------------
    def record(self, backend_id: int, state: str, error: str = "", **fields: object) -> None:
        Backend.objects.filter(pk=backend_id).update(
            run_state=state, run_state_at=timezone.now(), run_error=error[:500], **fields
        )
        catalog_publish()

    def want(self, backend_id: int) -> None:
        proc = self.procs.get(backend_id)
        if proc is None:
            failed = self.failed_starts.get(backend_id)
            if failed is not None and time.time() < failed.retry_at:
                log.info("fleet: %s wanted, but its starts failed: not tried again yet", backend_id)
                return
            self.start(backend_id)
        elif proc.state == RUN_STOPPING:
            proc.state, proc.last_active = RUN_RUNNING, self.now()
            self.record(backend_id, RUN_RUNNING, health=Backend.Health.HEALTHY)
            log.info("fleet: %s wanted again while stopping: kept running", proc.name)
        else:
            proc.last_active = self.now()

    def start(self, backend_id: int, parallel: int | None = None, note: str = "") -> Managed | None:
        backend = self.backends.get(backend_id)
        if backend is None:
            return None
        host = GpuHost.objects.filter(name=backend.host).first() if backend.host else None
        try:
            spec = launch_spec(backend, host, parallel=parallel)
        except LaunchError as exc:
            self.start_failed(backend_id, str(exc), None)
            return None
        log_path = self.config.log_dir / f"fleet-{backend.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            popen = subprocess.Popen(
                spec.argv,
                env={**os.environ, **spec.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_agent,
            )
        proc = Managed(
            backend.pk,
            backend.name,
            spec,
            log_path,
            popen,
            self.now(),
            float(backend.start_timeout_seconds),
            parallel or backend.parallel,
            note=note,
        )
        self.procs[backend.pk] = proc
        self.record(backend.pk, RUN_STARTING, note)
        log.info(
            "fleet: starting %s (pid %s, CUDA_VISIBLE_DEVICES=%r)",
            backend.name,
            popen.pid,
            spec.env["CUDA_VISIBLE_DEVICES"],
        )
        return proc

    def discard(self, proc: Managed) -> None:
        proc.terminate()
        self.procs.pop(proc.backend_id, None)

    def stop(self, proc: Managed, state: str = RUN_STOPPED, error: str = "") -> None:
        self.discard(proc)
        self.record(proc.backend_id, state, error)
        log.info("fleet: %s %s%s", proc.name, state, f" ({error})" if error else "")

    def start_failed(self, backend_id: int, error: str, launch: Launch | None) -> None:
        """``failed``, and not started again before a pause that doubles with each failure in a row."""
        failures = 1 + (Backend.objects.filter(pk=backend_id).values_list("start_failures", flat=True).first() or 0)
        pause = min(self.config.retry_first * 2 ** min(failures - 1, 30), self.config.retry_most)
        retry_at = timezone.now() + timedelta(seconds=pause)
        self.failed_starts[backend_id] = FailedStart(time.time() + pause, launch)
        why = f"{failures} failed start{'s' if failures > 1 else ''} in a row, next try after {retry_at:%H:%M:%S} UTC"
        self.record(backend_id, RUN_FAILED, f"{why}: {error}", start_failures=failures, start_retry_at=retry_at)
        log.warning("fleet: backend %s failed to start (%s): %s", backend_id, why, error)

    def forget_failures(self, backend_id: int) -> None:
        """Its launch changed since it failed: a call may start it at once."""
        del self.failed_starts[backend_id]
        if Backend.objects.filter(pk=backend_id, start_failures__gt=0).update(start_failures=0, start_retry_at=None):
            catalog_publish()

    def stop_all(self) -> None:
        for proc in list(self.procs.values()):
            self.stop(proc)
        self.http.close()

    # --- watching a process -------------------------------------------------------------------
    def watch(self, proc: Managed) -> None:
        if not proc.alive():
            self.exited(proc)
        elif proc.state == RUN_STARTING:
            self.watch_start(proc)
        elif proc.state == RUN_RUNNING:
            self.watch_idle(proc)
        elif proc.state == RUN_STOPPING and self.now() - proc.stopping_since >= self.config.stop_grace:
            if self.busy(proc):
                proc.state, proc.last_active = RUN_RUNNING, self.now()
                self.record(proc.backend_id, RUN_RUNNING, health=Backend.Health.HEALTHY)
            else:
                self.stop(proc)

    def watch_start(self, proc: Managed) -> None:
        if self.healthy(proc):
            proc.state, proc.last_active = RUN_RUNNING, self.now()
            self.failed_starts.pop(proc.backend_id, None)
            self.record(
                proc.backend_id,
                RUN_RUNNING,
                proc.note,
                health=Backend.Health.HEALTHY,
                health_error="",
                start_failures=0,
                start_retry_at=None,
            )
            log.info("fleet: %s running after %.1f s", proc.name, self.now() - proc.started)
        elif self.now() - proc.started >= proc.timeout:
            self.discard(proc)
            error = f"not ready within its start timeout ({proc.timeout:g} s)"
            self.start_failed(proc.backend_id, error, proc.launch)

    def watch_idle(self, proc: Managed) -> None:
        if self.busy(proc):
            proc.last_active = self.now()
            return
        backend = self.backends.get(proc.backend_id)
        if backend is None:
            return
        ttl = backend.idle_ttl_seconds
        idle_too_long = ttl > 0 and self.now() - proc.last_active >= ttl
        # A changed launch (GPUs, model, arguments, concurrency) drains like an idle stop; the next
        # call starts the new one.
        if idle_too_long or proc.outdated or not self.in_schedule(backend):
            proc.state, proc.stopping_since = RUN_STOPPING, self.now()
            self.record(proc.backend_id, RUN_STOPPING)

    def in_schedule(self, backend: Backend) -> bool:
        now: datetime = timezone.now()
        deployments = [d for d in backend.deployments.all() if d.enabled]
        return not deployments or any(deployment_availability(d, now).available for d in deployments)

    def exited(self, proc: Managed) -> None:
        self.procs.pop(proc.backend_id, None)
        output = proc.output_tail()
        code = proc.popen.returncode
        backend = self.backends.get(proc.backend_id)
        parallel = proc.parallel
        if looks_like_oom(output) and backend is not None and parallel > 1:
            lower = max(1, parallel // 2)
            Backend.objects.filter(pk=backend.pk).update(parallel=lower)
            backend.parallel = lower
            log.warning(
                "fleet: %s ran out of GPU memory (exit %s): restarting with concurrency %d", proc.name, code, lower
            )
            note = f"GPU out of memory with concurrency {parallel}; restarted with {lower}"
            self.record(proc.backend_id, RUN_STOPPED, note)
            self.start(proc.backend_id, lower, note)
            return
        last = output.strip().splitlines()[-1:] or [""]
        error = f"exited with status {code}: {last[0]}"
        if proc.state == RUN_STARTING:  # never ready: a failed start, retried after a pause
            self.start_failed(proc.backend_id, error, proc.launch)
            return
        self.record(proc.backend_id, RUN_FAILED, error)  # it ran: the next call may start it again
        log.warning("fleet: %s exited with status %s", proc.name, code)

    def healthy(self, proc: Managed) -> bool:
        try:
            return self.http.get(proc.spec.health_url).status_code == 200
        except httpx.HTTPError:
            return False

    def busy(self, proc: Managed) -> bool:
        """Calls in flight through any proxy worker, or requests the process itself reports."""
        backend = self.backends.get(proc.backend_id)
        if backend is not None and self.in_flight(backend) > 0:
            return True
        activity = self.activity(proc)
        if activity is None:
            return False
        moved = proc.tokens >= 0 and activity.tokens != proc.tokens
        proc.tokens = activity.tokens
        return activity.requests > 0 or moved

    def in_flight(self, backend: Backend) -> int:
        """Calls admitted to the backend's deployments and not yet settled, across every proxy
        worker: admission's slots (a sorted set per deployment, reservation id → expiry in ms)."""
        deployments = list(backend.deployments.all())
        if not deployments:
            return 0
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for d in deployments:
            pipe.zcount(self.keys.deployment_slots(d.public_name, d.name), now_ms, "+inf")
        return sum(int(n) for n in pipe.execute())

    def activity(self, proc: Managed) -> Activity | None:
        backend = self.backends.get(proc.backend_id)
        if backend is None:
            return None
        root = server_root(backend.base_url)[0]
        try:
            response = self.http.get(f"{root}/metrics")
        except httpx.HTTPError:
            return None
        return parse_activity(backend.kind, response.text) if response.status_code == 200 else None
