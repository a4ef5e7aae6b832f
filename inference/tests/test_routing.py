"""Adaptive routing and per-deployment concurrency against a real Redis (no LiteLLM): the rules
that pick the candidates, and the admission script that takes the least busy one's slot."""

import asyncio
import os

import pytest

from inference.proxy.admission import Admission, Admitted, Saturated, worst_case
from inference.proxy.contract import CatalogDeployment, CatalogModel, KeySnapshot, ScopeLimits
from inference.proxy.redis_conn import async_redis
from inference.proxy.routing import (
    LEAST_BUSY,
    ROUND_ROBIN,
    admit_waiting,
    candidates,
    estimated_prompt_tokens,
    ordered,
    requested_profile,
)
from inference.proxy.settings import ProxySettings
from inference.tests.redis_targets import TARGETS, keys_at

CHAT = "/v1/chat/completions"


def deployment(name: str, window: int, profile: str = "throughput", limit: int | None = None, price: str = "1"):
    return CatalogDeployment(name, "up", "http://127.0.0.1:9/v1", window, price, price, "", profile, limit)


FAST = deployment("fast", 512)
LONG = deployment("long", 8192, "long_context")


def model(*deployments: CatalogDeployment) -> CatalogModel:
    return CatalogModel("m", "up", 8192, "2", "2", 100, deployments=deployments)


def body(chars: int) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "a" * chars}], "max_tokens": 10}


@pytest.fixture(params=TARGETS)
def keys(request, redis_prefix):
    return keys_at(request, redis_prefix)


def run(keys, scenario, ttl: float = 60.0):
    async def main():
        client = async_redis(keys.url, 2)
        try:
            return await scenario(Admission(client, keys, ttl))
        finally:
            await client.aclose()

    return asyncio.run(main())


UNLIMITED = KeySnapshot(key_id="k", org_id="o", user_id="u")


def test_it_sends_prompts_past_the_throughput_window_to_the_long_context_deployment():
    both = model(FAST, LONG)
    assert candidates(both, body(100)) == [FAST]
    long_prompt = body(3000)
    assert estimated_prompt_tokens(long_prompt) > FAST.context_window
    assert candidates(both, long_prompt) == [LONG]


def test_it_lets_a_header_ask_for_a_profile_and_ignores_unknown_ones():
    both = model(FAST, LONG)
    assert requested_profile({"x-llmaas-routing-profile": "long-context"}) == "long_context"
    assert requested_profile({"x-llmaas-routing-profile": "fastest"}) is None
    assert candidates(both, body(10), "long_context") == [LONG]
    assert candidates(both, body(3000), "throughput") == [FAST]
    only_fast = model(FAST, deployment("fast2", 512))
    assert candidates(only_fast, body(10), "long_context") == list(only_fast.deployments)


def test_it_takes_the_least_busy_of_equal_deployments(keys):
    a, b = deployment("a", 512), deployment("b", 512)

    async def scenario(adm: Admission):
        m = model(a, b)
        worst = worst_case(body(10), m, CHAT)
        first = await adm.reserve(UNLIMITED, m, worst, [a, b])
        second = await adm.reserve(UNLIMITED, m, worst, [a, b])
        assert isinstance(first, Admitted) and isinstance(second, Admitted)
        assert {first.deployment, second.deployment} == {a, b}
        await adm.settle(second.metadata(), 1, 1)
        third = await adm.reserve(UNLIMITED, m, worst, [a, b])
        assert isinstance(third, Admitted) and third.deployment == second.deployment

    run(keys, scenario)


def test_it_refuses_past_max_concurrency_until_a_slot_is_settled_or_expires(keys):
    capped = deployment("capped", 512, limit=2, price="0.5")

    async def scenario(adm: Admission):
        m = model(capped)
        worst = worst_case(body(10), m, CHAT)
        held = [await adm.reserve(UNLIMITED, m, worst, [capped]) for _ in range(2)]
        assert isinstance(held[0], Admitted) and isinstance(held[1], Admitted)
        assert held[0].deployment == held[1].deployment == capped
        # Settled at the chosen deployment's price, reserved at the model's dearest.
        assert held[0].price_in == 500  # nano-USD per token for $0.5 per million
        refused = await adm.reserve(UNLIMITED, m, worst, [capped])
        assert isinstance(refused, Saturated) and (refused.limit, refused.current) == (2, 2)
        await adm.settle(held[0].metadata(), 1, 1)
        assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Admitted)
        assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Saturated)

    run(keys, scenario)


