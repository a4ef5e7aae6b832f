"""The control plane on a real 3-master Redis Cluster (``LLMAAS_REDIS_URL=redis+cluster://…``):
key snapshots published and their invalidations heard by a proxy worker, the prepaid wallet and
budgets in the admission scripts, expired reservations purged organization by organization,
the metrics scrape, and sign-in throttling, whose script spans several counters."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from django.conf import settings

from accounts.throttle import login_counters, login_release, login_reserve
from billing.models import Plan, RedemptionCode
from billing.services import code_redeem, plan_set
from billing.wallet import wallet_state
from inference.proxy.admission import Admission, Admitted, worst_case
from inference.proxy.contract import CatalogModel, RedisKeys
from inference.proxy.redis_conn import async_redis, is_cluster
from inference.proxy.snapshots import SnapshotStore
from keys.publishing import key_snapshot, snapshot_publish_all, snapshot_withdraw
from llmaas.metrics import PipelineCollector
from llmaas.redis_client import redis_client
from usage.budgets import open_reservations, reservations_purge, spend_reconcile

BETA = CatalogModel("beta", "beta", 4096, "1.5", "2.5", max_output_tokens=2048)  # usage.tests.factories' prices
BODY = {"model": "beta", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 100}
PATH = "/v1/chat/completions"


@pytest.fixture
def on_cluster(settings, redis_cluster: str) -> str:
    """Every Redis client of the control plane points at the cluster for this test."""
    settings.REDIS_URL = redis_cluster
    assert is_cluster(redis_client())
    return redis_cluster


async def _until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


def test_it_publishes_snapshots_and_a_workers_cache_hears_their_withdrawal(db, on_cluster, team):
    assert snapshot_publish_all() >= 1
    key_hash = team.key.secret_hash

    async def scenario() -> None:
        store = SnapshotStore(on_cluster, RedisKeys(settings.REDIS_PREFIX), cache_ttl=600)
        try:
            store.ensure_listener()
            assert await _until(lambda: store._subscribed), "no subscription on the cluster"
            snapshot = await store.get(key_hash)  # epoch and key in two hash slots
            assert snapshot is not None and snapshot.key_id == str(team.key.id)
            assert key_hash in store._cache
            await asyncio.to_thread(snapshot_withdraw, key_hash)  # DEL, then PUBLISH (broadcast)
            assert await _until(lambda: key_hash not in store._cache), "the invalidation never arrived"
            assert await store.get(key_hash) is None
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_wallet_and_reservations_work_and_expired_ones_are_purged(
    db, on_cluster, team, django_capture_on_commit_callbacks
):
    RedemptionCode.objects.create(code="CENT", amount=Decimal("0.01"), max_uses=5)
    with django_capture_on_commit_callbacks(execute=True):  # the wallet is written after the commit
        plan_set(organization=team.org, plan=Plan.PREPAID)
        code_redeem(organization=team.org, code="cent", by=team.people["alice"])
    assert wallet_state(team.org.id) == {"credit": 10_000_000, "spent": 0, "reserved": 0, "mult_ppm": 1_000_000}
    snapshot = key_snapshot(team.key)
    assert snapshot is not None

    async def scenario() -> None:
        client = async_redis(on_cluster, 2)
        try:
            keys = RedisKeys(settings.REDIS_PREFIX)
            settled = await Admission(client, keys, 30).reserve(snapshot, BETA, worst_case(BODY, BETA, PATH))
            assert isinstance(settled, Admitted) and settled.wallet_key
            assert open_reservations() == 1
            await Admission(client, keys, 30).settle(settled.metadata(), 10, 20)
            abandoned = await Admission(client, keys, 0.2).reserve(snapshot, BETA, worst_case(BODY, BETA, PATH))
            assert isinstance(abandoned, Admitted)
        finally:
            await client.aclose()

    asyncio.run(scenario())
    state = wallet_state(team.org.id)
    assert state is not None and state["spent"] == 10 * 1500 + 20 * 2500 and state["reserved"] > 0
    time.sleep(0.3)
    assert reservations_purge() == 1 and open_reservations() == 0
    state = wallet_state(team.org.id)
    assert state is not None and state["reserved"] == 0
    assert spend_reconcile()["scopes"] >= 0  # budgets and the metrics hash, each in its own slot
    families = {family.name: family for family in PipelineCollector().collect()}
    assert families["llmaas_redis_up"].samples[0].value == 1
    assert families["llmaas_reservations_open"].samples[0].value == 0


def test_sign_in_throttling_counts_its_three_counters_in_one_script(db, on_cluster):
    counters = login_counters(email="alice@example.com", ip="192.0.2.1")
    assert login_reserve(counters, message="slow down") == []
    assert [int(redis_client().get(name) or 0) for name in counters.keys] == [1, 1, 1]
    login_release(counters)
    assert [int(redis_client().get(name) or 0) for name in counters.keys] == [0, 0, 0]
