"""The admission scripts against a real Redis (no LiteLLM): exact, idempotent, self-healing."""

import asyncio
import time

import pytest
import redis as redis_lib

from inference.proxy.admission import Admission, Admitted, Refusal, nano_per_token, prompt_upper_bound
from inference.proxy.admission_lua import ADMIT, PURGE, SETTLE, SLOT
from inference.proxy.contract import CatalogModel, KeySnapshot, RedisKeys, ScopeLimits
from inference.proxy.redis_conn import async_redis, sync_redis
from inference.tests.redis_targets import TARGETS, KeysAt, keys_at

MODEL = CatalogModel("m", "m", 4096, input_price_per_mtok="1", output_price_per_mtok="2", max_output_tokens=100)
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}


@pytest.fixture(params=TARGETS)
def keys(request, redis_prefix):
    return keys_at(request, redis_prefix)


def snapshot(**key_limits) -> KeySnapshot:
    return KeySnapshot(
        key_id="k",
        org_id="o",
        user_id="u",
        scopes=(ScopeLimits("key", "k", **key_limits), ScopeLimits("org", "o")),
        timezone="Europe/Paris",
    )


def worst_case() -> int:
    return prompt_upper_bound(BODY) * nano_per_token("1") + 100 * nano_per_token("2")


def run(keys, scenario, ttl: float = 60.0):
    async def main():
        client = async_redis(keys.url, 2)
        try:
            return await scenario(Admission(client, keys, ttl))
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_prices_round_up_to_whole_nano_dollars():
    assert nano_per_token("0.10") == 100
    assert nano_per_token("0.0000001") == 1


def test_a_budget_for_one_admits_one_and_settling_charges_the_real_cost(keys):
    async def scenario(adm: Admission):
        snap = snapshot(budget_nano=worst_case() + 10)
        first = await adm.admit(snap, MODEL, BODY, "/v1/chat/completions")
        second = await adm.admit(snap, MODEL, BODY, "/v1/chat/completions")
        assert isinstance(first, Admitted) and isinstance(second, Refusal)
        assert (second.scope, second.kind) == ("key", "budget") and second.reset_at is not None
        await adm.settle(first.metadata(), prompt_tokens=5, completion_tokens=10)
        await adm.settle(first.metadata(), prompt_tokens=5, completion_tokens=10)  # idempotent
        return first

    first = run(keys, scenario)
    state = sync_redis(keys.url).hgetall(first.budget_keys[0])
    assert {k.decode(): int(v) for k, v in state.items()} == {"spent": 5 * 1000 + 10 * 2000, "reserved": 0}
    assert sync_redis(keys.url).zcard(keys.reservations("o")) == 0


def test_expired_reservations_give_back_budget_and_slots(keys):
    async def scenario(adm: Admission):
        snap = snapshot(budget_nano=worst_case() + 10, max_parallel=1)
        first = await adm.admit(snap, MODEL, BODY, "/v1/chat/completions")
        assert isinstance(first, Admitted)
        assert isinstance(await adm.admit(snap, MODEL, BODY, "/v1/chat/completions"), Refusal)
        await asyncio.sleep(1.2)  # the reservation (ttl 1 s) expires: a crashed call strands nothing
        again = await adm.admit(snap, MODEL, BODY, "/v1/chat/completions")
        assert isinstance(again, Admitted)
        # A late settle of the expired one still charges what it really cost, once.
        await adm.settle(first.metadata(), prompt_tokens=1, completion_tokens=1)
        return first

    first = run(keys, scenario, ttl=1.0)
    spent = int(sync_redis(keys.url).hget(first.budget_keys[0], "spent"))
    assert spent == 1000 + 2000


def test_parallel_requests_are_capped_and_released_on_settle(keys):
    async def scenario(adm: Admission):
        snap = snapshot(max_parallel=2)
        held = [await adm.admit(snap, MODEL, BODY, "/v1/chat/completions") for _ in range(3)]
        assert [type(h).__name__ for h in held] == ["Admitted", "Admitted", "Refusal"]
        assert isinstance(held[2], Refusal) and held[2].kind == "parallel"
        assert isinstance(held[0], Admitted)
        await adm.settle(held[0].metadata(), 0, 0)
        assert isinstance(await adm.admit(snap, MODEL, BODY, "/v1/chat/completions"), Admitted)

    run(keys, scenario)