def test_a_crashed_workers_slots_come_back_when_their_lease_runs_out(keys):
    capped = deployment("leased", 512, limit=2)

    async def scenario(adm: Admission):
        m = model(capped)
        worst = worst_case(body(10), m, CHAT)
        for _ in range(2):  # never settled: the worker holding them died
            assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Admitted)
        assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Saturated)
        await asyncio.sleep(1.2)
        assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Admitted)

    run(keys, scenario, ttl=1.0)


def test_a_refused_scope_takes_no_deployment_slot(keys):
    capped = deployment("capped", 512, limit=1)
    limited = KeySnapshot(key_id="k", org_id="o", user_id="u", scopes=(ScopeLimits("key", "k", rpm=1),))

    async def scenario(adm: Admission):
        m = model(capped)
        worst = worst_case(body(10), m, CHAT)
        first = await adm.reserve(limited, m, worst, [capped])
        assert isinstance(first, Admitted)
        await adm.settle(first.metadata(), 1, 1)
        refused = await adm.reserve(limited, m, worst, [capped])
        assert not isinstance(refused, Admitted | Saturated)  # rpm, not capacity
        assert isinstance(await adm.reserve(UNLIMITED, m, worst, [capped]), Admitted)

    run(keys, scenario)


def test_a_queued_call_waits_for_a_slot_and_a_timed_out_one_is_refused(keys):
    capped = deployment("queued", 512, limit=1)

    async def scenario(adm: Admission):
        m = model(capped)
        worst = worst_case(body(10), m, CHAT)
        held = await adm.reserve(UNLIMITED, m, worst, [capped])
        assert isinstance(held, Admitted)

        async def release_soon() -> None:
            await asyncio.sleep(0.3)
            await adm.settle(held.metadata(), 1, 1)

        releaser = asyncio.create_task(release_soon())
        waited = await admit_waiting(lambda: adm.reserve(UNLIMITED, m, worst, [capped]), timeout=10)
        await releaser
        assert isinstance(waited, Admitted) and waited.deployment == capped
        timed_out = await admit_waiting(lambda: adm.reserve(UNLIMITED, m, worst, [capped]), timeout=0.3)
        assert isinstance(timed_out, Saturated)  # the slot is still held: refused once the wait is over

    run(keys, scenario)


def test_a_free_models_reservation_settles_and_expires_without_poisoning_admission(keys):
    """A zero cost held in a reservation: negating it in Lua gives -0, which Redis 7.0 refuses as an
    integer; one such reservation left to expire would then fail every later admission."""
    free = CatalogModel("free", "up", 4096, "0", "0", 100)
    scoped = KeySnapshot(key_id="k", org_id="o", user_id="u", scopes=(ScopeLimits("key", "k", rpm=100),))

    async def scenario(adm: Admission):
        worst = worst_case(body(10), free, CHAT)
        settled = await adm.reserve(scoped, free, worst)
        assert isinstance(settled, Admitted)
        await adm.settle(settled.metadata(), 3, 4)
        assert isinstance(await adm.reserve(scoped, free, worst), Admitted)  # left to expire
        await asyncio.sleep(1.2)
        assert isinstance(await adm.reserve(scoped, free, worst), Admitted)

    run(keys, scenario, ttl=1.0)


def test_round_robin_gives_each_deployment_its_turn_whatever_its_load_and_skips_a_full_one(keys):
    a, b, capped = deployment("a", 512), deployment("b", 512), deployment("c", 512, limit=1)

    async def scenario(adm: Admission):
        m = model(a, b)
        worst = worst_case(body(10), m, CHAT)
        # Nothing is settled: b (then a) is busier at every turn, yet the turns alternate.
        turns = [ordered([a, b], ROUND_ROBIN) for _ in range(6)]
        chosen = [await adm.reserve(UNLIMITED, m, worst, order, first_free=True) for order in turns]
        assert all(isinstance(c, Admitted) for c in chosen)
        names = [c.deployment.id for c in chosen if isinstance(c, Admitted) and c.deployment]
        assert names in (["a", "b"] * 3, ["b", "a"] * 3)
        # Least busy on the same load (3 each in flight) keeps the first among equals, and then
        # goes where fewer calls are in flight.
        lb = [await adm.reserve(UNLIMITED, m, worst, [a, b]) for _ in range(2)]
        assert [x.deployment.id for x in lb if isinstance(x, Admitted) and x.deployment] == ["a", "b"]
        # Round robin's turn on a deployment at its max concurrency passes to the next.
        full = model(capped, a)
        assert isinstance(await adm.reserve(UNLIMITED, full, worst, [capped], first_free=True), Admitted)
        spill = await adm.reserve(UNLIMITED, full, worst, [capped, a], first_free=True)
        assert isinstance(spill, Admitted) and spill.deployment == a

    run(keys, scenario)


