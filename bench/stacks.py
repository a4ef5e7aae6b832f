"""The three levels the benchmarks compare, all on loopback in one run:

- L0: the backend itself (bench/fast_backend.py; SmolLM2 on llama-server for streaming TTFT);
- L1: stock LiteLLM, same version and worker count, master key, no hooks, no database;
- L2: the full LLMaaS path through nginx: route gate, auth, admission, usage hook, shipper.
"""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from stack import assets
from stack.processes import Proc, Supervisor, free_port, http_ok
from stack.stack import (
    LITELLM_VENV,
    ROOT,
    LlamaSpec,
    ModelSpec,
    Stack,
    StackConfig,
    delete_vhost,
    drop_database,
    ensure_vhost,
)
from stack.testing import session


@dataclass
class Bench:
    state: Path
    workers: int = 2
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    fast_port: int = field(default_factory=free_port)
    smol_port: int = field(default_factory=free_port)
    l1_port: int = field(default_factory=free_port)
    helpers: Supervisor = field(default_factory=lambda: Supervisor(ROOT))
    stack: Stack | None = None
    key: str = ""
    l1_key: str = "sk-bench-master-" + uuid.uuid4().hex
    smollm2: bool = True  # B3's streaming model on llama-server (the profile needs only the fast backend)

    @property
    def vhost(self) -> str:
        return f"llmaas_bench_{self.run}"

    @property
    def l0(self) -> str:
        return f"http://127.0.0.1:{self.fast_port}"

    @property
    def l1(self) -> str:
        return f"http://127.0.0.1:{self.l1_port}"

    @property
    def l2(self) -> str:
        assert self.stack is not None
        return self.stack.config.public_url

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec("fast", f"{self.l0}/v1", "fast", 8192, Decimal("0.10"), Decimal("0.20")),
            ModelSpec(
                "smollm2", f"http://127.0.0.1:{self.smol_port}/v1", "smollm2-135m-instruct", 2048,
                Decimal("0.10"), Decimal("0.20"),
            ),
        ]  # fmt: skip

    def up(self) -> None:
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.helpers.start(
            Proc(
                "fast-backend",
                [sys.executable, "-m", "uvicorn", "bench.fast_backend:app", "--port", str(self.fast_port),
                 "--no-access-log", "--log-level", "warning"],
                env, self.state / "logs" / "fast.log", http_ok(f"{self.l0}/v1/models"),
            )
        )  # fmt: skip
        if self.smollm2:
            binary = assets.llama_server()
            spec = LlamaSpec("llama-smollm2", assets.smollm2(), self.smol_port, "smollm2-135m-instruct", threads=1)
            self.helpers.start(Stack(StackConfig(state_dir=self.state)).llama_proc(spec, binary))
        self.helpers.wait_ready(timeout=60)
        self._start_l1()
        ensure_vhost(self.vhost)
        config = StackConfig(
            state_dir=self.state / "l2",
            database_url=f"postgres://postgres@127.0.0.1:5432/llmaas_bench_{self.run}",
            redis_prefix=f"llmaas-bench-{self.run}",
            broker_url=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            public_port=free_port(),
            django_port=free_port(),
            webhook_port=free_port(),
            litellm_port=free_port(),
            litellm_workers=self.workers,
            models=self.models(),
        )
        self.stack = Stack(config)
        self.stack.up()
        self.key = self._l2_key()

    def _start_l1(self) -> None:
        config = {
            "model_list": [
                {"model_name": m.name, "litellm_params": {"model": f"openai/{m.upstream_model}",
                 "api_base": m.backend_url, "api_key": "no-key"}}
                for m in self.models()
            ],
            "general_settings": {"master_key": self.l1_key},
            "litellm_settings": {"telemetry": False, "drop_params": True},
        }  # fmt: skip
        path = self.state / "stock-litellm.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "CONFIG_FILE_PATH": str(path), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "DISABLE_ADMIN_UI": "True"}  # fmt: skip
        self.helpers.start(
            Proc(
                "litellm-stock",
                [str(LITELLM_VENV / "bin" / "python"), "-m", "uvicorn", "litellm.proxy.proxy_server:app",
                 "--host", "127.0.0.1", "--port", str(self.l1_port), "--workers", str(self.workers),
                 "--no-server-header"],
                env, self.state / "logs" / "litellm-stock.log", http_ok(f"{self.l1}/health/readiness"),
            )
        )  # fmt: skip
        self.helpers.wait_ready(["litellm-stock"], timeout=180)

    def _l2_key(self) -> str:
        """A key with limits, so that admission runs on every call (limits far out of reach)."""
        assert self.stack is not None
        state = self.stack.state
        client = session(self.l2, state["admin_email"], state["admin_password"])
        try:
            body = {"name": "bench", "budget_usd": "100000", "rpm": 10_000_000, "tpm": 1_000_000_000}
            response = client.post("/api/keys/", json=body)
            response.raise_for_status()
            return str(response.json()["secret"])
        finally:
            client.close()

    def set_workers(self, workers: int) -> None:
        """Restart both proxies with this many workers."""
        assert self.stack is not None
        self.workers = workers
        proc = self.stack.supervisor.procs["litellm"]
        proc.argv[proc.argv.index("--workers") + 1] = str(workers)
        self.stack.supervisor.restart("litellm", timeout=180)
        stock = self.helpers.procs["litellm-stock"]
        stock.argv[stock.argv.index("--workers") + 1] = str(workers)
        self.helpers.restart("litellm-stock", timeout=180)

    def pin_proxies(self, cpus: set[int]) -> None:
        """Both proxies (master and workers) and nginx on ``cpus`` (os.sched_setaffinity), apart
        from the load generator's CPU when the machine has enough (bench.run.PROXY_CPUS)."""
        assert self.stack is not None
        procs = [self.stack.supervisor.procs[n] for n in ("litellm", "nginx")] + [self.helpers.procs["litellm-stock"]]
        for proc in procs:
            assert proc.popen is not None
            for pid in _tree(proc.popen.pid):
                try:
                    os.sched_setaffinity(pid, cpus)
                except ProcessLookupError:
                    continue  # a helper process that ended meanwhile

    def worker_pids(self, level: str) -> list[int]:
        """The uvicorn worker processes (children of the proxy's master process)."""
        assert self.stack is not None
        proc = self.stack.supervisor.procs["litellm"] if level == "L2" else self.helpers.procs["litellm-stock"]
        assert proc.popen is not None
        children = Path(f"/proc/{proc.popen.pid}/task/{proc.popen.pid}/children").read_text().split()
        return [int(pid) for pid in children] or [proc.popen.pid]

    def down(self) -> None:
        if self.stack is not None:
            self.stack.down()
            drop_database(self.stack.config.database_url)
        self.helpers.stop_all()
        delete_vhost(self.vhost)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers, nginx's)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                pids += _tree(int(child))
    except OSError:
        pass
    return pids
