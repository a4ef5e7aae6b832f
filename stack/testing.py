"""Isolated stacks for the end-to-end tests: their own PostgreSQL cluster, Redis server,
RabbitMQ vhost and free ports, so a test may stop any of them without touching anyone else."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from stack import assets
from stack.processes import Proc, free_port, http_ok, port_open
from stack.stack import (
    ROOT,
    LlamaSpec,
    ModelSpec,
    Stack,
    StackConfig,
    delete_vhost,
    embeddings_llama,
    embeddings_model,
    ensure_vhost,
)

PG_VERSION = "15"


def session(base_url: str, email: str, password: str) -> httpx.Client:
    """An HTTP session (cookies + CSRF header) logged in through the public origin."""
    client = httpx.Client(base_url=base_url, timeout=30)
    client.get("/api/auth/csrf").raise_for_status()
    response = client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    response.raise_for_status()
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def oauth_tokens(
    base_url: str, email: str, password: str, *, client_id: str, redirect_uri: str, scope: str
) -> dict[str, str]:
    """Tokens from the authorization server, the way a browser and a first-party client get them:
    the login form, then the authorization code with PKCE (S256), then the token endpoint. For a
    client that skips consent (the portal)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        page = browser.get("/o/login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:300]
        logged_in = browser.post(
            "/o/login", data={"csrfmiddlewaretoken": token.group(1), "email": email, "password": password}
        )
        if logged_in.status_code != 302:
            raise RuntimeError(f"login failed: {logged_in.status_code} {logged_in.text[:300]}")
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        answer = browser.get("/o/authorize/", params=params)
        if answer.status_code != 302:
            raise RuntimeError(f"no authorization code: {answer.status_code} {answer.text[:300]}")
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        tokens = browser.post(
            "/o/token/",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        tokens.raise_for_status()
        return dict(tokens.json())


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (Debian's pg_createcluster), trust auth on loopback."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/llmaas"

    def create(self) -> None:
        subprocess.run(
            ["pg_createcluster", PG_VERSION, self.name, "-p", str(self.port), "--start", "--", "-A", "trust"],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", PG_VERSION, self.name, "stop", "-m", "immediate"], check=True)

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", PG_VERSION, self.name, "start"], check=True)

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, self.name], check=False, capture_output=True)


E2E_STRIPE_WEBHOOK_SECRET = "whsec_e2e_local_stripe_0123456789"  # noqa: S105 - a test value


@dataclass
class E2E:
    stack: Stack
    postgres: ThrowawayPostgres
    recorder_url: str
    recorder_key: str
    backend_ports: list[int]
    dead_port: int
    hooks: Path
    issued: list[str] = field(default_factory=list)  # every secret handed out, for the log audit
    embeddings_port: int = 0  # llama-server --embeddings (all-MiniLM-L6-v2)
    stripe_port: int = 0  # where Django reaches "Stripe": a test starts billing/tests/stripe_server.py there

    @property
    def public(self) -> str:
        return self.stack.config.public_url

    @property
    def litellm(self) -> str:
        return f"http://127.0.0.1:{self.stack.config.litellm_port}"

    def login(self, email: str | None = None, password: str | None = None) -> httpx.Client:
        return session(
            self.public, email or self.stack.state["admin_email"], password or self.stack.state["admin_password"]
        )

    def create_key(self, session: httpx.Client, **body: object) -> dict[str, object]:
        response = session.post("/api/keys/", json={"name": "e2e", **body})
        assert response.status_code == 201, response.text
        self.issued.append(response.json()["secret"])
        return dict(response.json())

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.postgres.url) as conn:
            return list(conn.execute(query, params).fetchall())


def secrets_in_logs(e2e: E2E, secrets: list[str]) -> dict[str, list[str]]:
    """Every log file of the stack that contains one of ``secrets``: its name → the secrets' first
    8 characters (never the whole secret in a failure). Empty: none leaked."""
    logs = list((e2e.stack.config.state_dir / "logs").glob("*.log"))
    assert {p.name for p in logs} >= {"litellm.log", "django.log", "nginx-access.log", "celery-worker.log"}
    leaked = {}
    for path in logs:
        text = path.read_text(errors="replace")
        found = [s[:8] for s in secrets if s and s in text]
        if found:
            leaked[path.name] = found
    return leaked


@contextlib.contextmanager
def isolated_stack(state: Path, redis_url: str | None = None) -> Iterator[E2E]:
    """``redis_url``: a Redis (e.g. a cluster's ``redis+cluster://`` URL) the caller started and
    stops; by default the stack starts a Redis server of its own."""
    run = uuid.uuid4().hex[:8]
    vhost = f"llmaas_e2e_{run}"
    ensure_vhost(vhost)
    postgres = ThrowawayPostgres(f"llmaas_e2e_{run}", free_port())
    redis_port, recorder_port, smol_port, tiny_port, dead_port = (free_port() for _ in range(5))
    embeddings_port = free_port()
    stripe_port = free_port()
    recorder_key = "upstream-secret-" + uuid.uuid4().hex
    hooks = state / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    config = StackConfig(
        state_dir=state,
        database_url=postgres.url,
        redis_url=redis_url or f"redis://127.0.0.1:{redis_port}/0",
        redis_prefix=f"llmaas-e2e-{run}",
        broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        public_port=free_port(),
        public_tls_port=free_port(),
        django_port=free_port(),
        webhook_port=free_port(),
        litellm_port=free_port(),
        llamas=[
            LlamaSpec(
                "llama-smollm2",
                assets.smollm2(),
                smol_port,
                "smollm2-135m-instruct",
                chat_template=assets.SMOLLM2_TOOLS_TEMPLATE,
            ),
            LlamaSpec("llama-tiny", assets.tiny_gguf(), tiny_port, "tiny-random", context=2048, parallel=4),
            embeddings_llama(embeddings_port),
        ],
        models=[
            ModelSpec(
                "smollm2",
                f"http://127.0.0.1:{smol_port}/v1",
                "smollm2-135m-instruct",
                2048,
                Decimal("0.10"),
                Decimal("0.20"),
            ),
            ModelSpec("tiny", f"http://127.0.0.1:{tiny_port}/v1", "tiny-random", 512, Decimal("1.5"), Decimal("2.5")),
            ModelSpec(
                "recorder",
                f"http://127.0.0.1:{recorder_port}/v1",
                "recorder-upstream",
                4096,
                upstream_key_env="LLMAAS_TEST_RECORDER_KEY",
                probe=False,  # its tests read what it recorded: no health probes among them
            ),
            # A backend that is down: nothing listens on its port (never probed, so it stays routed).
            ModelSpec(
                "offline", f"http://127.0.0.1:{dead_port}/v1", "offline", 2048, Decimal("1"), Decimal("1"), probe=False
            ),
            embeddings_model(embeddings_port),
        ],
        extra_env={
            "LLMAAS_TEST_RECORDER_KEY": recorder_key,
            "LLMAAS_RESERVATION_TTL": "8",  # short, so tests see abandoned reservations expire
            "LLMAAS_RESERVATION_PURGE_SECONDS": "1",
            "LLMAAS_ROLLUP_SECONDS": "2",
            "LLMAAS_BUDGET_CHECK_SECONDS": "1",
            "LLMAAS_HEALTH_PROBE_SECONDS": "1",
            "LLMAAS_TEST_HOOKS_DIR": str(hooks),  # pause points (llmaas/testhooks.py) for kill tests
            "STRIPE_API_KEY": "sk_test_e2e",
            "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "STRIPE_WEBHOOK_SECRET": E2E_STRIPE_WEBHOOK_SECRET,
            "LLMAAS_LEDGER_POST_SECONDS": "1",
        },
        snapshot_reconcile_seconds=1,
        shipper_claim_idle_ms=2000,
        shipper_backoff_max=1.0,
    )
    stack = Stack(config)
    redis_proc = Proc(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        dict(os.environ),
        state / "logs" / "redis.log",
        lambda: port_open(redis_port),
    )
    recorder = Proc(
        "recorder",
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "uvicorn", "inference.tests.recording_backend:app",
         "--port", str(recorder_port), "--log-level", "warning"],
        dict(os.environ),
        state / "logs" / "recorder.log",
        http_ok(f"http://127.0.0.1:{recorder_port}/_recorded"),
    )  # fmt: skip
    try:
        postgres.create()
        if redis_url is None:
            stack.supervisor.start(redis_proc)
        stack.supervisor.start(recorder)
        stack.supervisor.wait_ready(["recorder"] if redis_url else ["redis", "recorder"], timeout=30)
        stack.up()
        yield E2E(
            stack,
            postgres,
            f"http://127.0.0.1:{recorder_port}",
            recorder_key,
            [smol_port, tiny_port],
            dead_port,
            hooks,
            embeddings_port=embeddings_port,
            stripe_port=stripe_port,
        )
    finally:
        stack.down()
        postgres.drop()
        delete_vhost(vhost)