def test_the_routing_policy_is_read_from_the_environment_and_a_typo_is_refused(monkeypatch):
    assert ProxySettings.from_env().routing_policy == "least_busy" or "LLMAAS_ROUTING_POLICY" in os.environ
    monkeypatch.setenv("LLMAAS_ROUTING_POLICY", "round-robin")
    assert ProxySettings.from_env().routing_policy == ROUND_ROBIN
    monkeypatch.setenv("LLMAAS_ROUTING_POLICY", "least_busy")
    assert ProxySettings.from_env().routing_policy == LEAST_BUSY
    monkeypatch.delenv("LLMAAS_ROUTING_POLICY")
    assert ProxySettings.from_env().routing_policy == LEAST_BUSY
    monkeypatch.setenv("LLMAAS_ROUTING_POLICY", "fastest")
    with pytest.raises(ValueError, match="LLMAAS_ROUTING_POLICY"):
        ProxySettings.from_env()
    a, b, c = deployment("a", 512), deployment("b", 512), deployment("c", 512)
    assert ordered([a, b, c], LEAST_BUSY) == [a, b, c]
    firsts = [ordered([a, b, c], ROUND_ROBIN)[0] for _ in range(6)]
    assert firsts[:3] in ([a, b, c], [b, c, a], [c, a, b]) and firsts[3:] == firsts[:3]


def test_a_call_needing_a_deployment_slot_costs_one_more_round_trip_on_a_cluster_only(keys):
    """Commands each call sends (one round trip each; a settle's two on a cluster go in parallel)."""
    a, b = deployment("a", 512), deployment("b", 512)
    limited = KeySnapshot(key_id="k", org_id="o", user_id="u", scopes=(ScopeLimits("key", "k", rpm=3),))
    cluster = keys.url.startswith("redis+cluster://")

    async def scenario(adm: Admission):
        sent: list[str] = []
        send = adm.redis.execute_command

        async def counted(*args, **options):
            sent.append(str(args[0]).upper())
            return await send(*args, **options)

        m = model(a, b)
        worst = worst_case(body(10), m, CHAT)
        warm = await adm.reserve(UNLIMITED, m, worst, [a, b])  # loads the scripts (NOSCRIPT once per node)
        assert isinstance(warm, Admitted)
        await adm.settle(warm.metadata(), 1, 1)
        adm.redis.execute_command = counted  # type: ignore[method-assign]

        def take() -> list[str]:
            taken = sorted(sent)
            sent.clear()
            return taken

        plain = await adm.reserve(UNLIMITED, m, worst)  # no deployment slot to take
        assert isinstance(plain, Admitted) and take() == ["EVALSHA"]
        await adm.settle(plain.metadata(), 1, 1)
        assert take() == ["EVALSHA"]
        slotted = await adm.reserve(limited, m, worst, [a, b])
        assert isinstance(slotted, Admitted) and slotted.deployment is not None
        assert take() == (["EVALSHA", "EVALSHA"] if cluster else ["EVALSHA"])
        await adm.settle(slotted.metadata(), 1, 1)
        assert take() == (["EVALSHA", "ZREM"] if cluster else ["EVALSHA"])
        for _ in range(2):
            assert isinstance(await adm.reserve(limited, m, worst, [a, b]), Admitted)
        take()
        refused = await adm.reserve(limited, m, worst, [a, b])  # rpm: the slot taken first goes back
        assert not isinstance(refused, Admitted | Saturated)
        assert take() == (["EVALSHA", "EVALSHA", "ZREM"] if cluster else ["EVALSHA"])
        held = [await send("ZCARD", keys.deployment_slots("m", d)) for d in ("a", "b")]
        assert held == [1, 1]  # the two admitted calls, one each; the refused one holds none

    run(keys, scenario)
