"""Fixtures shared by every app's tests: personas, API clients, Redis, and the end-to-end stack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
from django.conf import settings
from rest_framework.test import APIClient

from stack import assets
from stack.processes import Proc, free_port, http_ok, port_open
from stack.stack import (
    ROOT,
    LlamaSpec,
    ModelSpec,
    Stack,
    StackConfig,
    delete_vhost,
    drop_database,
    ensure_vhost,
)


# --- unit-level fixtures ----------------------------------------------------------------------
@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield client
    for name in client.scan_iter(match=f"{settings.REDIS_PREFIX}:*"):
        client.delete(name)


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(name: str) -> User:
        return User.objects.create_user(email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", password="pw-" + name)

    return make


@pytest.fixture
def api():
    def client_for(user=None, org=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        if org is not None:
            client.credentials(HTTP_LLMAAS_ORGANIZATION=str(org.id))
        return client

    return client_for


@pytest.fixture
def catalog(db):
    from inference.models import ServedModel

    return [
        ServedModel.objects.create(
            name=name, backend_url="http://127.0.0.1:9/v1", upstream_model=name, context_window=2048
        )
        for name in ("smollm2", "tiny")
    ]


# --- the end-to-end stack ---------------------------------------------------------------------
@dataclass
class E2E:
    stack: Stack
    redis: Proc
    recorder_url: str
    recorder_key: str
    backend_ports: list[int]
    issued: list[str] = field(default_factory=list)  # every secret handed out, for the log audit

    @property
    def public(self) -> str:
        return self.stack.config.public_url

    @property
    def litellm(self) -> str:
        return f"http://127.0.0.1:{self.stack.config.litellm_port}"

    def login(self, email: str | None = None, password: str | None = None) -> httpx.Client:
        """An HTTP session (cookies + CSRF header) through the public origin."""
        client = httpx.Client(base_url=self.public, timeout=30)
        client.get("/api/auth/csrf").raise_for_status()
        response = client.post(
            "/api/auth/login",
            json={
                "email": email or self.stack.state["admin_email"],
                "password": password or self.stack.state["admin_password"],
            },
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        response.raise_for_status()
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        return client

    def create_key(self, session: httpx.Client, **body: object) -> dict[str, object]:
        response = session.post("/api/keys/", json={"name": "e2e", **body})
        assert response.status_code == 201, response.text
        self.issued.append(response.json()["secret"])
        return dict(response.json())


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    """A whole stack of its own: database, RabbitMQ vhost, a throwaway Redis, free ports."""
    run = uuid.uuid4().hex[:8]
    state = tmp_path_factory.mktemp("stack")
    vhost = f"llmaas_e2e_{run}"
    ensure_vhost(vhost)
    redis_port, recorder_port, smol_port, tiny_port = (free_port() for _ in range(4))
    recorder_key = "upstream-secret-" + uuid.uuid4().hex
    config = StackConfig(
        state_dir=state,
        database_url=f"postgres://postgres@127.0.0.1:5432/llmaas_e2e_{run}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        redis_prefix=f"llmaas-e2e-{run}",
        broker_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        public_port=free_port(),
        django_port=free_port(),
        litellm_port=free_port(),
        llamas=[
            LlamaSpec("llama-smollm2", assets.smollm2(), smol_port, "smollm2-135m-instruct"),
            LlamaSpec("llama-tiny", assets.tiny_gguf(), tiny_port, "tiny-random", context=2048),
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
            ModelSpec("tiny", f"http://127.0.0.1:{tiny_port}/v1", "tiny-random", 1024, Decimal("1"), Decimal("2")),
            ModelSpec(
                "recorder",
                f"http://127.0.0.1:{recorder_port}/v1",
                "recorder-upstream",
                4096,
                upstream_key_env="LLMAAS_TEST_RECORDER_KEY",
            ),
        ],
        extra_env={"LLMAAS_TEST_RECORDER_KEY": recorder_key},
        snapshot_reconcile_seconds=1,
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
        [str(Path(ROOT / ".venv" / "bin" / "python")), "-m", "uvicorn", "inference.tests.recording_backend:app",
         "--port", str(recorder_port), "--log-level", "warning"],
        dict(os.environ),
        state / "logs" / "recorder.log",
        http_ok(f"http://127.0.0.1:{recorder_port}/_recorded"),
    )  # fmt: skip
    try:
        stack.supervisor.start(redis_proc)
        stack.supervisor.start(recorder)
        stack.supervisor.wait_ready(["redis", "recorder"], timeout=30)
        stack.up()
        yield E2E(stack, redis_proc, f"http://127.0.0.1:{recorder_port}", recorder_key, [smol_port, tiny_port])
    finally:
        stack.down()
        drop_database(config.database_url)
        delete_vhost(vhost)