def test_rpm_counts_in_a_sliding_minute_and_reports_the_tightest_scope(keys):
    async def scenario(adm: Admission):
        snap = KeySnapshot(
            key_id="k",
            org_id="o",
            user_id="u",
            scopes=(ScopeLimits("key", "k", rpm=3), ScopeLimits("org", "o", rpm=2)),
        )
        outcomes = [await adm.admit(snap, MODEL, BODY, "/v1/chat/completions") for _ in range(3)]
        assert isinstance(outcomes[0], Admitted)
        assert outcomes[0].headers["x-ratelimit-limit-requests"] == "2"
        assert outcomes[0].headers["x-ratelimit-remaining-requests"] == "1"
        refusal = outcomes[2]
        assert isinstance(refusal, Refusal) and (refusal.scope, refusal.kind, refusal.limit) == ("org", "rpm", 2)
        assert refusal.reset_at is not None and time.time() < refusal.reset_at <= time.time() + 61

    run(keys, scenario)


def test_budgets_use_the_organizations_day(keys):
    async def scenario(adm: Admission):
        return await adm.admit(snapshot(budget_nano=10**12, budget_period="daily"), MODEL, BODY, "/v1/chat/completions")

    admitted = run(keys, scenario)
    assert isinstance(admitted, Admitted)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert admitted.budget_keys[0].endswith(datetime.now(ZoneInfo("Europe/Paris")).strftime(":d%Y%m%d"))


def test_tpm_admits_a_request_only_if_its_own_worst_case_fits_in_what_is_left(keys):
    async def scenario(adm: Admission):
        # This request's worst-case tokens, read off the success headers of an unconstrained key.
        probe = await adm.admit(
            KeySnapshot(key_id="p", org_id="po", user_id="u", scopes=(ScopeLimits("key", "p", tpm=10**6),)),
            MODEL,
            BODY,
            "/v1/chat/completions",
        )
        assert isinstance(probe, Admitted)
        tokens = 10**6 - int(probe.headers["x-ratelimit-remaining-tokens"])
        assert tokens > 100  # the prompt's bound plus max_tokens
        too_small = await adm.admit(snapshot(tpm=tokens - 1), MODEL, BODY, "/v1/chat/completions")
        assert isinstance(too_small, Refusal) and (too_small.kind, too_small.limit, too_small.current) == (
            "tpm",
            tokens - 1,
            0,
        )
        exact = snapshot(tpm=2 * tokens)
        outcomes = [await adm.admit(exact, MODEL, BODY, "/v1/chat/completions") for _ in range(3)]
        assert [type(o).__name__ for o in outcomes] == ["Admitted", "Admitted", "Refusal"]
        assert isinstance(outcomes[1], Admitted) and outcomes[1].headers["x-ratelimit-remaining-tokens"] == "0"

    run(keys, scenario)


def test_a_script_touching_a_key_outside_its_hash_slot_fails_on_the_cluster(redis_cluster):
    """What makes the cluster runs above a cross-slot check: every admission script starts with a
    shebang, under which a node refuses any key outside the declared keys' slot (D's entries
    included), and redis-py refuses declared keys that span slots."""
    assert all(script.startswith("#!lua\n") for script in (ADMIT, SETTLE, SLOT, PURGE))
    client = sync_redis(redis_cluster)
    keys = RedisKeys("llmaas-test-slots")
    other = next(
        f"o{i}" for i in range(100) if client.keyslot(keys.wallet(f"o{i}")) != client.keyslot(keys.wallet("o"))
    )
    stray = "#!lua\nredis.call('GET', KEYS[1]); return redis.call('GET', ARGV[1])"
    # The organization's own keys share its slot; a model's deployment slots share the model's.
    assert client.eval(stray, 1, keys.wallet("o"), keys.budget("o", "key", "k", "all")) is None
    assert client.eval(stray, 1, keys.deployment_slots("m", "a"), keys.deployment_slots("m", "b")) is None
    with pytest.raises(redis_lib.ResponseError):
        client.eval(stray, 1, keys.wallet("o"), keys.wallet(other))
    with pytest.raises(redis_lib.RedisClusterException):
        client.eval("return 1", 2, keys.wallet("o"), keys.wallet(other))


def test_a_fresh_cluster_clients_first_burst_is_all_admitted(redis_cluster, redis_prefix):
    """A proxy worker's first burst: redis-py's asyncio cluster client, left to itself, raced its own
    initialisation and failed some of 20 concurrent first commands (redis_conn._AsyncCluster)."""
    keys = KeysAt(redis_prefix.prefix, redis_cluster)

    async def scenario(adm: Admission):
        return await asyncio.gather(*(adm.admit(snapshot(), MODEL, BODY, "/v1/chat/completions") for _ in range(20)))

    assert all(isinstance(outcome, Admitted) for outcome in run(keys, scenario))
