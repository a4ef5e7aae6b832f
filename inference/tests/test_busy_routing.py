"""Issue 18 item 4 in the admission script, against a real Redis: each candidate's backend load
(backend_load.py) counts when larger than its in-flight count; max concurrency still bounds only
the calls in flight through the proxy."""

import asyncio

import redis.asyncio as aioredis

from inference.proxy.admission import Admission, Admitted, worst_case
from inference.proxy.backend_load import NOT_LOADED
from inference.proxy.contract import CatalogDeployment, CatalogModel, KeySnapshot

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
CHAT = "/v1/chat/completions"
A = CatalogDeployment("a", "up", "http://127.0.0.1:9/v1", 4096, "1", "1", "", "throughput", 1, backend_kind="vllm")
B = CatalogDeployment("b", "up", "http://127.0.0.1:8/v1", 4096, "1", "1", backend_kind="vllm")
MODEL = CatalogModel("m", "up", 4096, "1", "1", 100, deployments=(A, B))
UNLIMITED = KeySnapshot(key_id="k", org_id="o", user_id="u")
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def chosen(redis_prefix, loads_per_call: list[list[int]]) -> list[str]:
    async def main() -> list[str]:
        client = aioredis.Redis.from_url(LOCAL_REDIS)
        try:
            admission = Admission(client, redis_prefix, 60.0)
            names = []
            for loads in loads_per_call:
                outcome = await admission.reserve(UNLIMITED, MODEL, worst_case(BODY, MODEL, CHAT), [A, B], loads=loads)
                assert isinstance(outcome, Admitted) and outcome.deployment is not None
                names.append(outcome.deployment.id)
            return names
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_the_backends_own_queue_outranks_an_equal_in_flight_count(redis_prefix):
    # Nothing in flight: the first among equals, unless its backend reports a queue.
    assert chosen(redis_prefix, [[3, 0]]) == ["b"]


def test_no_readings_leave_in_flight_counts_to_decide(redis_prefix):
    assert chosen(redis_prefix, [[], [0, 0]]) == ["a", "b"]  # a holds one call now: b is less busy


def test_a_model_not_loaded_loses_to_a_busy_loaded_one(redis_prefix):
    assert chosen(redis_prefix, [[NOT_LOADED, 40]]) == ["b"]


def test_max_concurrency_counts_only_the_proxys_own_calls(redis_prefix):
    # a's backend reports 5 (its limit is 1): still taken while it holds none of ours; then full.
    assert chosen(redis_prefix, [[5, 9], [5, 9]]) == ["a", "b"]
