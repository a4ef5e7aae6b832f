"""The whole stack on a real 3-master Redis Cluster (``redis+cluster://``): Django, Celery, the
LiteLLM workers and the shipper all on it. A proxied call is served, its usage record crosses the
stream to request_logs, and its spend is counted in the cluster; a call that needs a deployment
slot takes it in its model's hash slot and gives it back when settled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from inference.proxy.contract import NANO_PER_USD, RedisKeys, budget_period
from inference.proxy.redis_conn import sync_redis
from stack.testing import E2E, isolated_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def cluster_e2e(redis_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    with isolated_stack(tmp_path_factory.mktemp("cluster-stack"), redis_url=redis_cluster) as stack:
        yield stack


def poll(check: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def chat(e2e: E2E, secret: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{e2e.public}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )


def test_a_proxied_call_on_a_cluster_is_served_logged_and_its_spend_counted(cluster_e2e: E2E) -> None:
    e2e = cluster_e2e
    assert e2e.stack.config.redis_url.startswith("redis+cluster://")
    issued = e2e.create_key(e2e.login(), name="cluster", budget_usd="5")
    secret, key_id = str(issued["secret"]), str(issued["id"])

    response = chat(e2e, secret, "smollm2")
    assert response.status_code == 200, response.text
    call_id = response.headers["x-litellm-call-id"]

    def logged() -> list[tuple[object, ...]]:
        query = "SELECT cost, key_id::text, status FROM request_logs WHERE call_id = %s"
        return e2e.sql(query, call_id)

    assert poll(lambda: bool(logged()), timeout=60), "no request_logs row: the usage stream did not ship"
    ((cost, logged_key, status),) = logged()
    assert (logged_key, status) == (key_id, "success") and Decimal(str(cost)) > 0

    # The key's budget counter in the cluster holds exactly what PostgreSQL billed, nothing reserved.
    ((org_id,),) = e2e.sql("SELECT organization_id::text FROM keys_apikey WHERE id = %s::uuid", key_id)
    keys, store = RedisKeys(e2e.stack.config.redis_prefix), sync_redis(e2e.stack.config.redis_url)
    budget = keys.budget(str(org_id), "key", key_id, budget_period("monthly", "UTC", datetime.now(UTC))[0])

    def settled() -> bool:
        spent, reserved = store.hmget(budget, "spent", "reserved")
        return int(reserved or 0) == 0 and int(spent or 0) == int(Decimal(str(cost)) * NANO_PER_USD)

    assert poll(settled, timeout=30), store.hgetall(budget)
    assert store.zcard(keys.reservations(str(org_id))) == 0
    # Every worker kept its subscription to the snapshot events (pub/sub on the cluster).
    assert "snapshot subscription lost" not in e2e.stack.log("litellm").read_text(errors="replace")


def test_a_call_needing_a_deployment_slot_takes_it_in_its_models_slot_and_gives_it_back(cluster_e2e: E2E) -> None:
    e2e = cluster_e2e
    tiny_port = e2e.backend_ports[1]
    e2e.stack.manage(
        "catalog_set", "capped", "--deployment", "capped-tiny", "--backend-url", f"http://127.0.0.1:{tiny_port}/v1",
        "--backend-kind", "llamacpp", "--upstream-model", "tiny-random", "--context-window", "512",
        "--input-price", "1", "--output-price", "2", "--max-concurrency", "1",
    )  # fmt: skip
    secret = str(e2e.create_key(e2e.login(), name="cluster-capped")["secret"])
    # The catalog reaches every worker's router through the cluster's pub/sub (a few seconds).
    answers: list[httpx.Response] = []

    def served() -> bool:
        answers.append(chat(e2e, secret, "capped"))
        return answers[-1].status_code == 200

    assert poll(served, timeout=60), answers[-1].text if answers else "no answer"
    slots = RedisKeys(e2e.stack.config.redis_prefix).deployment_slots("capped", "capped-tiny")
    store = sync_redis(e2e.stack.config.redis_url)
    # Settled by the usage hook after the response: the slot's lease is given back, not left to expire.
    assert poll(lambda: store.zcard(slots) == 0, timeout=30), store.zrange(slots, 0, -1, withscores=True)
    assert chat(e2e, secret, "capped").status_code == 200  # the one slot is free again
