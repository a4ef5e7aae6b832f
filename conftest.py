"""Fixtures shared by every app's tests: personas, API clients, Redis, and the end-to-end stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings
from rest_framework.test import APIClient

from inference.proxy.contract import RedisKeys
from inference.proxy.redis_conn import sync_redis
from stack.redis_cluster import redis_cluster as start_redis_cluster
from stack.testing import E2E, isolated_stack

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run the tests that use Django's Redis (the redis_client fixture) on a throwaway 3-master Redis Cluster",
    )


# --- unit-level fixtures ----------------------------------------------------------------------
@pytest.fixture
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis_lib.Redis]:
    if request.config.getoption("--redis-cluster"):
        request.getfixturevalue("settings").REDIS_URL = request.getfixturevalue("redis_cluster")
    client = sync_redis(settings.REDIS_URL)  # a cluster's too, when a test points REDIS_URL at one
    yield client  # type: ignore[misc]
    for name in client.scan_iter(match=f"{settings.REDIS_PREFIX}:*"):
        client.delete(name)


@pytest.fixture
def redis_prefix() -> Iterator[RedisKeys]:
    """Contract key names under a fresh prefix on the local Redis, removed afterwards."""
    keys = RedisKeys(f"llmaas-test-{uuid.uuid4().hex[:8]}")
    yield keys
    client = redis_lib.Redis.from_url(LOCAL_REDIS)
    for name in client.scan_iter(match=f"{keys.prefix}:*"):
        client.delete(name)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 3-master Redis Cluster of its own (redis-server --cluster-enabled yes, joined by
    redis-cli --cluster create): its ``redis+cluster://`` URL."""
    with start_redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


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
    from inference.services import deployment_set

    return [
        deployment_set(name=name, backend_url="http://127.0.0.1:9/v1", upstream_model=name, context_window=2048)
        for name in ("smollm2", "tiny")
    ]


# --- the end-to-end stack ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    """A whole stack of its own: PostgreSQL cluster, Redis server, RabbitMQ vhost, free ports."""
    with isolated_stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack
