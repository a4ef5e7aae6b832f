"""The local stack: configuration, first-start setup, processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from stack import assets
from stack.nginx import TEMP_DIRS, NginxSite, nginx_binary, render_nginx_conf
from stack.processes import Proc, Supervisor, http_ok, port_open
from stack.tls import dev_certificate

ROOT = assets.ROOT
LITELLM_VENV = Path(os.environ.get("LLMAAS_LITELLM_VENV", ROOT / ".venv-litellm"))
PORTAL_DIST = ROOT / "frontend" / "dist"


@dataclass(frozen=True)
class ModelSpec:
    """A catalog entry the stack makes sure exists (through `manage.py catalog_set`)."""

    name: str
    backend_url: str
    upstream_model: str
    context_window: int
    input_price_per_mtok: Decimal = Decimal("0")
    output_price_per_mtok: Decimal = Decimal("0")
    upstream_key_env: str = ""
    mode: str = "chat"  # or "embedding"
    # Several deployments may serve one public model (name): each needs its own deployment name.
    deployment: str = ""
    profile: str = "throughput"  # or "long_context"
    max_concurrency: int | None = None
    queue_timeout_seconds: int = 0
    backend_kind: str = "openai-compatible"
    probe: bool = True  # False: beat never probes its backend (always routable)

    def catalog_set_args(self) -> list[str]:
        """`manage.py catalog_set` arguments that make this deployment exist as specified."""
        args = [
            "catalog_set", self.name,
            "--backend-url", self.backend_url,
            "--backend-kind", self.backend_kind,
            "--upstream-model", self.upstream_model,
            "--context-window", str(self.context_window),
            "--input-price", str(self.input_price_per_mtok),
            "--output-price", str(self.output_price_per_mtok),
            "--upstream-key-env", self.upstream_key_env,
            "--mode", self.mode,
            "--profile", self.profile,
        ]  # fmt: skip
        if self.deployment:
            args += ["--deployment", self.deployment]
        if self.max_concurrency is not None:
            args += ["--max-concurrency", str(self.max_concurrency)]
        if self.queue_timeout_seconds:
            args += ["--queue-timeout", str(self.queue_timeout_seconds)]
        if not self.probe:
            args.append("--no-probe")
        return args


@dataclass(frozen=True)
class LlamaSpec:
    """A llama-server instance the stack runs."""

    name: str
    model_path: Path
    port: int
    alias: str
    parallel: int = 2
    context: int = 4096
    threads: int = 1
    # An embedding model: served with --embeddings (its pooling is in the GGUF), no chat template.
    embeddings: bool = False
    chat_template: Path | None = None  # a Jinja chat template in place of the GGUF's own


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class StackConfig:
    state_dir: Path
    database_url: str = "postgres://postgres@127.0.0.1:5432/llmaas"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "llmaas"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    public_host: str = "127.0.0.1"
    public_port: int = 8000
    public_tls_port: int = 0  # nginx with a self-signed certificate made at first start; 0: no TLS listener
    django_port: int = 8001
    # Django's internal workers (the usage webhook): never routed by nginx, so slow public
    # requests (export readers) cannot take the capacity that billing needs.
    webhook_port: int = 8002
    litellm_port: int = 4000
    litellm_workers: int = 2
    litellm_config: Path | None = None  # default: <state_dir>/litellm.yaml
    llamas: list[LlamaSpec] = field(default_factory=list)
    models: list[ModelSpec] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    snapshot_reconcile_seconds: int = 5
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    # Edge limits (nginx, per client address on /v1): requests without a well-formed key, and all.
    edge_anonymous_rps: int = 20
    edge_anonymous_burst: int = 40
    edge_address_rps: int = 1000
    edge_address_burst: int = 2000
    shipper_claim_idle_ms: int = 10_000
    shipper_backoff_max: float = 10.0
    # The portal's built files (bin/_frontend.sh build); without an index.html, Django answers /.
    portal_dist: Path = PORTAL_DIST

    @classmethod
    def dev(cls, state_dir: Path) -> StackConfig:
        """The README's local stack: dev defaults, every port overridable by env."""
        chat_port = _env_port("LLMAAS_CHAT_PORT", 8081)
        embeddings_port = _env_port("LLMAAS_EMBEDDINGS_PORT", 8082)
        return cls(
            state_dir=state_dir,
            database_url=os.environ.get("LLMAAS_DATABASE_URL", cls.database_url),
            redis_url=os.environ.get("LLMAAS_REDIS_URL", cls.redis_url),
            redis_prefix=os.environ.get("LLMAAS_REDIS_PREFIX", cls.redis_prefix),
            broker_url=os.environ.get("LLMAAS_CELERY_BROKER_URL", cls.broker_url),
            public_port=_env_port("LLMAAS_PUBLIC_PORT", 8000),
            public_tls_port=_env_port("LLMAAS_PUBLIC_TLS_PORT", 8443),
            django_port=_env_port("LLMAAS_DJANGO_PORT", 8001),
            webhook_port=_env_port("LLMAAS_WEBHOOK_PORT", 8002),
            litellm_port=_env_port("LLMAAS_LITELLM_PORT", 4000),
            # The default stack renders the repository's config; another state dir keeps its own.
            litellm_config=ROOT / "litellm" / "config.yaml" if state_dir == ROOT / ".state" else None,
            llamas=[
                LlamaSpec(
                    "llama-smollm2",
                    assets.smollm2(),
                    chat_port,
                    "smollm2-135m-instruct",
                    threads=2,
                    chat_template=assets.SMOLLM2_TOOLS_TEMPLATE,
                ),
                embeddings_llama(embeddings_port),
            ],
            models=[
                ModelSpec(
                    "smollm2",
                    f"http://127.0.0.1:{chat_port}/v1",
                    "smollm2-135m-instruct",
                    2048,
                    Decimal("0.10"),
                    Decimal("0.20"),
                ),
                embeddings_model(embeddings_port),
            ],
        )

    @property
    def public_url(self) -> str:
        return f"http://{self.public_host}:{self.public_port}"

    @property
    def public_tls_url(self) -> str:
        return f"https://{self.public_host}:{self.public_tls_port}" if self.public_tls_port else ""

    @property
    def state_file(self) -> Path:
        return self.state_dir / "demo.json"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.supervisor = Supervisor(ROOT)
        self.state: dict[str, str] = {}

    # --- environment of the children ------------------------------------------------------
    def secret(self, env: str, prefix: str = "") -> str:
        """The secret from the environment, else one generated once for this state dir (0600)."""
        if os.environ.get(env):
            return os.environ[env]
        path = self.config.state_dir / env.lower()
        if not path.exists():
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(prefix + secrets.token_urlsafe(32))
        return path.read_text().strip()

    def master_key(self) -> str:
        return self.secret("LITELLM_MASTER_KEY", prefix="sk-master-")

    def shipper_env(self) -> dict[str, str]:
        c = self.config
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "LLMAAS_REDIS_URL": c.redis_url,
            "LLMAAS_REDIS_PREFIX": c.redis_prefix,
            "LLMAAS_WEBHOOK_URL": f"http://127.0.0.1:{c.webhook_port}/api/webhooks/litellm",
            "LLMAAS_WEBHOOK_SECRET": self.secret("LLMAAS_WEBHOOK_SECRET"),
            "LLMAAS_SHIPPER_CLAIM_IDLE_MS": str(c.shipper_claim_idle_ms),
            "LLMAAS_SHIPPER_BACKOFF_MAX": str(c.shipper_backoff_max),
            **c.extra_env,
        }

    def django_env(self) -> dict[str, str]:
        c = self.config
        origins = f"http://{c.public_host}:{c.public_port},http://localhost:{c.public_port}"
        portal_origins = os.environ.get("LLMAAS_PORTAL_EXTRA_ORIGINS", "")
        if c.public_tls_port:  # the same site over the TLS listener: forms, and the portal's sign-in
            tls_origins = f"{c.public_tls_url},https://localhost:{c.public_tls_port}"
            origins += f",{tls_origins}"
            portal_origins = ",".join(o for o in (portal_origins, c.public_tls_url) if o)
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "llmaas.settings",
            "PYTHONUNBUFFERED": "1",
            "LLMAAS_DATABASE_URL": c.database_url,
            "LLMAAS_REDIS_URL": c.redis_url,
            "LLMAAS_REDIS_PREFIX": c.redis_prefix,
            "LLMAAS_CELERY_BROKER_URL": c.broker_url,
            # A stack's tasks run on its worker, whatever the calling environment says (the unit
            # tests run them inline): beat must only enqueue.
            "LLMAAS_CELERY_EAGER": "false",
            "LLMAAS_SNAPSHOT_RECONCILE_SECONDS": str(c.snapshot_reconcile_seconds),
            "DJANGO_CSRF_TRUSTED_ORIGINS": origins,
            "LLMAAS_PORTAL_EXTRA_ORIGINS": portal_origins,
            "LLMAAS_PUBLIC_URL": c.public_url,
            # Every Django process of this stack signs and checks tokens with the same key.
            "LLMAAS_STATE_DIR": str(c.state_dir),
            "DJANGO_STATIC_ROOT": str(c.state_dir / "static"),
            # Gunicorn and Celery processes write their metrics here; any /metrics sums them all.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "LLMAAS_WEBHOOK_SECRET": self.secret("LLMAAS_WEBHOOK_SECRET"),
            **c.extra_env,
        }

    def litellm_env(self) -> dict[str, str]:
        c = self.config
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "CONFIG_FILE_PATH": str(self.litellm_config),
            "LITELLM_MASTER_KEY": self.master_key(),
            "JSON_LOGS": "True",  # LiteLLM's own log lines as JSON (ours: inference/proxy/logs.py)
            "LLMAAS_REDIS_URL": c.redis_url,
            "LLMAAS_REDIS_PREFIX": c.redis_prefix,
            "DISABLE_ADMIN_UI": "True",
            "NO_DOCS": "True",
            "NO_REDOC": "True",
            # LiteLLM's workers write their metrics here; /metrics (master key only) sums them all.
            "PROMETHEUS_MULTIPROC_DIR": str(self.proxy_metrics_dir),
            **c.extra_env,
        }

    def fleet_agent_env(self, llama_server: Path | None) -> dict[str, str]:
        env = {**self.django_env(), "LLMAAS_FLEET_LOG_DIR": str(self.config.state_dir / "logs")}
        if llama_server is not None:
            env["LLMAAS_LLAMA_SERVER"] = str(llama_server)
        return env

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.django_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args[:1])} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    # --- first start ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Portal assets, database, migrations, static files, catalog, admin + demo key, LiteLLM config, Redis."""
        c = self.config
        if c.portal_dist == PORTAL_DIST:
            build_portal()
        (c.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        os.chmod(c.state_dir, 0o700)
        ensure_database(c.database_url)
        # Counters of earlier runs' processes must not add to this run's (prometheus_client).
        for directory in (self.metrics_dir, self.proxy_metrics_dir):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        for m in c.models:
            self.manage(*m.catalog_set_args())
        self.manage("llmaas_bootstrap", "--state-file", str(c.state_file))
        self.manage("oauth_portal_client")
        self.state = json.loads(c.state_file.read_text())
        self.manage("render_litellm_config", "--output", str(self.litellm_config))
        self.manage("publish_snapshot")

    @property
    def litellm_config(self) -> Path:
        return self.config.litellm_config or self.config.state_dir / "litellm.yaml"

    # --- processes --------------------------------------------------------------------------
    def llama_proc(self, spec: LlamaSpec, binary: Path) -> Proc:
        argv = [
            str(binary), "-m", str(spec.model_path), "--host", "127.0.0.1", "--port", str(spec.port),
            "--alias", spec.alias, "-c", str(spec.context), "-np", str(spec.parallel), "-t", str(spec.threads),
            "--metrics", "--no-webui",
        ]  # fmt: skip
        # Chat models: the GGUF's Jinja chat template, so tools and tool_choice reach the model and
        # its tool calls come back parsed (OpenAI's tool_calls). Embedding models: /v1/embeddings.
        argv += ["--embeddings"] if spec.embeddings else ["--jinja"]
        if spec.chat_template is not None:
            argv += ["--chat-template-file", str(spec.chat_template)]
        return Proc(
            spec.name, argv, dict(os.environ), self.log(spec.name), http_ok(f"http://127.0.0.1:{spec.port}/health")
        )

    def log(self, name: str) -> Path:
        return self.config.state_dir / "logs" / f"{name}.log"

    def processes(self) -> list[Proc]:
        c, py = self.config, sys.executable
        celery = [py, "-m", "celery", "-A", "llmaas", "-q"]  # -q: no banners, only JSON lines
        django_env, litellm_env = self.django_env(), self.litellm_env()
        binary = assets.llama_server() if c.llamas else None
        procs = [self.llama_proc(spec, binary) for spec in c.llamas if binary]
        procs += [
            Proc(
                "django",
                # Threaded workers: a long streamed export never stalls a worker's heartbeat.
                [py, "-m", "gunicorn", "llmaas.wsgi", "-b", f"127.0.0.1:{c.django_port}", "-w", str(c.gunicorn_workers),
                 "-k", "gthread", "--threads", str(c.gunicorn_threads), "--access-logfile", "-",
                 "--logger-class", JSON_GUNICORN_LOGGER, "--graceful-timeout", "5"],
                django_env, self.log("django"), http_ok(f"http://127.0.0.1:{c.django_port}/api/health"),
            ),
            Proc(
                "django-internal",
                # The shipper posts ShipperConfig.parallel (2) batches at once: a process each.
                [py, "-m", "gunicorn", "llmaas.wsgi", "-b", f"127.0.0.1:{c.webhook_port}", "-w", "2",
                 "-k", "gthread", "--threads", "2", "--access-logfile", "-", "--logger-class", JSON_GUNICORN_LOGGER,
                 "--graceful-timeout", "5"],
                django_env, self.log("django-internal"), http_ok(f"http://127.0.0.1:{c.webhook_port}/api/health"),
            ),
            Proc("celery-worker", [*celery, "worker", "-l", "info", "-c", "1", "--without-gossip", "--without-mingle"],
                 django_env, self.log("celery-worker")),
            Proc("celery-beat", [*celery, "beat", "-l", "info", "-s", str(c.state_dir / "celerybeat-schedule")],
                 django_env, self.log("celery-beat")),
            Proc(
                "litellm",
                [str(LITELLM_VENV / "bin" / "python"), "-m", "uvicorn", "inference.proxy.asgi:app",
                 "--host", "127.0.0.1", "--port", str(c.litellm_port), "--workers", str(c.litellm_workers),
                 "--no-server-header", "--no-access-log", "--log-config", str(UVICORN_LOG_CONFIG)],
                litellm_env, self.log("litellm"), http_ok(f"http://127.0.0.1:{c.litellm_port}/health/readiness"),
            ),
            Proc("shipper", [py, "-m", "inference.proxy.shipper"], self.shipper_env(), self.log("shipper")),
            # Starts managed backends on demand and stops them when idle (inference/lifecycle/agent.py).
            Proc("fleet-agent", [py, str(ROOT / "manage.py"), "fleet_agent"], self.fleet_agent_env(binary),
                 self.log("fleet-agent")),
            Proc(
                "nginx",
                [nginx_binary(), "-p", str(c.state_dir / "nginx"), "-e", str(self.log("nginx-error")),
                 "-c", str(self.render_nginx()), "-g", "daemon off;"],
                dict(os.environ), self.log("nginx"), lambda: port_open(c.public_port, c.public_host),
            ),
        ]  # fmt: skip
        return procs

    @property
    def metrics_dir(self) -> Path:
        return self.config.state_dir / "metrics" / "django"

    @property
    def proxy_metrics_dir(self) -> Path:
        return self.config.state_dir / "metrics" / "litellm"

    @property
    def tls_files(self) -> tuple[Path, Path]:
        """The self-signed certificate and key of the TLS listener (made at first start)."""
        return dev_certificate(self.config.state_dir / "tls")

    def render_nginx(self) -> Path:
        c = self.config
        for sub in TEMP_DIRS:
            (c.state_dir / "nginx" / sub).mkdir(parents=True, exist_ok=True)
        site = NginxSite(
            state_dir=c.state_dir,
            listen=f"{c.public_host}:{c.public_port}",
            tls_listen=f"{c.public_host}:{c.public_tls_port}" if c.public_tls_port else "",
            tls_certificate=self.tls_files[0] if c.public_tls_port else None,
            tls_certificate_key=self.tls_files[1] if c.public_tls_port else None,
            django_upstream=f"127.0.0.1:{c.django_port}",
            litellm_upstream=f"127.0.0.1:{c.litellm_port}",
            portal_dist=c.portal_dist,
            access_log=str(self.log("nginx-access")),
            error_log=str(self.log("nginx-error")),
            # As root, nginx would hand requests to 'nobody', who cannot enter a private state dir.
            user_directive="user root;" if os.geteuid() == 0 else "",
            edge_anonymous_rps=c.edge_anonymous_rps,
            edge_anonymous_burst=c.edge_anonymous_burst,
            edge_address_rps=c.edge_address_rps,
            edge_address_burst=c.edge_address_burst,
            # Below Django's public thread count, so other requests always find a thread.
            export_connections=max(1, c.gunicorn_workers * c.gunicorn_threads // 2),
        )
        path = c.state_dir / "nginx.conf"
        path.write_text(render_nginx_conf(site))
        return path

    def up(self, timeout: float = 240.0) -> None:
        self.prepare()
        for proc in self.processes():
            self.supervisor.start(proc)
        try:
            self.supervisor.wait_ready(timeout=timeout)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        self.supervisor.stop_all()


# JSON log lines with the request id (README "Logs and request ids"): gunicorn's through this
# class; uvicorn's through this config (the route gate writes the proxy's access lines).
JSON_GUNICORN_LOGGER = "llmaas.logging_json.GunicornLogger"
UVICORN_LOG_CONFIG = ROOT / "inference" / "proxy" / "uvicorn_logging.json"


EMBEDDINGS_MODEL = "all-minilm-l6-v2"


def embeddings_llama(port: int) -> LlamaSpec:
    """all-MiniLM-L6-v2 on llama-server --embeddings: 512 positions, so -c 1024 for 2 slots."""
    return LlamaSpec("llama-minilm", assets.minilm(), port, EMBEDDINGS_MODEL, context=1024, embeddings=True)


def embeddings_model(port: int) -> ModelSpec:
    """Its catalog entry: billed by input tokens (an embedding has no output tokens)."""
    return ModelSpec(
        EMBEDDINGS_MODEL, f"http://127.0.0.1:{port}/v1", EMBEDDINGS_MODEL, 512, Decimal("0.02"), mode="embedding"
    )


def build_portal() -> None:
    """Builds frontend/dist when missing or stale (a no-op when its stamp matches the sources).
    Without Node the stack still runs: nginx then leaves / to Django and says so."""
    if shutil.which("npm") is None:
        print("==> npm not found: the portal is not built (bin/dev installs Node)", file=sys.stderr, flush=True)
        return
    subprocess.run([str(ROOT / "bin" / "_frontend.sh"), "build"], check=True)


def ensure_database(url: str) -> None:
    """Create the database named in the URL if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(parts.path.lstrip("/"))))


def ensure_vhost(name: str) -> None:
    """Create a RabbitMQ vhost for guest (tests isolate their Celery traffic this way)."""
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=False, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True, capture_output=True
    )


def delete_vhost(name: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)
